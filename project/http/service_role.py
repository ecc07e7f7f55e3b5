"""One codebase, split deployments: SERVICE_ROLE decides which side of the API a process serves."""

from django.conf import settings
from django.urls import Resolver404, resolve

from .errors import error_response

# Per role, the methods refused on /api/ and those it still serves (OPTIONS is served by both).
REFUSED = {"query": {"POST", "PUT", "PATCH", "DELETE"}, "command": {"GET", "HEAD"}}
SERVED = {"query": {"GET", "HEAD", "OPTIONS"}, "command": {"POST", "PUT", "PATCH", "DELETE", "OPTIONS"}}
METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PLURAL = {"query": "queries", "command": "commands"}
# GET routes every role serves: the OpenAPI schema, its documentation pages and the event catalog.
ALWAYS_SERVED = ("/api/schema/", "/api/docs/", "/api/asyncapi/")


class ServiceRoleMiddleware:
    """405 for the other side's methods on /api/ when SERVICE_ROLE is `command` or `query`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Read at request time, so a test (or a reloaded setting) changes the role without a restart.
        role = getattr(settings, "SERVICE_ROLE", "all")
        if (
            role in REFUSED
            and request.path.startswith("/api/")
            and not request.path.startswith(ALWAYS_SERVED)
            and request.method in REFUSED[role]
        ):
            allowed = SERVED[role] & _view_methods(request.path_info)
            return error_response(
                405,
                f'Method "{request.method}" not allowed: this service answers {PLURAL[role]} only.',
                "method_not_allowed",
                headers={"Allow": ", ".join(m for m in METHOD_ORDER if m in allowed)},
            )
        return self.get_response(request)


def _view_methods(path: str) -> set[str]:
    """The methods the view at `path` answers, so that Allow names only what works here."""
    try:
        view = resolve(path).func
    except Resolver404:
        return set(METHOD_ORDER)
    view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
    if view_class is None:
        return set(METHOD_ORDER)
    methods = {m.upper() for m in view_class.http_method_names if hasattr(view_class, m)}
    return methods | ({"HEAD"} if "GET" in methods else set())
