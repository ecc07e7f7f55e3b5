"""4. Freshness: from the 202 of a command to the read model showing its change.

The service as deployed (gunicorn with deploy/gunicorn.conf.py, a Celery worker with its default
concurrency, the machine's cores, and beat) on a scratch database and a scratch RabbitMQ vhost.
Commands are change-price on a pool of products registered (and projected) beforehand.

t0 is when the client has read the whole 202 response. t1 comes from polling the read model
table itself (read_product_catalog, by product id, for version >= the command's version) on a
separate psycopg connection, every POLL_INTERVAL: t1 is the start of the first poll that sees the
row, so a figure is at most one poll interval (plus one query) late, never early. Polling the
table is more precise than the Query API's min_position, whose server-side wait sleeps 2 to 50 ms.

- idle: one command at a time, a pause between commands;
- steady: an open-loop generator at 200 commands/s (commands are sent on schedule whether or not
  earlier ones were answered; lateness of the senders is reported). It is one asyncio loop in
  this process: sixteen sender threads had cost the service the core it needed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from . import loadgen
from .common import CpuMeter, Run, connect, db_url, log, queued_messages, summarize_ms, worker_settled

# Seconds between polls while a command is waiting. Under the steady load the poller's own
# queries (about 1,600/s at 0.5 ms) took a tenth of the machine from the service it measures,
# so there it polls every 2 ms: its figures are then up to 2 ms late, never early.
POLL_INTERVAL = {"idle": 0.0005, "steady": 0.002}
TIMEOUT = 10.0  # a command whose change is not visible by then is counted as lost (never expected)
STEADY_RATE = 200.0
IDLE_PAUSE = 0.02


class Poller(threading.Thread):
    """Watches read_product_catalog for (product id, version) pairs; records when each shows."""

    def __init__(self, database: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.conn = psycopg.connect(db_url(database), autocommit=True)
        self.lock = threading.Lock()
        self.pending: dict[str, list[list]] = {}  # product id -> [[version, t0, slot], ...]
        self.seen: dict[int, float] = {}  # slot -> t1
        self.stopping = threading.Event()
        self.polls = 0

    def watch(self, product_id: str, version: int, t0: float, slot: int) -> None:
        with self.lock:
            self.pending.setdefault(product_id, []).append([version, t0, slot])

    def run(self) -> None:
        cursor = self.conn.cursor()
        while not self.stopping.is_set():
            with self.lock:
                ids = list(self.pending)
            if not ids:
                time.sleep(self.interval)
                continue
            started = time.perf_counter()
            rows = cursor.execute("SELECT id::text, version FROM read_product_catalog WHERE id = ANY(%s::uuid[])",
                                  (ids,)).fetchall()
            self.polls += 1
            with self.lock:
                for product_id, version in rows:
                    waiting = self.pending.get(product_id, [])
                    for entry in [e for e in waiting if e[0] <= version]:
                        self.seen[entry[2]] = started
                        waiting.remove(entry)
                    if not waiting:
                        self.pending.pop(product_id, None)
            time.sleep(self.interval)
        self.conn.close()

    def wait_empty(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    return
            time.sleep(0.01)


def _send(base_url: str, token: str, product_id: str, price: str) -> tuple[int, dict, float, float]:
    sent = time.perf_counter()
    status, body = loadgen.post_json(base_url, f"/api/products/{product_id}/change-price/", {"price": price}, token)
    return status, body, sent, time.perf_counter()


def _register_pool(base_url: str, token: str, size: int) -> list[str]:
    ids = []
    for n in range(size):
        status, body = loadgen.post_json(base_url, "/api/products/", {
            "sku": f"FRESH-{n}", "name": f"Fresh kettle {n}", "category": "Kitchen", "price": "12.50",
            "currency": "EUR", "initial_stock": 5}, token)
        if status != 202:
            raise RuntimeError(f"registering the pool answered {status}: {body}")
        ids.append(body["product_id"])
    return ids


def _idle(service, token: str, poller: Poller, ids: list[str], count: int, limit: float) -> dict[str, Any]:
    latencies, command_ms, lost = [], [], 0
    deadline = time.monotonic() + limit
    for n in range(count):
        if time.monotonic() > deadline:
            break
        product_id = ids[n % len(ids)]
        status, body, sent, t0 = _send(service.base_url, token, product_id, f"{100 + n}.00")
        if status != 202:
            raise RuntimeError(f"change-price answered {status}: {body}")
        poller.watch(product_id, body["version"], t0, n)
        command_ms.append(t0 - sent)
        poller.wait_empty(TIMEOUT)
        if n in poller.seen:
            latencies.append(poller.seen[n] - t0)
        else:
            lost += 1
        time.sleep(IDLE_PAUSE)
    return {"commands": len(command_ms), "not_seen": lost, "freshness": summarize_ms(latencies),
            "command_latency": summarize_ms(command_ms)}


def _steady(service, token: str, poller: Poller, ids: list[str], rate: float, duration: float,
            base: int) -> dict[str, Any]:
    requests = [(f"/api/products/{ids[slot % len(ids)]}/change-price/", {"price": f"{base + slot}.00"})
                for slot in range(int(rate * duration))]
    t0s: dict[int, float] = {}
    failures: list[str] = []

    def on_answer(answer: loadgen.Answer) -> None:
        if answer.status != 202:
            failures.append(f"{answer.status}: {answer.body}")
            return
        poller.watch(ids[answer.slot % len(ids)], answer.body["version"], answer.answered, base + answer.slot)
        t0s[base + answer.slot] = answer.answered

    answers, errors, seconds = loadgen.open_loop_posts(service.base_url, token, requests, rate, on_answer)
    failures += errors
    poller.wait_empty(TIMEOUT)
    latencies = [poller.seen[slot] - t0 for slot, t0 in t0s.items() if slot in poller.seen]
    return {
        "target_rate": rate,
        "commands": len(t0s),
        # Answered commands over the time from the first one's due time to the last answer: a
        # service that falls behind the schedule shows here, not only in its latency.
        "achieved_rate": round(len(t0s) / seconds, 1),
        "failed": len(failures),
        "failures_sample": failures[:5],
        "not_seen": len(t0s) - len(latencies),
        "freshness": summarize_ms(latencies),
        "command_latency": summarize_ms([a.answered - a.sent for a in answers]),
        "sender_lateness": summarize_ms([a.sent - a.due for a in answers]),
    }


def _task_times(log_path) -> dict[str, Any]:
    """From the worker's log: how long its tasks ran (a command's nudge: every projection, in
    shared rounds; a projection's own catch-up: a sweep's or a continuation)."""
    import re

    durations: dict[str, list[float]] = {}
    pattern = re.compile(r"succeeded in ([0-9.]+)s: (\[|\{'projection': '(\w+)')")
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return {}
    for seconds, result, name in pattern.findall(text):
        durations.setdefault(name or "nudge (every projection)", []).append(float(seconds))
    return {name: summarize_ms(values) for name, values in sorted(durations.items())}


def run(ctx: Run) -> dict[str, Any]:
    idle_count, idle_limit = ctx.size(300, 30), ctx.size(60.0, 15.0)
    steady_duration = ctx.size(10.0, 2.0)
    pool = ctx.size(400, 40)
    with ctx.vhost() as vhost, ctx.scratch_database() as database:
        env = ctx.service_env(database, vhost)
        with ctx.deployed(env) as deployment:
            service, worker = deployment.service, deployment.worker
            token = ctx.token
            log(f"freshness: registering {pool} products")
            ids = _register_pool(service.base_url, token, pool)
            with connect(database) as conn:
                def projected() -> bool:
                    return conn.execute("SELECT count(*) FROM read_product_catalog").fetchone()[0] >= pool
                deadline = time.monotonic() + 60
                while not projected() and time.monotonic() < deadline:
                    time.sleep(0.1)
            poller = Poller(database, POLL_INTERVAL["idle"])
            poller.start()
            settle = {"before_idle_s": worker_settled(database, vhost)}
            groups = deployment.groups
            try:
                log(f"freshness: idle, {idle_count} commands one at a time")
                meter = CpuMeter(groups).start()
                idle = _idle(service, token, poller, ids, idle_count, idle_limit)
                idle["cores_used"] = meter.stop()
                log(f"  p50 {idle['freshness']['p50_ms']:.1f} ms, p99 {idle['freshness']['p99_ms']:.1f} ms")
                settle["before_steady_s"] = worker_settled(database, vhost)
                log(f"freshness: steady {STEADY_RATE:g} commands/s for {steady_duration:g} s")
                poller.interval = POLL_INTERVAL["steady"]
                meter = CpuMeter(groups).start()
                steady = _steady(service, token, poller, ids, STEADY_RATE, steady_duration, base=10_000)
                steady["cores_used"] = meter.stop()
                steady["queued_tasks_after"] = queued_messages(vhost)
                log(f"  p50 {steady['freshness']['p50_ms']:.1f} ms, p99 {steady['freshness']['p99_ms']:.1f} ms,"
                    f" {steady['achieved_rate']:.0f} commands/s")
            finally:
                poller.stopping.set()
                poller.join(10)
        tasks = _task_times(worker.log_path)
    targets = []
    for name, figures, p50, p99 in (("idle", idle, 5, 10), (f"steady {STEADY_RATE:g}/s", steady, 15, 50)):
        fresh = figures["freshness"]
        complete = figures["not_seen"] == 0 and figures.get("failed", 0) == 0
        if figures is steady:
            # At the rate the target names, or it is not that target: a slower rate is easier.
            complete = complete and figures["achieved_rate"] >= 0.95 * STEADY_RATE
            name += f" (achieved {figures['achieved_rate']:g}/s)"
        targets.append({"name": f"freshness {name}: p50", "ours": fresh["p50_ms"], "baseline": None, "unit": "ms",
                        "ratio": None, "target": f"<= {p50} ms",
                        "met": complete and fresh["p50_ms"] is not None and fresh["p50_ms"] <= p50})
        targets.append({"name": f"freshness {name}: p99", "ours": fresh["p99_ms"], "baseline": None, "unit": "ms",
                        "ratio": None, "target": f"<= {p99} ms",
                        "met": complete and fresh["p99_ms"] is not None and fresh["p99_ms"] <= p99})
    return {"poll_interval_ms": {phase: seconds * 1000 for phase, seconds in POLL_INTERVAL.items()}, "measured_on": "read_product_catalog (polled directly)",
            "idle": idle, "steady": steady, "targets": targets, "worker_task_durations": tasks,
            "waited_for_worker_idle": settle,
            "reference": {"django-cqrs idle": {"p50_ms": 5.6, "p99_ms": 8.5}}}
