"""Token authentication under either scheme: `Token <key>` (DRF's) or `Bearer <key>` (RFC 6750)."""

from functools import cache

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import TokenScheme
from rest_framework import authentication, exceptions

from .user_permissions import permission_names_sql, remember


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, also taking its token as `Authorization: Bearer <key>`.

    `keyword` stays "Token": it is what WWW-Authenticate names, which makes "not logged in" a 401.
    The token, its user and the user's permissions come in one statement (see
    project/http/user_permissions.py), so the permission check that follows asks nothing more.
    """

    schemes = (b"token", b"bearer")

    def authenticate(self, request):
        auth = authentication.get_authorization_header(request).split()
        if not auth or auth[0].lower() not in self.schemes:
            return None
        if len(auth) == 1:
            raise exceptions.AuthenticationFailed(_("Invalid token header. No credentials provided."))
        if len(auth) > 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header. Token string should not contain spaces."))
        try:
            key = auth[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(
                _("Invalid token header. Token string should not contain invalid characters.")
            )
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key):
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.vendor != "postgresql":  # ARRAY(): elsewhere, DRF's query and the backend's
            return super().authenticate_credentials(key)
        token_model, user_model = self.get_model(), get_user_model()
        token_fields, user_fields = _columns(token_model), _columns(user_model)
        with connection.cursor() as cursor:
            cursor.execute(_token_sql(token_model, user_model), [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = user_model.from_db(DEFAULT_DB_ALIAS, user_fields, row[len(token_fields):-1])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if row[-1] is not None:  # a superuser's are all of them: has_perm does not ask
            remember(user, set(row[-1]))
        token = token_model.from_db(DEFAULT_DB_ALIAS, token_fields, row[: len(token_fields)])
        token.user = user
        return (user, token)


def _columns(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


@cache
def _token_sql(token_model, user_model) -> str:
    """The token by its key, its user, and (for an active user who is not a superuser) the
    user's permissions, in one row."""
    token, user = token_model._meta, user_model._meta
    user_key = token.get_field("user")
    selected = [f"t.{f.column}" for f in token.concrete_fields] + [f"u.{f.column}" for f in user.concrete_fields]
    return (
        f"SELECT {', '.join(selected)},"
        f" CASE WHEN u.is_active AND NOT u.is_superuser THEN ARRAY({permission_names_sql('u.' + user.pk.column)}) END"
        f" FROM {token.db_table} t JOIN {user.db_table} u ON u.{user.pk.column} = t.{user_key.column}"
        f" WHERE t.{token.pk.column} = %s"
    )


class TokenOrBearerScheme(TokenScheme):
    """The OpenAPI security scheme of TokenAuthentication above: `tokenAuth`, either prefix."""

    target_class = "project.http.authentication.TokenAuthentication"
    priority = 0

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'A token from `manage.py drf_create_token`, as "Token <key>" or "Bearer <key>".',
        }
