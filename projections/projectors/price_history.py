from __future__ import annotations

from products.domain import events as e
from products.eventstore import RecordedEvent

from ..models import PriceHistoryEntry
from .base import TableProjector
from .rows import RowTable


class PriceHistoryProjector(TableProjector):
    """Keeps read_price_history: the registration price and every change, per product and version."""

    name = "price_history"
    models = (PriceHistoryEntry,)
    handlers = {"ProductRegistered": "registered", "ProductPriceChanged": "price_changed"}

    def __init__(self, tables=None) -> None:
        super().__init__(tables)
        self.entry_table = RowTable(self.tables[PriceHistoryEntry])

    def begin(self, events, using):
        self.entries: list = []

    def flush(self, using):
        # (product, version) is unique, so an entry written before is simply not written again.
        self.entry_table.insert_new(using, self.entries)

    def begin_stream(self):
        self.entries = []

    def folded(self):
        return {PriceHistoryEntry: self.entries}

    def registered(self, event: e.ProductRegistered, meta: RecordedEvent) -> None:
        self._add(event.price, meta)

    def price_changed(self, event: e.ProductPriceChanged, meta: RecordedEvent) -> None:
        self._add(event.price, meta)

    def _add(self, price: e.Money, meta: RecordedEvent) -> None:
        self.entries.append(
            self.entry_table.row(
                product_id=meta.stream_id,
                version=meta.version,
                price=price.amount,
                currency=price.currency,
                changed_at=meta.recorded_at,
            )
        )
