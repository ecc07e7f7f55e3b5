import os

from celery import Celery
from celery.signals import task_prerun

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
