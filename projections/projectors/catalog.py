from __future__ import annotations

from products.domain import events as e
from products.eventstore import RecordedEvent

from ..models import CatalogProduct
from .base import StreamRowProjector


class CatalogProjector(StreamRowProjector):
    """Keeps read_product_catalog: one row per product with its current details, price and stock."""

    name = "product_catalog"
    models = (CatalogProduct,)
    row_model = CatalogProduct
    handlers = {
        "ProductRegistered": "registered",
        "ProductDetailsUpdated": "details_updated",
        "ProductPriceChanged": "price_changed",
        "StockReceived": "stock_moved",
        "StockShipped": "stock_moved",
        "ProductDiscontinued": "discontinued",
    }

    def registered(self, event: e.ProductRegistered, meta: RecordedEvent) -> None:
        self.new_row(
            meta,
            sku=event.sku,
            name=event.name,
            description=event.description,
            category=event.category,
            price=event.price.amount,
            currency=event.price.currency,
            stock=event.initial_stock,
            status="active",
            created_at=meta.recorded_at,
            updated_at=meta.recorded_at,
        )

    def details_updated(self, event: e.ProductDetailsUpdated, meta: RecordedEvent) -> None:
        if row := self.changed_row(meta):
            row.name, row.description, row.category = event.name, event.description, event.category

    def price_changed(self, event: e.ProductPriceChanged, meta: RecordedEvent) -> None:
        if row := self.changed_row(meta):
            row.price, row.currency = event.price.amount, event.price.currency

    def stock_moved(self, event: e.StockReceived | e.StockShipped, meta: RecordedEvent) -> None:
        if row := self.changed_row(meta):
            row.stock = event.stock

    def discontinued(self, event: e.ProductDiscontinued, meta: RecordedEvent) -> None:
        if row := self.changed_row(meta):
            row.status = "discontinued"

    def changed_row(self, meta: RecordedEvent):
        row = self.next_version(meta)
        if row is not None:
            row.updated_at = meta.recorded_at
        return row
