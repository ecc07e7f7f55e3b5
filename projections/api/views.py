"""Read-only views over the read models, and the staff views of the event log and projections.

DRF's generic views (ListAPIView, RetrieveAPIView), with read-your-writes (`min_position`) and
the project's pagination; `/api/products/` also takes the register command, from a peer view.
"""

import uuid

from django.http import HttpResponseNotModified
from django.utils.cache import parse_etags
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema_view
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from products import eventstore
from products.api.openapi import PRODUCT_ID, etag
from products.api.views import ProductRegisterApi
from products.domain.errors import ProductNotFound
from products.models import StoredEvent
from project.http.openapi import error
from project.http.peers import MethodPeersApi

from .. import operations
from ..models import CatalogProduct, CategorySummary, PriceHistoryEntry
from . import serializers
from .consistency import ReadYourWritesMixin
from .filters import EventFilter, ProductFilter, StableOrderingFilter
from .openapi import CATEGORY_NAME, IF_NONE_MATCH, ORDERING, query_schema
from .pagination import PagePagination
from .permissions import CanQuery


class QueryMixin(ReadYourWritesMixin):
    """What every query shares: open to readers, not throttled, paginated, read-your-writes.

    Subclasses set `name`, the title of their browsable API page, and `read_models`.
    """

    permission_classes = [CanQuery]
    throttle_classes = []
    pagination_class = PagePagination
    filter_backends = []


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
class ProductListApi(QueryMixin, ListAPIView):
    """The catalog's products, filtered, ordered and paginated; a POST on the same path registers one."""

    name = "Products"
    queryset = CatalogProduct.objects.all()
    serializer_class = serializers.ProductSerializer
    read_models = ("product_catalog",)
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ProductFilter
    ordering_fields = ["name", "sku", "price", "stock", "created_at", "updated_at"]
    ordering = ["name", "id"]


class ProductsApi(MethodPeersApi):
    """Products: GET lists them, POST registers one (a command)."""

    name = "Products"
    peers = {"GET": ProductListApi, "POST": ProductRegisterApi}
    # For OPTIONS and the 405 of other methods, which no peer answers: as open as the list.
    permission_classes = [CanQuery]
    throttle_classes = []


@extend_schema_view(
    get=query_schema(
        "products_retrieve",
        "Read a product",
        OpenApiResponse(serializers.ProductSerializer, description="The product."),
        listing=False,
        parameters=[PRODUCT_ID, IF_NONE_MATCH, etag(200, 304)],
        responses={
            304: OpenApiResponse(description="Not modified: the product is still at the version in `If-None-Match`."),
            404: error("`product_not_found`."),
        },
    )
)
class ProductDetailApi(QueryMixin, RetrieveAPIView):
    """One product; `ETag` is its version, and `If-None-Match` with it answers 304."""

    name = "Product"
    serializer_class = serializers.ProductSerializer
    read_models = ("product_catalog",)

    def get_object(self):
        product_id = self.kwargs["product_id"]
        product = CatalogProduct.objects.filter(pk=_uuid_or_404(product_id)).first()
        if product is None:
            raise ProductNotFound(f"No product with id {product_id}.")
        return product

    def retrieve(self, request, *args, **kwargs):
        product = self.get_object()
        tag = f'"{product.version}"'
        given = parse_etags(request.headers.get("If-None-Match", ""))
        if "*" in given or tag in given or f"W/{tag}" in given:
            return HttpResponseNotModified(headers={"ETag": tag})
        return Response(self.get_serializer(product).data, headers={"ETag": tag})


@extend_schema_view(
    get=query_schema(
        "products_price_history",
        "A product's price history",
        serializers.PriceSerializer(many=True),
        listing=True,
        parameters=[PRODUCT_ID],
        responses={404: error("`product_not_found`, or `not_found`: an invalid page, or one past the last.")},
    )
)
class PriceHistoryApi(QueryMixin, ListAPIView):
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
class CategoryListApi(QueryMixin, ListAPIView):
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
        responses={404: error("`category_not_found`.")},
    )
)
class CategoryDetailApi(QueryMixin, RetrieveAPIView):
    """One category's summary."""

    name = "Category"
    serializer_class = serializers.CategorySerializer
    read_models = ("category_summary",)

    def get_object(self):
        name = self.kwargs["name"]
        # A NUL cannot be sent to PostgreSQL as text, and no category holds one.
        summary = None if "\x00" in name else CategorySummary.objects.filter(name=name).first()
        if summary is None:
            raise NotFound(f"No category named {name!r}.", code="category_not_found")
        return summary


@extend_schema_view(
    get=query_schema("events_list", "The event log", serializers.EventSerializer(many=True), listing=True, staff=True)
)
class EventListApi(QueryMixin, ListAPIView):
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
class ProjectionListApi(QueryMixin, ListAPIView):
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
