"""The one shape of an error answer: `{"detail": "<message>", "code": "<machine-readable>"}`.

Field validation errors (400) are the exception: they keep DRF's `{"field": ["message"]}`.
"""

from django.http import JsonResponse


def error_response(status: int, detail: str, code: str, *, headers=None, response_class=JsonResponse, **extra):
    """An error answer; `response_class=rest_framework.response.Response` inside a DRF view.

    `extra` adds fields after `detail` and `code`, such as `current_version` of a conflict.
    """
    return response_class({"detail": detail, "code": code, **extra}, status=status, headers=headers)
