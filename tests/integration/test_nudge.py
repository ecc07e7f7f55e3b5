"""The nudge over the run's RabbitMQ vhost: what a burst of commands leaves for the worker."""

import pytest
from kombu import Connection

from products.nudge import publish_nudge
from project.celery import app as celery_app
from projections import projectors
from tests import settings as test_settings
from tests.support.polling import wait_until

pytestmark = [pytest.mark.integration]


def test_a_burst_of_nudges_leaves_one_waiting_per_projection(committed_db):
    queues = {name: celery_app.amqp.queues[f"projection.{name}"] for name in projectors.all_projectors()}
    with Connection(f"{test_settings.RABBITMQ_URL}/{test_settings.TEST_VHOST}") as connection:
        channel = connection.default_channel
        for queue in queues.values():
            queue(channel).declare()
            queue(channel).purge()

        for _ in range(3):  # each call is one confirmed publish per projection, or it raises
            publish_nudge({})

        def depths() -> dict[str, int]:
            return {name: queue(channel).queue_declare(passive=True).message_count for name, queue in queues.items()}

        # Three nudges were sent to each queue and one waits: the newest replaced the others,
        # so the worker runs one catch-up for the burst. (Without the cap, three would wait.)
        assert wait_until(lambda: depths() if all(depths().values()) else None, timeout=10) == dict.fromkeys(queues, 1)
        for queue in queues.values():
            queue(channel).purge()
