"""Security (research/reliability.md section 6, scenario 25): what the other tests leave uncovered.

- Hostile query parameters on /api/products/ and /api/events/: each answer equals the answer to
  the same request without the hostile parameter (it was ignored), or is a 400 (a 404 for a bad
  page, as DRF answers); never a 500, and nothing in it that the plain request would not show.
- The admin: no bulk "delete selected" anywhere, and no add, change or delete through POST on
  the pages tests/integration/test_operations.py does not already try.
- Production settings: no secret key and no DEBUG refuses to start, DEBUG is off unless asked
  for, cookies are https-only, and `check --deploy` passes.

The database refusing UPDATE, DELETE and TRUNCATE on event_store is in tests/integration/test_event_store.py.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from products.eventstore import Checkpoint
from products.models import StoredEvent
from projections import engine, projectors
from projections.models import CatalogProduct, CategorySummary, PriceHistoryEntry, ProjectionState, SkippedEvent
from tests.support.polling import wait_until
from tests.support.processes import ROOT

from .helpers import PRODUCTS, post_json, register_body

pytestmark = pytest.mark.integration

READ_MODELS = ("product_catalog", "category_summary", "price_history")
# Words that only a leak would put into an answer: SQL, driver errors, tracebacks, settings.
LEAKS = ("Traceback", "SELECT", "psycopg", "ProgrammingError", "OperationalError", "password", "SECRET", "sql")


# --- Data of our own ------------------------------------------------------------------------------


class Shop:
    """Three products in a category of their own, projected into the read models."""

    def __init__(self, client: APIClient):
        self.category = f"sec-{uuid.uuid4().hex[:10]}"
        self.ids = []
        position = None
        for name, price in (("Awl", "3.00"), ("Brace", "30.00"), ("Clamp", "12.00")):
            response = post_json(client, PRODUCTS, register_body(name=name, category=self.category, price=price))
            assert response.status_code == 202, response.content
            self.ids.append(response.json()["product_id"])
            position = response.json()["position"]
        self.catch_up(position)

    @staticmethod
    def catch_up(token: str) -> None:
        target = Checkpoint.parse(token)

        def applied() -> bool:
            for name in READ_MODELS:
                engine.catch_up(projectors.get(name))
            states = ProjectionState.objects.filter(name__in=READ_MODELS)
            return len(states) == len(READ_MODELS) and all(
                Checkpoint(s.last_tx, s.last_position) >= target for s in states
            )

        wait_until(applied, timeout=30, what=f"the read models to apply {token}")


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker) -> Shop:
    from django.contrib.auth.models import Permission, User

    with django_db_blocker.unblock():
        user = User.objects.create_user(username=f"sec-{uuid.uuid4().hex[:12]}", password="pw")
        user.user_permissions.add(Permission.objects.get(codename="issue_product_commands"))
        client = APIClient()
        client.force_authenticate(user)
        return Shop(client)


@pytest.fixture
def reader(committed_db) -> APIClient:
    return APIClient(raise_request_exception=False)


@pytest.fixture
def staff(make_user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(make_user(can_command=False, is_staff=True))
    return client


# --- Hostile query parameters -----------------------------------------------------------------------


def answer(client: APIClient, path: str, params: dict) -> tuple[int, object]:
    response = client.get(path, params)
    assert response.status_code < 500, (params, response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), (params, response["Content-Type"])
    text = response.content.decode()
    for word in LEAKS:
        assert word not in text, f"{params}: {word!r} in {text[:500]}"
    return response.status_code, json.loads(text)


def assert_ignored_or_refused(client: APIClient, path: str, base: dict, hostile: dict, refusals=(400,)) -> None:
    """The answer with `hostile` added equals the plain answer, or is a refusal with an error body."""
    plain_status, plain = answer(client, path, base)
    assert plain_status == 200 and plain["results"], plain
    status, body = answer(client, path, {**base, **hostile})
    if status == 200:
        assert body == plain, f"{hostile} changed the answer: {body} != {plain}"
    else:
        assert status in refusals, (hostile, status, body)
        assert isinstance(body, dict) and body, body


PRODUCT_PARAMS = [
    {"ordering": "password"},
    {"ordering": "-data__secret"},
    {"ordering": "metadata"},
    {"ordering": "name,password"},
    {"ordering": "category__name"},
    {"ordering": "-pk;DROP TABLE read_product_catalog"},
    {"_connector": "OR"},
    {"_connector": "OR", "id__gt": "0"},
    {"category__in": ""},
    {"category__in": "a,b"},
    {"id__gt": "0"},
    {"price__lt": "1000000"},
    {"status": "active' OR '1'='1"},
    {"in_stock": "1' OR '1'='1"},
    {"page_size": "1000000000"},
    {"page": "-1"},
    {"min_price": "1e400"},
    {"max_price": "1 OR 1=1"},
    {"type[]": "x"},
    {"category[]": "x"},
    {"search[]": "x"},
    {"limit": str(10**9)},
    {"offset": "-1"},
    {"format": "json"},
]


@pytest.mark.parametrize("hostile", PRODUCT_PARAMS, ids=[json.dumps(p) for p in PRODUCT_PARAMS])
def test_hostile_product_list_parameters_are_ignored_or_refused(reader, shop, hostile):
    assert_ignored_or_refused(reader, PRODUCTS, {"category": shop.category}, hostile, refusals=(400, 404))


@pytest.mark.parametrize("term", ["' OR 1=1--", "%", "_", "\\", "' OR '1'='1", "*", "%' OR 1=1 --"])
def test_filters_take_sql_and_like_wildcards_literally(reader, shop, term):
    for param in ("search", "sku"):
        status, body = answer(reader, PRODUCTS, {"category": shop.category, param: term})
        assert status == 200 and body["results"] == [], (param, term, body)
    # Another test may have made a category of that very name: only exact matches may come back.
    status, body = answer(reader, PRODUCTS, {"category": term, "page_size": "200"})
    assert status == 200 and all(row["category"] == term for row in body["results"]), (term, body)


EVENT_PARAMS = [
    {"ordering": "-data__secret"},
    {"ordering": "metadata"},
    {"_connector": "OR"},
    {"id__gt": "0"},
    {"position__gt": "0"},
    {"data__secret": "x"},
    {"metadata__username": "x"},
    {"stream_id__in": str(uuid.uuid4())},
    {"type[]": "x"},
    {"page_size": "1000000000"},
    {"page": "-1"},
    {"after": "0-0 OR 1=1"},
    {"after": "-1-0"},
    {"stream_id": "' OR 1=1"},
]


@pytest.mark.parametrize("hostile", EVENT_PARAMS, ids=[json.dumps(p) for p in EVENT_PARAMS])
def test_hostile_event_log_parameters_are_ignored_or_refused(staff, shop, hostile):
    assert_ignored_or_refused(staff, "/api/events/", {"stream_id": shop.ids[0]}, hostile, refusals=(400, 404))


@pytest.mark.parametrize("value", ["' OR '1'='1", "ProductRegistered' OR 1=1--", "%"])
def test_the_event_type_filter_takes_sql_literally(staff, shop, value):
    status, body = answer(staff, "/api/events/", {"stream_id": shop.ids[0], "type": value})
    assert status == 200 and body["results"] == []


def test_the_event_log_shows_no_event_to_an_anonymous_reader_whatever_the_parameters(reader, shop):
    for params in ({}, {"stream_id": shop.ids[0]}, {"_connector": "OR"}, {"is_staff": "1"}):
        response = reader.get("/api/events/", params)
        assert response.status_code == 401 and "results" not in response.json()


# --- The admin ----------------------------------------------------------------------------------------


@pytest.fixture
def superuser(make_user):
    return make_user(is_staff=True, is_superuser=True)


@pytest.fixture
def superuser_client(superuser) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    return client


def our_model_admins():
    return [
        model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in ("products", "projections")
    ]


def test_no_admin_of_events_or_read_models_offers_bulk_delete(superuser):
    request = RequestFactory().get("/admin/")
    request.user = superuser

    admins = our_model_admins()
    assert {type(a).__name__ for a in admins} >= {"StoredEventAdmin", "CatalogProductAdmin", "SkippedEventAdmin"}
    for model_admin in admins:
        assert "delete_selected" not in model_admin.get_actions(request), type(model_admin).__name__
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)


def test_posting_the_bulk_delete_action_deletes_no_event_or_read_model_row(superuser_client, shop):
    event = StoredEvent.objects.filter(stream_id=shop.ids[0]).first()
    product = CatalogProduct.objects.get(pk=shop.ids[0])
    summary = CategorySummary.objects.get(name=shop.category)
    price = PriceHistoryEntry.objects.filter(product_id=shop.ids[0]).first()

    for url, pk in [
        ("/admin/products/storedevent/", event.pk),
        ("/admin/projections/catalogproduct/", product.pk),
        ("/admin/projections/categorysummary/", summary.pk),
        ("/admin/projections/pricehistoryentry/", price.pk),
    ]:
        for step in ({}, {"post": "yes"}):  # the confirmation page, then the confirmed delete
            response = superuser_client.post(
                url, {"action": "delete_selected", "_selected_action": [str(pk)], "index": "0", **step}
            )
            assert response.status_code in (200, 302, 403), (url, response.status_code)
            assert b"Are you sure" not in response.content, url

    assert StoredEvent.objects.filter(pk=event.pk).exists()
    assert CatalogProduct.objects.filter(pk=product.pk).exists()
    assert CategorySummary.objects.filter(pk=summary.pk).exists()
    assert PriceHistoryEntry.objects.filter(pk=price.pk).exists()


def test_posting_to_the_add_pages_stores_nothing(superuser_client, shop):
    events_before = StoredEvent.objects.count()
    products_before = CatalogProduct.objects.count()
    forged = {
        "stream_type": "product", "stream_id": str(uuid.uuid4()), "version": "1", "event_id": str(uuid.uuid4()),
        "type": "ProductRegistered", "data": "{}", "metadata": "{}", "recorded_at_0": "2025-01-01",
    }

    assert superuser_client.post("/admin/products/storedevent/add/", forged).status_code == 403
    assert superuser_client.post("/admin/projections/catalogproduct/add/", {"sku": "FORGED"}).status_code == 403
    assert superuser_client.post("/admin/projections/skippedevent/add/", {"reason": "forged"}).status_code == 403
    assert superuser_client.post("/admin/projections/projectionstate/add/", {"name": "forged"}).status_code == 403

    assert StoredEvent.objects.count() == events_before
    assert CatalogProduct.objects.count() == products_before


def test_a_skipped_event_record_cannot_be_changed_or_deleted(superuser_client, shop):
    event = StoredEvent.objects.filter(stream_id=shop.ids[0]).first()
    record = SkippedEvent.objects.create(
        projection="security_test", position=event.position, event_id=event.event_id, event_type=event.type,
        reason="recorded by the security test", skipped_by="test",
    )
    url = f"/admin/projections/skippedevent/{quote(record.pk)}/"

    assert superuser_client.get(f"{url}change/").status_code == 200  # viewing only
    assert superuser_client.post(f"{url}change/", {"reason": "rewritten"}).status_code == 403
    assert superuser_client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    record.refresh_from_db()
    assert record.reason == "recorded by the security test"


def test_an_event_page_offers_no_save_or_delete(superuser_client, shop):
    event = StoredEvent.objects.filter(stream_id=shop.ids[0]).first()

    page = superuser_client.get(f"/admin/products/storedevent/{event.pk}/change/").content.decode()

    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert f"/admin/products/storedevent/{event.pk}/delete/" not in page


# --- Production settings -------------------------------------------------------------------------------

# What the test process sets for the other tests; a production process has only what each test gives it.
CONFIGURATION = (
    "DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS", "DJANGO_SESSION_COOKIE_SECURE", "DJANGO_CSRF_COOKIE_SECURE",
    "DJANGO_SECURE_SSL_REDIRECT", "DJANGO_SECURE_HSTS_SECONDS", "DJANGO_SECURE_PROXY_SSL_HEADER",
)
SHOW_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS)"
)


def production(tmp_path, **env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in CONFIGURATION}
    return {**base, "DJANGO_SETTINGS_MODULE": "project.settings", "CATALOG_VAR_DIR": str(tmp_path), **env}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def secret_key() -> str:
    return secrets.token_urlsafe(50)  # 67 characters, many of them distinct


def test_without_a_secret_key_and_without_debug_the_service_refuses_to_start(tmp_path):
    result = run([sys.executable, "-c", "import django; django.setup()"], production(tmp_path))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr


def test_with_a_secret_key_debug_is_off_and_cookies_are_https_only(tmp_path):
    result = run([sys.executable, "-c", SHOW_SETTINGS], production(tmp_path, DJANGO_SECRET_KEY=secret_key()))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "False", "0"]


def test_https_redirect_and_hsts_come_from_the_environment(tmp_path):
    env = production(
        tmp_path, DJANGO_SECRET_KEY=secret_key(), DJANGO_SECURE_SSL_REDIRECT="1", DJANGO_SECURE_HSTS_SECONDS="3600"
    )
    result = run([sys.executable, "-c", SHOW_SETTINGS], env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "True", "3600"]


def test_a_debug_run_keeps_its_cookies_usable_over_plain_http(tmp_path):
    result = run([sys.executable, "-c", SHOW_SETTINGS], production(tmp_path, DJANGO_DEBUG="1"))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["True", "False", "False"]


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = production(tmp_path, DJANGO_SECRET_KEY=secret_key(), DJANGO_ALLOWED_HOSTS="catalog.example.com")
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout


def test_check_deploy_still_flags_debug_and_a_weak_key(tmp_path):
    """The silenced checks are only the two left to the gateway: the others still fire."""
    env = production(tmp_path, DJANGO_DEBUG="1", DJANGO_SECRET_KEY="short", DJANGO_ALLOWED_HOSTS="catalog.example.com")
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode != 0
    for check in ("security.W018", "security.W009", "security.W012", "security.W016"):
        assert check in result.stderr + result.stdout, check
