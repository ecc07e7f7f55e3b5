from django.conf import settings
from rest_framework.permissions import BasePermission


class CanQuery(BasePermission):
    """Anyone may read, unless settings.QUERIES_REQUIRE_AUTHENTICATION asks for a signed-in user."""

    def has_permission(self, request, view):
        # Read at request time, so the setting can change without a restart of the tests or imports.
        if not settings.QUERIES_REQUIRE_AUTHENTICATION:
            return True
        return bool(request.user and request.user.is_authenticated)
