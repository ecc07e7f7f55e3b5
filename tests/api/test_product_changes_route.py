"""GET /api/products/changes/: each product as the catalog shows it after each change, for any
reader, resumable, filtered by category and id (docs/API.md, "The change feed")."""

import json
import time
import uuid

import pytest
import requests
from django.test import Client

from products import eventstore
from projections import changes, engine, projectors
from projections.models import ProductChangesTrimmed
from tests.integration.feed_readers import messages

from .helpers import PRODUCTS, post_json, register_body
from .test_asyncapi import payload_validator
from .test_feed_routes import SSE, _refusal, aget

pytestmark = pytest.mark.integration

CHANGES = "/api/products/changes/"


def catalog_caught_up() -> None:
    assert engine.catch_up(projectors.get("product_catalog")).outcome == "caught_up"


def follow(server: str, headers: dict | None = None, **params):
    headers = {**SSE, **(headers or {})}
    last = params.pop("last_event_id", None)
    if last:
        headers["Last-Event-ID"] = last
    return requests.get(f"{server}{CHANGES}", headers=headers, params=params, stream=True, timeout=(5, 10))


def product_messages(response, wanted: set[str], count: int, within: float = 20) -> list[dict]:
    """The next `count` product.changed messages about the products in `wanted`."""
    found, deadline = [], time.monotonic() + within
    for message in messages(response):
        assert time.monotonic() < deadline, f"only {found} within {within} s"
        if message.get("event") == "product.changed" and json.loads(message["data"])["id"] in wanted:
            found.append(message)
            if len(found) == count:
                return found
    raise AssertionError(f"the stream ended after {found}")


# --- refusals, answered before the stream starts ------------------------------------------------


def test_a_malformed_or_unknown_position_is_a_400(committed_db):
    _refusal(aget(CHANGES, **{"Last-Event-ID": "nonsense"}), 400, "invalid_position")
    _refusal(aget(CHANGES, {"after": str(eventstore.Checkpoint(10**15, 10**15))}), 400, "unknown_position")
    _refusal(aget(CHANGES, {"id": "not-a-uuid"}), 400, "invalid_filter")


def test_a_position_older_than_the_retention_is_a_410_that_says_what_to_do(committed_db, api):
    post_json(api, PRODUCTS, register_body())
    catalog_caught_up()
    kept_from = changes.last()
    ProductChangesTrimmed.objects.create(id=1, through_tx=kept_from.tx, through_position=kept_from.position)
    try:
        body = _refusal(aget(CHANGES, {"after": "0-0"}), 410, "position_expired")
        assert "Load the catalog again" in body["detail"]
        older = eventstore.Checkpoint(kept_from.tx, kept_from.position - 1)
        _refusal(aget(CHANGES, **{"Last-Event-ID": str(older)}), 410, "position_expired")
    finally:
        ProductChangesTrimmed.objects.all().delete()


def test_readers_need_a_sign_in_only_where_queries_do(committed_db, settings, make_user, token_for):
    settings.QUERIES_REQUIRE_AUTHENTICATION = True
    _refusal(aget(CHANGES), 401, "not_authenticated")


# --- through a real ASGI server -------------------------------------------------------------------


def test_a_follower_gets_each_version_as_the_product_page_showed_it(server, api):
    with follow(server) as response:
        assert response.status_code == 200
        product_id = post_json(api, PRODUCTS, register_body()).json()["product_id"]
        post_json(api, f"{PRODUCTS}{product_id}/change-price/", {"price": "13.00"})
        post_json(api, f"{PRODUCTS}{product_id}/change-price/", {"price": "14.00"})
        catalog_caught_up()  # one batch of three: each message must still be its own version
        received = product_messages(response, {product_id}, 3)
    events = eventstore.load(uuid.UUID(product_id))
    assert [m["id"] for m in received] == [str(event.checkpoint) for event in events]
    states = [json.loads(m["data"]) for m in received]
    assert [(s["version"], s["price"]) for s in states] == [(1, "12.50"), (2, "13.00"), (3, "14.00")]
    assert states[-1] == Client().get(f"{PRODUCTS}{product_id}/").json()
    catalog = Client().get("/api/asyncapi/").json()  # and as the event catalog describes it
    for state in states:
        payload_validator(catalog, catalog["components"]["messages"]["product.changed"]["payload"]["$ref"]).validate(state)


def test_a_follower_resumes_after_its_last_event_id_with_nothing_missing_or_twice(server, api):
    ids = [post_json(api, PRODUCTS, register_body()).json()["product_id"] for _ in range(5)]
    start = eventstore.last_settled()
    catalog_caught_up()
    with follow(server, after=str(start)) as response:
        for product_id in ids:
            post_json(api, f"{PRODUCTS}{product_id}/change-price/", {"price": "20.00"})
        catalog_caught_up()
        first_two = product_messages(response, set(ids), 2)
    with follow(server, last_event_id=first_two[-1]["id"]) as response:
        rest = product_messages(response, set(ids), 3)
    seen = [json.loads(m["data"])["id"] for m in first_two + rest]
    assert seen == ids


def test_a_category_follower_sees_a_product_arrive_and_leave(server, api):
    category = f"lamps-{uuid.uuid4().hex[:8]}"
    start = eventstore.last_settled()
    elsewhere = post_json(api, PRODUCTS, register_body()).json()["product_id"]
    product_id = post_json(api, PRODUCTS, {**register_body(), "category": category}).json()["product_id"]
    post_json(api, f"{PRODUCTS}{product_id}/update-details/", {"category": "desks"})
    post_json(api, f"{PRODUCTS}{product_id}/change-price/", {"price": "30.00"})  # in desks now: not sent
    post_json(api, f"{PRODUCTS}{elsewhere}/update-details/", {"category": category})
    catalog_caught_up()
    with follow(server, after=str(start), category=category) as response:
        received = [json.loads(m["data"]) for m in product_messages(response, {product_id, elsewhere}, 3)]
    assert [(s["id"], s["version"], s["category"]) for s in received] == [
        (product_id, 1, category), (product_id, 2, "desks"), (elsewhere, 2, category)]
    with follow(server, after=str(start), id=elsewhere) as response:
        only = [json.loads(m["data"]) for m in product_messages(response, {product_id, elsewhere}, 1)]
    assert [(s["id"], s["version"]) for s in only] == [(elsewhere, 1)]
