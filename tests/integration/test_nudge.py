"""The nudge over the run's RabbitMQ vhost: what a burst of commands leaves for the worker."""

import uuid

import pytest
from kombu import Connection

from products.nudge import capped_queue, publish_nudge
from tests import settings as test_settings
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


def test_a_nudge_round_right_after_another_waits_out_the_interval(settings, monkeypatch):
    from projections import tasks

    settings.PROJECTION_NUDGE_INTERVAL = 0.05
    waits: list[float] = []
    monkeypatch.setattr(tasks.time, "sleep", waits.append)
    monkeypatch.setattr(tasks, "_last_nudge_started", 0.0)

    tasks._pace_nudges()  # after a quiet spell: at once
    assert waits == []
    tasks._pace_nudges()  # straight after: the rest of the interval first
    assert len(waits) == 1 and 0 < waits[0] <= 0.05
