"""Scenarios 4 and 5: PostgreSQL unreachable, and a connection killed between INSERT and COMMIT."""

import time
import uuid

import psycopg
from django.db import connection

import products.eventstore
from tests import settings as test_settings
from tests.api.helpers import register_body
from tests.faults.conftest import command_client, converge, service_stack
from tests.support import oracle
from tests.support.processes import database_url_via_proxy
from tests.support.proxy import TcpProxy


def test_commands_answer_503_while_postgresql_is_unreachable_and_everything_recovers(
    make_user, token_for, subscriber, rabbitmq_vhost
):
    connection_, queue = subscriber
    ledger = oracle.Ledger()
    client = command_client(token_for(make_user()))
    with TcpProxy(5432) as database:
        proxied = database_url_via_proxy(database.port)
        with service_stack(DATABASE_URL=proxied) as base_url:
            ledger.record(client.post(f"{base_url}/api/products/", json=register_body(), timeout=10))
            converge(timeout=60)

            database.cut()
            refused_ids, slowest = [], 0.0
            for _ in range(10):
                product_id = str(uuid.uuid4())
                started = time.monotonic()
                response = client.post(f"{base_url}/api/products/", json={**register_body(), "product_id": product_id}, timeout=30)
                slowest = max(slowest, time.monotonic() - started)
                assert response.status_code == 503, response.text
                assert response.json()["code"] == "unavailable" and int(response.headers["Retry-After"]) > 0
                refused_ids.append(product_id)

            database.restore()
            # The same processes serve again: no restart.
            for _ in range(5):
                ledger.record(client.post(f"{base_url}/api/products/", json=register_body(), timeout=10))
            convergence = converge(timeout=60)
    verdict = oracle.check(ledger, oracle.drain_relay(connection_, queue))

    print(f"slowest 503 {slowest * 1000:.0f} ms, converged {convergence:.1f} s after restore, {verdict}")
    assert slowest < 5
    assert [products.eventstore.load(uuid.UUID(i)) for i in refused_ids] == [[]] * 10  # nothing partly stored
    assert ledger.refused == [] and len(ledger.accepted) == 6
    assert verdict.passed, verdict


def test_a_connection_killed_between_insert_and_commit_stores_nothing_and_the_retry_stores_once(
    api, committed_db, monkeypatch
):
    real_append = products.eventstore.append
    body = register_body()
    key = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}

    def append_then_lose_the_connection(*args, **kwargs):
        recorded = real_append(*args, **kwargs)
        # The INSERT is done and uncommitted; the server drops this session before the COMMIT.
        with psycopg.connect(test_settings.POSTGRES_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
        return recorded

    monkeypatch.setattr(products.eventstore, "append", append_then_lose_the_connection)
    lost = api.post("/api/products/", body, format="json", **key)
    monkeypatch.setattr(products.eventstore, "append", real_append)
    connection.close()  # what Django does at the next request's start with a broken connection

    assert lost.status_code == 503, lost.content
    from products.models import StoredEvent

    assert not StoredEvent.objects.filter(data__sku=body["sku"]).exists()

    retried = api.post("/api/products/", body, format="json", **key)
    replayed = api.post("/api/products/", body, format="json", **key)

    assert retried.status_code == 202 and replayed.status_code == 202
    assert replayed["Idempotent-Replayed"] == "true" and replayed.json() == retried.json()
    assert StoredEvent.objects.filter(data__sku=body["sku"]).count() == 1


def test_control_without_the_kill_the_same_request_is_stored(api, committed_db):
    """The hook above is what made the difference: the same request, untouched, is stored."""
    body = register_body()
    assert api.post("/api/products/", body, format="json").status_code == 202
    from products.models import StoredEvent

    assert StoredEvent.objects.filter(data__sku=body["sku"]).count() == 1
