"""A command takes only the fields it declares, each of its JSON type, and an active currency.

A typo (`initial_stok`) or a wrong type (`"sku": 12`, `"quantity": "5"`) is a 400 naming the
field, and stores nothing; the browsable API's form posts, whose values are all text and which
carry a CSRF token, keep working.
"""

import re
import uuid
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from products import eventstore
from products.api import views
from products.api.serializers import CommandSerializer

from .helpers import (
    PRODUCT_COMMANDS,
    PRODUCTS,
    assert_field_errors,
    assert_json,
    command_path,
    post_json,
    post_raw,
    register_body,
    stores_events,
    stores_nothing,
)

pytestmark = pytest.mark.integration

COMMAND_SERIALIZERS = [
    view.InputSerializer
    for view in vars(views).values()
    if isinstance(view, type) and issubclass(view, views.ProductCommandApi) and hasattr(view, "InputSerializer")
]


def refused(client, path, body, *fields):
    with stores_nothing():
        response = post_json(client, path, body)
    return assert_field_errors(response, *fields)


def accepted(client, path, body):
    with stores_events(1):
        response = post_json(client, path, body)
    return assert_json(response, 202)


# --- Unknown fields -------------------------------------------------------------------------


def test_a_misspelt_field_is_refused_by_name_and_the_corrected_body_is_accepted(client):
    body = register_body()
    stock = body.pop("initial_stock")

    errors = refused(client, PRODUCTS, {**body, "initial_stok": stock}, "initial_stok")

    assert errors == {"initial_stok": ["Unknown field."]}
    product = accepted(client, PRODUCTS, {**body, "initial_stock": stock})["product_id"]
    assert eventstore.load(uuid.UUID(product))[0].data["initial_stock"] == stock


def test_every_unknown_field_is_named_along_with_invalid_known_ones(client):
    body = register_body(sku="bad sku", color="red", Expected_Version=1, nested={"a": [1]})

    errors = refused(client, PRODUCTS, body, "sku", "color", "Expected_Version", "nested")

    assert set(errors) == {"sku", "color", "Expected_Version", "nested"}


@pytest.mark.parametrize("name", list(PRODUCT_COMMANDS))
def test_each_product_command_refuses_an_unknown_field(client, product, name):
    path = command_path(product, name)

    refused(client, path, {**PRODUCT_COMMANDS[name], "stock": -5}, "stock")

    assert len(eventstore.load(product)) == 1
    accepted(client, path, PRODUCT_COMMANDS[name])  # the control: the same body without it


@pytest.mark.parametrize("name", [None, *PRODUCT_COMMANDS])
def test_every_command_knows_expected_version(client, product, name):
    path, body = (PRODUCTS, register_body()) if name is None else (command_path(product, name), PRODUCT_COMMANDS[name])
    version = 0 if name is None else 1

    accepted(client, path, {**body, "expected_version": version})


def test_a_csrf_token_field_in_a_json_body_is_unknown(client):
    refused(client, PRODUCTS, register_body(csrfmiddlewaretoken="x" * 32), "csrfmiddlewaretoken")


# --- JSON types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("sku", 12),
        ("sku", 1.5),
        ("name", 12),
        ("name", True),
        ("description", 3),
        ("category", 7),
        ("currency", 978),  # the numeric ISO code of EUR is still not a currency code here
        ("product_id", 5),  # DRF would read it as the UUID 00000000-…-000000000005
        ("initial_stock", "10"),
        ("initial_stock", True),
        ("expected_version", "0"),
        ("expected_version", False),
        ("price", True),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_at_registration(client, field, value):
    refused(client, PRODUCTS, register_body(**{field: value}), field)


@pytest.mark.parametrize(
    "name, body, field",
    [
        ("update-details", {"name": 12}, "name"),
        ("update-details", {"category": ["Tools"]}, "category"),
        ("update-details", {"description": 5}, "description"),
        ("change-price", {"price": "5.00", "currency": 978}, "currency"),
        ("receive-stock", {"quantity": "5"}, "quantity"),
        ("ship-stock", {"quantity": True}, "quantity"),
        ("ship-stock", {"quantity": 1, "expected_version": "1"}, "expected_version"),
        ("discontinue", {"reason": 42}, "reason"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_by_product_commands(client, product, name, body, field):
    refused(client, command_path(product, name), body, field)

    assert len(eventstore.load(product)) == 1


@pytest.mark.parametrize("price", ["12.50", 12.5, 12])
def test_a_price_may_be_a_string_or_a_number(client, price):
    accepted(client, PRODUCTS, register_body(price=price))


def test_a_whole_number_written_with_a_zero_fraction_is_a_whole_number(client, product):
    """JSON has one number type: 5.0 is 5 (as JSON Schema's "integer" says), 5.5 is not."""
    accepted(client, command_path(product, "receive-stock"), {"quantity": 5.0})
    refused(client, command_path(product, "receive-stock"), {"quantity": 5.5}, "quantity")


def test_every_command_field_declares_its_json_types():
    """Without `json_types` a field would take any JSON type: the check would silently skip it."""
    assert len(COMMAND_SERIALIZERS) == 6
    for serializer in COMMAND_SERIALIZERS:
        assert issubclass(serializer, CommandSerializer), serializer
        for name, field in serializer().fields.items():
            assert getattr(field, "json_types", None), f"{serializer.__qualname__}.{name} declares no json_types"


def test_the_schema_says_a_command_body_takes_no_other_properties():
    from drf_spectacular.generators import SchemaGenerator

    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    bodies = ["RegisterProduct", "UpdateProductDetails", "ChangePrice", "ReceiveStock", "ShipStock", "DiscontinueProduct"]
    for name in bodies:
        assert components[name]["additionalProperties"] is False, name


# --- Currencies -----------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["XYZ", "HRK", "XTS", "XXX"], ids=["made-up", "withdrawn", "testing", "none"])
def test_a_currency_that_is_not_an_active_iso_4217_code_is_refused(client, product, currency):
    refused(client, PRODUCTS, register_body(currency=currency), "currency")
    refused(client, command_path(product, "change-price"), {"price": "5.00", "currency": currency}, "currency")


@pytest.mark.parametrize("currency", ["JPY", "CHF", "XCG"])
def test_an_active_iso_4217_code_is_accepted(client, product, currency):
    accepted(client, PRODUCTS, register_body(currency=currency))
    accepted(client, command_path(product, "change-price"), {"price": "5.00", "currency": currency})


# --- The browsable API's form posts ---------------------------------------------------------


@pytest.fixture
def browser_session(make_user):
    """A logged-in session that must send the CSRF token, as the browsable API's HTML form does."""
    session = APIClient(enforce_csrf_checks=True, raise_request_exception=False)
    session.force_login(make_user())
    page = session.get(PRODUCTS, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    session.csrf_token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)[1].decode()
    return session


def form(**fields) -> dict:
    """What the HTML form posts: every value as text, empty inputs included."""
    body = {**register_body(), "product_id": "", "expected_version": "", **fields}
    return {name: str(value) for name, value in body.items()}


def test_the_html_form_post_with_its_csrf_token_registers_a_product(browser_session):
    body = form(csrfmiddlewaretoken=browser_session.csrf_token, initial_stock="7")

    with stores_events(1):
        response = browser_session.post(PRODUCTS, body, format="multipart", HTTP_ACCEPT="application/json")

    product = assert_json(response, 202)["product_id"]
    assert eventstore.load(uuid.UUID(product))[0].data["initial_stock"] == 7


def test_a_form_post_without_the_csrf_token_is_refused(browser_session):
    """The control: the token is checked, not merely tolerated."""
    with stores_nothing():
        response = browser_session.post(PRODUCTS, form(), format="multipart", HTTP_ACCEPT="application/json")

    assert response.status_code == 403, response.content


def test_a_form_post_with_an_unknown_field_is_refused(browser_session):
    body = form(csrfmiddlewaretoken=browser_session.csrf_token, initial_stok="7")

    with stores_nothing():
        response = browser_session.post(PRODUCTS, body, format="multipart", HTTP_ACCEPT="application/json")

    assert assert_field_errors(response, "initial_stok") == {"initial_stok": ["Unknown field."]}


def test_a_urlencoded_form_post_is_parsed_as_text(browser_session):
    body = form(csrfmiddlewaretoken=browser_session.csrf_token, price="9.99")

    with stores_events(1):
        response = post_raw(
            browser_session, PRODUCTS, urlencode(body), content_type="application/x-www-form-urlencoded",
            HTTP_ACCEPT="application/json",
        )

    assert_json(response, 202)
