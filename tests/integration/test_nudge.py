"""The nudge over the run's RabbitMQ vhost: what a burst of commands leaves for the worker."""

import uuid

import pytest
from kombu import Connection

from products import handlers
from products.nudge import publish_nudge
from project.queues import capped_queue
from projections import engine, projectors, rounds, tasks
from projections.models import ProjectionState
from tests import settings as test_settings
from tests.support.history import random_history
from tests.support.polling import wait_until

pytestmark = [pytest.mark.integration]


def waiting_after_three_nudges(queue_name: str) -> int:
    """Publish three nudges to `queue_name` (as declared by the settings) and count what waits."""
    queue = capped_queue(queue_name)
    with Connection(f"{test_settings.RABBITMQ_URL}/{test_settings.TEST_VHOST}") as connection:
        channel = connection.default_channel
        queue(channel).declare()
        queue(channel).purge()
        for _ in range(3):  # each call is one confirmed publish, or it raises
            publish_nudge({})

        def depth() -> int:
            return queue(channel).queue_declare(passive=True).message_count

        waiting = wait_until(lambda: depth() or None, timeout=10)
        queue(channel).delete()
        return waiting


def test_a_burst_of_nudges_leaves_one_waiting(committed_db, settings):
    # Three nudges were sent and one waits: the newest replaced the others, so the worker runs
    # one catch-up for the burst.
    settings.NUDGE_QUEUE = f"test.nudge-{uuid.uuid4().hex[:8]}"
    assert waiting_after_three_nudges(settings.NUDGE_QUEUE) == 1


def test_control_without_the_cap_every_nudge_waits(committed_db, settings):
    settings.NUDGE_QUEUE = f"test.nudge-{uuid.uuid4().hex[:8]}"
    settings.PROJECTION_QUEUE_ARGUMENTS = {}
    assert waiting_after_three_nudges(settings.NUDGE_QUEUE) == 3


@pytest.mark.parametrize("in_a_stream", [True, False], ids=["in_a_stream", "control_one_event_at_a_time"])
def test_under_a_stream_a_round_right_after_another_waits_out_the_interval(settings, monkeypatch, in_a_stream):
    settings.PROJECTION_NUDGE_INTERVAL = 0.05
    waits: list[float] = []
    monkeypatch.setattr(tasks.time, "sleep", waits.append)
    monkeypatch.setattr(tasks, "_last_nudge_started", 0.0)
    monkeypatch.setattr(tasks, "_in_a_stream", in_a_stream)

    tasks._pace_nudges()  # after a quiet spell: at once
    assert waits == []
    tasks._pace_nudges()  # straight after: the rest of the interval first, if the rounds batch
    if in_a_stream:
        assert len(waits) == 1 and 0 < waits[0] <= 0.05
    else:
        assert waits == []  # rounds that keep up one command at a time do not wait


@pytest.fixture
def round_queue(committed_db, settings, monkeypatch):
    """A nudge queue of the test's own, which only the round under test publishes to."""
    settings.NUDGE_QUEUE = f"test.nudge-{uuid.uuid4().hex[:8]}"
    settings.PROJECTION_NUDGE_INTERVAL = 0
    monkeypatch.setattr(handlers, "nudge_projections", lambda: None)  # the commands' own nudges
    for name, projector in projectors.all_projectors().items():
        assert engine.catch_up(projector).outcome == "caught_up", name
    queue = capped_queue(settings.NUDGE_QUEUE)
    with Connection(f"{test_settings.RABBITMQ_URL}/{test_settings.TEST_VHOST}") as connection:
        channel = connection.default_channel
        queue(channel).declare()
        yield lambda: queue(channel).queue_declare(passive=True).message_count
        queue(channel).delete()


def a_command_comes_in_after_the_last_projection(monkeypatch) -> list:
    """Store one registration once the round has applied its batches, before it looks again."""
    arrived: list = []
    real = rounds.catch_up_together

    def catch_up_together(members, time_budget=None, using="default"):
        results = real(members, time_budget, using)
        if not arrived:
            arrived.extend(random_history(commands=1, products=1, seed=7))
        return results

    monkeypatch.setattr(rounds, "catch_up_together", catch_up_together)
    return arrived


def catalog_lag() -> int:
    return engine.lag(ProjectionState.objects.get(name="product_catalog"))


def test_events_that_come_in_during_a_round_get_another_round_rather_than_a_chase(round_queue, monkeypatch):
    arrived = a_command_comes_in_after_the_last_projection(monkeypatch)

    results = tasks.catch_up()

    assert arrived and results[-1]["outcome"] == "nudged_again"
    assert set(results[-1]["unread"]) == set(projectors.all_projectors())
    assert wait_until(lambda: round_queue() or None, timeout=10) == 1  # the next round's nudge
    assert catalog_lag() == 1  # left to that round
    assert tasks._in_a_stream  # so that the next round is paced


def test_control_if_the_broker_refuses_that_nudge_the_round_applies_them_itself(round_queue, monkeypatch):
    def refused(*args, **kwargs):
        raise OSError("the broker is down")

    monkeypatch.setattr(tasks, "publish_nudge", refused)
    arrived = a_command_comes_in_after_the_last_projection(monkeypatch)

    results = tasks.catch_up()

    assert arrived and "nudged_again" not in [r["outcome"] for r in results]
    assert catalog_lag() == 0
    assert round_queue() == 0


def test_a_blocked_projection_with_unread_events_does_not_keep_asking_for_rounds(round_queue, monkeypatch):
    # A stalled projection keeps its unread events until an operator acts: asking for another
    # round each time would nudge the worker without end.
    ProjectionState.objects.filter(name="price_history").update(status=ProjectionState.STALLED)
    try:
        random_history(commands=1, products=1, seed=4)

        results = tasks.catch_up()

        outcomes = {r["projection"]: r["outcome"] for r in results}
        assert outcomes == {**dict.fromkeys(projectors.all_projectors(), "caught_up"), "price_history": "blocked"}
        assert round_queue() == 0
    finally:
        engine.retry("price_history")
        assert engine.catch_up(projectors.get("price_history")).outcome == "caught_up"
