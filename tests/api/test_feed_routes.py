"""GET /api/events/stream/: who may follow the log, where a client may resume from, and what a
follower receives (docs/API.md, "The change feed")."""

import asyncio
import http.client
import json
import socket
import threading
import time
import uuid

import pytest
import requests
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from products import eventstore
from tests.integration.feed_readers import messages, sse_messages
from tests.support.processes import feed_server

from .helpers import PRODUCTS, post_json, register_body
from .test_asyncapi import payload_validator

pytestmark = pytest.mark.integration

STREAM = "/api/events/stream/"
SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def staff(make_user, token_for):
    return {"Authorization": f"Token {token_for(make_user(is_staff=True))}"}


def aget(path, data=None, **headers):
    """A GET through Django's ASGI handler, as the feed service serves it."""

    async def get():
        try:
            return await AsyncClient().get(path, data, headers={**SSE, **headers})
        finally:  # the view ran on asgiref's thread: its connection must not outlive the test
            await sync_to_async(connections.close_all)()

    return asyncio.run(get())


def _refusal(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert body["code"] == code, body
    return body


@pytest.mark.parametrize("token", ["nonsense", "12", "1-2-3", "-1-5", "99999999999999999999999-1"])
def test_a_malformed_last_event_id_is_a_400_not_a_silent_restart(staff, token):
    response = aget(STREAM, **staff, **{"Last-Event-ID": token})
    assert "Last-Event-ID" in _refusal(response, 400, "invalid_position")["detail"]


def test_a_position_no_event_stands_at_is_a_400(staff):
    unknown = eventstore.Checkpoint(10**15, 10**15)
    response = aget(STREAM, **staff, **{"Last-Event-ID": str(unknown)})
    _refusal(response, 400, "unknown_position")
    response = aget(STREAM, {"after": "not-a-token"}, **staff)
    assert "after" in _refusal(response, 400, "invalid_position")["detail"]


def test_a_stream_id_that_is_not_a_uuid_is_a_400(staff):
    _refusal(aget(STREAM, {"stream_id": "nope"}, **staff), 400, "invalid_filter")


def test_the_log_stream_is_for_staff_only(make_user, token_for):
    _refusal(aget(STREAM), 401, "not_authenticated")
    _refusal(aget(STREAM, Authorization=f"Token {token_for(make_user())}"), 403, "permission_denied")


def test_a_wsgi_server_refuses_to_hold_a_stream_and_names_the_feed_service(staff):
    body = _refusal(Client().get(STREAM, headers={**SSE, **staff}), 503, "feed_not_served_here")
    assert "ASGI" in body["detail"]


# --- Through a real ASGI server --------------------------------------------------------------


def _follow(server: str, token_header: dict, **params):
    headers = {**SSE, **token_header}
    last = params.pop("last_event_id", None)
    if last:
        headers["Last-Event-ID"] = last
    return requests.get(f"{server}{STREAM}", headers=headers, params=params, stream=True, timeout=(5, 10))


def test_a_follower_gets_new_events_as_the_log_shows_them_with_their_positions(server, staff, api):
    with _follow(server, staff) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        product_id = post_json(api, PRODUCTS, register_body()).json()["product_id"]
        received = next(m for m in messages(response) if "data" in m and json.loads(m["data"])["stream_id"] == product_id)
    listed = Client().get("/api/events/", {"stream_id": product_id}, headers=staff).json()["results"]
    body = json.loads(received["data"])
    assert received["event"] == "ProductRegistered" == body["type"]
    assert received["id"] == body["position"]
    assert [body] == listed  # as /api/events/ shows it
    catalog = Client().get("/api/asyncapi/").json()  # and as the event catalog describes it
    payload = catalog["channels"]["eventStream"]["messages"]["ProductRegistered"]["$ref"].rsplit("/", 1)[1]
    payload_validator(catalog, catalog["components"]["messages"][payload]["payload"]["$ref"]).validate(body)


def test_a_follower_resumes_after_its_last_event_id_with_nothing_missing_or_twice(server, staff, api):
    with _follow(server, staff) as response:
        ids = [post_json(api, PRODUCTS, register_body()).json()["product_id"] for _ in range(3)]
        first = next(m for m in messages(response) if "data" in m and json.loads(m["data"])["stream_id"] == ids[0])
    more = ids + [post_json(api, PRODUCTS, register_body()).json()["product_id"] for _ in range(2)]
    with _follow(server, staff, last_event_id=first["id"]) as response:
        seen = []
        for message in messages(response):
            if "data" in message and json.loads(message["data"])["stream_id"] in more:
                seen.append(json.loads(message["data"])["stream_id"])
            if len(seen) == 4:
                break
    assert seen == more[1:]


def test_filters_take_one_stream_or_one_type(server, staff, api):
    product_id = post_json(api, PRODUCTS, register_body()).json()["product_id"]
    start = eventstore.last_settled()
    post_json(api, f"{PRODUCTS}{product_id}/change-price/", {"price": "13.00"})
    post_json(api, PRODUCTS, register_body())
    with _follow(server, staff, after=str(start), stream_id=product_id) as response:
        first = next(m for m in messages(response) if "data" in m)
    assert first["event"] == "ProductPriceChanged" and json.loads(first["data"])["stream_id"] == product_id
    with _follow(server, staff, after=str(start), type="ProductRegistered") as response:
        first = next(m for m in messages(response) if "data" in m)
    assert first["event"] == "ProductRegistered" and json.loads(first["data"])["stream_id"] != product_id


def test_an_idle_follower_gets_a_heartbeat_comment(server, staff):
    with _follow(server, staff) as response:
        started = time.monotonic()
        lines = response.iter_lines(chunk_size=None, decode_unicode=True)
        heartbeat = next(line for line in lines if line == ": heartbeat")
    assert heartbeat and time.monotonic() - started < 5  # FEED_HEARTBEAT_SECONDS=1 on this server


def test_the_whole_log_from_0_0(server, staff):
    with _follow(server, staff, after="0-0") as response:
        first = next(m for m in messages(response) if "data" in m)
    assert json.loads(first["data"])["position"] == str(eventstore.read_all(limit=1)[0].checkpoint)
    assert uuid.UUID(json.loads(first["data"])["event_id"])


def test_followers_hold_no_database_connection_each(server, staff):
    """The hub reads for all of them (feed/hub.py): a connection per follower would run the
    database out of connections at a few hundred."""
    from django.db import connection

    def feed_connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND pid <> pg_backend_pid() AND application_name NOT LIKE 'pytest%'")
            return cursor.fetchone()[0]

    with _follow(server, staff) as first:  # its heartbeat (1 s on this server) comes once the hub runs
        next(line for line in first.iter_lines(chunk_size=None, decode_unicode=True) if line == ": heartbeat")
        before = feed_connections()
        streams = [_follow(server, staff) for _ in range(10)]
        try:
            for stream in streams:
                assert stream.status_code == 200
                next(line for line in stream.iter_lines(chunk_size=None, decode_unicode=True) if line.startswith(":"))
            assert feed_connections() <= before + 2  # a read thread may open one, not ten
        finally:
            for stream in streams:
                stream.close()


def test_followers_starting_together_take_few_database_connections_and_each_gets_an_answer(server, staff):
    """Hundreds reconnecting at once (after a restart): they start a few at a time, so the feed
    never holds more than a handful of connections, and each gets its stream or a 503 to retry,
    never a hang. Started all at once, they took the database past its connections."""
    import threading
    from urllib.parse import urlsplit

    import psycopg

    from feed.views import STARTING_AT_ONCE
    from tests.support.processes import test_database_url

    port, count = urlsplit(server).port, 300

    async def start_one() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {STREAM} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                     f"Authorization: {staff['Authorization']}\r\n\r\n".encode())
        try:
            return (await asyncio.wait_for(reader.readuntil(b"\r\n"), 30)).strip()
        finally:
            writer.close()

    async def all_together() -> list:
        return await asyncio.gather(*(start_one() for _ in range(count)))

    counts, watching = [], threading.Event()

    def watch() -> None:
        with psycopg.connect(test_database_url(), autocommit=True) as watcher:
            while not watching.is_set():
                counts.append(watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND query NOT LIKE '%pg_stat_activity%'").fetchone()[0])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        status_lines = asyncio.run(all_together())
    finally:
        watching.set()
        watcher.join()
    assert set(status_lines) <= {b"HTTP/1.1 200 OK", b"HTTP/1.1 503 Service Unavailable"}, set(status_lines)
    assert status_lines.count(b"HTTP/1.1 200 OK") >= STARTING_AT_ONCE
    # This test process's, the hub's listening one and its read threads (up to 6), those starting.
    assert max(counts) <= 2 + 1 + 6 + STARTING_AT_ONCE, max(counts)


# --- a client that reads slowly -------------------------------------------------------------------

SLOW_TAIL = 40  # events each feed process keeps: a client further behind is let go


@pytest.fixture(scope="module", params=[SLOW_TAIL, 100_000], ids=["small_tail", "control_tail_holds_all"])
def tail_server(request, django_db_setup):
    with feed_server(FEED_TAIL_EVENTS=str(request.param), FEED_HEARTBEAT_SECONDS="1") as base_url:
        yield base_url, request.param


class SmallWindow(http.client.HTTPConnection):
    """A client whose socket takes little before the server's writes wait: one that reads slowly."""

    def connect(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


class Burst(threading.Thread):
    """Appends events of 6 kB, 50 to a transaction, until stopped: faster than a slow client reads."""

    def __init__(self, marker: str, most: int = 20_000) -> None:
        super().__init__(name=f"burst-{marker}", daemon=True)
        self.marker, self.most = marker, most
        self.positions: list[int] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from django.db import transaction

        from products.eventstore import NewEvent

        try:
            while not self.stopping.is_set() and len(self.positions) < self.most:
                with transaction.atomic():
                    stored = eventstore.append(self.marker, uuid.uuid4(), 0, [
                        NewEvent(uuid.uuid4(), "FeedProbed", {"padding": "x" * 6_000}) for _ in range(50)])
                self.positions += [event.position for event in stored]
        except BaseException as error:  # the test reports it
            self.error = error
        finally:
            connections.close_all()

    def stop(self) -> list[int]:
        self.stopping.set()
        self.join(30)
        assert self.error is None, self.error
        return self.positions


def _slowly_read_lines(response: http.client.HTTPResponse, deadline: float):
    """The response's lines, read at about 1.5 MB/s: a client slower than the catalog changes."""
    read = 0
    while time.monotonic() < deadline:
        line = response.readline()
        if not line:
            return
        read += len(line)
        if read >= 64 * 1024:
            time.sleep(0.04)  # the client's own pace, not a wait for something
            read = 0
        yield line.decode().rstrip("\r\n")
    raise AssertionError("the slow client was not let go in time")


def test_a_client_slower_than_the_catalog_is_let_go_with_where_to_resume_and_loses_nothing(tail_server, staff, committed_db):
    """Its messages do not pile up in the server: it falls behind the tail and is let go. The
    control keeps the whole burst in its tail, and the slow client is never let go."""
    small_tail_server, tail = tail_server
    marker = f"slow-{uuid.uuid4().hex[:8]}"
    start = eventstore.last_settled() or eventstore.Checkpoint.START
    host, port = small_tail_server.removeprefix("http://").split(":")
    slow = SmallWindow(host, int(port), timeout=30)
    slow.request("GET", f"{STREAM}?after={start}", headers={**SSE, **staff})
    response = slow.getresponse()
    assert response.status == 200
    burst = Burst(marker, most=600 if tail != SLOW_TAIL else 20_000)
    burst.start()

    seen, last = [], None
    try:
        for message in sse_messages(_slowly_read_lines(response, time.monotonic() + 90)):
            if "data" not in message:  # the first: `retry` only
                continue
            last = message
            if message.get("event") == "resume":
                break
            body = json.loads(message["data"])
            if body["stream_type"] == marker:
                seen.append(int(body["position"].split("-")[1]))
            if not burst.is_alive() and len(seen) == len(burst.positions):
                break
    finally:
        appended = burst.stop()
        slow.close()
    if tail != SLOW_TAIL:
        assert seen == appended and last["event"] != "resume", "the control was let go: the test could not fail"
        return
    assert last is not None and last["event"] == "resume", "the slow client was never let go"
    resume_at = json.loads(last["data"])["after"]
    assert last["id"] == resume_at
    assert seen == appended[:len(seen)] and len(seen) < len(appended)  # in order, then cut off

    with _follow(small_tail_server, staff, last_event_id=resume_at) as rest:
        for message in messages(rest):
            if "data" not in message:
                continue
            body = json.loads(message["data"])
            if body["stream_type"] == marker:
                seen.append(int(body["position"].split("-")[1]))
            if len(seen) >= len(appended):
                break
    assert seen == appended  # every event once, in order, across the cut
