"""The OpenAPI parts both sides of the API describe their answers with (drf-spectacular).

Nothing here runs on a request: these serializers and parameters only describe answers, for
/api/schema/. The commands' own parts are in products/api/openapi.py, the queries' beside
their views.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every error but field validation: a message and a machine-readable code."""

    detail = serializers.CharField()
    code = serializers.CharField(help_text="Machine-readable, such as `product_not_found` or `throttled`.")


class FieldErrorsSerializer(serializers.Serializer):
    """DRF's field errors: each invalid field (or `non_field_errors`, or a header) with its messages."""


class FieldErrorsExtension(OpenApiSerializerExtension):
    target_class = FieldErrorsSerializer

    def map_serializer(self, auto_schema, direction):
        return {
            "type": "object",
            "description": FieldErrorsSerializer.__doc__,
            "minProperties": 1,
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }


def code_enum(*codes: str):
    """A `code` field documented with the codes it can hold."""

    @extend_schema_field({"type": "string", "enum": list(codes)})
    class CodeField(serializers.CharField):
        pass

    return CodeField


BAD_REQUEST = PolymorphicProxySerializer(
    component_name="BadRequest",
    serializers=[FieldErrorsSerializer, ErrorSerializer],
    resource_type_field_name=None,
)


def error(description: str, serializer=ErrorSerializer) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


BAD_REQUEST_RESPONSE = OpenApiResponse(
    BAD_REQUEST,
    description='Invalid fields (`{"field": ["message"]}`) or a body that is not JSON (`parse_error`).',
)
NOT_AUTHENTICATED = error("No valid credentials: `not_authenticated` or `authentication_failed`.")
# Answered by the web server (gunicorn) or the gateway before the service sees the request.
URI_TOO_LONG = OpenApiResponse(description="The request line is longer than the web server takes (4 KiB for gunicorn).")

RETRY_AFTER = OpenApiParameter(
    "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429, 503], description="Seconds to wait."
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[401], description="`Token`."
)
