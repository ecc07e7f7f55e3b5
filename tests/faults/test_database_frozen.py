"""Scenario: PostgreSQL stops answering while the connections to it stay open.

A proxy in front of PostgreSQL holds every byte (a frozen server, or a partition behind a
pooler). Connections a gunicorn thread already holds (CONN_MAX_AGE) see no error at all, so
only the service's own deadline can end their requests: every command must answer within
REQUEST_TIMEOUT, with 503 (and nothing stored) or, where its commit was sent and never
acknowledged, 504 outcome_unknown (and a retry with its Idempotency-Key gives the original answer).
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

import products.eventstore
from tests.api.helpers import register_body
from tests.faults.conftest import command_client, converge, service_stack
from tests.support import oracle
from tests.support.polling import wait_until
from tests.support.processes import database_url_via_proxy, web_server
from tests.support.proxy import TcpProxy

REQUEST_TIMEOUT = 3.0
# What a client may see beyond the bound: the HTTP round trip and the process's own scheduling.
SLACK = 1.5


def keyed(client: requests.Session, url: str, body: dict, key: str, timeout: float) -> requests.Response:
    return client.post(url, json=body, headers={"Idempotency-Key": key}, timeout=timeout)


def test_commands_and_queries_answer_503_within_the_deadline_while_postgresql_is_frozen(
    make_user, token_for, subscriber, rabbitmq_vhost
):
    connection_, queue = subscriber
    ledger = oracle.Ledger()
    client = command_client(token_for(make_user()))
    with TcpProxy(5432) as database:
        # One gunicorn thread: every request after the first reuses the connection it holds.
        env = {"DATABASE_URL": database_url_via_proxy(database.port), "REQUEST_TIMEOUT": str(REQUEST_TIMEOUT), "DATABASE_STALL_TIMEOUT": "5"}
        with service_stack(web_threads=1, **env) as base_url:
            ledger.record(client.post(f"{base_url}/api/products/", json=register_body(), timeout=10))
            converge(timeout=60)

            database.freeze()
            refused, slowest = {}, 0.0
            for _ in range(3):
                body, key = {**register_body(), "product_id": str(uuid.uuid4())}, str(uuid.uuid4())
                started = time.monotonic()
                response = keyed(client, f"{base_url}/api/products/", body, key, timeout=REQUEST_TIMEOUT + SLACK)
                slowest = max(slowest, time.monotonic() - started)
                assert response.status_code == 503, response.text
                assert response.json()["code"] == "unavailable" and int(response.headers["Retry-After"]) > 0
                refused[key] = body
            started = time.monotonic()
            query = client.get(f"{base_url}/api/products/", timeout=REQUEST_TIMEOUT + SLACK)
            slowest = max(slowest, time.monotonic() - started)
            assert query.status_code == 503 and query.json()["code"] == "unavailable", query.text
            database.thaw()

            stored = [products.eventstore.load(uuid.UUID(body["product_id"])) for body in refused.values()]
            # The same processes serve again, and a retry with the key is applied once.
            for key, body in refused.items():
                ledger.record(keyed(client, f"{base_url}/api/products/", body, key, timeout=10))
            convergence = converge(timeout=60)
    verdict = oracle.check(ledger, oracle.drain_relay(connection_, queue))

    print(f"slowest 503 {slowest * 1000:.0f} ms, converged {convergence:.1f} s after the thaw, {verdict}")
    assert slowest < REQUEST_TIMEOUT + SLACK
    assert stored == [[]] * 3  # a 503 stored nothing
    assert ledger.refused == [] and len(ledger.accepted) == 4
    assert verdict.passed, verdict


def test_a_commit_that_is_never_acknowledged_answers_504_and_the_retry_gives_the_original_answer(
    make_user, token_for, committed_db
):
    client = command_client(token_for(make_user()))
    with TcpProxy(5432) as database:
        with web_server(threads=1, DATABASE_URL=database_url_via_proxy(database.port), REQUEST_TIMEOUT=str(REQUEST_TIMEOUT)) as base_url:
            assert client.post(f"{base_url}/api/products/", json=register_body(), timeout=10).status_code == 202
            body, key = {**register_body(), "product_id": str(uuid.uuid4())}, str(uuid.uuid4())

            database.hold_replies_after(b"COMMIT")
            started = time.monotonic()
            unknown = keyed(client, f"{base_url}/api/products/", body, key, timeout=REQUEST_TIMEOUT + SLACK)
            took = time.monotonic() - started
            database.thaw()

            retried = keyed(client, f"{base_url}/api/products/", body, key, timeout=10)
    assert unknown.status_code == 504 and unknown.json()["code"] == "outcome_unknown", unknown.text
    assert took < REQUEST_TIMEOUT + SLACK
    # The commit reached PostgreSQL: the retry finds the events stored and answers as the first
    # attempt would have, without storing them twice.
    assert retried.status_code == 202 and retried.headers["Idempotent-Replayed"] == "true", retried.text
    assert len(products.eventstore.load(uuid.UUID(body["product_id"]))) == 1


def test_control_without_the_deadline_a_held_connection_waits_out_the_whole_freeze(make_user, token_for, committed_db):
    """REQUEST_TIMEOUT=off and a long stall cap: the request hangs, then is applied after the bound."""
    client = command_client(token_for(make_user()))
    with TcpProxy(5432) as database:
        env = {"DATABASE_URL": database_url_via_proxy(database.port), "REQUEST_TIMEOUT": "off", "DATABASE_STALL_TIMEOUT": "60"}
        with web_server(threads=1, **env) as base_url:
            assert client.post(f"{base_url}/api/products/", json=register_body(), timeout=10).status_code == 202
            body = {**register_body(), "product_id": str(uuid.uuid4())}
            database.freeze()
            with pytest.raises(requests.Timeout):
                client.post(f"{base_url}/api/products/", json=body, timeout=REQUEST_TIMEOUT + SLACK)
            database.thaw()
            # The request the client gave up on is applied after all: what the deadline prevents.
            wait_until(lambda: products.eventstore.load(uuid.UUID(body["product_id"])), timeout=20,
                       what="the abandoned command to be stored")
