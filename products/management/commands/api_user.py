"""`manage.py api_user USERNAME`: a superuser for the admin and the API, and its token on stdout.

Scriptable: the password comes from DJANGO_SUPERUSER_PASSWORD (the e-mail address, if any, from
DJANGO_SUPERUSER_EMAIL), as Django's own createsuperuser --noinput reads them, and is asked for
only on a terminal. A user who exists keeps their password and gets the token they have, so
running it again prints the same token. Only the token goes to stdout:
`TOKEN=$(manage.py api_user alice)`."""

import getpass
import os
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

PASSWORD_VARIABLE = "DJANGO_SUPERUSER_PASSWORD"


class Command(BaseCommand):
    help = "Create a superuser if missing (password from DJANGO_SUPERUSER_PASSWORD) and print its API token."

    def add_arguments(self, parser):
        parser.add_argument(
            "username", nargs="?", default=os.environ.get("DJANGO_SUPERUSER_USERNAME"),
            help="default: DJANGO_SUPERUSER_USERNAME",
        )

    def handle(self, *args, username=None, **options):
        if not username:
            raise CommandError("Name the user: manage.py api_user USERNAME (or set DJANGO_SUPERUSER_USERNAME).")
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            user = self._create(User, username)
        else:
            self.stderr.write(f"User {username!r} exists: its password is unchanged; its token follows.")
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)

    def _create(self, User, username):
        password = os.environ.get(PASSWORD_VARIABLE) or self._ask_password()
        candidate = User(**{User.USERNAME_FIELD: username})
        try:
            validate_password(password, candidate)
        except ValidationError as error:
            raise CommandError("The password is refused: " + " ".join(error.messages)) from None
        try:
            with transaction.atomic():
                user = User.objects.create_superuser(
                    **{User.USERNAME_FIELD: username}, email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""),
                    password=password,
                )
        except IntegrityError:  # created meanwhile by another run: theirs is the user
            return User.objects.get(**{User.USERNAME_FIELD: username})
        self.stderr.write(f"Created the superuser {username!r}.")
        return user

    def _ask_password(self) -> str:
        stdin = sys.stdin
        if stdin is None or not stdin.isatty():
            raise CommandError(
                f"No password, and no terminal to ask for one: set {PASSWORD_VARIABLE} "
                "(with make: `make user USERNAME=... PASSWORD=...`)."
            )
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        if not password:
            raise CommandError("The password is empty.")
        return password
