"""Read-only views over the read models, and the staff views of the event log and projections."""

import uuid

from django.http import HttpResponseNotModified
from django.utils.cache import parse_etags
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.permissions import SAFE_METHODS, IsAdminUser
from rest_framework.response import Response

from products import eventstore
from products.api import openapi
from project.http import openapi as shared_openapi
from products.api.views import ProductRegisterApi
from products.domain.errors import ProductNotFound
from products.models import StoredEvent

from .. import operations
from ..models import CatalogProduct, CategorySummary, PriceHistoryEntry
from . import serializers
from .consistency import ReadYourWritesMixin
from .filters import EventFilter, ProductFilter, StableOrderingFilter
from .pagination import PagePagination
from .permissions import CanQuery


# --- The OpenAPI description of the queries (drf-spectacular) ---------------------------------

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
        "`-` for descending; unknown fields are ignored. Default: `name`."
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
    shared_openapi.ErrorSerializer,
    description="`projection_lagging`: the read models have not applied `min_position` yet (or `unavailable`: "
    "the database cannot be reached); retry after `Retry-After`.",
)
QUERY_ERRORS = {
    400: shared_openapi.BAD_REQUEST_RESPONSE,
    401: shared_openapi.error("`not_authenticated`: invalid credentials, or queries require a user here."),
    414: shared_openapi.URI_TOO_LONG,
    503: LAGGING,
}
QUERY_HEADERS = [
    MIN_POSITION,
    OpenApiParameter(
        "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[503], description="Seconds to wait."
    ),
    shared_openapi.WWW_AUTHENTICATE,
]


def query_schema(operation_id: str, summary: str, response, *, listing: bool, staff: bool = False, **extra):
    """The schema of one query's GET: its answer (paginated when `listing`), parameters and errors."""
    errors = dict(QUERY_ERRORS)
    if listing:
        errors[404] = shared_openapi.error("`not_found`: an invalid page, or one past the last.")
    if staff:
        errors[403] = shared_openapi.error("`permission_denied`: staff only.")
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


class QueryApi(ReadYourWritesMixin, GenericAPIView):
    """Base of the query views: GET only, paginated, open to readers, not throttled."""

    # Subclasses set `name`, the title of their browsable API page.
    permission_classes = [CanQuery]
    throttle_classes = []
    pagination_class = PagePagination
    filter_backends = []


class QueryListApi(ListModelMixin, QueryApi):
    """A paginated list: `{"next", "previous", "results"}`."""

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)


@extend_schema_view(
    get=query_schema(
        "products_list",
        "List products",
        serializers.ProductSerializer(many=True),
        listing=True,
        parameters=[ORDERING],
        description="Products, filtered, ordered and paginated. (POST on the same path registers one, as a command.)",
    )
)
class ProductListApi(ReadYourWritesMixin, ListModelMixin, ProductRegisterApi):
    """Products (GET, filtered, ordered, paginated); POST registers one, as a command.

    One path serves both so that a gateway can route by method and the browsable API shows the
    list with the registration form.
    """

    name = "Products"
    queryset = CatalogProduct.objects.all()
    read_models = ("product_catalog",)
    pagination_class = PagePagination
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ProductFilter
    ordering_fields = ["name", "sku", "price", "stock", "created_at", "updated_at"]
    ordering = ["name", "id"]

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def get_serializer_class(self):
        # The browsable API asks for the POST form's serializer with request.method set to POST.
        return serializers.ProductSerializer if self.request.method in SAFE_METHODS else super().get_serializer_class()

    def get_permissions(self):
        return [CanQuery()] if self.request.method in SAFE_METHODS else super().get_permissions()

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []


@extend_schema_view(
    get=query_schema(
        "products_retrieve",
        "Read a product",
        OpenApiResponse(serializers.ProductSerializer, description="The product."),
        listing=False,
        parameters=[openapi.PRODUCT_ID, IF_NONE_MATCH, openapi.etag(200, 304)],
        responses={
            304: OpenApiResponse(description="Not modified: the product is still at the version in `If-None-Match`."),
            404: shared_openapi.error("`product_not_found`."),
        },
    )
)
class ProductDetailApi(QueryApi):
    """One product; `ETag` is its version, and `If-None-Match` with it answers 304."""

    name = "Product"
    serializer_class = serializers.ProductSerializer
    read_models = ("product_catalog",)

    def get(self, request, product_id):
        product = CatalogProduct.objects.filter(pk=_uuid_or_404(product_id)).first()
        if product is None:
            raise ProductNotFound(f"No product with id {product_id}.")
        etag = f'"{product.version}"'
        given = parse_etags(request.headers.get("If-None-Match", ""))
        if "*" in given or etag in given or f"W/{etag}" in given:
            return HttpResponseNotModified(headers={"ETag": etag})
        return Response(self.get_serializer(product).data, headers={"ETag": etag})


@extend_schema_view(
    get=query_schema(
        "products_price_history",
        "A product's price history",
        serializers.PriceSerializer(many=True),
        listing=True,
        parameters=[openapi.PRODUCT_ID],
        responses={404: shared_openapi.error("`product_not_found`, or `not_found`: an invalid page, or one past the last.")},
    )
)
class PriceHistoryApi(QueryListApi):
    """The product's prices, oldest first: the registration price, then each change."""

    name = "Price history"
    serializer_class = serializers.PriceSerializer
    read_models = ("price_history",)

    def get_queryset(self):
        return PriceHistoryEntry.objects.filter(product_id=_uuid_or_404(self.kwargs["product_id"])).order_by("version")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        if not page:
            # Every product has its registration price here, so no entry means no such product.
            raise ProductNotFound(f"No product with id {self.kwargs['product_id']}.")
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema_view(
    get=query_schema("categories_list", "List categories", serializers.CategorySerializer(many=True), listing=True)
)
class CategoryListApi(QueryListApi):
    """Each category that has products: its active and discontinued products and their stock."""

    name = "Categories"
    queryset = CategorySummary.objects.order_by("name")
    serializer_class = serializers.CategorySerializer
    read_models = ("category_summary",)


@extend_schema_view(
    get=query_schema(
        "categories_retrieve",
        "Read a category",
        OpenApiResponse(serializers.CategorySerializer, description="The category's summary."),
        listing=False,
        parameters=[CATEGORY_NAME],
        responses={404: shared_openapi.error("`category_not_found`.")},
    )
)
class CategoryDetailApi(QueryApi):
    """One category's summary."""

    name = "Category"
    serializer_class = serializers.CategorySerializer
    read_models = ("category_summary",)

    def get(self, request, name):
        # A NUL cannot be sent to PostgreSQL as text, and no category holds one.
        summary = None if "\x00" in name else CategorySummary.objects.filter(name=name).first()
        if summary is None:
            raise NotFound(f"No category named {name!r}.", code="category_not_found")
        return Response(self.get_serializer(summary).data)


@extend_schema_view(
    get=query_schema(
        "events_list",
        "The event log",
        serializers.EventSerializer(many=True),
        listing=True,
        staff=True,
    )
)
class EventListApi(QueryListApi):
    """Staff only: the event log in global order, as far as it has settled."""

    name = "Events"
    permission_classes = [IsAdminUser]
    serializer_class = serializers.EventSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = EventFilter

    def get_queryset(self):
        # Below the horizon only: an event listed here can never be preceded by one that commits later.
        return StoredEvent.objects.filter(eventstore.settled_filter()).order_by("tx", "position")


@extend_schema_view(
    get=query_schema(
        "projections_list", "Projection health", serializers.ProjectionSerializer(many=True), listing=True, staff=True
    )
)
class ProjectionListApi(QueryListApi):
    """Staff only: each projection's status, position, lag and last error."""

    name = "Projections"
    permission_classes = [IsAdminUser]
    serializer_class = serializers.ProjectionSerializer

    def get_queryset(self):
        return operations.statuses()


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ProductNotFound(f"No product with id {value}.")
