# Load the Celery app whenever Django starts, so that send_task and shared_task use it.
from .celery import app as celery_app

__all__ = ("celery_app",)
