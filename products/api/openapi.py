"""The OpenAPI description of the commands (drf-spectacular): bodies, headers and answers.

Nothing here runs on a request: these serializers and parameters only describe what the
command views answer, for /api/schema/. The parts both sides share are in project/http/openapi.py.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers

from project.http.openapi import (
    BAD_REQUEST_RESPONSE,
    NOT_AUTHENTICATED,
    RETRY_AFTER,
    URI_TOO_LONG,
    WWW_AUTHENTICATE,
    ErrorSerializer,
    code_enum,
    error,
)

from ..domain import errors as domain
from ..handlers import IdempotencyKeyReused

# --- Bodies ---------------------------------------------------------------------------------


class StoredEventRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The event's id.")
    type = serializers.CharField(help_text="The event's type, such as `ProductRegistered`.")
    version = serializers.IntegerField(min_value=1, help_text="The product's version once this event applies.")


class CommandResultSerializer(serializers.Serializer):
    """A command's outcome: 202 with the events it stored, or 200 with none when it changed nothing."""

    product_id = serializers.UUIDField()
    version = serializers.IntegerField(min_value=0, help_text="The product's version after the command.")
    position = serializers.CharField(
        allow_null=True,
        help_text="A token of the stored events' place in the log: pass it as `min_position` to a query.",
    )
    events = StoredEventRefSerializer(many=True, help_text="The events stored; empty when nothing changed.")


CONFLICT_CODES = [
    refusal.code
    for refusal in (
        domain.DuplicateSku, domain.ProductExists, domain.InsufficientStock,
        domain.ProductIsDiscontinued, domain.VersionConflict,
    )
]


class ConflictSerializer(ErrorSerializer):
    """A refusal by the product's rules or its version; `version_conflict` says which versions."""

    code = code_enum(*CONFLICT_CODES)()
    expected_version = serializers.IntegerField(required=False, help_text="`version_conflict` only.")
    current_version = serializers.IntegerField(required=False, help_text="`version_conflict` only.")
    available = serializers.IntegerField(required=False, help_text="`insufficient_stock` only.")
    requested = serializers.IntegerField(required=False, help_text="`insufficient_stock` only.")


class PreconditionFailedSerializer(ErrorSerializer):
    """`If-Match` named another version than the product's."""

    code = code_enum(domain.VersionConflict.code)()
    expected_version = serializers.IntegerField()
    current_version = serializers.IntegerField()


# --- Headers --------------------------------------------------------------------------------

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "1 to 255 printable ASCII characters, scoped to the user. A retry with the same key and the same "
        "request returns the original answer with `Idempotent-Replayed: true` and stores nothing new; the "
        "same key with another request answers 422 `idempotency_key_reused`."
    ),
    pattern=r"^[\x20-\x7e]{1,255}$",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The version the product must be at, as an entity tag such as `"3"` (or `*`: it must exist); 412 if not.',
    pattern=r'^(\*|(W/)?"[0-9]{1,10}")$',
)
PRODUCT_ID = OpenApiParameter("product_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The product's id.")


def etag(*statuses: int) -> OpenApiParameter:
    return OpenApiParameter(
        "ETag",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=list(statuses),
        description='The product\'s version as an entity tag, such as `"3"`.',
    )


IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 202],
    enum=["true"],
    description="Present on the replay of an earlier answer to the same `Idempotency-Key`.",
)
LOCATION = OpenApiParameter(
    "Location", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[202], description="Where the product can be read."
)

# --- Answers --------------------------------------------------------------------------------

COMMAND_ERRORS = {
    400: BAD_REQUEST_RESPONSE,
    401: NOT_AUTHENTICATED,
    403: error(
        "`permission_denied`: the user lacks `products.issue_product_commands` (or a session post lacks its CSRF token)."
    ),
    404: error("`product_not_found`."),
    409: error(
        "Refused by the product's rules or its version: " + ", ".join(f"`{code}`" for code in CONFLICT_CODES) + ".",
        ConflictSerializer,
    ),
    412: error("`version_conflict`: `If-Match` does not match the product's version.", PreconditionFailedSerializer),
    413: error("`request_too_large`: the body is larger than the limit (256 KiB by default)."),
    414: URI_TOO_LONG,
    415: error("`unsupported_media_type`: the body is not JSON (nor a form)."),
    422: error(f"`{IdempotencyKeyReused.code}`: the `Idempotency-Key` was used for another request."),
    429: error("`throttled`: too many commands; retry after `Retry-After` seconds."),
    503: error(
        "`unavailable`: the database cannot be reached or did not answer within the request's time (or the "
        "product is too contended); nothing was stored; retry after `Retry-After`."
    ),
    504: error(
        "`outcome_unknown`: the database did not confirm in time whether the command was stored; retry with the "
        "same `Idempotency-Key`, which answers as the first attempt would have if it was."
    ),
}
COMMAND_HEADERS = [IDEMPOTENCY_KEY, IF_MATCH, etag(200, 202), IDEMPOTENT_REPLAYED, RETRY_AFTER, WWW_AUTHENTICATE]


def command_schema(view):
    """The schema of a command view's POST: its body (the view's serializer), headers and every answer.

    Named by the view: operation `products_<command_name>`, summary `name`, example `example`;
    described by its docstring.
    """
    changed = "the product registered" if view.registers else "the events stored"
    responses = {
        202: OpenApiResponse(CommandResultSerializer, description=f"Accepted: {changed}."),
        **({} if view.registers else {200: OpenApiResponse(CommandResultSerializer, description="Nothing to change: no event.")}),
        **{code: answer for code, answer in COMMAND_ERRORS.items() if not (view.registers and code == 404)},
    }
    operation_id = f"products_{view.command_name}"
    return extend_schema(
        operation_id=operation_id,
        summary=view.name,
        tags=["Commands"],
        parameters=[*([LOCATION] if view.registers else [PRODUCT_ID]), *COMMAND_HEADERS],
        responses=responses,
        examples=[OpenApiExample(operation_id, summary=view.name, value=view.example, request_only=True)],
    )
