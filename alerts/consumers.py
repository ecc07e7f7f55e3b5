"""The low-stock alert: a shipment that takes a product's stock below its category's threshold
(LowStockThreshold, else the threshold for every category, else LOW_STOCK_THRESHOLD) raises an
alert, once: stock that stays below raises no more until it has been back at the threshold.

Its writes commit with its checkpoint (projections/consumers.py), and an alert is keyed by the
event that raised it, so an event given twice raises one alert. Each alert is also queued for
the webhooks subscribed to `catalog.stock.low`, in the same transaction."""

from django.conf import settings

from projections.consumers import ConsumedEvent, consumer
from webhooks import outbox

from .models import FollowedProduct, LowStockAlert, LowStockThreshold


@consumer("ProductRegistered", "ProductDetailsUpdated", "StockShipped", name="low_stock_alert", batch=True,
          rows_only=True)
def low_stock_alert(events: list[ConsumedEvent]) -> None:
    # A batch's shipped products and the thresholds are read once for the batch, not per shipment.
    shipped = {event.stream_id for event in events if event.type == "StockShipped"}
    followed = {product.product_id: product for product in FollowedProduct.objects.filter(product_id__in=shipped)} \
        if shipped else {}
    thresholds = dict(LowStockThreshold.objects.values_list("category", "threshold")) if shipped else {}
    for event in events:
        if event.type == "ProductRegistered":
            product = FollowedProduct(product_id=event.stream_id, sku=event.data["sku"],
                                      category=event.data["category"])
            # One upsert (a registration given again updates the same row).
            FollowedProduct.objects.bulk_create([product], update_conflicts=True, unique_fields=["product_id"],
                                                update_fields=["sku", "category"])
            followed[product.product_id] = product
        elif event.type == "ProductDetailsUpdated":
            FollowedProduct.objects.filter(product_id=event.stream_id).update(category=event.data["category"])
            if event.stream_id in followed:
                followed[event.stream_id].category = event.data["category"]
        else:
            _shipped(event, followed.get(event.stream_id), thresholds)


def _shipped(event: ConsumedEvent, product: FollowedProduct | None, thresholds: dict[str, int]) -> None:
    if product is None:  # its registration was skipped here by an operator: nothing to compare with
        return
    after = event.data["stock"]
    before = after + event.data["quantity"]
    threshold = thresholds.get(product.category, thresholds.get("", settings.LOW_STOCK_THRESHOLD))
    if before >= threshold > after:
        alert, raised = LowStockAlert.objects.get_or_create(event_id=event.id, defaults={
            "position": str(event.position), "product_id": event.stream_id, "sku": product.sku,
            "category": product.category, "stock": after, "threshold": threshold, "raised_at": event.recorded_at})
        if raised:  # to the webhooks subscribed to it, in this same transaction
            outbox.send_once_committed(outbox.enqueue(event.id, outbox.STOCK_LOW, event.stream_id, event.recorded_at, {
                "product_id": str(alert.product_id), "sku": alert.sku, "category": alert.category,
                "stock": alert.stock, "threshold": alert.threshold, "position": alert.position,
            }, event.position))
