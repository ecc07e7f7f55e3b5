"""3. Projection throughput: catch-up of stored events by each projector, against raw batched upserts.

200,000 realistic events (40,000 products) are COPYed into a scratch database's log. Then, one
projection at a time, a fresh process runs the engine's catch_up (exactly what the Celery task
runs) from the start of the log to its end, and another fresh process runs the hand-written
psycopg equivalent of the same projection (bench/rawproj.py) over the same log, writing the same
rows into copies of the read-model tables. The two results are compared row for row.

The catalog's raw side runs twice: into a copy of the read model's table (its indexes included),
and into a table with its primary key only, which shows what the Query API's indexes cost
every upsert on both sides.

The integration relay publishes every event to RabbitMQ with a publisher confirm each; it is
run for a bounded time and its rate taken from what it published by then.
"""

from __future__ import annotations

from typing import Any

from .common import Run, connect, log, ratio, run_child
from .datagen import EventGenerator, ProductState, write_events

PROJECTIONS = ["product_catalog", "category_summary", "price_history", "integration_relay"]
# Each read model and its raw copy: the same rows or the benchmark is void.
SAME_ROWS = {
    "product_catalog": [("read_product_catalog", "raw_catalog", "*")],
    "category_summary": [("read_category_member", "raw_category_member", "*"),
                         ("read_category_summary", "raw_category_summary", "*")],
    "price_history": [("read_price_history", "raw_price_history", "product_id, version, price, currency, changed_at")],
}
TARGET_RATE = 25_000
TARGET_RATIO = 0.3


def _bind_subscriber(broker_url: str) -> None:
    """A durable queue bound to the relay's exchange, as a subscribing service would have."""
    from kombu import Connection, Exchange, Queue

    with Connection(broker_url, connect_timeout=5) as conn:
        channel = conn.channel()
        exchange = Exchange("catalog.events", type="topic", durable=True)
        Queue("bench.subscriber", exchange=exchange, routing_key="#", durable=True)(channel).declare()


def _differences(database: str, name: str) -> dict[str, int]:
    out = {}
    with connect(database) as conn:
        for read_table, raw_table, columns in SAME_ROWS.get(name, []):
            one_way = conn.execute(
                f"SELECT count(*) FROM (SELECT {columns} FROM {read_table} EXCEPT SELECT {columns} FROM {raw_table}) d"
            ).fetchone()[0]
            other_way = conn.execute(
                f"SELECT count(*) FROM (SELECT {columns} FROM {raw_table} EXCEPT SELECT {columns} FROM {read_table}) d"
            ).fetchone()[0]
            rows = conn.execute(f"SELECT count(*) FROM {read_table}").fetchone()[0]
            out[read_table] = {"rows": rows, "differences": one_way + other_way}
    return out


def _model_differences(database: str, states: list[ProductState]) -> dict[str, int]:
    columns = "id, sku, name, description, category, price, currency, stock, status, version, created_at, updated_at"
    with connect(database) as conn:
        with conn.transaction():
            conn.execute("CREATE TEMPORARY TABLE generator_model (LIKE read_product_catalog) ON COMMIT DROP")
            with conn.cursor() as cursor, cursor.copy(f"COPY generator_model ({columns}) FROM STDIN") as copy:
                for s in states:
                    copy.write_row((s.id, s.sku, s.name, s.description, s.category, s.price, s.currency, s.stock,
                                    s.status, s.version, s.created_at, s.updated_at))
            differences = conn.execute(
                f"SELECT (SELECT count(*) FROM (SELECT {columns} FROM generator_model EXCEPT"
                f" SELECT {columns} FROM read_product_catalog) a) + (SELECT count(*) FROM (SELECT {columns}"
                f" FROM read_product_catalog EXCEPT SELECT {columns} FROM generator_model) b)").fetchone()[0]
    return {"products": len(states), "differences": differences}


def run(ctx: Run) -> dict[str, Any]:
    events = ctx.size(200_000, 10_000)
    products = events // 5
    relay_budget = ctx.size(10.0, 3.0)
    budget = ctx.size(60.0, 30.0)  # per projection and side: a run stopped there is reported as such
    results: dict[str, Any] = {}
    with ctx.vhost() as vhost, ctx.scratch_database() as database:
        env = ctx.service_env(database, vhost)
        broker_url = env["CELERY_BROKER_URL"]
        log(f"projections: writing {events:,} events of {products:,} products")
        states: list[ProductState] = []
        with connect(database) as conn:
            written = write_events(conn, products, events, EventGenerator(seed=3), final=states.append)
            conn.execute("VACUUM ANALYZE event_store")
        _bind_subscriber(broker_url)
        # How the engine's own read of the log is planned, from the middle of the log.
        read_plan = run_child("explain_read_all", {"limit": 500}, env, timeout=120)
        read_plan.pop("_process", None)
        read_plan.pop("cpu_seconds", None)
        with connect(database) as conn:
            secondary_indexes = conn.execute(
                "SELECT count(*) FROM pg_index WHERE indrelid = 'read_product_catalog'::regclass AND NOT indisprimary"
            ).fetchone()[0]
        for name in PROJECTIONS:
            limit = relay_budget if name == "integration_relay" else budget
            sides = {}
            runs = [("ours", "catch_up", name), ("raw", "raw_projection", name)]
            if name == "product_catalog":  # the same rows without the Query API's indexes: what they cost
                runs.append(("raw_pk_only", "raw_projection", "product_catalog_pk_only"))
            for side, task, task_name in runs:
                log(f"projections: {name} ({side})")
                figures = run_child(task, {"name": task_name, "time_budget": limit, "broker_url": broker_url}, env,
                                    timeout=limit + 300, meter=True)
                process = figures.pop("_process")
                figures.update(
                    per_second=round(figures["applied"] / figures["seconds"], 1),
                    seconds=round(figures["seconds"], 3),
                    cpu_seconds=round(figures["cpu_seconds"], 3),
                    peak_rss_mb=process["peak_rss_mb"],
                    # How much of the wall time the projecting process itself was on a CPU.
                    busy_share=round(figures["cpu_seconds"] / figures["seconds"], 3),
                    cpu_us_per_event=round(figures["cpu_seconds"] / max(figures["applied"], 1) * 1e6, 1),
                    cores_used=figures.pop("_cores"),
                )
                sides[side] = figures
                log(f"  {figures['applied']:,} events in {figures['seconds']:.1f} s: {figures['per_second']:,.0f}/s")
            sides["same_rows"] = _differences(database, name)
            results[name] = sides
            if name == "product_catalog":
                # The generator's own model of each product's final state, which the queries
                # benchmark loads as its read model, against what the real projector made.
                model_check = _model_differences(database, states)
    rows, targets = [], []
    for name in PROJECTIONS:
        ours, raw = results[name]["ours"], results[name]["raw"]
        row_ratio = ratio(ours["per_second"], raw["per_second"])
        # The relay is bounded in time by design; the others must have caught up with the whole log.
        finished = name == "integration_relay" or ours["applied"] == written
        ours["finished"] = finished
        raw["finished"] = name == "integration_relay" or raw["applied"] == written
        note = "" if finished else f" (stopped at the {budget:g} s limit after {ours['applied']:,} events)"
        rows.append({"projection": name, "ours_per_s": ours["per_second"], "raw_per_s": raw["per_second"],
                     "ratio": row_ratio, "ours_events": ours["applied"], "raw_events": raw["applied"],
                     "ours_finished": finished})
        targets.append({"name": f"{name}: catch-up rate{note}", "ours": ours["per_second"], "baseline": None,
                        "unit": "events/s", "ratio": None, "target": f">= {TARGET_RATE:,} events/s",
                        "met": finished and ours["per_second"] >= TARGET_RATE})
        versus = "raw publish with confirms" if name == "integration_relay" else "raw batched upsert"
        targets.append({"name": f"{name}: vs {versus}{note}", "ours": ours["per_second"],
                        "baseline": raw["per_second"], "unit": "events/s", "ratio": row_ratio,
                        "target": f">= {TARGET_RATIO}x", "met": finished and (row_ratio or 0) >= TARGET_RATIO})
    return {"events": written, "products": products, "relay_time_budget_s": relay_budget, "rows": rows,
            "detail": results, "targets": targets, "read_all_plan": read_plan,
            "catalog_secondary_indexes": secondary_indexes,
            "generator_model_vs_projector": model_check}
