from django.apps import AppConfig


class ProjectionsConfig(AppConfig):
    """The read side: projectors, read-model tables, the engine that feeds them, the Query API."""

    name = "projections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import consumers

        consumers.discover()
        _declare_consumer_queues(consumers.registered())


def _declare_consumer_queues(registered) -> None:
    """Each consumer's own queue, beside the projections' (settings.CELERY_TASK_QUEUES), so that a
    worker consumes it: consumers are found when Django starts, after the settings were read."""
    from django.conf import settings

    from project.celery import app
    from project.queues import capped_queue

    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    wanted = [capped_queue(settings.PROJECTION_QUEUE_PREFIX + name) for name in registered]
    missing = [queue for queue in wanted if queue.name not in declared]
    if missing:
        settings.CELERY_TASK_QUEUES = [*settings.CELERY_TASK_QUEUES, *missing]
        app.conf.task_queues = settings.CELERY_TASK_QUEUES
