"""The write side's refusals as HTTP answers: which status each domain error gets, and its body.

Called first by the API's exception handler (project/http/exceptions.py).
"""

from rest_framework import status
from rest_framework.response import Response

from project.http.errors import error_response

from ..domain import errors as domain
from ..handlers import IdempotencyKeyReused, PreconditionFailed, TooMuchContention, UnreadableStream

_STATUS = [
    # Most specific first: PreconditionFailed is a VersionConflict.
    (PreconditionFailed, status.HTTP_412_PRECONDITION_FAILED),
    (domain.ProductNotFound, status.HTTP_404_NOT_FOUND),
    (IdempotencyKeyReused, status.HTTP_422_UNPROCESSABLE_ENTITY),
    (TooMuchContention, status.HTTP_503_SERVICE_UNAVAILABLE),
    (UnreadableStream, status.HTTP_503_SERVICE_UNAVAILABLE),
    (domain.ProductError, status.HTTP_409_CONFLICT),
]


def product_error_response(exc: Exception) -> Response | None:
    """The answer to a domain error (a field the domain refused is a 400 naming it); None for others."""
    if isinstance(exc, domain.InvalidCommand):
        return Response({exc.field: [exc.detail]}, status=status.HTTP_400_BAD_REQUEST)
    if not isinstance(exc, domain.ProductError):
        return None
    extra = {}
    headers = {}
    if isinstance(exc, domain.VersionConflict):
        extra.update(expected_version=exc.expected, current_version=exc.current)
    if isinstance(exc, domain.InsufficientStock):
        extra.update(available=exc.available, requested=exc.requested)
    if isinstance(exc, TooMuchContention):
        headers["Retry-After"] = "1"
    status_code = next(code for kind, code in _STATUS if isinstance(exc, kind))
    return error_response(status_code, exc.detail, exc.code, headers=headers, response_class=Response, **extra)
