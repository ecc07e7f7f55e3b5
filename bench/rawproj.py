"""The projections' baselines: the same rows kept by hand-written code over raw psycopg.

Each reads the log as the engine does (after a (tx, position) checkpoint, below the horizon,
in batches of the same size), computes the same rows in plain Python, and writes them with one
upsert statement per table (column arrays, unnest()ed: psycopg's fast path for batches) plus
the checkpoint, in one transaction per batch. Its
tables are copies of the read models' (`CREATE TABLE ... (LIKE ... INCLUDING ALL)`: the same
columns, constraints and indexes), so the database does the same index work on both sides.
What it leaves out is what the engine and projectors add: the ORM, the decoded dataclass
events, the attempt counting and status bookkeeping. It reads the current shapes only (the
generator's default log), as code written after the events' last change would.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any, Callable

import psycopg

# The engine's read (after the checkpoint, below the horizon, in (tx, position) order), with the
# order by the table's columns: `ORDER BY tx` next to an output column `tx::text` would sort by
# that text (PostgreSQL resolves ORDER BY names to output columns first).
READ = (
    "SELECT position, tx::text AS tx_text, stream_id, version, type, data, recorded_at, event_id, metadata,"
    " stream_type, schema_version FROM event_store"
    " WHERE (tx, position) > (%s::text::xid8, %s) AND tx < pg_snapshot_xmin(pg_current_snapshot())"
    " ORDER BY event_store.tx, event_store.position LIMIT %s"
)
SETUP = """
CREATE TABLE IF NOT EXISTS raw_checkpoint (name text PRIMARY KEY, last_tx bigint NOT NULL, last_position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS raw_catalog (LIKE read_product_catalog INCLUDING ALL);
CREATE TABLE IF NOT EXISTS raw_category_member (LIKE read_category_member INCLUDING ALL);
CREATE TABLE IF NOT EXISTS raw_category_summary (LIKE read_category_summary INCLUDING ALL);
CREATE TABLE IF NOT EXISTS raw_price_history (LIKE read_price_history INCLUDING ALL);
CREATE TABLE IF NOT EXISTS raw_catalog_pk_only (LIKE read_product_catalog INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
DO $$ BEGIN
    ALTER TABLE raw_catalog_pk_only ADD PRIMARY KEY (id);
EXCEPTION WHEN invalid_table_definition THEN NULL; END $$;
"""

CATALOG_COLUMNS = ["id", "sku", "name", "description", "category", "price", "currency", "stock", "status", "version",
                   "created_at", "updated_at"]
CATALOG_TYPES = ["uuid", "text", "text", "text", "text", "numeric", "text", "int8", "text", "int4", "timestamptz",
                 "timestamptz"]
MEMBER_COLUMNS = ["product_id", "category", "active", "stock", "version"]
MEMBER_TYPES = ["uuid", "text", "bool", "int8", "int4"]


def _upsert(cursor, table: str, columns: list[str], types: list[str], key: str, rows: list[list],
            conflict: str | None = None) -> None:
    """One statement for the whole batch: a column array per column, unnest()ed server-side."""
    if not rows:
        return
    arrays = ", ".join(f"%b::{kind}[]" for kind in types)  # %b: arrays dumped in binary, in C
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
        f" ON CONFLICT ({key}) " + (conflict or f"DO UPDATE SET {updates}"),
        [list(column) for column in zip(*rows)],
    )


class RawCatalog:
    def __init__(self, table: str = "raw_catalog") -> None:
        self.table = table

    def apply(self, cursor, events: list[tuple]) -> None:
        ids = list({e[2] for e in events})
        rows = {r[0]: list(r) for r in cursor.execute(
            f"SELECT {', '.join(CATALOG_COLUMNS).replace('price', 'price::text')} FROM {self.table} WHERE id = ANY(%s)",
            (ids,))}
        changed = set()
        for _, _, stream_id, version, kind, data, at, *_ in events:
            row = rows.get(stream_id)
            if kind == "ProductRegistered":
                if row is not None:
                    continue
                price = data["price"]
                rows[stream_id] = [stream_id, data["sku"], data["name"], data["description"], data["category"],
                                   price["amount"], price["currency"], data["initial_stock"], "active", version, at, at]
            else:
                if row is None:
                    raise RuntimeError(f"{kind} for {stream_id}, which has no row")
                if version <= row[9]:
                    continue
                row[9], row[11] = version, at
                if kind == "ProductPriceChanged":
                    row[5], row[6] = data["price"]["amount"], data["price"]["currency"]
                elif kind in ("StockReceived", "StockShipped"):
                    row[7] = data["stock"]
                elif kind == "ProductDetailsUpdated":
                    row[2], row[3], row[4] = data["name"], data["description"], data["category"]
                elif kind == "ProductDiscontinued":
                    row[8] = "discontinued"
            changed.add(stream_id)
        _upsert(cursor, self.table, CATALOG_COLUMNS, CATALOG_TYPES, "id", [rows[key] for key in changed])


class RawCategorySummary:
    def apply(self, cursor, events: list[tuple]) -> None:
        ids = list({e[2] for e in events})
        members = {r[0]: list(r) for r in cursor.execute(
            f"SELECT {', '.join(MEMBER_COLUMNS)} FROM raw_category_member WHERE product_id = ANY(%s)", (ids,))}
        deltas: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        changed = set()

        def count(member: list, sign: int) -> None:
            delta = deltas[member[1]]
            if member[2]:
                delta[0] += sign
                delta[2] += sign * member[3]
            else:
                delta[1] += sign

        for _, _, stream_id, version, kind, data, *_ in events:
            member = members.get(stream_id)
            if kind == "ProductRegistered":
                if member is not None:
                    continue
                member = members[stream_id] = [stream_id, data["category"], True, data["initial_stock"], version]
                count(member, +1)
            else:
                if member is None:
                    raise RuntimeError(f"{kind} for {stream_id}, which has no row")
                if version <= member[4]:
                    continue
                member[4] = version
                count(member, -1)
                if kind == "ProductDetailsUpdated":
                    member[1] = data["category"]
                elif kind in ("StockReceived", "StockShipped"):
                    member[3] = data["stock"]
                elif kind == "ProductDiscontinued":
                    member[2] = False
                count(member, +1)
            changed.add(stream_id)
        _upsert(cursor, "raw_category_member", MEMBER_COLUMNS, MEMBER_TYPES, "product_id",
                [members[key] for key in changed])
        deltas = {name: delta for name, delta in deltas.items() if any(delta)}
        if deltas:
            cursor.execute(
                "INSERT INTO raw_category_summary AS s (name, active_products, discontinued_products, total_stock)"
                " SELECT * FROM unnest(%b::text[], %b::int4[], %b::int4[], %b::int8[])"
                " ON CONFLICT (name) DO UPDATE SET active_products = s.active_products + excluded.active_products,"
                " discontinued_products = s.discontinued_products + excluded.discontinued_products,"
                " total_stock = s.total_stock + excluded.total_stock",
                [list(column) for column in zip(*((name, *delta) for name, delta in deltas.items()))],
            )
            cursor.execute(
                "DELETE FROM raw_category_summary WHERE active_products = 0 AND discontinued_products = 0"
                " AND name = ANY(%s)", (list(deltas),))


class RawPriceHistory:
    def apply(self, cursor, events: list[tuple]) -> None:
        rows = []
        for _, _, stream_id, version, kind, data, at, *_ in events:
            if kind in ("ProductRegistered", "ProductPriceChanged"):
                rows.append((stream_id, version, data["price"]["amount"], data["price"]["currency"], at))
        _upsert(cursor, "raw_price_history", ["product_id", "version", "price", "currency", "changed_at"],
                ["uuid", "int4", "numeric", "text", "timestamptz"], "product_id, version", rows, "DO NOTHING")


class RawRelay:
    """Publishes each event with a publisher confirm, like the relay: py-amqp without kombu/Django."""

    def __init__(self, broker_url: str) -> None:
        import amqp
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(broker_url)
        self.connection = amqp.Connection(
            host=f"{parts.hostname}:{parts.port or 5672}", userid=parts.username or "guest",
            password=parts.password or "guest", virtual_host=unquote(parts.path[1:] or "/"), confirm_publish=True,
        )
        self.connection.connect()
        self.channel = self.connection.channel()
        self.channel.exchange_declare("bench.raw_events", "topic", durable=True, auto_delete=False)
        self.channel.queue_declare("bench.raw_subscriber", durable=True, auto_delete=False)
        self.channel.queue_bind("bench.raw_subscriber", "bench.raw_events", "#")
        self.amqp = amqp

    def apply(self, cursor, events: list[tuple]) -> None:
        for position, tx, stream_id, version, kind, data, at, event_id, metadata, stream_type, schema_version in events:
            body = json.dumps({
                "event_id": str(event_id), "type": kind, "schema_version": schema_version,
                "stream_type": stream_type, "stream_id": str(stream_id), "version": version,
                "position": f"{tx}-{position}", "recorded_at": at.isoformat(), "data": data,
                "metadata": {k: v for k, v in metadata.items() if k in ("correlation_id", "causation_id", "request_id")},
            })
            message = self.amqp.Message(body, content_type="application/json", content_encoding="utf-8",
                                        delivery_mode=2, message_id=str(event_id),
                                        application_headers={"event_id": str(event_id), "stream_id": str(stream_id),
                                                             "version": version})
            self.channel.basic_publish(message, exchange="bench.raw_events", routing_key=kind)


def prepare(name: str, database_url: str, broker_url: str | None) -> Callable[[float, int], dict[str, Any]]:
    """Connect and create the tables; returns the measured run (budget in seconds, batch size)."""
    makers: dict[str, Callable[[], Any]] = {
        "product_catalog": RawCatalog,
        # The same rows into a table with its primary key only: what the Query API's indexes cost.
        "product_catalog_pk_only": lambda: RawCatalog("raw_catalog_pk_only"),
        "category_summary": RawCategorySummary,
        "price_history": RawPriceHistory,
        "integration_relay": lambda: RawRelay(broker_url or ""),
    }
    projector = makers[name]()
    conn = psycopg.connect(database_url, autocommit=True)
    conn.execute(SETUP)
    conn.execute("INSERT INTO raw_checkpoint VALUES (%s, 0, 0) ON CONFLICT (name) DO UPDATE SET last_tx = 0,"
                 " last_position = 0", (name,))

    def run(time_budget: float, batch_size: int) -> dict[str, Any]:
        tx, position = 0, 0
        applied = 0
        started = time.perf_counter()
        with conn.cursor() as cursor:
            while time.perf_counter() - started < time_budget:
                with conn.transaction():
                    events = cursor.execute(READ, (str(tx), position, batch_size)).fetchall()
                    if not events:
                        break
                    projector.apply(cursor, events)
                    tx, position = int(events[-1][1]), events[-1][0]
                    cursor.execute("UPDATE raw_checkpoint SET last_tx = %s, last_position = %s WHERE name = %s",
                                   (tx, position, name))
                applied += len(events)
                if len(events) < batch_size:
                    break
        return {"applied": applied, "seconds": time.perf_counter() - started}

    return run
