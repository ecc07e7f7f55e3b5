"""The nudge over the run's RabbitMQ vhost: what a burst of commands leaves for the worker."""

import pytest
from kombu import Connection

from products.nudge import publish_nudge
from project.celery import app as celery_app
from tests import settings as test_settings
from tests.support.polling import wait_until

pytestmark = [pytest.mark.integration]


def test_a_burst_of_nudges_leaves_one_waiting(committed_db):
    queue = celery_app.amqp.queues["projections.nudge"]
    with Connection(f"{test_settings.RABBITMQ_URL}/{test_settings.TEST_VHOST}") as connection:
        channel = connection.default_channel
        queue(channel).declare()
        queue(channel).purge()

        for _ in range(3):  # each call is one confirmed publish, or it raises
            publish_nudge({})

        def depth() -> int:
            return queue(channel).queue_declare(passive=True).message_count

        # Three nudges were sent and one waits: the newest replaced the others, so the worker
        # runs one catch-up for the burst. (Without the cap, three would wait.)
        assert wait_until(lambda: depth() or None, timeout=10) == 1
        queue(channel).purge()


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
