"""Shared pieces of the fault scenarios: a service stack behind proxies, and a subscriber."""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack, contextmanager

import pytest
import requests
from kombu import Connection, Exchange, Queue

from projections import engine, projectors
from projections.models import ProjectionState
from tests import settings as test_settings
from tests.support.polling import wait_until
from tests.support.processes import celery_beat, celery_worker, web_server


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def subscriber(committed_db, rabbitmq_vhost):
    """A queue bound to every event the relay publishes, straight to RabbitMQ (never cut)."""
    queue = Queue(f"oracle-{uuid.uuid4().hex[:8]}", Exchange("catalog.events", "topic", durable=True), routing_key="#")
    with Connection(f"{test_settings.RABBITMQ_URL}/{rabbitmq_vhost}") as connection:
        queue(connection.default_channel).declare()
        yield connection, queue
        queue(connection.default_channel).delete()


@contextmanager
def service_stack(workers: int = 1, web_threads: int = 10, **env: str):
    """gunicorn, Celery worker(s) and beat with the same environment; yields the base URL."""
    env = {"PROJECTION_SWEEP_SECONDS": "2", **env}
    with ExitStack() as stack:
        base_url = stack.enter_context(web_server(threads=web_threads, **env))
        for number in range(workers):
            stack.enter_context(celery_worker(f"fault{number}", **env))
        stack.enter_context(celery_beat(**env))
        yield base_url


def caught_up() -> bool:
    names = list(projectors.all_projectors())
    engine.ensure_states(names)
    return all(engine.lag(state) == 0 for state in ProjectionState.objects.filter(name__in=names))


def converge(timeout: float = 60, nudge: bool = True) -> float:
    """Seconds until every projection, the relay included, has applied the whole log.

    With `nudge`, it nudges every projection every few seconds, as beat would: a projection a
    test just reset has had no command to wake it. Without, only the service's own beat does.
    """
    from celery import current_app

    started = time.monotonic()
    last_nudge = 0.0

    def nudged_and_caught_up() -> bool:
        nonlocal last_nudge
        if nudge and time.monotonic() - last_nudge > 2:
            current_app.send_task("projections.sweep")
            last_nudge = time.monotonic()
        return caught_up()

    try:
        wait_until(nudged_and_caught_up, timeout=timeout, interval=0.2, what="every projection to catch up")
    except AssertionError as timeout_error:
        states = {s.name: (s.status, engine.lag(s), s.attempts, s.last_error[:80]) for s in ProjectionState.objects.all()}
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
            horizon = cursor.fetchone()[0]
            cursor.execute("SELECT pid, backend_xid::text, backend_xmin::text, state, left(query, 60) FROM pg_stat_activity WHERE backend_xid IS NOT NULL")
            holders = cursor.fetchall()
            probe = ProjectionState.objects.filter(name="slow_probe").first()
            if probe:
                cursor.execute(
                    "SELECT position, tx::text, type, recorded_at FROM event_store WHERE (tx, position) > (%s::text::xid8, %s)",
                    [str(probe.last_tx), probe.last_position],
                )
                holders.append(("after slow_probe", (probe.last_tx, probe.last_position), cursor.fetchall()))
        raise AssertionError(f"{timeout_error}: {states}; horizon {horizon}, transactions holding it: {holders}") from None
    return time.monotonic() - started


def command_client(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    return session


def register_body() -> dict:
    return {"sku": f"F-{uuid.uuid4().hex[:12]}", "name": "Kettle", "category": "Faults", "price": "10.00",
            "currency": "EUR", "initial_stock": 100}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


SLOW_PROBE = "slow_probe=tests.support.probes.SlowProbe"


@pytest.fixture
def slow_probe(committed_db, settings, tmp_path):
    """The slow probe as an extra projection (in this process and in the ones it starts)."""
    from tests.support import probes

    probes.create_tables()
    probes.SlowProbe().reset("default")
    ProjectionState.objects.filter(name="slow_probe").delete()
    settings.PROJECTORS = {**settings.PROJECTORS, "slow_probe": "tests.support.probes.SlowProbe"}
    projectors.all_projectors.cache_clear()
    flag = tmp_path / "pause"
    yield {"EXTRA_PROJECTORS": SLOW_PROBE, "SLOW_PROBE_FLAG": str(flag)}, flag
    projectors.all_projectors.cache_clear()


def applied_once() -> bool:
    from tests.support import probes

    applied = probes.applied_positions()
    return len(applied) == len(set(applied))
