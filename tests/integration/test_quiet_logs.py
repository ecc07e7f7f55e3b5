"""What the service logs: nothing at INFO while idle, a line at INFO when there was work, and a 503
it answers on purpose at WARNING, not ERROR (a 500 stays an ERROR)."""

import json
import logging
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import path
from rest_framework.test import APIClient

from projections import engine, projectors
from projections.models import ProjectionState
from tests.api.helpers import register_body
from tests.support.history import random_history
from tests.support.polling import wait_until
from tests.support.processes import celery_beat, celery_worker

pytestmark = pytest.mark.integration

SWEEP_EVERY_SECOND = {"PROJECTION_SWEEP_SECONDS": "1", "LOG_FORMAT": "json"}
LOUD = ("INFO", "WARNING", "ERROR", "CRITICAL")


def loud_lines(log: Path, after: int = 0) -> list[str]:
    """The lines at INFO or above from byte `after` on: our JSON lines and Celery's own "[...: LEVEL/...]"."""
    found = []
    for line in log.read_bytes()[after:].decode(errors="replace").splitlines():
        if line.startswith("{"):
            if json.loads(line).get("level") in LOUD:
                found.append(line)
        elif any(f": {level}/" in line for level in LOUD):
            found.append(line)
    return found


def caught_up(names: list[str]) -> bool:
    engine.ensure_states(names)
    return all(engine.lag(state) == 0 for state in ProjectionState.objects.filter(name__in=names))


def worker_queries_since(moment: float) -> bool:
    """Another session on this database (the worker's) started a query after `moment` (epoch seconds)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND query_start > to_timestamp(%s)",
            [moment],
        )
        return cursor.fetchone()[0] > 0


def settled_size(log: Path) -> int:
    """The log's size once it stopped growing for a moment (a batch's line follows its commit)."""
    sizes = []

    def settled() -> bool:
        sizes.append(log.stat().st_size)
        return len(sizes) > 3 and len(set(sizes[-4:])) == 1

    wait_until(settled, timeout=30, interval=0.2, what=f"{log.name} to settle")
    return sizes[-1]


@pytest.mark.slow
def test_an_idle_worker_and_beat_log_nothing_at_info_and_a_lagging_projection_shows(committed_db, rabbitmq_vhost, monkeypatch):
    names = list(projectors.all_projectors())
    with celery_worker("quiet", **SWEEP_EVERY_SECOND) as worker, celery_beat(**SWEEP_EVERY_SECOND) as beat:
        worker_log, beat_log = _log_of(worker), _log_of(beat)
        wait_until(lambda: caught_up(names), timeout=60, interval=0.5, what="the projections to catch up")
        worker_from, beat_from = settled_size(worker_log), settled_size(beat_log)

        # Idle: sweeps every second, each one a catch-up task per projection. Watched until the
        # worker has been at it for four more seconds (its database session says when it last was).
        idle_since = time.time()
        wait_until(lambda: worker_queries_since(idle_since + 4), timeout=30, interval=0.2, what="four sweeps")
        idle = loud_lines(worker_log, worker_from) + loud_lines(beat_log, beat_from)

        # The control: an event whose nudge was lost, so only a sweep can apply it; the engine says so at INFO.
        monkeypatch.setattr("products.handlers.nudge_projections", lambda: None)
        random_history(1, products=1)
        wait_until(
            lambda: any("Applied 1 event(s) to product_catalog" in line for line in loud_lines(worker_log, worker_from)),
            timeout=30, interval=0.2, what="the sweep to apply the event, at INFO",
        )

    assert idle == [], "an idle worker and beat logged at INFO or above:\n" + "\n".join(idle)


def _log_of(process) -> Path:
    """The file under test-artifacts/ that tests.support.processes made the process's stdout."""
    return Path(f"/proc/{process.pid}/fd/1").resolve()


# --- django.request: a 503 the service answers on purpose is not an error ------------------------


def boom(request):
    raise RuntimeError("a fault in the code")


urlpatterns = [path("boom/", boom)]


def request_log_levels(caplog) -> list[str]:
    return [record.levelname for record in caplog.records if record.name == "django.request"]


def test_a_projection_lagging_503_is_logged_as_a_warning(committed_db, api, settings, caplog):
    """No worker runs here, so the registered product's position is never reached in time."""
    registered = api.post("/api/products/", register_body(), format="json")
    assert registered.status_code == 202, registered.content
    settings.READ_YOUR_WRITES_TIMEOUT = 0.2

    with caplog.at_level(logging.INFO):
        response = APIClient().get(
            f"/api/products/{registered.json()['product_id']}/", {"min_position": registered.json()["position"]}
        )

    assert response.status_code == 503 and response.json()["code"] == "projection_lagging", response.content
    assert request_log_levels(caplog) == ["WARNING"]


def test_a_500_is_still_logged_as_an_error(committed_db, settings, caplog):
    settings.ROOT_URLCONF = __name__

    with caplog.at_level(logging.INFO):
        response = Client(raise_request_exception=False).get("/boom/")

    assert response.status_code == 500
    assert request_log_levels(caplog) == ["ERROR"]
