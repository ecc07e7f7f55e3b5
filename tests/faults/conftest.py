"""Shared pieces of the fault scenarios: a service stack, convergence, the slow probe."""

from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager

import pytest
import requests

from projections import engine
from projections.models import ProjectionState
from tests.support import probes
from tests.support.polling import wait_until
from tests.support.processes import celery_beat, celery_worker, web_server
from tests.support.progress import applied_everything


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.slow)


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
        return applied_everything()

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


SLOW_PROBE = ("slow_probe", "tests.support.probes.SlowProbe")


@pytest.fixture
def slow_probe(committed_db, extra_projector, tmp_path):
    """The slow probe as an extra projection (in this process and in the ones it starts)."""
    probes.from_the_start(extra_projector(*SLOW_PROBE))
    flag = tmp_path / "pause"
    return {"EXTRA_PROJECTORS": "=".join(SLOW_PROBE), "SLOW_PROBE_FLAG": str(flag)}, flag


def applied_once() -> bool:
    applied = probes.applied_positions()
    return len(applied) == len(set(applied))
