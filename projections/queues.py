"""Each projection's own queue: beat's sweep, long catch-ups, a deployment's dedicated workers."""

from django.conf import settings
from kombu import Queue

from project.queues import capped_queue


def projection_queue(name: str) -> Queue:
    """The queue of projection `name`, as settings.CELERY_TASK_QUEUES declares it."""
    return capped_queue(settings.PROJECTION_QUEUE_PREFIX + name)
