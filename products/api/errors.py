"""One exception handler for the whole API: domain refusals and outages become HTTP answers.

Every error body has a `detail` and a machine-readable `code`, except field validation errors,
which keep DRF's `{"field": ["message"]}` shape.
"""

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..domain import errors as domain
from ..handlers import IdempotencyKeyReused, PreconditionFailed, TooMuchContention
from .middleware import database_unavailable_response, is_database_unavailable

_STATUS = [
    # Most specific first: PreconditionFailed is a VersionConflict.
    (PreconditionFailed, status.HTTP_412_PRECONDITION_FAILED),
    (domain.ProductNotFound, status.HTTP_404_NOT_FOUND),
    (IdempotencyKeyReused, status.HTTP_422_UNPROCESSABLE_ENTITY),
    (TooMuchContention, status.HTTP_503_SERVICE_UNAVAILABLE),
    (domain.ProductError, status.HTTP_409_CONFLICT),
]


def exception_handler(exc, context):
    if isinstance(exc, domain.InvalidCommand):
        return Response({exc.field: [exc.detail]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, domain.ProductError):
        return _product_error(exc)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "Request body too large.", "code": "request_too_large"},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):  # too many fields or files, and the like
        return Response({"detail": str(exc) or "Bad request.", "code": "bad_request"}, status=status.HTTP_400_BAD_REQUEST)
    if is_database_unavailable(exc):
        return database_unavailable_response(exc)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException) and isinstance(response.data, dict):
        if "detail" in response.data and "code" not in response.data:
            codes = exc.get_codes()
            response.data["code"] = codes if isinstance(codes, str) else "error"
    return response


def _product_error(exc: domain.ProductError) -> Response:
    body = {"detail": exc.detail, "code": exc.code}
    headers = {}
    if isinstance(exc, domain.VersionConflict):
        body.update(expected_version=exc.expected, current_version=exc.current)
    if isinstance(exc, domain.InsufficientStock):
        body.update(available=exc.available, requested=exc.requested)
    if isinstance(exc, TooMuchContention):
        headers["Retry-After"] = "1"
    status_code = next(code for kind, code in _STATUS if isinstance(exc, kind))
    return Response(body, status=status_code, headers=headers)
