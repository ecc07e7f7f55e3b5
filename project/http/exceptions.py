"""One exception handler for the whole API: domain refusals and outages become HTTP answers.

Every error body has a `detail` and a machine-readable `code` (project/http/errors.py), except
field validation errors, which keep DRF's `{"field": ["message"]}` shape.
"""

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from products.api.errors import product_error_response

from .errors import error_response
from .middleware import database_unavailable_response, is_database_unavailable


def exception_handler(exc, context):
    refusal = product_error_response(exc)
    if refusal is not None:
        return refusal
    if isinstance(exc, RequestDataTooBig):
        return error_response(413, "Request body too large.", "request_too_large", response_class=Response)
    if isinstance(exc, SuspiciousOperation):  # too many fields or files, and the like
        return error_response(400, str(exc) or "Bad request.", "bad_request", response_class=Response)
    if is_database_unavailable(exc):
        return database_unavailable_response(exc, response_class=Response)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException) and isinstance(response.data, dict):
        if "detail" in response.data and "code" not in response.data:
            codes = exc.get_codes()
            response.data["code"] = codes if isinstance(codes, str) else "error"
    return response
