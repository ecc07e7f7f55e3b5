"""Plain DRF: a ModelViewSet with the stock PageNumberPagination, and a GROUP BY per request."""

from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce
from rest_framework import generics, viewsets
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.permissions import AllowAny, DjangoModelPermissionsOrAnonReadOnly
from rest_framework.response import Response

from .models import Category, Product
from .serializers import CategorySummarySerializer, ProductSerializer


class Pages(PageNumberPagination):
    """DRF's own pagination (it counts the rows on every page), 50 a page like the service."""

    page_size = 50


class PagesWithoutCount(BasePagination):
    """The same pages without COUNT(*): one row more is read to know whether a next page exists."""

    page_size = 50

    def paginate_queryset(self, queryset, request, view=None):
        self.page = max(int(request.query_params.get("page", "1") or 1), 1)
        offset = (self.page - 1) * self.page_size
        rows = list(queryset[offset : offset + self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        return rows[: self.page_size]

    def get_paginated_response(self, data):
        return Response({"next": self.has_next or None, "previous": self.page > 1 or None, "results": data})


class ProductViewSet(viewsets.ModelViewSet):
    queryset = Product.objects.select_related("category")
    serializer_class = ProductSerializer
    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]
    pagination_class = Pages


class ProductListWithoutCount(generics.ListAPIView):
    queryset = Product.objects.select_related("category")
    serializer_class = ProductSerializer
    permission_classes = [AllowAny]
    pagination_class = PagesWithoutCount


class CategorySummaryList(generics.ListAPIView):
    """The category summary computed from the products table with GROUP BY, on every request."""

    serializer_class = CategorySummarySerializer
    permission_classes = [AllowAny]
    pagination_class = None

    def get_queryset(self):
        return (
            Category.objects.annotate(
                active_products=Count("products", filter=Q(products__status="active")),
                discontinued_products=Count("products", filter=Q(products__status="discontinued")),
                total_stock=Coalesce(Sum("products__stock", filter=Q(products__status="active")), Value(0)),
            )
            .filter(Q(active_products__gt=0) | Q(discontinued_products__gt=0))
            .order_by("name")
            .values("name", "active_products", "discontinued_products", "total_stock")
        )
