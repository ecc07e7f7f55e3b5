"""In a real browser: register a product through the browsable API's form, see it listed, open its event in the admin.

Headless Chromium from Debian's `chromium` package (installed by .ci/run), driven by
Playwright without downloading a browser of its own. Screenshots go to test-artifacts/.
"""

import os
import shutil
import subprocess
import sys
import uuid

import pytest
import requests

from tests.api.helpers import PRODUCTS, register_body
from tests.support.processes import ARTIFACTS, ROOT, celery_worker, feed_server, web_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Plain http in the test: cookies must not be https-only, as behind a TLS-less local gateway.
PLAIN_HTTP = {"DJANGO_SESSION_COOKIE_SECURE": "0", "DJANGO_CSRF_COOKIE_SECURE": "0"}


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory):
    """The admin's and DRF's static files, collected as the image build does, for WhiteNoise."""
    var = tmp_path_factory.mktemp("var")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT, check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DJANGO_SECRET_KEY": "x", "CATALOG_VAR_DIR": str(var)},
    )
    return str(var)


@pytest.fixture
def superuser(make_user):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    user = make_user(is_staff=True, is_superuser=True)
    # Hashed the way the server (production settings) checks it; the tests' own hasher is a fast one.
    user.password = PBKDF2PasswordHasher().encode("pw", uuid.uuid4().hex)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def browser(superuser, collected_static):
    """Started after the database work above: Playwright's event loop bars Django's ORM in this thread."""
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium package (.ci/run installs it: apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def test_register_in_the_browsable_api_see_it_listed_and_open_its_event_in_the_admin(
    superuser, collected_static, browser
):
    admin = superuser
    sku = f"BROWSER-{uuid.uuid4().hex[:8]}"
    env = {**PLAIN_HTTP, "CATALOG_VAR_DIR": collected_static}
    with web_server(**env) as base_url, celery_worker("browser", **env):
        page = browser.new_page()
        page.goto(f"{base_url}/api-auth/login/?next=/api/products/")
        page.fill("input[name=username]", admin.username)
        page.fill("input[name=password]", "pw")
        page.click("[type=submit]")
        page.wait_for_load_state()
        page.screenshot(path=str(ARTIFACTS / "browser-0-after-login.png"), full_page=True)
        page.wait_for_url(f"{base_url}/api/products/")
        page.screenshot(path=str(ARTIFACTS / "browser-1-products.png"), full_page=True)

        form = page.locator("#post-object-form form")
        form.locator("input[name=sku]").fill(sku)
        form.locator("input[name=name]").fill("Browser kettle")
        form.locator("input[name=category]").fill("Kitchen")
        form.locator("input[name=price]").fill("24.90")
        form.locator("input[name=currency]").fill("EUR")
        form.locator("button:has-text('POST')").click()
        page.wait_for_load_state()
        page.screenshot(path=str(ARTIFACTS / "browser-2-registered.png"), full_page=True)
        answer = page.locator(".response-info").inner_text()
        assert "202 Accepted" in answer, answer
        product_id = answer.split('"product_id": "')[1].split('"')[0]
        position = answer.split('"position": "')[1].split('"')[0]

        page.goto(f"{base_url}/api/products/?search={sku}&min_position={position}")
        page.screenshot(path=str(ARTIFACTS / "browser-3-listed.png"), full_page=True)
        listed = page.locator(".response-info").inner_text()
        assert sku in listed and "Browser kettle" in listed, listed

        page.goto(f"{base_url}/admin/products/storedevent/?q={product_id}")
        page.locator("#result_list tbody a").first.click()
        page.wait_for_load_state()
        page.screenshot(path=str(ARTIFACTS / "browser-4-event-in-admin.png"), full_page=True)
        event_page = page.content()
        assert "ProductRegistered" in event_page and sku in event_page


@pytest.fixture
def commander(make_user, token_for):
    """Headers of a user who may issue commands; made before the browser, whose loop bars the ORM here."""
    return {"Authorization": f"Token {token_for(make_user())}"}


def test_a_product_registered_elsewhere_shows_up_on_the_open_live_page_without_a_reload(commander, browser):
    sku = f"LIVE-{uuid.uuid4().hex[:8]}"
    with feed_server(**PLAIN_HTTP) as base_url, celery_worker("live", **PLAIN_HTTP):
        page = browser.new_page()
        page.goto(f"{base_url}/products/live/")
        page.wait_for_selector("#status.live", timeout=15_000)
        loads = []
        page.on("load", lambda: loads.append(page.url))

        # Another client, elsewhere: this test, through the command API.
        product_id = requests.post(f"{base_url}{PRODUCTS}", json=register_body(sku=sku, name="Live lamp"),
                                   headers=commander, timeout=10).json()["product_id"]
        row = page.locator(f"#product-{product_id}")
        row.wait_for(timeout=20_000)
        assert sku in row.inner_text() and "Live lamp" in row.inner_text()
        requests.post(f"{base_url}{PRODUCTS}{product_id}/change-price/", json={"price": "31.40"}, headers=commander,
                      timeout=10).raise_for_status()
        page.wait_for_function(f"document.getElementById('product-{product_id}').innerText.includes('31.40')",
                               timeout=20_000)
        page.screenshot(path=str(ARTIFACTS / "browser-live-products.png"), full_page=True)
        assert loads == [], f"the page was loaded again: {loads}"


LONG_ERROR = (
    "psycopg.errors.NumericValueOutOfRange: numeric field overflow DETAIL: A field with precision 12, "
    "scale 2 must round to an absolute value less than 10^10."
)


@pytest.fixture
def stalled_with_a_long_error(committed_db):
    """price_history stalled with a realistic long error, put back as it was afterwards."""
    from decimal import Decimal

    from products.domain.commands import RegisterProduct
    from products.handlers import handle
    from projections import engine
    from projections.models import ProjectionState

    product_id = uuid.uuid4()
    event = handle(RegisterProduct(
        product_id=product_id, sku=f"WIDE-{product_id.hex[:8]}", name="Wide", category="Wide",
        price=Decimal("1.00"), currency="EUR", initial_stock=1,
    )).events[0]
    engine.ensure_states(["price_history"])
    states = ProjectionState.objects.filter(name="price_history")
    before = states.values("status", "attempts", "last_error", "failed_position", "last_tx", "last_position").get()
    # A checkpoint as long as a busy database's: the widest token the column will show.
    states.update(status="stalled", attempts=8, failed_position=event.position, last_tx=4_123_456_789, last_position=123_456_789,
                  last_error=f"{LONG_ERROR}\n(event {event.event_id} ProductRegistered at position {event.checkpoint})")
    yield event
    states.update(**before)


def test_the_projection_list_fits_a_1400_px_wide_screen(superuser, collected_static, stalled_with_a_long_error, browser):
    env = {**PLAIN_HTTP, "CATALOG_VAR_DIR": collected_static}
    with web_server(**env) as base_url:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base_url}/admin/login/?next=/admin/projections/projectionstate/")
        page.fill("input[name=username]", superuser.username)
        page.fill("input[name=password]", "pw")
        page.click("[type=submit]")
        page.wait_for_url(f"{base_url}/admin/projections/projectionstate/")
        page.screenshot(path=str(ARTIFACTS / "browser-5-projections-1400.png"))

        row = page.locator("#result_list tbody tr", has=page.locator("th a", has_text="price_history"))
        header = page.locator("#result_list thead th", has_text="Updated at")
        for cell in (header, row.locator("td.field-updated")):
            assert shown_whole(page, cell), f"'Updated at' is cut off or hidden at 1400 px: {cell.bounding_box()}"
        error = row.locator("td.field-error span")
        assert error.get_attribute("title") == LONG_ERROR  # the whole first line, on hover
        assert error.inner_text().startswith("NumericValueOutOfRange: numeric") and error.inner_text().endswith("…")

        row.locator("th a").click()  # the row's page has the whole error
        page.wait_for_load_state()
        page.screenshot(path=str(ARTIFACTS / "browser-6-projection-page.png"), full_page=True)
        assert LONG_ERROR in page.locator(".field-last_error").inner_text()


def shown_whole(page, locator) -> bool:
    """The element lies inside the viewport and nothing (no overflow, no panel) covers its corners."""
    return locator.evaluate("""element => {
        const box = element.getBoundingClientRect();
        if (box.left < 0 || box.top < 0 || box.right > innerWidth || box.bottom > innerHeight) return false;
        return [[box.left + 1, box.top + 1], [box.right - 1, box.bottom - 1]]
            .every(([x, y]) => element.contains(document.elementFromPoint(x, y)));
    }""")


# The admin header's background (--header-bg, #417690 in the admin's base.css); unstyled, it is transparent.
ADMIN_HEADER_BACKGROUND = "rgb(65, 118, 144)"


@pytest.mark.parametrize("static_files", ["collected", "never collected"])
def test_the_admin_login_page_is_styled_under_gunicorn(browser, collected_static, tmp_path, static_files):
    """As the README's PostgreSQL section and the image run it (collectstatic, then gunicorn without
    DEBUG), and as a run that forgot collectstatic: either way the admin has its stylesheet."""
    var = collected_static if static_files == "collected" else str(tmp_path / "var")
    with web_server(workers=1, threads=4, CATALOG_VAR_DIR=var, **PLAIN_HTTP) as base_url:
        page = browser.new_page()
        page.goto(f"{base_url}/admin/login/")
        page.screenshot(path=str(tmp_path / "admin-login.png"), full_page=True)
        background = page.eval_on_selector("#header", "header => getComputedStyle(header).backgroundColor")
        form_present = page.locator("#login-form input[name=username]").count() == 1

    assert form_present
    assert background == ADMIN_HEADER_BACKGROUND, f"the admin's header is {background}: its stylesheet did not load"
