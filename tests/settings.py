"""Test settings: the machine's real PostgreSQL and RabbitMQ, isolated per test run.

Each run gets its own database (created and dropped by pytest-django) and its own RabbitMQ
vhost (created and deleted by tests/conftest.py), named after the run id.
"""

import os
import uuid

RUN_ID = os.environ.setdefault("CATALOG_TEST_RUN_ID", uuid.uuid4().hex[:10])
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
TEST_VHOST = f"catalog-test-{RUN_ID}"

os.environ.setdefault("DATABASE_URL", POSTGRES_URL)
os.environ.setdefault("CELERY_BROKER_URL", f"{RABBITMQ_URL}/{TEST_VHOST}")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key")

from project.settings import *  # noqa: E402,F401,F403
from project.settings import DATABASES  # noqa: E402

DATABASES["default"]["TEST"] = {"NAME": f"test_catalog_{RUN_ID}"}
# The event store's SQLite variant, for the contract tests that run on both databases.
DATABASES["sqlite"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": ":memory:",
    "TEST": {"NAME": f"file:catalog_{RUN_ID}?mode=memory&cache=shared"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users
# Rebuilds fold in the test's own process; the test of several processes asks for them.
PROJECTION_REBUILD_WORKERS = 1
