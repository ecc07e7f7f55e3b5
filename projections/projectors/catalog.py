from __future__ import annotations

import json

from products.domain import events as e
from products.eventstore import RecordedEvent

from ..api.serializers import ProductSerializer
from ..models import CatalogProduct, ProductChange
from .base import StreamRowProjector, current_name
from .rows import RowTable


class CatalogProjector(StreamRowProjector):
    """Keeps read_product_catalog: one row per product with its current details, price and stock.

    Each change it applies is also recorded, with the product as /api/products/{id}/ shows it
    after that change, in read_product_change (projections/changes.py), in the same transaction:
    the product changes feed sends those, so a message for version N is the product at version
    N, whenever it is sent. They are history, kept beside the generations, not rebuilt.
    """

    name = "product_catalog"
    models = (CatalogProduct,)
    row_model = CatalogProduct
    records_changes = True
    change_table = RowTable(ProductChange)
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
            if self.recording and row.category != event.category:
                self.moved_from[meta.position] = row.category
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

    # --- the product changes (see the class's docstring) -------------------------------------

    def begin(self, events, using):
        super().begin(events, using)
        self.recorded: list = []
        self.moved_from: dict[int, str] = {}
        self.shown = ProductSerializer()  # one for the batch: it looks up the time zone once

    def record(self, event: RecordedEvent) -> None:
        row = self.rows.get(event.stream_id)
        if row is None or row.version != event.version:  # applied before: recorded then
            return
        self.recorded.append(self.change_table.row(
            position=event.position, tx=event.tx, product_id=event.stream_id, version=event.version,
            category=row.category, previous_category=self.moved_from.get(event.position, ""),
            event_type=current_name(event.type), recorded_at=event.recorded_at,
            state=product_json(self.shown, row),
        ))

    def flush(self, using):
        super().flush(using)
        # The same change recorded by the live generation and a rebuild's next one: the first stays.
        self.change_table.insert_new(using, self.recorded)


def product_json(shown: ProductSerializer, row) -> str:
    """The product as /api/products/{id}/ shows it, as the JSON text the feeds send."""
    return json.dumps(shown.to_representation(row), ensure_ascii=False, separators=(",", ":"))
