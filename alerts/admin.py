from django.contrib import admin

from projections.admin import ReadOnlyAdmin

from .models import LowStockAlert, LowStockThreshold


@admin.register(LowStockThreshold)
class LowStockThresholdAdmin(admin.ModelAdmin):
    list_display = ["category_shown", "threshold"]
    search_fields = ["category"]

    @admin.display(description="category", ordering="category")
    def category_shown(self, threshold):
        return threshold.category or "(every category)"


@admin.register(LowStockAlert)
class LowStockAlertAdmin(ReadOnlyAdmin):
    """Written by the low_stock_alert consumer; its health is under Projections."""

    list_display = ["raised_at", "sku", "category", "stock", "threshold", "position"]
    list_filter = ["category"]
    search_fields = ["sku", "product_id", "event_id"]
    date_hierarchy = "raised_at"
