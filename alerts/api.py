"""GET /api/alerts/low-stock/: the low-stock alerts, newest first, for staff."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_view
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAdminUser

from projections.api.openapi import query_schema
from projections.api.serializers import RowSerializer
from projections.api.views import QueryMixin

from .models import LowStockAlert


class LowStockAlertSerializer(RowSerializer):
    class Meta:
        model = LowStockAlert
        fields = ["event_id", "position", "product_id", "sku", "category", "stock", "threshold", "raised_at"]
        read_only_fields = fields


class LowStockAlertFilter(filters.FilterSet):
    category = filters.CharFilter(field_name="category")
    product_id = filters.UUIDFilter(field_name="product_id")

    class Meta:
        model = LowStockAlert
        fields = ["category", "product_id"]


@extend_schema_view(
    get=query_schema("alerts_low_stock", "Low-stock alerts", LowStockAlertSerializer(many=True), listing=True,
                     staff=True)
)
class LowStockAlertListApi(QueryMixin, ListAPIView):
    """Staff only: each shipment that took a product's stock below its threshold, newest first.
    `min_position` waits until the alert's consumer has seen that position."""

    name = "Low-stock alerts"
    permission_classes = [IsAdminUser]
    serializer_class = LowStockAlertSerializer
    read_models = ("low_stock_alert",)
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = LowStockAlertFilter
    queryset = LowStockAlert.objects.all()
