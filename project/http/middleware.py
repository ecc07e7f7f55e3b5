"""Request-level guards that must hold before any view runs, on every path of the service."""

import re
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from project import logformat
from project.database.deadline import is_outcome_unknown

from .errors import error_response

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
RETRY_AFTER_SECONDS = "5"


def database_unavailable_response(error: BaseException | None = None, response_class=JsonResponse):
    """503 `unavailable` with Retry-After when nothing was stored; 504 `outcome_unknown` when a
    commit was sent and never acknowledged. `response_class` as for error_response."""
    if is_outcome_unknown(error):
        return error_response(
            504,
            "The database did not confirm in time whether the command was stored; "
            "retry it with the same Idempotency-Key.",
            "outcome_unknown",
            response_class=response_class,
        )
    return error_response(
        503,
        "The database is unavailable; retry shortly.",
        "unavailable",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
        response_class=response_class,
    )


def is_database_unavailable(error: BaseException) -> bool:
    """Lost or refused connections, timeouts and locks: conditions a retry can outlive."""
    return isinstance(error, (OperationalError, InterfaceError))


class RequestIdMiddleware:
    """Gives every request an id (the caller's X-Request-ID when sane) and echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        correlation = request.headers.get("X-Correlation-ID", "")
        # Every log line of this request names its ids (project/logformat.py); the nudge passes them on.
        with logformat.bound(
            request_id=request.request_id,
            correlation_id=correlation if _REQUEST_ID.fullmatch(correlation) else request.request_id,
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class BodySizeLimitMiddleware:
    """413 for a body declared larger than COMMAND_MAX_BODY_BYTES, before anything reads it.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE covers bodies read through request.body; this also
    covers multipart file parts, which Django streams to disk instead.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not _DIGITS.fullmatch(declared):  # str.isdigit() would also take "²"
            return error_response(400, "Invalid Content-Length.", "bad_request")
        # Compare as text first: int() of thousands of digits is itself refused by Python.
        if len(declared.lstrip("0")) > 18 or int(declared) > settings.COMMAND_MAX_BODY_BYTES:
            return error_response(
                413, f"Request body larger than {settings.COMMAND_MAX_BODY_BYTES} bytes.", "request_too_large"
            )
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """503 with Retry-After, not a 500, when a view finds the database unreachable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            return database_unavailable_response(exception)
        return None
