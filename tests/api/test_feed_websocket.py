"""ws://…/ws/products/changes/: the messages of GET /api/products/changes/ as JSON text frames,
with the same filters, resume and refusals (an error frame, then close 4000 + the status),
through a real uvicorn (feed/websocket.py)."""

import json
import time
import uuid
from contextlib import ExitStack
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from products import eventstore
from tests.support.processes import feed_server

from .helpers import PRODUCTS, post_json, register_body
from .test_product_changes_route import catalog_caught_up, follow, product_messages

pytestmark = pytest.mark.integration

WS = "/ws/products/changes/"


@pytest.fixture(scope="module")
def private_server(django_db_setup):
    """A feed whose readers must sign in."""
    with feed_server(FEED_HEARTBEAT_SECONDS="1", QUERIES_REQUIRE_AUTHENTICATION="1") as base_url:
        yield base_url


def last_position() -> eventstore.Checkpoint:
    return eventstore.last_settled() or eventstore.Checkpoint.START


def socket(server: str, path: str = WS, headers: dict | None = None, origin: str | None = None, **params):
    query = f"?{urlencode(params, doseq=True)}" if params else ""
    return connect(server.replace("http://", "ws://", 1) + path + query, additional_headers=headers, origin=origin,
                   proxy=None, open_timeout=10, close_timeout=5)


def product_frames(ws, wanted: set[str], count: int, within: float = 20) -> list[dict]:
    """The next `count` product.changed frames about the products in `wanted`."""
    found, deadline = [], time.monotonic() + within
    while len(found) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {found} within {within} s"
        frame = json.loads(ws.recv(timeout=left))
        assert frame["event"] in ("product.changed", "heartbeat"), frame
        if frame["event"] == "product.changed" and frame["data"]["id"] in wanted:
            found.append(frame)
    return found


def refusal(ws) -> tuple[dict, int]:
    """The error frame a refused socket gets, and the code it is closed with."""
    frame = json.loads(ws.recv(timeout=10))
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)
    assert frame["event"] == "error" and set(frame["data"]) == {"code", "detail"}, frame
    return frame["data"], ws.close_code


def served(ws, within: float = 10) -> None:
    """The socket follows: a heartbeat (every second on these servers) comes, and no error."""
    deadline = time.monotonic() + within
    while (frame := json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic()))))["event"] != "heartbeat":
        assert frame["event"] == "product.changed", frame


def test_a_follower_gets_each_change_as_the_sse_route_sends_it(server, api):
    start = last_position()
    with socket(server) as ws:
        served(ws)  # accepted, and following from now
        product_id = post_json(api, PRODUCTS, register_body()).json()["product_id"]
        post_json(api, f"{PRODUCTS}{product_id}/change-price/", {"price": "13.00"})
        post_json(api, f"{PRODUCTS}{product_id}/change-price/", {"price": "14.00"})
        catalog_caught_up()  # one batch of three: each still its own frame
        frames = product_frames(ws, {product_id}, 3)
    with follow(server, after=str(start)) as response:
        sent = product_messages(response, {product_id}, 3)
    assert [(f["id"], f["event"], f["data"]) for f in frames] == \
        [(m["id"], m["event"], json.loads(m["data"])) for m in sent]
    assert [f["data"]["price"] for f in frames] == ["12.50", "13.00", "14.00"]


def test_a_follower_resumes_after_its_last_id_with_nothing_missing_or_twice(server, api):
    ids = [post_json(api, PRODUCTS, register_body()).json()["product_id"] for _ in range(5)]
    start = last_position()
    catalog_caught_up()
    with socket(server, after=str(start)) as ws:
        for product_id in ids:
            post_json(api, f"{PRODUCTS}{product_id}/change-price/", {"price": "20.00"})
        catalog_caught_up()
        first_two = product_frames(ws, set(ids), 2)
    with socket(server, after=first_two[-1]["id"]) as ws:
        rest = product_frames(ws, set(ids), 3)
    with socket(server, headers={"Last-Event-ID": first_two[0]["id"]}) as ws:  # as an EventSource resumes
        again = product_frames(ws, set(ids), 4)
    assert [f["data"]["id"] for f in first_two + rest] == ids
    assert again == first_two[1:] + rest


def test_a_category_follower_sees_a_product_arrive_and_leave(server, api):
    category = f"lamps-{uuid.uuid4().hex[:8]}"
    start = last_position()
    elsewhere = post_json(api, PRODUCTS, register_body()).json()["product_id"]
    product_id = post_json(api, PRODUCTS, {**register_body(), "category": category}).json()["product_id"]
    post_json(api, f"{PRODUCTS}{product_id}/update-details/", {"category": "desks"})
    post_json(api, f"{PRODUCTS}{product_id}/change-price/", {"price": "30.00"})  # in desks now: not sent
    post_json(api, f"{PRODUCTS}{elsewhere}/update-details/", {"category": category})
    catalog_caught_up()
    with socket(server, after=str(start), category=category) as ws:
        received = [f["data"] for f in product_frames(ws, {product_id, elsewhere}, 3)]
    assert [(s["id"], s["version"], s["category"]) for s in received] == [
        (product_id, 1, category), (product_id, 2, "desks"), (elsewhere, 2, category)]
    with socket(server, after=str(start), id=elsewhere) as ws:
        only = [f["data"] for f in product_frames(ws, {product_id, elsewhere}, 1)]
    assert [(s["id"], s["version"]) for s in only] == [(elsewhere, 1)]


def test_a_position_or_filter_it_cannot_take_is_an_error_frame_and_close_4400(server, committed_db):
    unknown = str(eventstore.Checkpoint(10**15, 10**15))
    for params, headers, code in [({"after": "nonsense"}, None, "invalid_position"),
                                  ({}, {"Last-Event-ID": "1-2-3"}, "invalid_position"),
                                  ({"after": unknown}, None, "unknown_position"),
                                  ({"id": "not-a-uuid"}, None, "invalid_filter")]:
        with socket(server, headers=headers, **params) as ws:
            error, close_code = refusal(ws)
        assert (error["code"], close_code) == (code, 4400), error


def test_where_readers_must_sign_in_a_token_or_the_sites_own_session_is_served(private_server, make_user, token_for):
    with socket(private_server) as ws:
        error, close_code = refusal(ws)
    assert (error["code"], close_code) == ("not_authenticated", 4401)
    with socket(private_server, headers={"Authorization": f"Token {token_for(make_user())}"}) as ws:
        served(ws)
    browser = Client()
    browser.force_login(make_user())
    cookie = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"}
    with socket(private_server, headers=cookie, origin=private_server) as ws:
        served(ws)
    with socket(private_server, headers=cookie, origin="https://elsewhere.example") as ws:  # another site's page
        error, close_code = refusal(ws)
    assert (error["code"], close_code) == ("not_authenticated", 4401)


def test_another_websocket_path_is_a_404(server):
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        socket(server, path="/ws/nothing/")
    assert refused.value.response.status_code == 404


def test_followers_hold_no_database_connection_each(server, committed_db):
    """The hub reads for all of them, and each one's checks close their connection."""
    from django.db import connection

    def feed_connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND pid <> pg_backend_pid() AND application_name NOT LIKE 'pytest%'")
            return cursor.fetchone()[0]

    with socket(server) as first, ExitStack() as others:
        served(first)
        before = feed_connections()
        sockets = [others.enter_context(socket(server)) for _ in range(10)]
        for ws in sockets:
            served(ws)
        assert feed_connections() <= before + 2  # a read thread may open one, not ten
