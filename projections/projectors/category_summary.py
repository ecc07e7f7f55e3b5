from __future__ import annotations

from collections import defaultdict

from django.db import connections

from products.domain import events as e
from products.eventstore import RecordedEvent

from ..models import CategoryMember, CategorySummary
from .base import StreamRowProjector
from .rows import RowTable

# Counters move by deltas. That is exact because the engine applies each event once (the batch
# and the checkpoint commit together); the members table remembers each product's category,
# status and stock, which the deltas need and which a product list query must not be asked for.
APPLY_DELTAS = """
INSERT INTO {table} AS s (name, active_products, discontinued_products, total_stock)
VALUES {rows}
ON CONFLICT (name) DO UPDATE SET
    active_products = s.active_products + excluded.active_products,
    discontinued_products = s.discontinued_products + excluded.discontinued_products,
    total_stock = s.total_stock + excluded.total_stock
"""
DROP_EMPTY = "DELETE FROM {table} WHERE active_products = 0 AND discontinued_products = 0 AND name IN ({names})"


class CategorySummaryProjector(StreamRowProjector):
    """Keeps read_category_summary: per category, its active and discontinued products and stock."""

    name = "category_summary"
    models = (CategorySummary, CategoryMember)
    row_model = CategoryMember
    handlers = {
        "ProductRegistered": "registered",
        "ProductDetailsUpdated": "details_updated",
        "ProductPriceChanged": "touched",
        "StockReceived": "stock_moved",
        "StockShipped": "stock_moved",
        "ProductDiscontinued": "discontinued",
    }

    def __init__(self, tables=None) -> None:
        super().__init__(tables)
        self.summary_table = RowTable(self.tables[CategorySummary])

    def begin(self, events, using):
        super().begin(events, using)
        self.deltas: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])

    def begin_fold(self):
        # A fold's deltas add up over every stream: each product's come to its final share.
        self.deltas = defaultdict(lambda: [0, 0, 0])

    def end_fold(self):
        return {CategorySummary: [
            self.summary_table.row(name=name, active_products=active, discontinued_products=discontinued, total_stock=stock)
            for name, (active, discontinued, stock) in sorted(self.deltas.items()) if active or discontinued
        ]}

    def combine_ends(self, parts):
        # Each part counted its own products: a category's counts are the sums of the parts'.
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for part in parts:
            for name, *counts in part.get(CategorySummary, []):
                totals[name] = [total + count for total, count in zip(totals[name], counts)]
        return {CategorySummary: [(name, *counts) for name, counts in sorted(totals.items())]}

    def flush(self, using):
        super().flush(using)
        deltas = {name: delta for name, delta in self.deltas.items() if any(delta)}
        if not deltas:
            return
        # Only a category that lost a product can have none left: a batch of registrations and
        # stock moves, the usual kind, needs no DELETE.
        shrunk = [name for name, (active, discontinued, _) in deltas.items() if active < 0 or discontinued < 0]
        table = self.table_name(CategorySummary)
        with connections[using].cursor() as cursor:
            cursor.execute(
                APPLY_DELTAS.format(table=table, rows=", ".join(["(%s, %s, %s, %s)"] * len(deltas))),
                [value for name, delta in deltas.items() for value in (name, *delta)],
            )
            if shrunk:
                cursor.execute(DROP_EMPTY.format(table=table, names=", ".join(["%s"] * len(shrunk))), shrunk)

    def registered(self, event: e.ProductRegistered, meta: RecordedEvent) -> None:
        member = self.new_row(meta, category=event.category, active=True, stock=event.initial_stock)
        if member:
            self._count(member, +1)

    def details_updated(self, event: e.ProductDetailsUpdated, meta: RecordedEvent) -> None:
        if member := self.next_version(meta):
            self._count(member, -1)
            member.category = event.category
            self._count(member, +1)

    def stock_moved(self, event: e.StockReceived | e.StockShipped, meta: RecordedEvent) -> None:
        if member := self.next_version(meta):
            self._count(member, -1)
            member.stock = event.stock
            self._count(member, +1)

    def discontinued(self, event: e.ProductDiscontinued, meta: RecordedEvent) -> None:
        if member := self.next_version(meta):
            self._count(member, -1)
            member.active = False
            self._count(member, +1)

    def _count(self, member, sign: int) -> None:
        """Add (+1) or take away (-1) one product's contribution to its category."""
        delta = self.deltas[member.category]
        if member.active:
            delta[0] += sign
            delta[2] += sign * member.stock
        else:
            delta[1] += sign
