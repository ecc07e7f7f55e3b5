"""1. Commands over HTTP: register and change-price against a plain DRF ModelViewSet's create and update.

The whole service runs as deployed, on a scratch database and a scratch RabbitMQ vhost:
gunicorn with deploy/gunicorn.conf.py, a Celery worker with its default concurrency, and beat.
The same gunicorn serves the CRUD baseline (bench.settings: the service under /api/, the CRUD
app under /crud/), so both sides have the same process configuration, and the worker and beat
run through the CRUD lines too, as they would beside it in a deployment. Each measurement is a
warm-up, then a fixed duration of closed-loop load on the same number of connections, from the
same generator. Every line starts with the worker idle (no task queued, every projection caught
up), the lines alternate between the sides over three rounds, and each line reports its better
round (interference from other users of the machine only ever slows a round down).

- CRUD create: POST /crud/products/ (ModelSerializer; category by name; unique SKU check).
- register: POST /api/products/ (a ProductRegistered event and the SKU claim, then a nudge).
- CRUD update: PATCH /crud/products/{id}/ with a new price.
- change-price: POST /api/products/{id}/change-price/ with a new price, over 1,000 products.
- register without the worker: the command side alone, for the analysis.

CPU per accepted command is the CPU time of every process of the system (gunicorn, the Celery
worker, beat, the PostgreSQL backends of the scratch database, RabbitMQ) from the start of the
load until every projection has applied every accepted command, divided by the commands
accepted: the hardware a command costs, including the projecting it causes.

Every request authenticates with the same token of the same non-superuser, who holds the
command permission and the CRUD app's add/change permissions: each side checks one model
permission per write.
"""

from __future__ import annotations

import secrets
from typing import Any

from . import loadgen
from .common import (CpuMeter, Run, connect, gunicorn_shape, log, projections_caught_up, queued_messages, ratio,
                     seed_crud_categories, worker_settled)

CONNECTIONS = 4
REGISTER_BODY = ('{"sku": "{sku}", "name": "Bench kettle {sku}", "description": "A kettle for the benchmark.",'
                 ' "category": "Kitchen", "price": "12.50", "currency": "EUR", "initial_stock": 10}')
CRUD_BODY = ('{"sku": "{sku}", "name": "Bench kettle {sku}", "description": "A kettle for the benchmark.",'
             ' "category": "Kitchen", "price": "12.50", "currency": "EUR", "stock": 10}')
PRICE_BODY = '{"price": "{price}"}'


# The processes a command costs CPU in: the service's own, PostgreSQL's backends and the broker.
SYSTEM = ("gunicorn", "celery_worker", "celery_beat", "postgres_bench", "rabbitmq")


def _measure(ctx: Run, service, load: loadgen.Load, warmup: float, duration: float,
             groups: dict[str, list[int]], database: str | None = None, vhost: str | None = None) -> dict[str, Any]:
    waited = worker_settled(database, vhost) if database else 0.0
    warm = loadgen.Load(**{**load.__dict__, "prefix": load.prefix + "w"})
    loadgen.run(service.base_url, warm, CONNECTIONS, warmup)
    if database:
        projections_caught_up(database)
    window, total = CpuMeter(groups).start(), CpuMeter(groups).start()
    result = loadgen.run(service.base_url, load, CONNECTIONS, duration)
    result["cores_used"] = window.stop()
    # Through the projecting the commands caused, which may go on after the load stops.
    result["catch_up_after_load_s"] = projections_caught_up(database) if database and "celery_worker" in groups else 0.0
    cores = total.stop()
    accepted = result["requests"] - result["error_count"]
    if cores and accepted:
        per = {group: round(cores.get(group, 0.0) * total.elapsed / accepted * 1000, 3) for group in SYSTEM}
        result["cpu_ms_per_accepted"] = {**per, "system": round(sum(per.values()), 3)}
    result["accepted"] = accepted
    result["waited_for_worker_idle_s"] = waited
    if vhost:
        # Tasks still queued when the load stopped: nudges arriving faster than the worker runs them.
        result["queued_tasks_after"] = queued_messages(vhost)
    if result["error_count"]:
        log(f"  WARNING: {result['error_count']} failed requests: {result['errors']}")
    cpu = result.get("cpu_ms_per_accepted", {}).get("system")
    log(f"  {result['per_second']:,.0f} requests/s, p50 {result['latency']['p50_ms']:.1f} ms,"
        f" p99 {result['latency']['p99_ms']:.1f} ms, {cpu if cpu is not None else '?'} CPU ms per command"
        f" (generator {result['generator_cores']:.2f} cores)")
    return result


def run(ctx: Run) -> dict[str, Any]:
    warmup, duration, rounds = ctx.size(2.0, 1.0), ctx.size(6.0, 2.0), ctx.size(3, 1)
    results: dict[str, Any] = {}
    measured: dict[str, list[dict[str, Any]]] = {}
    tag = secrets.token_hex(3)
    with ctx.vhost() as vhost, ctx.scratch_database() as database:
        env = ctx.service_env(database, vhost)
        seed_crud_categories(database)
        with ctx.deployed(env) as deployment:
            service, groups = deployment.service, deployment.groups
            token = ctx.token
            crud_ids: list[str] = []
            product_ids: list[str] = []
            # Rounds alternate the sides, and each line starts with the worker idle: another user of
            # the machine or the other side's backlog can spoil one round, rarely both.
            for round_ in range(rounds):
                loads = [
                    ("crud_create", "CRUD create", lambda: loadgen.Load(
                        "POST", "/crud/products/", CRUD_BODY, token=token, prefix=f"C{tag}{round_}")),
                    ("register", "register", lambda: loadgen.Load(
                        "POST", "/api/products/", REGISTER_BODY, token=token, prefix=f"R{tag}{round_}")),
                    ("crud_update", "CRUD update (PATCH price)", lambda: loadgen.Load(
                        "PATCH", "/crud/products/{id}/", PRICE_BODY, ids=crud_ids, token=token)),
                    ("change_price", "change-price", lambda: loadgen.Load(
                        "POST", "/api/products/{id}/change-price/", PRICE_BODY, ids=product_ids, token=token)),
                ]
                for key, label, make in loads:
                    if key == "crud_update" and not crud_ids:
                        with connect(database) as conn:
                            crud_ids += [str(r[0]) for r in conn.execute("SELECT id FROM crud_product LIMIT 1000")]
                            product_ids += [str(r[0]) for r in conn.execute(
                                "SELECT stream_id FROM event_store WHERE type = 'ProductRegistered' LIMIT 1000")]
                    log(f"commands_http: {label} (round {round_ + 1} of {rounds})")
                    figures = _measure(ctx, service, make(), warmup, duration, groups, database, vhost)
                    figures["round"] = round_ + 1
                    measured.setdefault(key, []).append(figures)
        # The worker is stopped: the command side alone (nudges still go to the broker).
        with ctx.gunicorn(env) as service:
            log("commands_http: register, no Celery worker running")
            figures = _measure(ctx, service, loadgen.Load(
                "POST", "/api/products/", REGISTER_BODY, token=token, prefix=f"N{tag}"), warmup, duration,
                {"gunicorn": [service.process.pid]}, vhost=vhost)
            figures["round"] = 1
            measured["register_no_worker"] = [figures]
    for key, runs in measured.items():
        # Interference only ever slows a run down: each line is its best round.
        best = max(runs, key=lambda r: r["per_second"])
        results[key] = {**best, "rounds": [{"round": r["round"], "per_second": r["per_second"],
                                             "p99_ms": r["latency"]["p99_ms"],
                                             "cpu_ms": r.get("cpu_ms_per_accepted", {}).get("system")} for r in runs]}
    rows, targets = [], []
    for name, label, baseline_name, baseline_label in (("register", "register", "crud_create", "CRUD create"),
                                                       ("change_price", "change-price", "crud_update", "CRUD update")):
        ours, crud = results[name], results[baseline_name]
        rps_ratio = ratio(ours["per_second"], crud["per_second"])
        p99_ratio = ratio(ours["latency"]["p99_ms"], crud["latency"]["p99_ms"])
        ours_cpu = ours.get("cpu_ms_per_accepted", {}).get("system")
        crud_cpu = crud.get("cpu_ms_per_accepted", {}).get("system")
        cpu_ratio = ratio(ours_cpu, crud_cpu)
        rows.append({"command": label, "baseline": baseline_label, "ours_per_s": ours["per_second"],
                     "crud_per_s": crud["per_second"], "ratio": rps_ratio, "ours_p99_ms": ours["latency"]["p99_ms"],
                     "crud_p99_ms": crud["latency"]["p99_ms"], "p99_ratio": p99_ratio,
                     "ours_cpu_ms": ours_cpu, "crud_cpu_ms": crud_cpu, "cpu_ratio": cpu_ratio})
        targets.append({"name": f"{label}: requests/s vs {baseline_label}", "ours": ours["per_second"],
                        "baseline": crud["per_second"], "unit": "requests/s", "ratio": rps_ratio,
                        "target": ">= 0.5x (moonshot 0.8x)", "met": (rps_ratio or 0) >= 0.5})
        targets.append({"name": f"{label}: p99 latency vs {baseline_label}", "ours": ours["latency"]["p99_ms"],
                        "baseline": crud["latency"]["p99_ms"], "unit": "ms", "ratio": p99_ratio,
                        "target": "<= 1.5x", "met": p99_ratio is not None and p99_ratio <= 1.5})
        if name == "register":
            targets.append({"name": f"{label}: CPU per accepted command, whole system, vs {baseline_label}",
                            "ours": ours_cpu, "baseline": crud_cpu, "unit": "CPU ms", "ratio": cpu_ratio,
                            "target": "<= 2x (moonshot 1.3x)", "met": cpu_ratio is not None and cpu_ratio <= 2.0})
    return {
        "gunicorn": gunicorn_shape(),
        "connections": CONNECTIONS,
        "rounds": rounds,
        "warmup_s": warmup,
        "duration_s": duration,
        "generator": results["crud_create"]["generator"],
        "rows": rows,
        "detail": results,
        "targets": targets,
    }
