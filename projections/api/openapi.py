"""The OpenAPI description of the queries (drf-spectacular): parameters, answers and errors.

Nothing here runs on a request; the parts both sides share are in project/http/openapi.py.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from project.http import openapi as shared

MIN_POSITION = OpenApiParameter(
    "min_position",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description=(
        "A `position` from a command: answer only once the read models behind this query have applied it "
        "(waiting up to 5 s, then 503 `projection_lagging`)."
    ),
    pattern=r"^[0-9]{1,20}-[0-9]{1,20}$",
)
PAGE = OpenApiParameter(
    "page", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY, description="The page, from 1; past the last one: 404."
)
PAGE_SIZE = OpenApiParameter(
    "page_size",
    {"type": "integer", "minimum": 1},
    OpenApiParameter.QUERY,
    description="Rows per page: 50 by default, at most 200 (larger asks get 200).",
)
ORDERING = OpenApiParameter(
    "ordering",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description=(
        "Comma-separated fields among `name`, `sku`, `price`, `stock`, `created_at`, `updated_at`, each with "
        "`-` for descending; any other field is a 400. Default: `name`."
    ),
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='An `ETag` from an earlier answer (such as `"3"`): 304 while the product is still at that version.',
)
CATEGORY_NAME = OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="The category's name.")
# Queries are open to anonymous readers unless QUERIES_REQUIRE_AUTHENTICATION is on.
OPTIONAL_AUTH = [{"tokenAuth": []}, {"cookieAuth": []}, {}]
LAGGING = OpenApiResponse(
    shared.ErrorSerializer,
    description="`projection_lagging`: the read models have not applied `min_position` yet (or `unavailable`: "
    "the database cannot be reached); retry after `Retry-After`.",
)
QUERY_ERRORS = {
    400: shared.BAD_REQUEST_RESPONSE,
    401: shared.error("`not_authenticated`: invalid credentials, or queries require a user here."),
    414: shared.URI_TOO_LONG,
    503: LAGGING,
}
QUERY_HEADERS = [
    MIN_POSITION,
    OpenApiParameter(
        "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[503], description="Seconds to wait."
    ),
    shared.WWW_AUTHENTICATE,
]


def query_schema(operation_id: str, summary: str, response, *, listing: bool, staff: bool = False, **extra):
    """The schema of one query's GET: its answer (paginated when `listing`), parameters and errors."""
    errors = dict(QUERY_ERRORS)
    if listing:
        errors[404] = shared.error("`not_found`: a page past the last one.")
    if staff:
        errors[403] = shared.error("`permission_denied`: staff only.")
    parameters = [*QUERY_HEADERS, *([PAGE, PAGE_SIZE] if listing else []), *extra.pop("parameters", [])]
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        tags=["Staff" if staff else "Queries"],
        parameters=parameters,
        responses={200: response, **errors, **extra.pop("responses", {})},
        **({} if staff else {"auth": OPTIONAL_AUTH}),
        **extra,
    )
