"""The project's Celery app, and every Celery signal the project connects, on one screen.

Every process imports this module when Django starts (project/__init__.py), so a worker, beat
and a web process get the same handlers; the ones that only a worker fires are inert elsewhere.
"""

import logging
import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init

from project import logformat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
# All Celery settings live in Django's settings with a CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def close_old_database_connections(**kwargs):
    """Treat each task as Django treats a request: keep the connection for CONN_MAX_AGE seconds,
    and drop it if it broke or failed its health check.

    Celery's own default closes the connection around every task; a catch-up task is a few
    milliseconds of SQL, and opening a PostgreSQL connection cost more than that (settings:
    CELERY_DB_REUSE_MAX).
    """
    from django.db import close_old_connections

    close_old_connections()


def commit_derived_writes_asynchronously(**kwargs):
    """In a worker, database sessions commit without waiting for the WAL to reach disk.

    Everything a worker writes is derived from the event log: read-model rows with their
    checkpoint, in one transaction, and the projections' attempt counts. If PostgreSQL crashes,
    it may lose the last few such commits as a whole (never the events, which the web processes
    commit synchronously); the projections are then behind and apply those events again, and
    the relay publishes them again (at least once, as it promises anyway). In exchange, each
    batch and attempt count skips a disk flush (about 0.15 ms each here, two per projection per
    nudge). Prefork children inherit the hook. WORKER_SYNCHRONOUS_COMMIT=on makes them wait.
    """
    from django.conf import settings
    from django.db.backends.signals import connection_created

    connection_created.connect(_set_synchronous_commit, weak=False, dispatch_uid="catalog-worker-commit")
    logging.getLogger(__name__).info(
        "Worker database sessions commit with synchronous_commit=%s", settings.WORKER_SYNCHRONOUS_COMMIT)


def _set_synchronous_commit(sender, connection, **kwargs):
    from django.conf import settings

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # a session setting: it outlives transactions
            cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [settings.WORKER_SYNCHRONOUS_COMMIT])


def serve_worker_metrics(**kwargs):
    """On WORKER_METRICS_PORT, when set. Imported here: the settings load this module, not the read side."""
    from projections.metrics import serve_worker_metrics_if_configured

    serve_worker_metrics_if_configured()


# Worker log lines name the task, its projection and the ids of the request that nudged it
# (carried in the message headers, passed on to the tasks a task publishes).
task_prerun.connect(close_old_database_connections, weak=False, dispatch_uid="catalog-task-connections")
task_prerun.connect(logformat.bind_task_ids, weak=False, dispatch_uid="catalog-log-context-prerun")
task_postrun.connect(logformat.unbind_task_ids, weak=False, dispatch_uid="catalog-log-context-postrun")
before_task_publish.connect(logformat.pass_ids_on, weak=False, dispatch_uid="catalog-log-context-publish")
worker_init.connect(commit_derived_writes_asynchronously, weak=False, dispatch_uid="catalog-worker-commit")
worker_init.connect(serve_worker_metrics, weak=False, dispatch_uid="catalog-worker-metrics")
