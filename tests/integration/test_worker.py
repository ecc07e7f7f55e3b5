"""The read side with real Celery worker processes over the run's RabbitMQ vhost."""

import threading
import uuid

import pytest
import requests
from celery import current_app
from django.db import transaction

from products import eventstore
from products.eventstore import Checkpoint
from projections import engine, projectors
from projections.models import ProjectionState
from projections.queues import projection_queue
from tests.integration.test_projections import snapshot
from tests.support import probes
from tests.support.history import random_history
from tests.support.polling import wait_until
from tests.support.processes import celery_worker, web_server
from tests.support.progress import applied_everything

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROBE_ENV = {"EXTRA_PROJECTORS": "overlap_probe=tests.support.probes.OverlapProbe"}


@pytest.fixture
def probe(committed_db, extra_projector):
    """The overlap probe as an extra projection, starting from an empty record and the log's start."""
    return probes.from_the_start(extra_projector("overlap_probe", "tests.support.probes.OverlapProbe"))


def test_commands_over_http_are_readable_through_min_position(committed_db, make_user, token_for, rabbitmq_vhost):
    with web_server() as base_url, celery_worker("reader"):
        client = requests.Session()
        client.headers["Authorization"] = f"Token {token_for(make_user())}"
        registered = client.post(
            f"{base_url}/api/products/",
            json={"sku": f"W-{uuid.uuid4().hex[:10]}", "name": "Kettle", "category": "Kitchen", "price": "10.00", "currency": "EUR"},
            timeout=10,
        ).json()
        product_url = f"{base_url}/api/products/{registered['product_id']}/"
        first = client.get(product_url, params={"min_position": registered["position"]}, timeout=10)

        changed = client.post(f"{product_url}change-price/", json={"price": "12.50"}, timeout=10).json()
        second = client.get(product_url, params={"min_position": changed["position"]}, timeout=10)
        history = client.get(f"{product_url}price-history/", params={"min_position": changed["position"]}, timeout=10)

    assert first.status_code == 200, first.text
    assert (first.json()["name"], first.json()["version"]) == ("Kettle", 1)
    assert (second.json()["price"], second.json()["version"]) == ("12.50", 2)
    assert [entry["price"] for entry in history.json()["results"]] == ["10.00", "12.50"]


def test_duplicate_nudges_to_two_workers_apply_each_event_once_with_one_runner_at_a_time(committed_db, extra_projector,
                                                                                        rabbitmq_vhost):
    # From the log's end, not its start: the suite's earlier events would be thousands of batches.
    start = probes.from_now(extra_projector("overlap_probe", "tests.support.probes.OverlapProbe"))
    env = {**PROBE_ENV, "PROJECTION_BATCH_SIZE": "7"}  # many small batches: many chances to overlap
    with celery_worker("one", **env), celery_worker("two", **env):
        names = ["overlap_probe", "product_catalog"]

        def nudge_twice(step):
            for name in names:
                current_app.send_task("projections.catch_up", args=[name], queue=projection_queue(name))

        random_history(commands=50, products=5, seed=31, after_each=nudge_twice)  # 100 nudges
        wait_until(lambda: applied_everything(*names), timeout=120, interval=0.2, what="the projections to catch up")

    assert probes.overlapping_batches() == [], "two runners of one projection ran at the same time"
    applied = probes.applied_positions()
    assert len(applied) == len(set(applied)), "an event was applied twice"
    everything = eventstore.read_all(after=start, limit=10**6)
    assert applied == sorted(e.position for e in everything) and len(applied) >= 30  # the history stores 38
    live = snapshot()
    engine.replay_in_place(projectors.get("product_catalog"))
    assert snapshot() == live


@pytest.mark.parametrize("setting, expected", [(None, "off"), ("on", "on")], ids=["default", "control_on"])
def test_a_worker_commits_projection_batches_without_waiting_for_the_disk(probe, rabbitmq_vhost, setting, expected):
    # The batches are derived from the log, which the web side commits synchronously: after a
    # database crash they are applied again. The control shows the probe reads the real setting.
    env = {**PROBE_ENV, **({"WORKER_SYNCHRONOUS_COMMIT": setting} if setting else {})}
    with celery_worker("committer", **env):
        random_history(commands=3, products=1, seed=41)
        current_app.send_task("projections.catch_up", args=["overlap_probe"], queue=projection_queue("overlap_probe"))
        wait_until(lambda: applied_everything("overlap_probe"), timeout=60, interval=0.2, what="the probe to catch up")

    assert probes.batch_commit_settings() == {expected}


def test_control_the_probe_sees_two_runners_when_nothing_keeps_them_apart(probe):
    """Without the engine's runner lock, two batches at once are seen: the check above can fail."""
    start = threading.Barrier(2)
    events = eventstore.read_all(after=Checkpoint.START, limit=3)
    assert events, "the log has events from earlier tests"

    def unguarded_batch():
        from django.db import connection

        connection.ensure_connection()  # connected before the start: only the batches race
        start.wait()
        with transaction.atomic():
            probe.apply(events, "default")
        connection.close()

    threads = [threading.Thread(target=unguarded_batch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert probes.overlapping_batches() != []


@pytest.fixture
def killer(committed_db, extra_projector):
    return probes.from_the_start(extra_projector("killer", "tests.support.probes.KillerProjector"))


@pytest.mark.faults
def test_an_event_that_kills_its_worker_stalls_that_projection_only(killer, rabbitmq_vhost):
    from products.domain.commands import RegisterProduct
    from products.handlers import handle
    from decimal import Decimal

    env = {"EXTRA_PROJECTORS": "killer=tests.support.probes.KillerProjector", "PROJECTION_MAX_ATTEMPTS": "3"}
    with celery_worker("victim", concurrency=1, **env) as worker:
        outcomes = [
            handle(RegisterProduct(product_id=uuid.uuid4(), sku=f"K-{uuid.uuid4().hex[:10]}", name=name,
                                   category="Kitchen", price=Decimal("1.00"), currency="EUR"))
            for name in ["Healthy 1", "Healthy 2", "KILL-ME", "Healthy 3"]
        ]
        killing = outcomes[2].events[0]

        def stalled():
            current_app.send_task("projections.catch_up", args=["killer"], queue=projection_queue("killer"))
            state = ProjectionState.objects.filter(name="killer").first()
            return state and state.status == ProjectionState.STALLED and state

        state = wait_until(stalled, timeout=120, interval=1, what="the killer projection to stall")
        wait_until(lambda: applied_everything("product_catalog"), timeout=30, what="the catalog to carry on")
        assert worker.poll() is None, "the worker's main process survives its pool process dying"

    assert state.failed_position == killing.position
    assert "died" in state.last_error
    applied = probes.applied_positions()
    assert outcomes[0].events[0].position in applied and outcomes[1].events[0].position in applied
    assert killing.position not in applied and outcomes[3].events[0].position not in applied
