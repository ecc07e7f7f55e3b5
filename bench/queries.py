"""6. Queries at 1,000 and 100,000 products: the read models against their CRUD equivalents.

For each size, a scratch database gets a log of realistic events for that many products (COPY),
the read models those events project to, and the same products in the CRUD baseline's
normalized tables (crud_product with a foreign key to crud_category, and the read model's
indexes, so the default order and the filters have theirs on both sides). The read-model rows
are the generator's own model of each product's final state; the projections benchmark checks
that this model is what the real projectors produce from the same kind of log. Every table is
VACUUM ANALYZEd. The service runs as deployed (gunicorn with deploy/gunicorn.conf.py, a Celery
worker and beat, idle here), and the same gunicorn serves the CRUD side.

Pairs, each measured with the same generator and connections, the sides alternating, twice
(each side reports its better round):
- product list, first page of 50 in the default order (name, id): /api/products/ against the
  ModelViewSet list with DRF's PageNumberPagination (which runs COUNT(*) on every page), and,
  for the analysis, the same list without the COUNT;
- product detail by id (random among 1,000): /api/products/{id}/ against /crud/products/{id}/;
- category summary: /api/categories/ (read_category_summary) against a GROUP BY over the products
  table on every request.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from . import loadgen
from .common import CpuMeter, Run, connect, log, ratio
from .datagen import CATEGORIES, EventGenerator, ProductState, write_events

CONNECTIONS = 4
PAIRS = [
    # (name, ours, CRUD, extra CRUD variant for the analysis)
    ("product list", "/api/products/", "/crud/products/", "/crud/products-nocount/"),
    ("product detail", "/api/products/{id}/", "/crud/products/{id}/", None),
    ("category summary", "/api/categories/", "/crud/categories/", None),
]
SIZES = (1_000, 100_000)
# (floor, moonshot) of ours / CRUD's requests/s, at the sizes each applies to: the category
# summary's GROUP BY costs CRUD little at a thousand products, so its target is for the large table.
TARGETS = {
    "product list": (1.0, 1.5, SIZES),
    "product detail": (1.0, 1.5, SIZES),
    "category summary": (10.0, None, (100_000,)),
}



def _load_tables(conn, states: list[ProductState]) -> None:
    with conn.transaction():
        with conn.cursor() as cursor:
            with cursor.copy("COPY read_product_catalog (id, sku, name, description, category, price, currency,"
                             " stock, status, version, created_at, updated_at) FROM STDIN") as copy:
                for s in states:
                    copy.write_row((s.id, s.sku, s.name, s.description, s.category, s.price, s.currency, s.stock,
                                    s.status, s.version, s.created_at, s.updated_at))
            with cursor.copy("COPY read_category_member (product_id, category, active, stock, version)"
                             " FROM STDIN") as copy:
                for s in states:
                    copy.write_row((s.id, s.category, s.status == "active", s.stock, s.version))
            summary: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
            for s in states:
                row = summary[s.category]
                if s.status == "active":
                    row[0] += 1
                    row[2] += s.stock
                else:
                    row[1] += 1
            with cursor.copy("COPY read_category_summary (name, active_products, discontinued_products,"
                             " total_stock) FROM STDIN") as copy:
                for name, (active, discontinued, stock) in summary.items():
                    copy.write_row((name, active, discontinued, stock))
            cursor.execute("INSERT INTO crud_category (name) SELECT unnest(%s::text[])", (CATEGORIES,))
            category_ids = dict(cursor.execute("SELECT name, id FROM crud_category").fetchall())
            with cursor.copy("COPY crud_product (id, sku, name, description, category_id, price, currency, stock,"
                             " status, created_at, updated_at) FROM STDIN") as copy:
                for s in states:
                    copy.write_row((s.id, s.sku, s.name, s.description, category_ids[s.category], s.price,
                                    s.currency, s.stock, s.status, s.created_at, s.updated_at))
            # Every projection is caught up with the log, so the deployed worker has nothing to do:
            # the queried read models hold its final state, and the others (price history, the
            # relay) are not what this benchmark reads.
            last = cursor.execute("SELECT tx::text, position FROM event_store ORDER BY event_store.tx DESC,"
                                  " event_store.position DESC LIMIT 1").fetchone()
            for name in ("product_catalog", "category_summary", "price_history", "integration_relay"):
                cursor.execute(
                    "INSERT INTO projection_state (name, version, last_tx, last_position, status, attempts, last_error,"
                    " events_applied, updated_at) VALUES (%s, 1, %s, %s, 'running', 0, '', 0, now())",
                    (name, int(last[0]), last[1]))


def _pairs(ctx: Run, products: int, warmup: float, duration: float, rounds: int) -> dict[str, Any]:
    events = int(products * 1.5)
    results: dict[str, Any] = {}
    with ctx.vhost() as vhost, ctx.scratch_database() as database:
        env = ctx.service_env(database, vhost)
        states: list[ProductState] = []
        log(f"queries: writing {events:,} events of {products:,} products and the tables they make")
        with connect(database) as conn:
            write_events(conn, products, events, EventGenerator(seed=7), final=states.append)
            _load_tables(conn, states)
            conn.execute("VACUUM ANALYZE")
        ids = [str(s.id) for s in random.Random(1).sample(states, min(1000, len(states)))]
        del states
        with ctx.deployed(env) as deployment:
            service, groups = deployment.service, deployment.groups
            for name, ours_path, crud_path, extra_path in PAIRS:
                sides = [("ours", ours_path), ("crud", crud_path)] + ([("crud_no_count", extra_path)] if extra_path else [])
                runs: dict[str, list[dict[str, Any]]] = {}
                # The sides alternate, twice: each reports its better round (interference only slows).
                for round_ in range(rounds):
                    for side, path in sides:
                        load = loadgen.Load("GET", path, ids=ids if "{id}" in path else [], pick="random")
                        log(f"queries: {products:,} products, {name}, {side}: GET {path} (round {round_ + 1} of {rounds})")
                        loadgen.run(service.base_url, load, CONNECTIONS, warmup)
                        meter = CpuMeter(groups).start()
                        figures = loadgen.run(service.base_url, load, CONNECTIONS, duration)
                        figures["cores_used"] = meter.stop()
                        figures["path"] = path
                        if figures["error_count"]:
                            log(f"  WARNING: {figures['error_count']} failed requests: {figures['errors']}")
                        log(f"  {figures['per_second']:,.0f} requests/s, p50 {figures['latency']['p50_ms']:.1f} ms,"
                            f" p99 {figures['latency']['p99_ms']:.1f} ms")
                        runs.setdefault(side, []).append(figures)
                pair = {}
                for side, measured in runs.items():
                    best = max(measured, key=lambda r: r["per_second"])
                    pair[side] = {**best, "rounds": [r["per_second"] for r in measured]}
                results[name] = pair
    return results


def run(ctx: Run) -> dict[str, Any]:
    sizes = ctx.size(SIZES, (1_000, 5_000))
    warmup, duration, rounds = ctx.size(1.0, 1.0), ctx.size(4.0, 1.0), ctx.size(2, 1)
    detail = {str(products): _pairs(ctx, products, warmup, duration, rounds) for products in sizes}
    rows, targets = [], []
    for products in sizes:
        results = detail[str(products)]
        for name, *_ in PAIRS:
            ours, crud = results[name]["ours"], results[name]["crud"]
            row = {"products": products, "query": name, "ours_per_s": ours["per_second"],
                   "crud_per_s": crud["per_second"], "ratio": ratio(ours["per_second"], crud["per_second"]),
                   "ours_p99_ms": ours["latency"]["p99_ms"], "crud_p99_ms": crud["latency"]["p99_ms"]}
            if "crud_no_count" in results[name]:
                row["crud_no_count_per_s"] = results[name]["crud_no_count"]["per_second"]
                row["ratio_vs_no_count"] = ratio(ours["per_second"], row["crud_no_count_per_s"])
            rows.append(row)
            floor, moonshot, applies_to = TARGETS[name]
            if products not in applies_to:
                continue
            targets.append({"name": f"{name} at {products:,} products: requests/s vs CRUD", "ours": ours["per_second"],
                            "baseline": crud["per_second"], "unit": "requests/s", "ratio": row["ratio"],
                            "target": f">= {floor:g}x" + (f" (moonshot {moonshot:g}x)" if moonshot else ""),
                            "met": (row["ratio"] or 0) >= floor})
    return {"sizes": list(sizes), "connections": CONNECTIONS, "rounds": rounds, "warmup_s": warmup,
            "duration_s": duration, "rows": rows, "detail": detail, "targets": targets}
