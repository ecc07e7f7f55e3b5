import logging
import os

from celery import Celery
from celery.signals import task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
# All Celery settings live in Django's settings with a CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def close_old_database_connections(**kwargs):
    """Treat each task as Django treats a request: keep the connection for CONN_MAX_AGE seconds,
    and drop it if it broke or failed its health check.

    Celery's own default closes the connection around every task; a catch-up task is a few
    milliseconds of SQL, and opening a PostgreSQL connection cost more than that (settings:
    CELERY_DB_REUSE_MAX).
    """
    from django.db import close_old_connections

    close_old_connections()


@worker_init.connect
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
