"""8. Sustained commands: the highest open-loop rate the service keeps, against CRUD's.

The service as deployed (gunicorn with deploy/gunicorn.conf.py, a Celery worker with its default
concurrency, beat) on a scratch database and a scratch RabbitMQ vhost; the same gunicorn serves
the CRUD baseline. Registrations are sent at a fixed rate, on schedule whether or not earlier
ones were answered (open loop, one asyncio loop in this process), for a few seconds per rate,
the rate rising step by step until one is not kept. A rate is kept when:

- nearly every command was answered 2xx, at 95% of the rate or more;
- p99 of the command latency, counted from when the command was due (so a service that falls
  behind its schedule shows), is at most 50 ms;
- for the service, p99 of the freshness, from the 202 to the new product showing in the
  catalog's read model (polled as bench/freshness.py polls it), is at most 50 ms.

CRUD's create is held to the same rule without the freshness, which it has no need of: it
answers with the row written. A warm-up of two seconds at the first rate on each side is not
counted; each step starts with the worker idle; the sides alternate, and a rate that is missed
is tried once more before the climb stops (interference from the machine only ever slows a step).
"""

from __future__ import annotations

import secrets
from typing import Any

from . import loadgen
from .commands_http import SYSTEM
from .common import CpuMeter, Run, log, ratio, seed_crud_categories, summarize_ms, worker_settled
from .freshness import TIMEOUT, Poller

LIMIT_MS = 50.0
START, STEP = 25, 25


def _body(side: str, sku: str) -> dict:
    body = {"sku": sku, "name": f"Sustained kettle {sku}", "description": "A kettle.", "category": "Kitchen",
            "price": "12.50", "currency": "EUR"}
    return {**body, "initial_stock": 10} if side == "ours" else {**body, "stock": 10}


def _step(service, token: str, side: str, rate: float, seconds: float, poller: Poller | None) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    path = "/api/products/" if side == "ours" else "/crud/products/"
    requests = [(path, _body(side, f"S{tag}-{n}")) for n in range(int(rate * seconds))]
    t0s: dict[int, float] = {}
    failures: list[str] = []

    def on_answer(answer: loadgen.Answer) -> None:
        if answer.status not in (201, 202):
            failures.append(f"{answer.status}: {answer.body}")
            return
        if poller is not None:
            poller.watch(answer.body["product_id"], answer.body["version"], answer.answered, answer.slot)
            t0s[answer.slot] = answer.answered

    answers, errors, elapsed = loadgen.open_loop_posts(service.base_url, token, requests, rate, on_answer)
    failures += errors
    ok = len(answers) - sum(1 for a in answers if a.status not in (201, 202))
    figures: dict[str, Any] = {
        "rate": rate,
        "sent": len(requests),
        "answered_ok": ok,
        "failed": len(failures),
        "failures_sample": failures[:3],
        "achieved_rate": round(ok / elapsed, 1) if elapsed else 0.0,
        "command_latency_from_due": summarize_ms([a.answered - a.due for a in answers]),
        "sender_lateness": summarize_ms([a.sent - a.due for a in answers]),
    }
    if poller is not None:
        poller.wait_empty(TIMEOUT)
        latencies = [poller.seen[slot] - t0 for slot, t0 in t0s.items() if slot in poller.seen]
        poller.seen.clear()
        figures["not_seen"] = len(t0s) - len(latencies)
        figures["freshness"] = summarize_ms(latencies)
    command_p99 = figures["command_latency_from_due"]["p99_ms"]
    fresh_p99 = figures["freshness"]["p99_ms"] if poller is not None else 0.0
    figures["kept"] = bool(
        failures == [] and figures["achieved_rate"] >= 0.95 * rate and command_p99 is not None
        and command_p99 <= LIMIT_MS and fresh_p99 is not None and fresh_p99 <= LIMIT_MS
        and figures.get("not_seen", 0) == 0
    )
    return figures


def _metered_step(deployment, token: str, side: str, rate: float, seconds: float, poller: Poller) -> dict[str, Any]:
    """One step, with the CPU its whole system used per command answered."""
    meter = CpuMeter(deployment.groups).start()
    figures = _step(deployment.service, token, side, rate, seconds, poller if side == "ours" else None)
    figures["cores_used"] = cores = meter.stop()
    system = sum(cores.get(group, 0.0) for group in SYSTEM)
    figures["system_cores"] = round(system, 3)
    if figures["answered_ok"]:
        figures["cpu_ms_per_command"] = round(system * meter.elapsed / figures["answered_ok"] * 1000, 3)
    return figures


def run(ctx: Run) -> dict[str, Any]:
    seconds = ctx.size(6.0, 2.0)
    ceiling = ctx.size(800, 150)
    steps: dict[str, list[dict[str, Any]]] = {"ours": [], "crud": []}
    with ctx.vhost() as vhost, ctx.scratch_database() as database:
        env = ctx.service_env(database, vhost)
        seed_crud_categories(database)
        with ctx.deployed(env) as deployment:
            service, token = deployment.service, ctx.token
            poller = Poller(database, 0.002)
            poller.start()
            try:
                for side in ("ours", "crud"):  # warm-up, not measured: connections, caches, prepared statements
                    _step(service, token, side, START, 2.0, poller if side == "ours" else None)
                climbing = {"ours", "crud"}
                rate = START
                while climbing and rate <= ceiling:
                    for side in sorted(climbing, reverse=True):  # ours first, then CRUD, at each rate
                        for attempt in (1, 2):  # a rate missed once is tried again: interference only slows
                            worker_settled(database, vhost)
                            figures = _metered_step(deployment, token, side, rate, seconds, poller)
                            figures["attempt"] = attempt
                            if figures["kept"]:
                                break
                        steps[side].append(figures)
                        fresh = figures.get("freshness", {}).get("p99_ms")
                        log(f"sustained: {side} at {rate}/s: {figures['achieved_rate']}/s, command p99 "
                            f"{figures['command_latency_from_due']['p99_ms']} ms"
                            + (f", freshness p99 {fresh} ms" if side == "ours" else "")
                            + ("" if figures["kept"] else " — not kept"))
                        if not figures["kept"]:
                            climbing.discard(side)
                    rate += STEP
            finally:
                poller.stopping.set()
                poller.join(10)
    kept = {side: max((s["rate"] for s in runs if s["kept"]), default=0) for side, runs in steps.items()}
    reached_ceiling = {side: side_steps[-1]["kept"] and side_steps[-1]["rate"] >= ceiling
                       for side, side_steps in steps.items() if side_steps}
    targets = [
        {"name": "sustained registrations/s with p99 command and p99 freshness <= 50 ms", "ours": kept["ours"],
         "baseline": None, "unit": "commands/s", "ratio": None, "target": ">= 200/s", "met": kept["ours"] >= 200},
        {"name": "sustained registrations/s vs CRUD's sustained creates/s", "ours": kept["ours"],
         "baseline": kept["crud"], "unit": "commands/s", "ratio": ratio(kept["ours"], kept["crud"]),
         "target": ">= 0.8x (moonshot)", "met": (ratio(kept["ours"], kept["crud"]) or 0) >= 0.8},
    ]
    return {"seconds_per_rate": seconds, "start": START, "step": STEP, "ceiling": ceiling, "limit_ms": LIMIT_MS,
            "kept": kept, "reached_ceiling": reached_ceiling, "steps": steps, "targets": targets}
