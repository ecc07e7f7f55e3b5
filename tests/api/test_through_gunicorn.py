"""The Command API as deployed: real gunicorn processes, parallel clients, real RabbitMQ."""

import concurrent.futures
import time
import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
import requests
from kombu import Connection

from products import eventstore
from project.celery import app as celery_app
from tests import settings as test_settings
from tests.support.polling import wait_until
from tests.support.processes import ARTIFACTS, free_port, web_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(django_db_setup):
    with web_server() as base_url:
        yield base_url


@pytest.fixture
def client(make_user, token_for):
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token_for(make_user())}"
    return session


@pytest.fixture(scope="module")
def uncollected_server(django_db_setup, tmp_path_factory):
    """gunicorn with an empty CATALOG_VAR_DIR: a run that never ran `collectstatic`."""
    with web_server(workers=1, threads=4, CATALOG_VAR_DIR=str(tmp_path_factory.mktemp("uncollected-var"))) as base_url:
        yield base_url


def register(client, base_url, **fields) -> dict:
    body = {
        "sku": f"SKU-{uuid.uuid4().hex[:12]}",
        "name": "Kettle",
        "category": "Kitchen",
        "price": "10.00",
        "currency": "EUR",
        **fields,
    }
    response = client.post(f"{base_url}/api/products/", json=body, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()


def in_parallel(count: int, call) -> list[requests.Response]:
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def test_parallel_shipments_never_oversell(server, client):
    product = register(client, server, initial_stock=10)
    url = f"{server}/api/products/{product['product_id']}/ship-stock/"

    responses = in_parallel(20, lambda: client.post(url, json={"quantity": 1}, timeout=30))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * 10 + [409] * 10, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"insufficient_stock"}
    history = eventstore.load(uuid.UUID(product["product_id"]))
    assert [e.type for e in history] == ["ProductRegistered"] + ["StockShipped"] * 10
    assert history[-1].data["stock"] == 0


def test_parallel_commands_at_one_expected_version_let_exactly_one_through(server, client):
    product = register(client, server, initial_stock=5)
    url = f"{server}/api/products/{product['product_id']}/receive-stock/"

    responses = in_parallel(20, lambda: client.post(url, json={"quantity": 1, "expected_version": 1}, timeout=30))

    assert sorted(r.status_code for r in responses) == [202] + [409] * 19
    conflicts = [r.json() for r in responses if r.status_code == 409]
    assert all(c["code"] == "version_conflict" and c["expected_version"] == 1 for c in conflicts)
    assert all(c["current_version"] == 2 for c in conflicts)
    assert len(eventstore.load(uuid.UUID(product["product_id"]))) == 2


def test_parallel_retries_with_one_idempotency_key_store_once(server, client):
    product = register(client, server, initial_stock=5)
    url = f"{server}/api/products/{product['product_id']}/ship-stock/"
    key = str(uuid.uuid4())

    responses = in_parallel(
        10, lambda: client.post(url, json={"quantity": 2}, headers={"Idempotency-Key": key}, timeout=30)
    )

    assert [r.status_code for r in responses] == [202] * 10, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1  # every answer is the original one
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    history = eventstore.load(uuid.UUID(product["product_id"]))
    assert [e.type for e in history] == ["ProductRegistered", "StockShipped"]
    assert history[-1].data["stock"] == 3


def test_parallel_registrations_of_one_sku_store_one_product(server, client):
    sku = f"Race-{uuid.uuid4().hex[:8]}"
    url = f"{server}/api/products/"
    body = {"name": "Kettle", "category": "Kitchen", "price": "10.00", "currency": "EUR"}

    responses = in_parallel(10, lambda: client.post(url, json={**body, "sku": sku.upper()}, timeout=30))

    assert sorted(r.status_code for r in responses) == [202] + [409] * 9
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"duplicate_sku"}


def test_each_committed_command_nudges_the_projections_over_rabbitmq(server, client):
    queue = celery_app.amqp.queues["projections.nudge"]
    with Connection(f"{test_settings.RABBITMQ_URL}/{test_settings.TEST_VHOST}") as connection:
        channel = connection.default_channel
        queue(channel).declare()
        queue(channel).purge()
        assert queue(channel).get(no_ack=True) is None

        register(client, server)

        message = wait_until(lambda: queue(channel).get(no_ack=True), timeout=10, what="the nudge")
    assert message.headers["task"] == "projections.catch_up"
    args, kwargs, _ = message.decode()
    assert list(args) == [] and kwargs == {}  # no name: the worker catches every projection up
    assert message.properties["delivery_mode"] == 1  # transient: the log holds what it stands for


@pytest.mark.faults
def test_commands_succeed_promptly_while_the_broker_is_unreachable(django_db_setup, make_user, token_for):
    dead_broker = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    with web_server(workers=1, threads=4, CELERY_BROKER_URL=dead_broker) as base_url:
        client = requests.Session()
        client.headers["Authorization"] = f"Token {token_for(make_user())}"
        started = time.monotonic()
        products = [register(client, base_url) for _ in range(5)]
        elapsed = time.monotonic() - started

    assert all(len(eventstore.load(uuid.UUID(p["product_id"]))) == 1 for p in products)
    assert elapsed < 5, f"five commands took {elapsed:.1f} s with the broker down"


@pytest.mark.faults
def test_an_unreachable_database_answers_503_with_retry_after(django_db_setup):
    dead_database = f"postgres://postgres@127.0.0.1:{free_port()}/catalog"
    with web_server(workers=1, threads=2, DATABASE_URL=dead_database) as base_url:
        started = time.monotonic()
        response = requests.post(
            f"{base_url}/api/products/",
            json={"sku": "A1", "name": "A", "category": "B", "price": "1.00", "currency": "EUR"},
            headers={"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"},
            timeout=30,
        )
        elapsed = time.monotonic() - started

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < 10


@pytest.mark.faults
def test_a_broker_that_never_answers_delays_no_command_and_publishing_gives_up(django_db_setup, make_user, token_for):
    """A broker that accepts connections and then says nothing: publishing must give up by itself."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    held = []
    threading.Thread(target=lambda: [held.append(listener.accept()) for _ in range(50)], daemon=True).start()
    silent_broker = f"amqp://guest:guest@127.0.0.1:{listener.getsockname()[1]}//"
    try:
        with web_server(workers=1, threads=4, CELERY_BROKER_URL=silent_broker) as base_url:
            client = requests.Session()
            client.headers["Authorization"] = f"Token {token_for(make_user())}"
            started = time.monotonic()
            register(client, base_url)
            register(client, base_url)
            elapsed = time.monotonic() - started
            log = next(ARTIFACTS.glob(f"gunicorn-{base_url.rsplit(':', 1)[1]}.log"))
            wait_until(lambda: "Could not nudge" in log.read_text(), timeout=30, what="the publish to give up")
    finally:
        listener.close()
        for connection, _ in held:
            connection.close()
    assert elapsed < 2, f"two commands took {elapsed:.1f} s with a silent broker"


# --- Static files: WhiteNoise serves the pages' CSS and JavaScript without DEBUG ----------------


class _Assets(HTMLParser):
    """The stylesheets and scripts a page links to."""

    def __init__(self) -> None:
        super().__init__()
        self.stylesheets: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and "stylesheet" in (attrs.get("rel") or "").split() and attrs.get("href"):
            self.stylesheets.append(attrs["href"])
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])


def page_assets(url: str) -> _Assets:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assets = _Assets()
    assets.feed(response.text)
    assets.stylesheets = [urljoin(url, href) for href in assets.stylesheets]
    assets.scripts = [urljoin(url, src) for src in assets.scripts]
    return assets


def assert_served(url: str, content_type: str) -> None:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    assert response.headers["Content-Type"].startswith(content_type), (url, response.headers["Content-Type"])
    assert response.content, url


def test_the_admin_login_page_gets_its_stylesheets_without_collectstatic(uncollected_server):
    assets = page_assets(f"{uncollected_server}/admin/login/")

    assert any(url.endswith("/static/admin/css/base.css") for url in assets.stylesheets), assets.stylesheets
    for url in assets.stylesheets:
        assert_served(url, "text/css")


def test_swagger_ui_gets_its_script_and_stylesheet_without_collectstatic(uncollected_server):
    assets = page_assets(f"{uncollected_server}/api/docs/")

    assert any("swagger-ui" in url for url in assets.stylesheets), assets.stylesheets
    assert any("swagger-ui-bundle" in url for url in assets.scripts), assets.scripts
    for url in assets.stylesheets:
        assert_served(url, "text/css")
    for url in assets.scripts:
        assert_served(url, "text/javascript")


def test_a_static_file_that_does_not_exist_is_a_404(uncollected_server):
    """The control: WhiteNoise answers only for files the project has."""
    assert requests.get(f"{uncollected_server}/static/admin/css/no-such-file.css", timeout=10).status_code == 404
