"""A user's permissions in one statement (project/http/user_permissions.py).

The one-statement backend must answer exactly what Django's ModelBackend answers, for every kind
of user; a token's request reads the token, its user and the permissions in one round trip; and
nothing is remembered past the request, so a permission taken away holds from the next request.
"""

import uuid

import pytest
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from project.http.user_permissions import ModelBackend

from .helpers import PRODUCTS, assert_error, post_json, register_body, stores_events, stores_nothing

pytestmark = pytest.mark.integration

COMMAND = "products.issue_product_commands"
OPERATE = "projections.operate_projections"


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.fixture
def users(make_user):
    """One user of each kind a permission check meets."""
    group = Group.objects.create(name=f"operators-{uuid.uuid4().hex[:12]}")  # the database is not rolled back
    group.permissions.add(_permission(OPERATE), _permission(COMMAND))
    direct = make_user()
    through_group = make_user(can_command=False)
    through_group.groups.add(group)
    both = make_user()
    both.groups.add(group)
    inactive = make_user(is_active=False)
    return {
        "group": group,
        "direct": direct,
        "through a group": through_group,
        "directly and through a group": both,
        "none": make_user(can_command=False),
        "inactive": inactive,
        "superuser": make_user(can_command=False, is_superuser=True),
    }


def _fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no permissions remembered on it


def test_every_kind_of_user_gets_what_djangos_backend_gives(users):
    for kind, user in users.items():
        if kind == "group":
            continue
        ours = ModelBackend().get_all_permissions(_fresh(user))
        django = DjangoModelBackend().get_all_permissions(_fresh(user))
        assert ours == django, kind
        for name in (COMMAND, OPERATE, "auth.add_user"):
            assert ModelBackend().has_perm(_fresh(user), name) == DjangoModelBackend().has_perm(_fresh(user), name), (
                kind, name,
            )
    assert ModelBackend().get_all_permissions(_fresh(users["through a group"])) >= {COMMAND, OPERATE}
    assert ModelBackend().get_all_permissions(_fresh(users["none"])) == set()


def test_the_backend_reads_the_permissions_in_one_statement(users):
    user = _fresh(users["directly and through a group"])
    with CaptureQueriesContext(connection) as ours:
        assert user.has_perm(COMMAND) and user.has_perm(OPERATE)
    again = _fresh(user)
    with CaptureQueriesContext(connection) as django:  # the control: Django's own reads twice
        assert DjangoModelBackend().has_perm(again, COMMAND)
    assert len(ours.captured_queries) == 1
    assert len(django.captured_queries) == 2


def _token_client(token_for, user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def _auth_statements(queries) -> list[str]:
    tables = ("authtoken_token", "auth_permission", "auth_user")
    return [q["sql"] for q in queries if any(table in q["sql"] for table in tables)]


def test_a_token_command_authenticates_and_checks_its_permission_in_one_statement(users, token_for):
    client = _token_client(token_for, users["through a group"])
    with CaptureQueriesContext(connection) as queries, stores_events(1):
        response = post_json(client, PRODUCTS, register_body())
    assert response.status_code == 202, response.content
    assert len(_auth_statements(queries.captured_queries)) == 1


@pytest.mark.parametrize("kind", ["direct", "through a group", "superuser"])
def test_a_token_holder_with_the_permission_may_command(users, token_for, kind):
    with stores_events(1):
        response = post_json(_token_client(token_for, users[kind]), PRODUCTS, register_body())
    assert response.status_code == 202, response.content


def test_a_token_holder_without_it_gets_a_403(users, token_for):
    with stores_nothing():
        assert_error(post_json(_token_client(token_for, users["none"]), PRODUCTS, register_body()), 403)


def test_an_inactive_users_token_is_refused(users, token_for):
    with stores_nothing():
        response = post_json(_token_client(token_for, users["inactive"]), PRODUCTS, register_body())
    assert_error(response, 401, "authentication_failed")
    assert "inactive" in response.json()["detail"]


@pytest.mark.parametrize("taken_from", ["user", "group"])
def test_a_permission_taken_away_holds_from_the_next_request(users, token_for, taken_from):
    user = users["direct"] if taken_from == "user" else users["through a group"]
    client = _token_client(token_for, user)
    assert post_json(client, PRODUCTS, register_body()).status_code == 202
    if taken_from == "user":
        user.user_permissions.remove(_permission(COMMAND))
    else:
        users["group"].permissions.remove(_permission(COMMAND))
    with stores_nothing():
        assert_error(post_json(client, PRODUCTS, register_body()), 403)


def test_a_session_user_holding_it_through_a_group_may_command(users):
    client = APIClient(raise_request_exception=False)
    client.force_login(users["through a group"])
    with stores_events(1):
        response = post_json(client, PRODUCTS, register_body())
    assert response.status_code == 202, response.content
