"""The one shape of a nudge queue, for both sides: the write side publishes to NUDGE_QUEUE, the
read side to each projection's queue; settings.CELERY_TASK_QUEUES declares them the same way."""

from django.conf import settings
from kombu import Queue


def capped_queue(name: str) -> Queue:
    """A queue of content-free nudges, declared as the worker declares it (RabbitMQ refuses a mismatch)."""
    return Queue(name, durable=True, queue_arguments=settings.PROJECTION_QUEUE_ARGUMENTS)
