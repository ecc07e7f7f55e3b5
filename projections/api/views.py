"""Read-only views over the read models, and the staff views of the event log and projections."""

import uuid

from django.http import HttpResponseNotModified
from django.utils.cache import parse_etags
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.permissions import SAFE_METHODS, IsAdminUser
from rest_framework.response import Response

from products import eventstore
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


class CategoryListApi(QueryListApi):
    """Each category that has products: its active and discontinued products and their stock."""

    name = "Categories"
    queryset = CategorySummary.objects.order_by("name")
    serializer_class = serializers.CategorySerializer
    read_models = ("category_summary",)


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
