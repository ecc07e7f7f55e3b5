"""Bounded database waits (project/database/deadline.py) against a PostgreSQL that stops answering.

A proxy stands between a connection and the run's database and holds the bytes, as a frozen
server or a partition behind a pooler does: the socket stays open, so neither connect_timeout
nor TCP notices. Each case has its control: a plain psycopg connection under the same freeze
is still waiting when the bounded one has long given up.
"""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from project.database.deadline import BoundedConnection, DeadlineExceeded, OutcomeUnknown, commit_point, deadline
from tests.support.processes import test_database_url as database_url
from tests.support.processes import database_url_via_proxy
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.integration
BOUND = 1.0


@pytest.fixture
def proxy(committed_db):
    with TcpProxy(5432) as proxy:
        yield proxy
        proxy.thaw()


@pytest.fixture
def scratch_table(committed_db):
    name = f"deadline_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url(), autocommit=True) as connection:
        connection.execute(f"CREATE TABLE {name} (id int PRIMARY KEY)")
        yield name
        connection.execute(f"DROP TABLE {name}")


def proxied(proxy: TcpProxy, connection_class=BoundedConnection, **options):
    return connection_class.connect(database_url_via_proxy(proxy.port), **options)


def rows(table: str) -> list[int]:
    with psycopg.connect(database_url(), autocommit=True) as connection:
        return [row[0] for row in connection.execute(f"SELECT id FROM {table} ORDER BY id")]


def timed(action) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        action()
    except Exception as error:  # noqa: BLE001 - the test inspects which one
        return error, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_frozen_server_ends_a_query_at_the_deadline_and_drops_the_connection(proxy):
    connection = proxied(proxy, autocommit=True)
    connection.execute("SELECT 1")  # connected and warm, as a reused connection is
    proxy.freeze()
    with deadline(BOUND):
        error, took = timed(lambda: connection.execute("SELECT 1"))
    assert isinstance(error, DeadlineExceeded) and not isinstance(error, OutcomeUnknown), error
    assert BOUND <= took < BOUND + 0.5
    assert connection.closed  # the server rolls back whatever it had; nobody reuses it


def test_control_a_plain_connection_waits_for_as_long_as_the_freeze_lasts(proxy):
    connection = proxied(proxy, psycopg.Connection, autocommit=True)
    connection.execute("SELECT 1")
    proxy.freeze()
    finished = threading.Event()
    threading.Thread(target=lambda: (connection.execute("SELECT 1"), finished.set()), daemon=True).start()
    assert not finished.wait(BOUND * 3)  # a bounded connection gave up after BOUND
    proxy.thaw()
    assert finished.wait(5)
    connection.close()


def test_a_commit_sent_and_not_acknowledged_is_outcome_unknown_and_may_have_been_applied(proxy, scratch_table):
    connection = proxied(proxy)
    connection.execute(f"INSERT INTO {scratch_table} VALUES (1)")
    proxy.hold_replies_after(b"COMMIT")
    with deadline(BOUND):
        error, took = timed(connection.commit)
    assert isinstance(error, OutcomeUnknown), error
    assert took < BOUND + 0.5
    proxy.thaw()
    assert rows(scratch_table) == [1]  # here it was applied: "unknown" was the honest answer


def test_a_commit_the_deadline_overtook_before_it_was_sent_is_never_applied(proxy, scratch_table):
    connection = proxied(proxy)
    connection.execute(f"INSERT INTO {scratch_table} VALUES (1)")
    with deadline(0.05):
        time.sleep(0.1)
        error, _ = timed(connection.commit)
    assert isinstance(error, DeadlineExceeded) and not isinstance(error, OutcomeUnknown), error
    assert rows(scratch_table) == []


def test_a_statement_that_commits_by_itself_is_outcome_unknown_only_at_a_commit_point(proxy, scratch_table):
    marked, unmarked = proxied(proxy, autocommit=True), proxied(proxy, autocommit=True)
    proxy.hold_replies_after(b"INSERT")
    with deadline(BOUND), commit_point():
        assert isinstance(timed(lambda: marked.execute(f"INSERT INTO {scratch_table} VALUES (1)"))[0], OutcomeUnknown)
    with deadline(BOUND):
        error, _ = timed(lambda: unmarked.execute(f"INSERT INTO {scratch_table} VALUES (2)"))
    assert isinstance(error, DeadlineExceeded) and not isinstance(error, OutcomeUnknown)


def test_without_a_request_every_round_trip_ends_at_the_stall_cap(proxy):
    """Workers, beat and management commands: no deadline, but no wait longer than the cap."""
    connection = proxied(proxy, autocommit=True)
    connection.stall_timeout = BOUND
    connection.execute("SELECT pg_sleep(%s)", [BOUND / 2])  # a slow answer within the cap is fine
    proxy.freeze()
    error, took = timed(lambda: connection.execute("SELECT 1"))
    assert isinstance(error, DeadlineExceeded), error
    assert took < BOUND + 0.5
