"""Measurements that run inside a fresh child process: `python -m bench.worker TASK 'JSON ARGS'`.

The parent (bench.run) owns databases, vhosts and servers; a child configures Django from the
environment it is given (bench.settings, DATABASE_URL, ...) and measures one thing. Its protocol
on stdin/stdout (see common.Child):

    child: sets up (imports, connections, warm-up), then prints READY
    parent: writes GO (so several children can start together, and setup is never measured)
    child: measures, prints one line `BENCH_RESULT {json}` (with its CPU seconds while measuring)
    parent: reads every child's CPU time and its database sessions' while they are still alive,
            then writes BYE; the child exits.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable

Measure = Callable[[], dict]
TASKS: dict[str, Callable[[dict], Measure]] = {}


def task(fn: Callable[[dict], Measure]) -> Callable[[dict], Measure]:
    TASKS[fn.__name__] = fn
    return fn


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.db import connection

    connection.ensure_connection()


@task
def setup_user(args: dict) -> Measure:
    """The benchmark user: may issue product commands and add/change CRUD products, and follow the log
    (staff); with a token."""
    _django()

    def measure() -> dict:
        from django.contrib.auth.models import Permission, User
        from rest_framework.authtoken.models import Token

        user, _ = User.objects.get_or_create(username=args["username"])
        user.set_unusable_password()
        user.is_staff = True  # the change feed's log stream is for staff (bench/feed.py)
        user.save()
        user.user_permissions.add(
            Permission.objects.get(codename="issue_product_commands"),
            Permission.objects.get(codename="add_product", content_type__app_label="crud"),
            Permission.objects.get(codename="change_product", content_type__app_label="crud"),
        )
        token, _ = Token.objects.get_or_create(user=user)
        return {"token": token.key, "user_id": user.pk}

    return measure


@task
def catch_up(args: dict) -> Measure:
    """Time engine.catch_up of one projection from its checkpoint, as the Celery task runs it."""
    _django()
    from projections import engine, projectors

    projector = projectors.get(args["name"])
    engine.ensure_states([projector.name])
    if args.get("from_start"):  # a fresh start on a log it caught up with before: not measured
        from django.db import connection

        engine.reset(projector)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    budget = float(args.get("time_budget", 600))

    def measure() -> dict:
        started = time.perf_counter()
        applied, outcome = 0, ""
        # catch_up stops at its own time budget (60 s); the suite's bound is the budget given here.
        while time.perf_counter() - started < budget:
            result = engine.catch_up(projector, time_budget=budget - (time.perf_counter() - started))
            applied += result.applied
            outcome = result.outcome
            if outcome != "out_of_time":
                break
        return {"applied": applied, "seconds": time.perf_counter() - started, "outcome": outcome}

    return measure


@task
def explain_read_all(args: dict) -> Measure:
    """The plan of the engine's read (products.eventstore.read_all's SQL) from the middle of the log."""
    _django()
    from django.db import connection

    from products.eventstore import dialects

    dialect = dialects.for_vendor(connection.vendor)

    def measure() -> dict:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM event_store")
            offset = cursor.fetchone()[0] // 2
            cursor.execute("SELECT tx::text AS tx_text, position FROM event_store"
                           " ORDER BY event_store.tx, event_store.position OFFSET %s LIMIT 1", [offset])
            tx, position = cursor.fetchone()
            sql = f"SELECT {dialect.columns} FROM event_store WHERE {dialect.after_checkpoint} LIMIT %s"
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql,
                           [*dialect.checkpoint_params(int(tx), position), int(args.get("limit", 500))])
            plan = cursor.fetchone()[0]
        if isinstance(plan, (str, bytes)):
            plan = json.loads(plan)
        top = plan[0]
        nodes, sort_keys = [top["Plan"]], []
        scanned = 0
        while nodes:
            node = nodes.pop()
            if node.get("Node Type") == "Sort":
                sort_keys.append(", ".join(node.get("Sort Key", [])))
            if "Scan" in node.get("Node Type", ""):
                scanned += int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
            nodes.extend(node.get("Plans", []))
        return {"checkpoint_offset": offset, "execution_ms": top.get("Execution Time"), "sort_keys": sort_keys,
                "rows_scanned": scanned, "sql": sql}

    return measure


@task
def raw_projection(args: dict) -> Measure:
    """The same rows, kept by a hand-written projector: raw psycopg, batched upserts."""
    from bench import rawproj

    runner = rawproj.prepare(args["name"], os.environ["DATABASE_URL"], args.get("broker_url"))
    budget, batch = float(args.get("time_budget", 600)), int(args.get("batch_size", 500))
    return lambda: runner(budget, batch)


@task
def append_writer(args: dict) -> Measure:
    """One concurrent writer: warmed up before READY, then appends for `duration` seconds."""
    from bench import appends

    op = appends.writer_operation(args["side"], args)
    for _ in range(int(args.get("warmup_ops", 20))):
        op()
    duration = float(args["duration"])
    max_ops = int(args.get("max_ops", 10_000_000))

    def measure() -> dict:
        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + duration
        while len(latencies) < max_ops:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            op()
            latencies.append(time.perf_counter() - t0)
        return {"ops": len(latencies), "elapsed": time.perf_counter() - started, "latencies": latencies}

    return measure


@task
def webhook_sender(args: dict) -> Measure:
    """The baseline of bench/webhooks.py: the same POSTs as a delivery makes (the same bodies,
    signature and client, through webhooks.delivery.send), from a plain loop with no outbox."""
    _django()
    import uuid
    from datetime import datetime, timezone

    from webhooks import cloudevents, delivery
    from webhooks.models import Delivery, Subscription

    subscription = Subscription(name="baseline", url=args["url"], secret="bench-secret")
    now = datetime.now(timezone.utc)
    outbox = [Delivery(body=cloudevents.structured(uuid.uuid4(), "ProductRegistered", uuid.uuid4(), now,
                                                   {"sku": f"B-{n}", "name": "Baseline kettle"}))
              for n in range(int(args["count"]))]

    def measure() -> dict:
        started = time.perf_counter()
        failed = sum(1 for item in outbox if delivery.send(subscription, item)[0] != 204)
        return {"sent": len(outbox), "failed": failed, "seconds": time.perf_counter() - started}

    return measure


def main(argv: list[str]) -> None:
    name, raw_args = argv[1], argv[2] if len(argv) > 2 else "{}"
    measure = TASKS[name](json.loads(raw_args))
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    if sys.stdin.readline().strip() != "GO":
        return
    cpu_before = time.process_time()
    result: Any = measure()
    result["cpu_seconds"] = time.process_time() - cpu_before
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stdin.readline()  # BYE, or end of input


if __name__ == "__main__":
    main(sys.argv)
