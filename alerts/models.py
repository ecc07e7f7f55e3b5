"""What the low-stock alert keeps: its thresholds (set by people), the products it follows and
the alerts it raised (written by its consumer only)."""

from django.db import models


class LowStockThreshold(models.Model):
    """Stock below this raises an alert: for one category, or for all (category left empty)."""

    category = models.CharField(max_length=100, blank=True, unique=True,
                                help_text="Empty: every category without a threshold of its own.")
    threshold = models.PositiveIntegerField(help_text="An alert is raised when a shipment takes the stock below this.")

    class Meta:
        db_table = "alerts_low_stock_threshold"
        ordering = ["category"]

    def __str__(self):
        return f"{self.category or 'every category'}: below {self.threshold}"


class FollowedProduct(models.Model):
    """The consumer's own view of each product: its SKU and category, from their events."""

    product_id = models.UUIDField(primary_key=True)
    sku = models.CharField(max_length=64)
    category = models.CharField(max_length=100)

    class Meta:
        db_table = "alerts_followed_product"
        default_permissions = ()


class LowStockAlert(models.Model):
    """A shipment that took a product's stock below its threshold. Written by the consumer."""

    event_id = models.UUIDField(unique=True, help_text="The StockShipped event that raised it.")
    position = models.CharField(max_length=60, help_text="The event's place in the log.")
    product_id = models.UUIDField(db_index=True)
    sku = models.CharField(max_length=64)
    category = models.CharField(max_length=100)
    stock = models.BigIntegerField(help_text="The stock after the shipment.")
    threshold = models.PositiveIntegerField()
    raised_at = models.DateTimeField(help_text="When the shipment was stored.")

    class Meta:
        db_table = "alerts_low_stock_alert"
        ordering = ["-raised_at", "-id"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["category", "raised_at"], name="alerts_low_stock_category")]

    def __str__(self):
        return f"{self.sku}: {self.stock} left (below {self.threshold})"
