"""2. Appends without HTTP: the event store's append against a raw INSERT and the eventsourcing library.

Each writer is its own process (no GIL shared between writers) with its own connection, doing
one-event appends to new streams in a loop for a fixed time, all writers starting together.
Sides, at 1, 4 and 16 writers:

- `eventstore`: products.eventstore.append of one event to a new stream through Django's
  connection, in autocommit: what the command handler does for a command whose only write is
  its event (one INSERT ... RETURNING; a registration adds its SKU claim in a transaction).
- `raw_insert`: one single-row INSERT (autocommit) of the same payload into a plain table with
  the same columns and no constraints beyond its primary key: what a user would otherwise run.
- `eventsourcing`: the eventsourcing library's PostgreSQL module saving a new one-event aggregate.
- `raw_eventstore_sql` (for the analysis, no target): append's own INSERT ... ON CONFLICT ...
  RETURNING into event_store over plain psycopg, so the schema's cost and Django's can be told apart.
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from typing import Any, Callable
from urllib.parse import urlsplit

from .common import Child, CpuMeter, Run, connect, db_url, log, ratio, summarize_ms
from .datagen import metadata, registration

SIDES = ["eventstore", "raw_insert", "eventsourcing", "raw_eventstore_sql"]
LABELS = {
    "eventstore": "event store append (Django, autocommit, 1 event, new stream)",
    "raw_insert": "raw psycopg single-row INSERT (plain table)",
    "eventsourcing": "eventsourcing PostgreSQL, one-event aggregate",
    "raw_eventstore_sql": "append's INSERT into event_store over raw psycopg (no Django)",
}

RAW_TABLE = """
CREATE TABLE bench_raw_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_type varchar(50) NOT NULL,
    stream_id uuid NOT NULL,
    version integer NOT NULL,
    event_id uuid NOT NULL,
    type varchar(100) NOT NULL,
    schema_version smallint NOT NULL DEFAULT 1,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now()
)
"""
RAW_INSERT = (
    "INSERT INTO bench_raw_events (stream_type, stream_id, version, event_id, type, schema_version, data, metadata)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
# products.eventstore.append's statement for one event on PostgreSQL, verbatim.
EVENTSTORE_INSERT = (
    "INSERT INTO event_store (stream_type, stream_id, version, event_id, type, schema_version, data, metadata)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)"
    " ON CONFLICT (event_id) DO NOTHING RETURNING position, tx::text, stream_type, stream_id, version, event_id,"
    " type, schema_version, data, metadata, recorded_at"
)


def writer_operation(side: str, args: dict[str, Any]) -> Callable[[], None]:
    """One append of `side`, as a closure the writer calls in its loop (runs in the child)."""
    rng = random.Random(args["seed"])
    prefix = f"W{args['writer']}-{secrets.token_hex(3)}"
    counter = iter(range(1, 10**9))

    def payload() -> tuple[dict, dict]:
        return registration(rng, next(counter), prefix), metadata(rng)

    if side == "eventstore":
        import django

        django.setup()
        from products.eventstore import NewEvent, append

        def op() -> None:
            data, meta = payload()
            append("product", uuid.uuid4(), 0, [NewEvent(uuid.uuid4(), "ProductRegistered", data)], meta)

        return op

    if side in ("raw_insert", "raw_eventstore_sql"):
        import psycopg
        from psycopg.types.json import Jsonb

        conn = psycopg.connect(args["database_url"], autocommit=True)
        cursor = conn.cursor()
        if side == "raw_insert":
            def op() -> None:
                data, meta = payload()
                cursor.execute(RAW_INSERT, ("product", uuid.uuid4(), 1, uuid.uuid4(), "ProductRegistered", 1,
                                            Jsonb(data), Jsonb(meta)))
        else:
            def op() -> None:
                data, meta = payload()
                cursor.execute(EVENTSTORE_INSERT, ("product", uuid.uuid4(), 1, uuid.uuid4(), "ProductRegistered", 1,
                                                   json.dumps(data), json.dumps(meta)))
                cursor.fetchall()

        return op

    if side == "eventsourcing":
        from .es_baseline import Catalog, environment

        parts = urlsplit(args["database_url"])
        app = Catalog(env=environment(parts.path.lstrip("/"), parts.hostname, str(parts.port or 5432),
                                      parts.username or "postgres", parts.password or "", create_table=False))

        def op() -> None:
            data, _ = payload()
            app.register(data)

        return op

    raise ValueError(f"Unknown side {side!r}")


def _measure(env: dict[str, str], side: str, writers: int, duration: float) -> dict[str, Any]:
    children: list[Child] = []
    try:
        for writer in range(writers):
            args = {"side": side, "writer": writer, "seed": writer + 1, "duration": duration,
                    "database_url": env["DATABASE_URL"], "warmup_ops": 20}
            children.append(Child("append_writer", args, env))
        for child in children:  # every writer warmed up (imports, connection) before any starts
            child.wait_ready()
        meter = CpuMeter({"writers": [child.pid for child in children]}).start()
        for child in children:
            child.go()
        results = [child.wait_result(duration + 120) for child in children]
        cores = meter.stop()  # before the writers (and their database sessions) exit
        for child in children:
            child.finish()
    finally:
        for child in children:
            child.kill()
    ops = sum(r["ops"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    latencies = [value for r in results for value in r["latencies"]]
    writer_cpu = sum(r["cpu_seconds"] for r in results)
    return {"writers": writers, "ops": ops, "seconds": round(elapsed, 3), "per_second": round(ops / elapsed, 1),
            "latency": summarize_ms(latencies),
            "writer_cpu_us_per_append": round(writer_cpu / ops * 1e6, 1) if ops else None,
            "cores_used": cores}


def _eventsourcing_installed() -> bool:
    try:
        import eventsourcing.postgres  # noqa: F401
    except ImportError:
        return False
    return True


def run(ctx: Run) -> dict[str, Any]:
    concurrencies = ctx.size([1, 4, 16], [1, 4])
    duration = ctx.size(5.0, 1.0)
    # Without the bench extra (pip install -e '.[bench]') the library's side is left out.
    sides = SIDES if _eventsourcing_installed() else [s for s in SIDES if s != "eventsourcing"]
    with ctx.scratch_database() as database:
        env = ctx.service_env(database)
        with connect(database) as conn:
            conn.execute(RAW_TABLE)
        if "eventsourcing" in sides:
            # The library creates its tables once here; its writers then only write.
            from .es_baseline import Catalog, environment

            parts = urlsplit(db_url(database))
            Catalog(env=environment(database, parts.hostname, str(parts.port or 5432), parts.username or "postgres",
                                    parts.password or "", create_table=True)).close()
        table: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
        for writers in concurrencies:
            for side in sides:
                log(f"appends: {side} with {writers} writer(s), {duration:g} s")
                table[side][str(writers)] = _measure(env, side, writers, duration)
                log(f"  {table[side][str(writers)]['per_second']:,.0f} appends/s")
        with connect(database) as conn:
            counts = {
                "event_store": conn.execute("SELECT count(*) FROM event_store").fetchone()[0],
                "bench_raw_events": conn.execute("SELECT count(*) FROM bench_raw_events").fetchone()[0],
            }
    def rate(side: str, writers: int) -> float | None:
        return table[side].get(str(writers), {}).get("per_second")

    rows = []
    for writers in concurrencies:
        ours = rate("eventstore", writers)
        rows.append({
            "writers": writers,
            "eventstore_per_s": ours,
            "raw_insert_per_s": rate("raw_insert", writers),
            "eventsourcing_per_s": rate("eventsourcing", writers),
            "raw_eventstore_sql_per_s": rate("raw_eventstore_sql", writers),
            "ratio_vs_raw": ratio(ours, rate("raw_insert", writers)),
            "ratio_vs_eventsourcing": ratio(ours, rate("eventsourcing", writers)),
            "eventstore_p99_ms": table["eventstore"][str(writers)]["latency"]["p99_ms"],
            "raw_insert_p99_ms": table["raw_insert"][str(writers)]["latency"]["p99_ms"],
        })
    top = rows[-1]  # the targets are at 16 writers (the most a quick run measures is fewer)
    n = top["writers"]
    return {
        "duration_s": duration,
        "labels": LABELS,
        "eventsourcing": "measured" if "eventsourcing" in sides else "not installed (pip install -e '.[bench]')",
        "rows": rows,
        "detail": table,
        "rows_written": counts,
        "targets": [
            {"name": f"append rate at {n} writers vs raw INSERT", "ours": top["eventstore_per_s"],
             "baseline": top["raw_insert_per_s"], "unit": "appends/s", "ratio": top["ratio_vs_raw"],
             "target": ">= 0.7x", "met": (top["ratio_vs_raw"] or 0) >= 0.7},
            {"name": f"append rate at {n} writers vs eventsourcing", "ours": top["eventstore_per_s"],
             "baseline": top["eventsourcing_per_s"], "unit": "appends/s", "ratio": top["ratio_vs_eventsourcing"],
             "target": ">= 2x", "met": (top["ratio_vs_eventsourcing"] or 0) >= 2.0},
        ],
    }
