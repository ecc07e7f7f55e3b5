"""The command pages of the browsable API: a title, a one-line description and the form.

A browser opening a command route (a GET asking for HTML, signed in with a session) gets the
command's page with its form, not a red "405 Method Not Allowed"; a client asking for JSON
still gets the 405 (docs/API.md, "Commands").
"""

import re

import pytest
from django.test import Client

from .helpers import PRODUCTS, assert_error, command_path

pytestmark = pytest.mark.integration

# route: (title, a phrase of the one-line description, the form's fields)
PAGES = {
    "update-details": ("Update a product&#x27;s details", "fields left out keep their value", ["name", "category"]),
    "change-price": ("Change a product&#x27;s price", "current currency stays", ["price", "currency"]),
    "receive-stock": ("Receive stock", "Add received units", ["quantity"]),
    "ship-stock": ("Ship stock", "Take shipped units out of the stock", ["quantity"]),
    "discontinue": ("Discontinue a product", "accepts no further commands", ["reason"]),
}
PRODUCT_ID = "00000000-0000-0000-0000-000000000007"


@pytest.fixture
def browser(make_user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(make_user())
    return client


def form_of(page: str) -> str:
    start = page.find('method="POST" enctype="multipart/form-data"')
    assert start != -1, "no form on the page"
    return page[start : page.index("</form>", start)]


@pytest.mark.parametrize("route", PAGES)
def test_a_browser_opening_a_command_route_gets_its_page_and_form(browser, route):
    title, description, fields = PAGES[route]

    response = browser.get(command_path(PRODUCT_ID, route), HTTP_ACCEPT="text/html")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert response["Allow"] == "POST, OPTIONS"
    page = response.content.decode()
    assert f"<h1>{title}</h1>" in page
    assert description in page
    assert "405" not in page and "Method Not Allowed" not in page
    form = form_of(page)
    for field in [*fields, "expected_version"]:
        assert f'name="{field}"' in form, f"the form lacks {field}"
    assert "you last read" in form and "must not exist yet" not in form


@pytest.mark.parametrize("route", PAGES)
def test_a_json_get_of_a_command_route_is_still_a_405(browser, route):
    for accept in ("application/json", "*/*"):
        response = browser.get(command_path(PRODUCT_ID, route), HTTP_ACCEPT=accept)
        assert_error(response, 405, "method_not_allowed")
        assert response["Allow"] == "POST, OPTIONS"


def test_an_anonymous_browser_gets_no_command_form(committed_db):
    response = Client(raise_request_exception=False).get(command_path(PRODUCT_ID, "ship-stock"), HTTP_ACCEPT="text/html")

    assert response.status_code == 401
    assert 'name="quantity"' not in response.content.decode()


def test_the_registration_form_says_what_expected_version_zero_means(browser):
    response = browser.get(PRODUCTS, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Products</h1>" in page
    form = form_of(page)
    assert 'name="initial_stock"' in form
    assert "must not exist yet" in form and "you last read" not in form
    # The page's description is a sentence for its reader, not a note on its implementation.
    description = re.search(r'<div class="pull-left">\s*<p>(.*?)</p>', page, re.S)
    assert description and "gateway" not in description[1] and "inherit" not in description[1]
