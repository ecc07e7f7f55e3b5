"""7. Upcasting: projection catch-up over a log half of old events, against a log of new ones.

Two scratch databases hold the same history (the same seed: the same products, changes and
final read models), 200,000 events of 40,000 products. In the "new" log every event is stored
as the code writes it now. In the "half old" log the first half was stored by the code before
the events' change (every type at schema version 1: prices as separate amount and currency),
the second half as now, as a log looks when the change was deployed halfway through its life;
each old ProductRegistered and ProductPriceChanged (about 60% of the old events) goes through
an upcaster whenever it is read.

Each row projection catches up from the start of the log in a fresh process (engine.catch_up,
what the Celery task runs), on one log then the other, alternating, for three rounds; the
median round of each is compared, and the read models of both logs must come out the same.
Beside it, the cost of reading one event (`decode`: upcast, then the dataclass) of each
version, in this process.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from products.domain import events as domain_events

from .common import Run, connect, log, ratio, run_child
from .datagen import EventGenerator, write_events

PROJECTIONS = ["product_catalog", "category_summary", "price_history"]
READ_MODELS = {
    "read_product_catalog": "*",
    "read_category_member": "*",
    "read_category_summary": "*",
    "read_price_history": "product_id, version, price, currency, changed_at",
}
TARGET_SLOWDOWN = 1.10  # the half-old log's catch-up takes at most 10% longer
LOGS = ("new", "half_old")


def _catch_up(database_env: dict[str, str], name: str, from_start: bool) -> dict[str, Any]:
    figures = run_child("catch_up", {"name": name, "time_budget": 600, "from_start": from_start}, database_env,
                        timeout=900)
    figures.pop("_process", None)
    return {"applied": figures["applied"], "seconds": round(figures["seconds"], 3),
            "cpu_seconds": round(figures["cpu_seconds"], 3), "outcome": figures["outcome"]}


def _differences(first: str, second: str) -> dict[str, int]:
    """Rows of each read model that differ between the two databases (exported, then compared)."""
    out = {}
    for table, columns in READ_MODELS.items():
        rows = []
        for database in (first, second):
            with connect(database) as conn:
                rows.append(set(conn.execute(f"SELECT {columns} FROM {table}").fetchall()))
        out[table] = len(rows[0] ^ rows[1])
    return out


def _stored_versions(database: str) -> dict[str, dict[str, int]]:
    with connect(database) as conn:
        counts = conn.execute("SELECT type, schema_version, count(*) FROM event_store GROUP BY 1, 2 ORDER BY 1, 2")
        out: dict[str, dict[str, int]] = {}
        for type_name, version, count in counts:
            out.setdefault(type_name, {})[f"v{version}"] = count
    return out


def _decode_cost(database: str, sample: int) -> dict[str, Any]:
    """Microseconds per `decode` of a stored ProductRegistered or ProductPriceChanged at each version."""
    by_version: dict[int, list] = {}
    with connect(database) as conn:
        for version in (1, 2):
            by_version[version] = conn.execute(
                "SELECT type, schema_version, data FROM event_store WHERE schema_version = %s"
                " AND type IN ('ProductRegistered', 'ProductPriceChanged') ORDER BY tx, position LIMIT %s",
                [version, sample]).fetchall()
    out = {}
    for version, stored in sorted(by_version.items()):
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for type_name, schema_version, data in stored:
                domain_events.decode(type_name, schema_version, data)
            best = min(best, time.perf_counter() - started)
        out[f"v{version}"] = {"events": len(stored), "us_per_event": round(best / len(stored) * 1e6, 2)}
    return out


def run(ctx: Run) -> dict[str, Any]:
    events = ctx.size(200_000, 10_000)
    products = events // 5
    rounds = ctx.size(3, 1)
    results: dict[str, Any] = {}
    with ctx.scratch_database() as new_db, ctx.scratch_database() as old_db:
        databases = {"new": new_db, "half_old": old_db}
        for line, database in databases.items():
            log(f"upcasting: writing {events:,} events of {products:,} products ({line})")
            generator = EventGenerator(seed=11, old_events=events // 2 if line == "half_old" else 0)
            with connect(database) as conn:
                write_events(conn, products, events, generator)
                conn.execute("VACUUM ANALYZE event_store")
        envs = {line: ctx.service_env(database) for line, database in databases.items()}
        runs: dict[str, dict[str, list]] = {line: {name: [] for name in PROJECTIONS} for line in LOGS}
        for number in range(rounds):
            for line in (LOGS if number % 2 == 0 else reversed(LOGS)):
                for name in PROJECTIONS:
                    figures = _catch_up(envs[line], name, from_start=number > 0)
                    runs[line][name].append(figures)
                    log(f"upcasting round {number + 1}, {line}, {name}: {figures['applied']:,} events in "
                        f"{figures['seconds']:.1f} s")
        differences = _differences(new_db, old_db)
        stored = {line: _stored_versions(database) for line, database in databases.items()}
        decode = _decode_cost(old_db, ctx.size(50_000, 2_000))
    for line in LOGS:
        per_projection = {}
        for name in PROJECTIONS:
            done = runs[line][name]
            per_projection[name] = {
                "median_seconds": round(statistics.median(r["seconds"] for r in done), 3),
                "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in done), 3),
                "all_applied": all(r["applied"] == events for r in done),
                "rounds": done,
            }
        totals = [sum(runs[line][name][i]["seconds"] for name in PROJECTIONS) for i in range(rounds)]
        results[line] = {"projections": per_projection, "round_seconds": [round(t, 3) for t in totals],
                         "median_seconds": round(statistics.median(totals), 3),
                         "events_per_s": round(events * len(PROJECTIONS) / statistics.median(totals), 1)}
    same = all(count == 0 for count in differences.values())
    finished = all(p["all_applied"] for line in LOGS for p in results[line]["projections"].values())
    new_rate, old_rate = results["new"]["events_per_s"], results["half_old"]["events_per_s"]
    slowdown = round(results["half_old"]["median_seconds"] / results["new"]["median_seconds"], 3)
    targets = [{
        "name": "catch-up of the three row projections, log half old vs all new",
        "ours": old_rate, "baseline": new_rate, "unit": "events/s", "ratio": ratio(old_rate, new_rate),
        "target": f"<= {TARGET_SLOWDOWN - 1:.0%} slower", "met": finished and same and slowdown <= TARGET_SLOWDOWN,
    }]
    return {"events": events, "products": products, "rounds": rounds, "slowdown": slowdown,
            "same_read_models": same, "read_model_differences": differences, "stored_versions": stored,
            "decode": decode, "detail": results, "targets": targets}
