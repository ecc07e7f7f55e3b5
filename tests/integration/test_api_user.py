"""`manage.py api_user` (what `make user` runs): scriptable, and it reprints an existing user's token."""

import io
import sys
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.integration


@pytest.fixture
def no_terminal(monkeypatch):
    """As in a script or a pipe: stdin is not a terminal."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)


def api_user(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("api_user", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fresh_name() -> str:
    return f"api-user-{uuid.uuid4().hex[:10]}"


def test_creates_a_superuser_from_the_environment_and_prints_only_its_token(committed_db, no_terminal, monkeypatch):
    name = fresh_name()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-dev-password")

    out, err = api_user(name)

    user = User.objects.get(username=name)
    assert user.is_superuser and user.is_staff and user.check_password("a-long-dev-password")
    assert out == Token.objects.get(user=user).key + "\n"
    assert "Created" in err


def test_an_existing_user_gets_the_token_it_has_and_keeps_its_password(committed_db, no_terminal, monkeypatch):
    name = fresh_name()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-dev-password")
    first, _ = api_user(name)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "another-long-password")

    again, err = api_user(name)

    assert again == first
    assert "exists" in err
    assert User.objects.get(username=name).check_password("a-long-dev-password")
    assert Token.objects.filter(user__username=name).count() == 1


def test_an_existing_user_needs_no_password(committed_db, no_terminal, make_user):
    user = make_user()  # not a superuser, no token yet: it gets one, and stays what it is

    out, _ = api_user(user.username)

    assert out.strip() == Token.objects.get(user=user).key
    user.refresh_from_db()
    assert not user.is_superuser


def test_the_username_may_come_from_the_environment(committed_db, no_terminal, monkeypatch):
    name = fresh_name()
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", name)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-dev-password")

    api_user()

    assert User.objects.filter(username=name, is_superuser=True).exists()


def test_without_a_password_or_a_terminal_it_fails_clearly_and_creates_nothing(committed_db, no_terminal):
    name = fresh_name()

    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_PASSWORD"):
        api_user(name)

    assert not User.objects.filter(username=name).exists()


def test_a_password_the_validators_refuse_creates_nothing(committed_db, no_terminal, monkeypatch):
    name = fresh_name()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "123")

    with pytest.raises(CommandError, match="refused"):
        api_user(name)

    assert not User.objects.filter(username=name).exists()


def test_without_a_username_it_says_how_to_give_one(committed_db, no_terminal):
    with pytest.raises(CommandError, match="USERNAME"):
        api_user()
