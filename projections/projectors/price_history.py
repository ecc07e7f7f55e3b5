from __future__ import annotations

from products.domain import events as e
from products.eventstore import RecordedEvent

from ..models import PriceHistoryEntry
from .base import TableProjector


class PriceHistoryProjector(TableProjector):
    """Keeps read_price_history: the registration price and every change, per product and version."""

    name = "price_history"
    models = (PriceHistoryEntry,)
    handlers = {"ProductRegistered": "registered", "ProductPriceChanged": "price_changed"}

    def begin(self, events, using):
        self.entries: list[PriceHistoryEntry] = []

    def flush(self, using):
        # (product, version) is unique, so an entry written before is simply not written again.
        PriceHistoryEntry.objects.using(using).bulk_create(self.entries, ignore_conflicts=True)

    def registered(self, event: e.ProductRegistered, meta: RecordedEvent) -> None:
        self._add(event.price, event.currency, meta)

    def price_changed(self, event: e.ProductPriceChanged, meta: RecordedEvent) -> None:
        self._add(event.price, event.currency, meta)

    def _add(self, price, currency, meta: RecordedEvent) -> None:
        self.entries.append(
            PriceHistoryEntry(
                product_id=meta.stream_id,
                version=meta.version,
                price=price,
                currency=currency,
                changed_at=meta.recorded_at,
            )
        )
