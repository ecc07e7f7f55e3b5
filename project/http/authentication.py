"""Token authentication under either scheme: `Token <key>` (DRF's) or `Bearer <key>` (RFC 6750)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import TokenScheme
from rest_framework import authentication, exceptions


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, also taking its token as `Authorization: Bearer <key>`.

    `keyword` stays "Token": it is what WWW-Authenticate names, which makes "not logged in" a 401.
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
