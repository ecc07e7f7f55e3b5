"""Fixtures shared by every test folder: the run's own database and RabbitMQ vhost, and users.

Tests that touch the database commit for real (the event store refuses TRUNCATE, so Django's
flush-based isolation cannot work, and concurrency needs real commits anyway). They isolate
by using fresh ids and by comparing counts before and after, never totals.
"""

import uuid

import psycopg
import pytest
from django.conf import settings

from tests import settings as test_settings
from tests.support.rabbitmq import rabbitmqctl


@pytest.fixture(scope="session")
def rabbitmq_vhost():
    """This run's own vhost on the machine's RabbitMQ, deleted at the end."""
    vhost = test_settings.TEST_VHOST
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield vhost
    rabbitmqctl("delete_vhost", vhost, check=False)


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, rabbitmq_vhost):
    """Create this run's PostgreSQL database (and the in-memory SQLite one), migrated."""
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default", "sqlite"})
    yield
    with django_db_blocker.unblock():
        connections.close_all()
        try:
            teardown_databases(config, verbosity=0)
        finally:
            _force_drop(settings.DATABASES["default"]["NAME"])


def _force_drop(name: str) -> None:
    """Drop the run's database even if a process a test started still holds a connection."""
    if not name.startswith("test_catalog_"):
        return
    with psycopg.connect(test_settings.POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    """Database access in autocommit: every write commits, as it does in production."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def subscriber(committed_db, rabbitmq_vhost):
    """A queue of another service, bound to every event the relay publishes, declared before the
    events; straight to the run's RabbitMQ vhost (no fault scenario cuts it). Yields (connection, queue)."""
    from kombu import Connection, Exchange, Queue

    queue = Queue(f"subscriber-{uuid.uuid4().hex[:8]}", Exchange("catalog.events", "topic", durable=True), routing_key="#")
    with Connection(f"{test_settings.RABBITMQ_URL}/{rabbitmq_vhost}") as connection:
        queue(connection.default_channel).declare()
        yield connection, queue
        queue(connection.default_channel).delete()


@pytest.fixture
def fresh_projectors():
    """The projections read from settings.PROJECTORS again, for the test and after it."""
    from projections import projectors

    projectors.all_projectors.cache_clear()
    yield
    projectors.all_projectors.cache_clear()


@pytest.fixture
def extra_projector(settings, fresh_projectors):
    """register(name, dotted_path): a test projector joins this process's projections for the test.

    Returns the projector. The processes a test starts get it through EXTRA_PROJECTORS.
    """
    from projections import projectors

    def register(name: str, path: str):
        settings.PROJECTORS = {**settings.PROJECTORS, name: path}
        projectors.all_projectors.cache_clear()
        return projectors.get(name)

    return register


@pytest.fixture
def make_user(committed_db):
    from django.contrib.auth.models import Permission, User

    def make(*, can_command: bool = True, **fields) -> User:
        user = User.objects.create_user(username=f"user-{uuid.uuid4().hex[:12]}", password="pw", **fields)
        if can_command:
            user.user_permissions.add(Permission.objects.get(codename="issue_product_commands"))
        return user

    return make


@pytest.fixture
def token_for(committed_db):
    from rest_framework.authtoken.models import Token

    def token(user) -> str:
        return Token.objects.get_or_create(user=user)[0].key

    return token


@pytest.fixture
def api(make_user):
    """A DRF test client authenticated as a user who may issue commands."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.user = make_user()
    client.force_authenticate(client.user)
    return client
