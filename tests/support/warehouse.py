"""The deduplication of docs/CONSUMERS.md, against a warehouse system of the test's own.

The warehouse keeps a running total of the units shipped of each product. A consumer reaches it outside its own
transaction (a connection of its own that commits at once), as an HTTP call or a message to
another broker would: a consumer cut short after the call and before its checkpoint commits makes
the call again when the event is given again. The warehouse that keeps the idempotency keys it
has acted on counts such a call once; the one that does not counts it twice.

A consumer pauses after its call for the product named in the file WAREHOUSE_PAUSE_FLAG names,
while that file exists, writing its process id to the flag's `.inside` twin, so that a test can
kill it there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from uuid import UUID

import psycopg
from django.db import connections

from projections.consumers import ConsumedEvent, Consumer

NAME = "warehouse_sync"

CREATE_TABLES = """
CREATE TABLE IF NOT EXISTS test_warehouse_calls (product_id uuid, idempotency_key uuid, units int);
CREATE TABLE IF NOT EXISTS test_warehouse_keys (idempotency_key uuid PRIMARY KEY);
CREATE TABLE IF NOT EXISTS test_warehouse_shipped (product_id uuid PRIMARY KEY, units int NOT NULL);
"""


class Warehouse:
    """The other system: each call commits at once, whatever the caller's transaction does."""

    def __init__(self, deduplicates: bool) -> None:
        self.deduplicates = deduplicates

    def ship(self, product_id: UUID, units: int, idempotency_key: UUID) -> None:
        with psycopg.connect(**connections["default"].get_connection_params(), autocommit=True) as connection:
            with connection.transaction():
                connection.execute("INSERT INTO test_warehouse_calls VALUES (%s, %s, %s)",
                                   [product_id, idempotency_key, units])
                if self.deduplicates:
                    # The key and the effect commit together: a key seen before adds nothing.
                    fresh = connection.execute("INSERT INTO test_warehouse_keys VALUES (%s) ON CONFLICT DO NOTHING",
                                               [idempotency_key]).rowcount
                    if not fresh:
                        return
                connection.execute(
                    "INSERT INTO test_warehouse_shipped VALUES (%s, %s) ON CONFLICT (product_id)"
                    " DO UPDATE SET units = test_warehouse_shipped.units + excluded.units", [product_id, units])


def consumer_for(warehouse: Warehouse) -> Consumer:
    def sync_warehouse(event: ConsumedEvent) -> None:
        warehouse.ship(event.stream_id, event.data["quantity"], idempotency_key=event.id)
        pause_if_asked(event.stream_id)

    return Consumer(sync_warehouse, ["StockShipped"], NAME)


def deduplicating() -> Consumer:
    return consumer_for(Warehouse(deduplicates=True))


def counting_every_call() -> Consumer:
    return consumer_for(Warehouse(deduplicates=False))


def pause_if_asked(product_id: UUID) -> None:
    flag = Path(os.environ.get("WAREHOUSE_PAUSE_FLAG", "/nonexistent"))
    if flag.exists() and flag.read_text() == str(product_id):
        flag.with_suffix(".inside").write_text(str(os.getpid()))
        deadline = time.monotonic() + 30
        while flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def from_the_start() -> None:
    """An empty warehouse, and the consumer's state gone: it is given the log from its start."""
    from projections.models import ProjectionState

    with connections["default"].cursor() as cursor:
        cursor.execute(CREATE_TABLES)
        cursor.execute("DELETE FROM test_warehouse_calls; DELETE FROM test_warehouse_keys; DELETE FROM test_warehouse_shipped")
    ProjectionState.objects.filter(name=NAME).delete()


def units_shipped(product_id: UUID) -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT units FROM test_warehouse_shipped WHERE product_id = %s", [product_id])
        return cursor.fetchone()[0]


def calls_per_key(product_id: UUID) -> dict[UUID, int]:
    """How many times the consumer called with each of this product's events."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT idempotency_key, count(*) FROM test_warehouse_calls WHERE product_id = %s"
                       " GROUP BY idempotency_key", [product_id])
        return dict(cursor.fetchall())
