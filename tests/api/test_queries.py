"""The Query API: filters, ordering, pagination, ETags, staff views, read-your-writes and split roles.

docs/API.md, "Queries", "Users" and "Conventions" (SERVICE_ROLE).
Read models are filled the way production fills them: commands through the API, then the
projections' catch-up, run in-process. The database is shared by the whole run and never
emptied, so each test looks only at its own category or its own products.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import quote

import psycopg
import pytest
from rest_framework.test import APIClient

from products import eventstore
from products.eventstore import Checkpoint, NewEvent
from projections import engine, projectors
from projections.models import CatalogProduct, ProjectionState
from tests import settings as test_settings
from tests.support.polling import wait_until

from .helpers import PRODUCTS, assert_error, assert_field_errors, assert_json, post_json, register_body, stores_nothing

pytestmark = pytest.mark.integration

READ_MODELS = ("product_catalog", "category_summary", "price_history")
PRODUCT_FIELDS = {
    "id", "sku", "name", "description", "category", "price", "currency",
    "stock", "status", "version", "created_at", "updated_at",
}
EVENT_FIELDS = {
    "event_id", "position", "stream_type", "stream_id", "version", "type", "schema_version", "data", "metadata", "recorded_at",
}
AHEAD = f"{2**62}-1"  # a position no projection has reached


# --- Filling the read models ----------------------------------------------------------------


def reached(token: str) -> bool:
    """The read models have applied everything up to position `token` (perhaps more)."""
    target = Checkpoint.parse(token)
    states = ProjectionState.objects.filter(name__in=READ_MODELS)
    return len(states) == len(READ_MODELS) and all(Checkpoint(s.last_tx, s.last_position) >= target for s in states)


def catch_up_to(token: str) -> None:
    """Run the read-model projections until they have applied `token`.

    The horizon is cluster-wide: a transaction open anywhere on the server delays it a moment.
    """

    def run() -> bool:
        for name in READ_MODELS:
            engine.catch_up(projectors.get(name))
        return reached(token)

    wait_until(run, timeout=30, what=f"the read models to apply {token}")


def command(client, path: str, body: dict) -> dict:
    response = post_json(client, path, body)
    assert response.status_code in (200, 202), response.content
    return response.json()


@dataclass
class Shelf:
    """Four products in a category of their own, one discontinued, one repriced; and a slashed category."""

    category: str
    ids: dict[str, str] = field(default_factory=dict)
    skus: dict[str, str] = field(default_factory=dict)
    position: str = ""

    def names(self, body) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[row["id"]] for row in body["results"]]


# name: (sku prefix, price, stock, description). Every ordering field sorts them differently.
GOODS = {
    "Anvil": ("q", "10.00", 5, "Heavy iron block"),
    "Bucket": ("m", "2.50", 0, "Holds water"),
    "Chisel": ("x", "7.25", 12, "Sharp steel edge"),
    "Drill": ("a", "99.99", 3, "Cordless, with iron bits"),
}
ORDERINGS = {
    "name": ["Anvil", "Bucket", "Chisel", "Drill"],
    "sku": ["Drill", "Bucket", "Anvil", "Chisel"],
    "price": ["Bucket", "Chisel", "Anvil", "Drill"],  # Drill is repriced to 89.99
    "stock": ["Bucket", "Drill", "Anvil", "Chisel"],
    "created_at": ["Anvil", "Bucket", "Chisel", "Drill"],
    "updated_at": ["Anvil", "Bucket", "Drill", "Chisel"],  # Drill repriced, then Chisel discontinued
}


@pytest.fixture(scope="module")
def commander(django_db_setup, django_db_blocker):
    from django.contrib.auth.models import Permission, User

    with django_db_blocker.unblock():
        user = User.objects.create_user(username=f"shelf-{uuid.uuid4().hex[:12]}", password="pw")
        user.user_permissions.add(Permission.objects.get(codename="issue_product_commands"))
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(scope="module")
def shelf(commander, django_db_blocker) -> Shelf:
    suffix = uuid.uuid4().hex[:10]
    shelf = Shelf(category=f"cat-{suffix}")
    with django_db_blocker.unblock():
        for name, (prefix, price, stock, description) in GOODS.items():
            sku = f"{prefix}-{suffix}"
            body = register_body(
                sku=sku, name=name, category=shelf.category, price=price, initial_stock=stock, description=description
            )
            shelf.ids[name], shelf.skus[name] = command(commander, PRODUCTS, body)["product_id"], sku
        command(commander, f"{PRODUCTS}{shelf.ids['Drill']}/change-price/", {"price": "89.99"})
        shelf.position = command(commander, f"{PRODUCTS}{shelf.ids['Chisel']}/discontinue/", {})["position"]
        catch_up_to(shelf.position)
    return shelf


@pytest.fixture
def reader(committed_db):
    """An anonymous client that answers a 500 as a response instead of raising."""
    return APIClient(raise_request_exception=False)


@pytest.fixture
def staff(make_user):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(make_user(can_command=False, is_staff=True))
    return client


def products(client, shelf: Shelf, **params):
    return assert_json(client.get(PRODUCTS, {"category": shelf.category, **params}), 200)


# --- The product list: fields, filters, ordering -------------------------------------------


def test_a_product_has_the_contract_fields_and_a_two_decimal_price_string(reader, shelf):
    body = products(reader, shelf, sku=shelf.skus["Drill"])

    [drill] = body["results"]
    assert set(drill) == PRODUCT_FIELDS
    assert drill["price"] == "89.99" and drill["currency"] == "EUR"
    assert drill["version"] == 2 and drill["status"] == "active" and drill["stock"] == 3


def test_the_list_defaults_to_name_order(reader, shelf):
    assert shelf.names(products(reader, shelf)) == ["Anvil", "Bucket", "Chisel", "Drill"]


@pytest.mark.parametrize("field", list(ORDERINGS))
def test_each_ordering_field_sorts_ascending_and_descending(reader, shelf, field):
    assert shelf.names(products(reader, shelf, ordering=field)) == ORDERINGS[field]
    assert shelf.names(products(reader, shelf, ordering=f"-{field}")) == ORDERINGS[field][::-1]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, {"Anvil", "Bucket", "Chisel", "Drill"}),
        ({"status": "active"}, {"Anvil", "Bucket", "Drill"}),
        ({"status": "discontinued"}, {"Chisel"}),
        ({"min_price": "7.25"}, {"Chisel", "Anvil", "Drill"}),
        ({"max_price": "7.25"}, {"Bucket", "Chisel"}),
        ({"min_price": "2.5", "max_price": "10"}, {"Anvil", "Bucket", "Chisel"}),
        ({"in_stock": "true"}, {"Anvil", "Chisel", "Drill"}),
        ({"in_stock": "false"}, {"Bucket"}),
        ({"search": "IRON"}, {"Anvil", "Drill"}),
        ({"search": "bucket"}, {"Bucket"}),
        ({"search": "nothing like it"}, set()),
        ({"status": "active", "in_stock": "true", "max_price": "50"}, {"Anvil"}),
    ],
)
def test_filters_select_the_expected_products(reader, shelf, params, expected):
    assert set(shelf.names(products(reader, shelf, **params))) == expected


def test_sku_matches_case_insensitively_and_exactly(reader, shelf):
    sku = shelf.skus["Anvil"]
    assert shelf.names(products(reader, shelf, sku=sku.upper())) == ["Anvil"]
    assert shelf.names(products(reader, shelf, sku=sku[:-1])) == []
    assert shelf.names(products(reader, shelf, search=sku[:5].upper())) == ["Anvil"]


def test_the_category_filter_is_exact(reader, shelf):
    assert products(reader, shelf, category=shelf.category[:-1])["results"] == []
    assert products(reader, shelf, category=shelf.category.upper())["results"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"_connector": "OR"},
        {"_negated": "true", "id": "x"},
        {"unknown": "1"},
        {"colour": "red"},
        {"in_stock": ""},
        {"ordering": ""},
        {"page_size": ""},
        {"page_size": "9" * 5000},  # more than the maximum: the maximum
    ],
)
def test_unknown_parameters_and_empty_values_are_ignored(reader, shelf, params):
    body = products(reader, shelf, **params)

    assert sorted(shelf.names(body)) == ["Anvil", "Bucket", "Chisel", "Drill"]
    assert all(set(row) == PRODUCT_FIELDS for row in body["results"])


@pytest.mark.parametrize(
    "params, field",
    [
        ({"min_price": "abc"}, "min_price"),
        ({"min_price": "1e400"}, "min_price"),
        ({"max_price": "99999999999999999999"}, "max_price"),
        ({"max_price": "NaN"}, "max_price"),
        ({"min_price": "-Infinity"}, "min_price"),
        ({"status": "nope"}, "status"),
        ({"status": "xyz"}, "status"),
        ({"in_stock": "maybe"}, "in_stock"),
        ({"in_stock": "yes"}, "in_stock"),
        ({"in_stock": "2"}, "in_stock"),
        ({"in_stock": "1' OR '1'='1"}, "in_stock"),
        ({"sku": "a\x00b"}, "sku"),
        ({"category": "\x00"}, "category"),
        ({"search": "\x00"}, "search"),
        ({"ordering": "colour"}, "ordering"),
        ({"ordering": "password"}, "ordering"),
        ({"ordering": "-data__secret"}, "ordering"),
        ({"ordering": "id"}, "ordering"),
        ({"ordering": "--name"}, "ordering"),
        ({"ordering": "price__gt"}, "ordering"),
        ({"ordering": "name,colour"}, "ordering"),
        ({"ordering": "name,"}, "ordering"),
        ({"ordering": "name;DROP TABLE read_product_catalog"}, "ordering"),
        ({"ordering": "\x00"}, "ordering"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "-5"}, "page_size"),
        ({"page_size": "abc"}, "page_size"),
        ({"page_size": "1e400"}, "page_size"),
        ({"page_size": "2.5"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"min_position": "latest"}, "min_position"),
        ({"min_position": "99999999999999999999-1"}, "min_position"),
    ],
)
def test_bad_filter_values_are_a_400_naming_the_parameter(reader, shelf, params, field):
    with stores_nothing():
        body = assert_field_errors(reader.get(PRODUCTS, {"category": shelf.category, **params}), field)
    assert "Traceback" not in str(body) and "SELECT" not in str(body)


def test_a_bad_ordering_names_the_fields_it_may_be(reader, shelf):
    body = assert_field_errors(reader.get(PRODUCTS, {"category": shelf.category, "ordering": "colour"}), "ordering")

    assert all(name in body["ordering"][0] for name in ORDERINGS), body


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", " true "])
def test_in_stock_takes_true_in_any_case_and_1(reader, shelf, value):
    assert set(shelf.names(products(reader, shelf, in_stock=value))) == {"Anvil", "Chisel", "Drill"}


@pytest.mark.parametrize("value", ["false", "FALSE", "0"])
def test_in_stock_takes_false_in_any_case_and_0(reader, shelf, value):
    assert shelf.names(products(reader, shelf, in_stock=value)) == ["Bucket"]


def test_the_browsable_apis_filter_form_shows_the_in_stock_choice(reader, shelf):
    page = reader.get(PRODUCTS, {"category": shelf.category, "in_stock": "TRUE"}, HTTP_ACCEPT="text/html")

    assert page.status_code == 200
    html = page.content.decode()
    assert '<label for="id_in_stock">In stock:</label>' in html
    assert '<option value="true" selected>Yes</option>' in html


def test_ordering_takes_several_fields(reader, shelf):
    assert shelf.names(products(reader, shelf, ordering="-price, name")) == ORDERINGS["price"][::-1]


def test_an_injection_attempt_is_just_a_search_term(reader, shelf):
    assert products(reader, shelf, search="' OR 1=1--")["results"] == []
    assert products(reader, shelf, sku="' OR '1'='1")["results"] == []


@pytest.mark.parametrize("page", ["3", "99999999999999999999", "9" * 5000])
def test_a_page_past_the_last_is_a_404(reader, shelf, page):
    assert_error(reader.get(PRODUCTS, {"category": shelf.category, "page": page, "page_size": "2"}), 404)


@pytest.mark.parametrize("page, expected", [("", ["Anvil", "Bucket"]), ("1", ["Anvil", "Bucket"]), ("02", ["Chisel", "Drill"])])
def test_a_page_is_a_whole_number_from_1_and_empty_is_the_first(reader, shelf, page, expected):
    assert shelf.names(products(reader, shelf, page=page, page_size="2")) == expected


# --- Pagination -------------------------------------------------------------------------------


def test_next_and_previous_links_walk_the_pages(reader, shelf):
    first = products(reader, shelf, page_size=2, ordering="price")
    assert shelf.names(first) == ["Bucket", "Chisel"] and first["previous"] is None

    second = assert_json(reader.get(first["next"]), 200)
    assert shelf.names(second) == ["Anvil", "Drill"] and second["next"] is None

    back = assert_json(reader.get(second["previous"]), 200)
    assert back == first


@pytest.fixture
def crowded_category(committed_db):
    """205 rows in one category, written straight into the read model (cheaper than 205 commands)."""
    category, now = f"crowd-{uuid.uuid4().hex[:10]}", datetime.now(timezone.utc)
    CatalogProduct.objects.bulk_create(
        CatalogProduct(
            id=uuid.uuid4(), sku=f"crowd-{n:03d}-{category}", name=f"Item {n:03d}", category=category,
            price=Decimal("1.00"), currency="EUR", stock=n, status="active", version=1, created_at=now, updated_at=now,
        )
        for n in range(205)
    )
    yield category
    # Rows with no events behind them: gone again, or any later rebuild comparison would differ.
    CatalogProduct.objects.filter(category=category).delete()


def test_page_size_defaults_to_50_and_is_capped_at_200(reader, crowded_category):
    default = assert_json(reader.get(PRODUCTS, {"category": crowded_category}), 200)
    capped = assert_json(reader.get(PRODUCTS, {"category": crowded_category, "page_size": "100000"}), 200)
    rest = assert_json(reader.get(capped["next"]), 200)

    assert len(default["results"]) == 50
    assert len(capped["results"]) == 200 and capped["next"]
    assert len(rest["results"]) == 5 and rest["next"] is None
    names = [row["name"] for row in capped["results"] + rest["results"]]
    assert names == [f"Item {n:03d}" for n in range(205)]


def test_the_product_list_runs_one_query_whatever_the_page_size(reader, crowded_category, django_assert_num_queries):
    for size in ("2", "200"):
        with django_assert_num_queries(1):
            params = {"category": crowded_category, "page_size": size, "in_stock": "true", "ordering": "-price"}
            reader.get(PRODUCTS, params)


# --- One product, its price history, categories -------------------------------------------------


def test_a_product_carries_its_version_as_etag_and_if_none_match_answers_304(reader, shelf):
    path = f"{PRODUCTS}{shelf.ids['Drill']}/"
    response = reader.get(path)
    assert assert_json(response, 200)["sku"] == shelf.skus["Drill"]
    assert response["ETag"] == '"2"'

    for given in ('"2"', 'W/"2"', '"1", "2"', "*"):
        not_modified = reader.get(path, HTTP_IF_NONE_MATCH=given)
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified["ETag"] == '"2"'
    assert reader.get(path, HTTP_IF_NONE_MATCH='"1"').status_code == 200


@pytest.mark.parametrize("product_id", [str(uuid.uuid4()), "not-a-uuid", "%00", "a" * 300])
def test_an_unknown_product_is_a_404(reader, product_id):
    assert_error(reader.get(f"{PRODUCTS}{product_id}/"), 404, "product_not_found")
    assert_error(reader.get(f"{PRODUCTS}{product_id}/price-history/"), 404, "product_not_found")


def test_price_history_lists_the_prices_oldest_first(reader, shelf):
    body = assert_json(reader.get(f"{PRODUCTS}{shelf.ids['Drill']}/price-history/"), 200)

    prices = [(e["version"], e["price"], e["currency"]) for e in body["results"]]
    assert prices == [(1, "99.99", "EUR"), (2, "89.99", "EUR")]
    assert body["results"][0]["changed_at"] <= body["results"][1]["changed_at"]


def test_a_category_summary_counts_active_and_discontinued_products_and_active_stock(reader, shelf):
    body = assert_json(reader.get(f"/api/categories/{shelf.category}/"), 200)

    assert body == {"name": shelf.category, "active_products": 3, "discontinued_products": 1, "total_stock": 8}


def test_the_category_list_holds_the_summaries_by_name(reader, shelf):
    found, url = [], "/api/categories/?page_size=200"
    while url:
        page = assert_json(reader.get(url), 200)
        found += page["results"]
        url = page["next"]

    names = [row["name"] for row in found]
    assert names == sorted(names)
    assert {"name": shelf.category, "active_products": 3, "discontinued_products": 1, "total_stock": 8} in found


def test_a_category_name_with_a_slash_is_found(reader, api):
    category = f"tools/hand-{uuid.uuid4().hex[:8]}"
    catch_up_to(command(api, PRODUCTS, register_body(category=category))["position"])

    assert assert_json(reader.get(f"/api/categories/{quote(category)}/"), 200)["active_products"] == 1


@pytest.mark.parametrize("name", ["no-such-category", "%00", "x" * 500])
def test_an_unknown_category_is_a_404(reader, name):
    assert_error(reader.get(f"/api/categories/{name}/"), 404, "category_not_found")


# --- Staff views: the event log and the projections --------------------------------------------


def test_the_event_log_lists_a_streams_events_in_order_with_their_envelope(staff, shelf):
    body = assert_json(staff.get("/api/events/", {"stream_id": shelf.ids["Drill"]}), 200)

    events = body["results"]
    assert [(e["version"], e["type"]) for e in events] == [(1, "ProductRegistered"), (2, "ProductPriceChanged")]
    assert all(set(e) == EVENT_FIELDS for e in events)
    assert events[1]["data"]["price"] == {"amount": "89.99", "currency": "EUR"} and events[0]["stream_type"] == "product"
    assert [e["schema_version"] for e in events] == [2, 2]
    assert Checkpoint.parse(events[0]["position"]) < Checkpoint.parse(events[1]["position"])


def test_the_event_log_filters_by_type_and_after_a_position(staff, shelf):
    drill = shelf.ids["Drill"]
    [registered, changed] = assert_json(staff.get("/api/events/", {"stream_id": drill}), 200)["results"]

    by_type = assert_json(staff.get("/api/events/", {"stream_id": drill, "type": "ProductPriceChanged"}), 200)
    after = assert_json(staff.get("/api/events/", {"stream_id": drill, "after": registered["position"]}), 200)
    assert by_type["results"] == [changed]
    assert after["results"] == [changed]


def test_the_event_log_is_in_global_order(staff, shelf):
    first = assert_json(staff.get("/api/events/", {"stream_id": shelf.ids["Anvil"]}), 200)["results"][0]
    later = assert_json(staff.get("/api/events/", {"after": first["position"], "page_size": "200"}), 200)["results"]

    positions = [Checkpoint.parse(e["position"]) for e in later]
    assert positions == sorted(positions) and positions[0] > Checkpoint.parse(first["position"])
    assert {e["stream_id"] for e in later} >= {shelf.ids["Bucket"], shelf.ids["Chisel"], shelf.ids["Drill"]}


def test_the_event_log_hides_events_that_an_open_older_transaction_could_still_precede(staff, api):
    """The horizon: a listing never shows an event before everything older has settled."""
    with psycopg.connect(test_settings.POSTGRES_URL, autocommit=False) as older:
        older.execute("SELECT pg_current_xact_id()")  # takes a transaction id, still open
        product = command(api, PRODUCTS, register_body())["product_id"]
        hidden = assert_json(staff.get("/api/events/", {"stream_id": product}), 200)["results"]
        older.rollback()

    assert hidden == []
    wait_until(
        lambda: assert_json(staff.get("/api/events/", {"stream_id": product}), 200)["results"],
        timeout=15,
        what="the event to settle",
    )


@pytest.mark.parametrize(
    "params, field",
    [
        ({"stream_id": "not-a-uuid"}, "stream_id"),
        ({"after": "42"}, "after"),
        ({"after": "1-2-3"}, "after"),
        ({"after": "99999999999999999999-1"}, "after"),
        ({"type": "\x00"}, "type"),
        ({"min_position": "x"}, "min_position"),
        ({"page_size": "abc"}, "page_size"),
        ({"page": "0"}, "page"),
    ],
)
def test_bad_event_log_filters_are_a_400(staff, params, field):
    assert_field_errors(staff.get("/api/events/", params), field)


@pytest.mark.parametrize("params, field", [({"page_size": "-1"}, "page_size"), ({"page": "x"}, "page")])
def test_every_list_refuses_a_bad_page_or_page_size(staff, shelf, params, field):
    for path in ("/api/categories/", f"{PRODUCTS}{shelf.ids['Drill']}/price-history/", "/api/projections/"):
        assert_field_errors(staff.get(path, params), field)
        assert_json(staff.get(path, {field: "1"}), 200)  # the control


@pytest.mark.parametrize("path", ["/api/events/", "/api/projections/"])
def test_staff_views_refuse_other_users(reader, make_user, path):
    assert_error(reader.get(path), 401, "not_authenticated")
    user = APIClient(raise_request_exception=False)
    user.force_authenticate(make_user())  # may command, but is not staff
    assert_error(user.get(path), 403, "permission_denied")


def test_the_projection_list_shows_each_projections_health(staff, shelf):
    body = assert_json(staff.get("/api/projections/"), 200)

    rows = {row["name"]: row for row in body["results"]}
    assert set(READ_MODELS) <= set(rows)
    for name in READ_MODELS:
        assert set(rows[name]) == {
            "name", "status", "version", "position", "lag", "last_error", "failed_position", "updated_at", "next",
        }
        assert rows[name]["version"] >= 1 and rows[name]["next"] is None  # no rebuild under way
        assert Checkpoint.parse(rows[name]["position"]) >= Checkpoint.parse(shelf.position)
        assert rows[name]["lag"] >= 0 and rows[name]["status"] in ("running", "retrying", "stalled", "rebuilding")


# --- Read-your-writes -------------------------------------------------------------------------


def query_paths(shelf: Shelf) -> list[str]:
    drill = shelf.ids["Drill"]
    return [
        PRODUCTS, f"{PRODUCTS}{drill}/", f"{PRODUCTS}{drill}/price-history/",
        "/api/categories/", f"/api/categories/{shelf.category}/",
    ]


def test_a_position_already_applied_answers_at_once(reader, shelf):
    for path in query_paths(shelf):
        started = time.monotonic()
        assert_json(reader.get(path, {"min_position": shelf.position}), 200)
        assert time.monotonic() - started < 1, path


def test_a_position_ahead_of_the_projections_is_a_503_with_retry_after(reader, shelf, settings):
    settings.READ_YOUR_WRITES_TIMEOUT = 0.2
    for path in query_paths(shelf):
        started = time.monotonic()
        response = reader.get(path, {"min_position": AHEAD})
        assert_error(response, 503, "projection_lagging")
        assert int(response["Retry-After"]) >= 1
        assert 0.2 <= time.monotonic() - started < 2, path


def test_the_event_log_needs_no_projection_and_answers_at_once(staff, settings):
    settings.READ_YOUR_WRITES_TIMEOUT = 5
    started = time.monotonic()
    assert_json(staff.get("/api/events/", {"min_position": AHEAD, "page_size": "1"}), 200)
    assert time.monotonic() - started < 1


def test_a_query_waits_for_a_position_that_is_applied_during_the_wait(reader, api, settings):
    settings.READ_YOUR_WRITES_TIMEOUT = 20
    category = f"ryw-{uuid.uuid4().hex[:10]}"
    position = command(api, PRODUCTS, register_body(category=category))["position"]
    assert not reached(position), "nothing else runs the projections in tests"

    def later():
        from django.db import connections

        try:
            time.sleep(0.3)
            catch_up_to(position)
        finally:
            connections.close_all()

    worker = threading.Thread(target=later)
    started = time.monotonic()
    worker.start()
    body = assert_json(reader.get(PRODUCTS, {"category": category, "min_position": position}), 200)
    worker.join()

    assert [row["category"] for row in body["results"]] == [category]
    assert time.monotonic() - started >= 0.3


# --- Who may read ------------------------------------------------------------------------------


def test_queries_are_open_to_anonymous_readers_but_commands_are_not(reader, shelf):
    assert products(reader, shelf)["results"]
    with stores_nothing():
        assert_error(post_json(reader, PRODUCTS, register_body()), 401, "not_authenticated")


def test_a_setting_makes_queries_require_authentication(reader, api, shelf, settings):
    settings.QUERIES_REQUIRE_AUTHENTICATION = True

    assert_error(reader.get(PRODUCTS), 401, "not_authenticated")
    assert_error(reader.get(f"/api/categories/{shelf.category}/"), 401, "not_authenticated")
    assert products(api, shelf)["results"]


# --- Split deployments: SERVICE_ROLE -------------------------------------------------------------


def test_a_query_service_refuses_commands_with_a_405(api, shelf, settings):
    settings.SERVICE_ROLE = "query"

    with stores_nothing():
        register = post_json(api, PRODUCTS, register_body())
        change = post_json(api, f"{PRODUCTS}{shelf.ids['Anvil']}/change-price/", {"price": "1.00"})
        delete = api.delete(f"{PRODUCTS}{shelf.ids['Anvil']}/")

    assert_error(register, 405, "method_not_allowed")
    assert register["Allow"] == "GET, HEAD, OPTIONS"
    assert_error(change, 405, "method_not_allowed")
    assert change["Allow"] == "OPTIONS"
    assert_error(delete, 405, "method_not_allowed")
    assert products(api, shelf)["results"]
    assert api.options(PRODUCTS).status_code == 200


def test_a_command_service_refuses_queries_with_a_405(api, shelf, settings):
    settings.SERVICE_ROLE = "command"

    routes = [(PRODUCTS, "POST, OPTIONS"), (f"{PRODUCTS}{shelf.ids['Anvil']}/", "OPTIONS"), ("/api/events/", "OPTIONS")]
    for path, allow in routes:
        for response in (api.get(path), api.head(path)):
            assert response.status_code == 405, path
            assert response["Allow"] == allow
        assert_error(api.get(path), 405, "method_not_allowed")
    assert api.options(PRODUCTS).status_code == 200
    assert post_json(api, PRODUCTS, register_body()).status_code == 202


# --- The browsable API ---------------------------------------------------------------------------


def test_the_browsable_api_shows_the_list_and_the_registration_form(api, shelf):
    response = api.get(PRODUCTS, {"category": shelf.category}, HTTP_ACCEPT="text/html")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert shelf.skus["Anvil"] in page and "Chisel" in page
    # The HTML form DRF renders from the POST serializer (the filter form has a sku field too).
    start = page.find('method="POST" enctype="multipart/form-data"')
    assert start != -1, "no registration form on the page"
    form = page[start : page.index("</form>", start)]
    for name in ("sku", "name", "category", "price", "currency", "initial_stock"):
        assert f'name="{name}"' in form, f"the registration form lacks {name}"


def test_the_browsable_api_offers_no_registration_form_to_anonymous_readers(reader, shelf):
    response = reader.get(PRODUCTS, {"category": shelf.category}, HTTP_ACCEPT="text/html")

    assert response.status_code == 200 and shelf.skus["Anvil"] in response.content.decode()
    assert 'name="initial_stock"' not in response.content.decode()


# --- The event store's listing filters, on both databases ------------------------------------------


@pytest.mark.parametrize("using", ["default", "sqlite"])
def test_the_log_filters_match_read_all_on_both_databases(committed_db, using):
    from products.models import StoredEvent

    stream = uuid.uuid4()
    events = [NewEvent(event_id=uuid.uuid4(), type="Happened", data={"n": n}) for n in range(3)]
    first = eventstore.append("thing", stream, 0, events, using=using)[0]

    def listed(after=None):
        queryset = StoredEvent.objects.using(using).filter(eventstore.settled_filter(using), stream_id=stream)
        if after is not None:
            queryset = queryset.filter(eventstore.after_filter(after, using))
        return list(queryset.order_by("tx", "position").values_list("version", flat=True))

    assert wait_until(lambda: listed() == [1, 2, 3], timeout=15, what="the events to settle")
    assert listed(first.checkpoint) == [2, 3]
