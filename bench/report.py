"""docs/BENCHMARKS.md from the results JSON: `python -m bench.report [RESULTS] [REPORT]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .common import LATEST, REPORT

TITLES = {
    "commands_http": "1. Commands over HTTP",
    "appends": "2. Appends without HTTP",
    "projections": "3. Projection throughput",
    "freshness": "4. Freshness",
    "rebuild": "5. Rebuild",
    "queries": "6. Queries",
    "upcasting": "7. Upcasting",
    "sustained": "8. Sustained commands",
    "feed": "9. The change feed",
    "webhooks": "10. Webhooks",
}


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and abs(value) >= 1000):
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return out


def _targets(targets: list[dict]) -> list[str]:
    rows = []
    for t in targets:
        rows.append([t["name"], f"{_num(t['ours'])} {t['unit']}",
                     "–" if t["baseline"] is None else f"{_num(t['baseline'])} {t['unit']}",
                     _ratio(t["ratio"]), t["target"] or "–", _met(t)])
    return _table(["Measure", "Ours", "Baseline", "Ratio", "Target", "Met"], rows)


def _met(target: dict) -> str:
    """A measure without a target (compared with its baseline only) is neither met nor missed."""
    if target["met"] is None:
        return "–"
    return "**met**" if target["met"] else "not met"


def _load_note(figures: dict) -> str:
    load = figures.get("load_before", {})
    busy = load.get("background_cores")
    when = figures.get("measured_at", "?")
    quick = " **(quick run: reduced sizes, not comparable)**" if figures.get("quick") else ""
    code = figures.get("code") or {}
    on = f" on commit {code['commit']}" + (" with uncommitted changes" if code.get("uncommitted_changes") else "") \
        if code.get("commit") else ""
    cpu = f" ({figures['cpu_model']})" if figures.get("cpu_model") else ""
    note = f"Measured {when}{on}{cpu}, {figures.get('wall_seconds', '?')} s{quick}."
    if busy is not None:
        note += f" Other processes kept {busy:.2f} cores of the machine busy just before it started."
    if load.get("core_speed_ms") is not None:
        note += (f" One core took {load['core_speed_ms']:g} ms for a million Python additions (lower is faster; "
                 "see Reading the figures).")
    return note


def _gunicorn(g: dict) -> str:
    threads = f" × {g['threads']} threads" if g.get("threads", 1) > 1 else ""
    return f"{g['workers']} {g['worker_class']} workers{threads}"


def _commands(b: dict) -> list[str]:
    d = b["detail"]
    g = b.get("gunicorn", {"workers": 2, "worker_class": "sync"})
    out = [f"gunicorn `project.wsgi` ({_gunicorn(g)}) serving both sides, a Celery worker and beat; "
           f"{b['connections']} connections from {b['generator']}, {b['warmup_s']:g} s warm-up "
           f"then {b['duration_s']:g} s measured per line, best of {b.get('rounds', 1)} round(s).", ""]
    rows = []
    for key, label in (("crud_create", "CRUD create (POST /crud/products/)"), ("register", "register (POST /api/products/)"),
                       ("crud_update", "CRUD update (PATCH /crud/products/{id}/)"),
                       ("change_price", "change-price (POST /api/products/{id}/change-price/)"),
                       ("register_no_worker", "register, no Celery worker running")):
        if key not in d:
            continue
        r = d[key]
        cores = r.get("cores_used", {})
        rounds = " / ".join(_num(x["per_second"]) for x in r.get("rounds", []))
        queued = sum((r.get("queued_tasks_after") or {}).values()) if r.get("queued_tasks_after") is not None else None
        others = (cores.get("foreign_processes") or 0) + (cores.get("other_load") or 0) if cores else None
        cpu = r.get("cpu_ms_per_accepted", {})
        rows.append([label, _num(r["per_second"]), rounds, _num(r["latency"]["p50_ms"], 2),
                     _num(r["latency"]["p99_ms"], 2), r["error_count"], _num(cpu.get("system"), 2),
                     " / ".join(_num(cpu.get(group), 2) for group in ("gunicorn", "celery_worker", "celery_beat",
                                                                       "postgres_bench", "rabbitmq")),
                     _num(cores.get("gunicorn"), 2), _num(cores.get("celery_worker"), 2),
                     _num(cores.get("postgres_bench"), 2), _num(r["generator_cores"], 2), _num(others, 2),
                     "–" if queued is None else queued])
    out += _table(["Load", "requests/s", "each round", "p50 ms", "p99 ms", "errors", "CPU ms per accepted command",
                   "of which gunicorn / worker / beat / PostgreSQL / RabbitMQ", "gunicorn cores", "worker cores",
                   "PostgreSQL cores", "generator cores", "other load", "tasks queued after"], rows)
    return out


def _appends(b: dict) -> list[str]:
    out = [f"Each writer is its own process with its own connection; {b['duration_s']:g} s per line, all "
           "writers starting together after a warm-up.", ""]
    rows = []
    for r in b["rows"]:
        rows.append([r["writers"], _num(r["eventstore_per_s"]), _num(r["raw_insert_per_s"]), _ratio(r["ratio_vs_raw"]),
                     _num(r["eventsourcing_per_s"]), _ratio(r["ratio_vs_eventsourcing"]),
                     _num(r["raw_eventstore_sql_per_s"]), _num(r["eventstore_p99_ms"], 2), _num(r["raw_insert_p99_ms"], 2)])
    out += _table(["Writers", "event store append/s", "raw INSERT/s", "vs raw", "eventsourcing/s", "vs eventsourcing",
                   "append's SQL, no Django/s", "append p99 ms", "raw p99 ms"], rows)
    detail = b.get("detail", {}).get("eventstore", {})
    cpu = [f"{n} writer(s): {v.get('writer_cpu_us_per_append')} µs" for n, v in detail.items()]
    raw = b.get("detail", {}).get("raw_insert", {})
    cpu_raw = [f"{n}: {v.get('writer_cpu_us_per_append')} µs" for n, v in raw.items()]
    if cpu:
        out += ["", f"Writer CPU per append (client side): event store {'; '.join(cpu)}; raw INSERT {'; '.join(cpu_raw)}."]
    return out


def _projections(b: dict) -> list[str]:
    out = [f"{_num(b['events'])} events of {_num(b['products'])} products; each line a fresh process from the start "
           f"of the log to its end (the relay: for {b['relay_time_budget_s']:g} s).", ""]
    rows = []
    for r in b["rows"]:
        d = b["detail"][r["projection"]]
        same = d.get("same_rows", {})
        diffs = sum(v["differences"] for v in same.values()) if same else None
        rows.append([r["projection"], f"{_num(r['ours_per_s'])}" + ("" if r.get("ours_finished", True) else " (stopped)"),
                     _num(r["raw_per_s"]), _ratio(r["ratio"]), _num(d["ours"].get("busy_share"), 2),
                     _num(d["ours"].get("cpu_us_per_event")), _num(d["raw"].get("cpu_us_per_event")),
                     "–" if diffs is None else diffs])
    out += _table(["Projection", "ours events/s", "raw events/s", "ratio", "ours: share of wall time on CPU",
                   "ours CPU µs/event", "raw CPU µs/event", "rows differing"], rows)
    bare = b["detail"].get("product_catalog", {}).get("raw_pk_only")
    if bare:
        indexed = b["detail"]["product_catalog"]["raw"]
        out += ["", f"The catalog's raw upsert into a table with its primary key only (none of the read model's "
                    f"{_num(b.get('catalog_secondary_indexes'))} secondary indexes for the Query API): "
                    f"{_num(bare['per_second'])} events/s, against {_num(indexed['per_second'])} into the indexed "
                    f"table. Every event rewrites its product's row, so each upsert also updates every index."]
    plan = b.get("read_all_plan")
    if plan:
        out += ["", f"The engine's read of 500 events from the middle of the log (`read_all`'s SQL) took "
                    f"{_num(plan.get('execution_ms'), 1)} ms and scanned {_num(plan.get('rows_scanned'))} rows; "
                    f"sort keys in its plan: {', '.join(f'`{k}`' for k in plan.get('sort_keys', [])) or 'none'}."]
    model = b.get("generator_model_vs_projector")
    if model:
        out += ["", f"The generator's model of the {_num(model['products'])} final products against the catalog "
                    f"projector's rows: {model['differences']} differing rows."]
    return out


def _freshness(b: dict) -> list[str]:
    every = ", ".join(f"{ms:g} ms {phase}" for phase, ms in b["poll_interval_ms"].items())
    out = [f"Measured on {b.get('measured_on', 'read_product_catalog (polled directly)')}, polled every "
           f"{every} (figures are at most one poll late, never early).", ""]
    rows = []
    for key, label in (("idle", "idle (one command at a time)"), ("steady", "steady")):
        r = b[key]
        f, c = r["freshness"], r["command_latency"]
        if key == "steady":
            label = f"steady {r['target_rate']:g}/s (achieved {r['achieved_rate']:g}/s)"
        rows.append([label, r["commands"], _num(f["p50_ms"], 2), _num(f["p90_ms"], 2), _num(f["p99_ms"], 2),
                     _num(f["max_ms"], 2), r["not_seen"], _num(c["p50_ms"], 2), _num(c["p99_ms"], 2)])
    out += _table(["Load", "commands", "p50 ms", "p90 ms", "p99 ms", "max ms", "never seen",
                   "command p50 ms", "command p99 ms"], rows)
    tasks = b.get("worker_task_durations") or {}
    if tasks:
        out += ["", "Celery task run times over the whole benchmark (from the worker's log): " + "; ".join(
            f"{name} p50 {_num(t['p50_ms'], 1)} ms, p90 {_num(t['p90_ms'], 1)} ms ({t['count']} tasks)"
            for name, t in tasks.items()) + "."]
    out += ["", "Reference (from the issue): django-cqrs idle p50 5.6 ms, p99 8.5 ms."]
    return out


def _rebuild(b: dict) -> list[str]:
    lines = {"in_place": "in place (baseline)", "generation": "generation", "generation_one_process": "generation, one process"}
    rows = []
    for r in b["runs"]:
        per = "; ".join(f"{name} {_num(p['events'])}" + (f" by {p['seconds']:g} s" if p["finished"] else " (stopped)")
                        for name, p in r["projections"].items())
        rows.append([_num(r["events_in_log"]), lines.get(r.get("line"), r.get("line", "")),
                     "yes" if r["finished"] else f"no (limit {r['time_limit_s']:g} s)", _num(r["seconds"]),
                     _num(r.get("log_events_per_s")), _num(r["peak_rss_mb"]), _num(r.get("peak_rss_sum_mb")), per])
    out = _table(["Events in the log", "rebuild", "finished", "seconds", "log events/s", "peak RSS MB (largest process)",
                  "peak RSS MB (all processes)", "per projection (done by, from the start)"], rows)
    queries = b.get("queries")
    if queries:
        idle, busy = queries["idle"], queries["during_generation_rebuild"]
        out += ["", f"Product list (first page), {b.get('query_connections', 4)} connections: idle "
                    f"{_num(idle['per_second'])} requests/s (p99 {_num(idle['latency']['p99_ms'], 2)} ms); during a generation "
                    f"rebuild of {queries['rebuild_seconds']:g} s {_num(busy['per_second'])} requests/s "
                    f"(p99 {_num(busy['latency']['p99_ms'], 2)} ms), {busy.get('error_count', 0)} errors."]
    if b.get("one_process_speedup"):
        out += ["", f"Folded in one process, as a worker's automatic rebuild does, the generation rebuild of "
                    f"{_num(b['runs'][-1]['events_in_log'])} events was {b['one_process_speedup']:.2f}x faster than "
                    "the in-place replay."]
    if b.get("note"):
        out += ["", b["note"]]
    return out


def _queries(b: dict) -> list[str]:
    sizes = b.get("sizes") or [b.get("products")]
    out = [f"{' and '.join(_num(size) for size in sizes)} products; {b['connections']} connections, "
           f"{b['warmup_s']:g} s warm-up then {b['duration_s']:g} s per line, best of {b.get('rounds', 1)} round(s).", ""]
    rows = []
    for r in b["rows"]:
        rows.append([_num(r.get("products", b.get("products"))), r["query"], _num(r["ours_per_s"]), _num(r["crud_per_s"]),
                     _ratio(r["ratio"]), _num(r["ours_p99_ms"], 2), _num(r["crud_p99_ms"], 2),
                     _num(r.get("crud_no_count_per_s")) if "crud_no_count_per_s" in r else "–"])
    out += _table(["Products", "Query", "ours requests/s", "CRUD requests/s", "ratio", "ours p99 ms", "CRUD p99 ms",
                   "CRUD without COUNT requests/s"], rows)
    return out


def _cpu_per_request(line: dict) -> dict[str, float]:
    """Milliseconds of CPU per request, by process group: measured through the projecting the
    commands caused where the line has it, else estimated from its cores and rate."""
    measured = line.get("cpu_ms_per_accepted")
    if measured:
        return {group: value for group, value in measured.items() if group != "system"}
    rate = line.get("per_second") or 0
    cores = line.get("cores_used") or {}
    return {group: cores[group] / rate * 1000 for group in ("gunicorn", "celery_worker", "postgres_bench", "rabbitmq")
            if rate and cores.get(group)}


def _why_commands(b: dict) -> list[str]:
    d = b["detail"]
    crud, register, alone = d.get("crud_create"), d.get("register"), d.get("register_no_worker")
    if not (crud and register):
        return []
    ours, theirs = _cpu_per_request(register), _cpu_per_request(crud)
    out = [f"CPU per accepted command, in ms: CRUD create {_num(theirs.get('gunicorn'), 2)} in gunicorn and "
           f"{_num(theirs.get('postgres_bench'), 2)} in PostgreSQL; register {_num(ours.get('gunicorn'), 2)} in "
           f"gunicorn, {_num(ours.get('celery_worker'), 2)} in the Celery worker, "
           f"{_num(ours.get('postgres_bench'), 2)} in PostgreSQL and {_num(ours.get('rabbitmq'), 2)} in RabbitMQ. "
           "The worker and most of the extra PostgreSQL time are the read models and the relay's publishes, work "
           "the CRUD endpoint does not do; on these 2 cores they run beside gunicorn and take its CPU. With every "
           f"core busy, rates go inversely with CPU per command: {_num(sum(theirs.values()), 2)} against "
           f"{_num(sum(ours.values()), 2)} ms predicts {_ratio(sum(theirs.values()) / sum(ours.values()))} of "
           f"CRUD's rate; measured {_ratio(register['per_second'] / crud['per_second'])}."]
    if alone:
        out.append(f"With the worker stopped, the command side alone answered {_num(alone['per_second'])} "
                   f"registrations/s, {_ratio(alone['per_second'] / crud['per_second'])} CRUD's, with p99 "
                   f"{_num(alone['latency']['p99_ms'], 1)} ms against CRUD's {_num(crud['latency']['p99_ms'], 1)} ms: "
                   "the longer tail under load is the projecting's share of the two cores, not the command path.")
    return out


def _why_projections(b: dict) -> list[str]:
    out = []
    relay = b["detail"].get("integration_relay")
    if relay and relay["ours"]["per_second"] < 25_000:
        out.append(f"The integration relay publishes each event as a persistent message and waits for the "
                   f"broker's confirms of a whole batch: {_num(relay['ours']['per_second'])} events/s, against "
                   f"{_num(relay['raw']['per_second'])}/s for raw py-amqp confirming each message in turn. Its "
                   f"process spends {_num(relay['ours'].get('cpu_us_per_event'))} µs of CPU per event building and "
                   f"framing messages in Python (kombu, py-amqp) and is on a CPU "
                   f"{_num((relay['ours'].get('busy_share') or 0) * 100, 0)} % of the time, waiting for RabbitMQ "
                   "(on the same two cores) the rest: 25,000/s would leave 40 µs per event for both.")
    catalog = b["detail"].get("product_catalog", {})
    bare = catalog.get("raw_pk_only")
    slow = [r for r in b["rows"] if r["projection"] != "integration_relay" and r["ours_per_s"] < 25_000]
    if not slow or not bare:
        return out
    return out + [f"Below 25,000 events/s: {', '.join(r['projection'] for r in slow)}. The hand-written psycopg "
            f"projection of the catalog reaches {_num(catalog['raw']['per_second'])} events/s into the same table and "
            f"{_num(bare['per_second'])} into a table with its primary key only: every event rewrites its product's "
            f"row and so all {_num(b.get('catalog_secondary_indexes'))} secondary indexes that the Query API's "
            "filters and orderings need. Even the hand-written projection, which leaves out everything but the "
            "database's share of the work, stays below 25,000/s on this table; ours keeps within the 0.3x of it "
            "that the issue asks for."]


def _why_freshness(b: dict) -> list[str]:
    steady = b.get("steady") or {}
    out = []
    idle = (b.get("idle") or {}).get("freshness") or {}
    rounds = next(iter((b.get("worker_task_durations") or {}).values()), {})
    speed = (b.get("load_before") or {}).get("core_speed_ms")
    if idle.get("p50_ms") and rounds.get("p50_ms") and any(
            not t["met"] for t in b.get("targets", []) if t["name"].startswith("freshness idle")):
        out.append(f"Idle, a change is readable once the round its nudge starts has run: the worker's rounds took "
                   f"p50 {_num(rounds['p50_ms'], 1)} ms over this benchmark (idle and steady together), against an "
                   f"idle freshness of p50 {_num(idle['p50_ms'], 1)} ms, so the round itself is most of it"
                   + (f"; one core took {speed:g} ms for a million Python additions in this run, and the rounds' "
                      "statements are CPU on these same two cores" if speed else "") + ".")
    rate, cores = steady.get("achieved_rate"), steady.get("cores_used") or {}
    if rate and rate < steady.get("target_rate", 0) * 0.95:
        per = {group: cores.get(group, 0) / rate * 1000 for group in
               ("gunicorn", "celery_worker", "postgres_bench", "rabbitmq", "bench_client")}
        needed = sum(per.values()) * steady["target_rate"] / 1000
        out.append(f"The steady line asked for {steady['target_rate']:g} commands/s and the service answered "
                   f"{rate:g}/s with the machine {_num(cores.get('machine_busy'), 2)} of its 2 cores busy. Per "
                   f"command that is {_num(per['gunicorn'], 2)} ms of CPU in gunicorn, "
                   f"{_num(per['celery_worker'], 2)} in the worker, {_num(per['postgres_bench'], 2)} in PostgreSQL, "
                   f"{_num(per['rabbitmq'], 2)} in RabbitMQ and {_num(per['bench_client'], 2)} in the load "
                   f"generator and its poller: {steady['target_rate']:g}/s would take {_num(needed, 2)} cores. So "
                   "that line measures freshness at the highest rate this machine sustains, with the commands "
                   "queueing in gunicorn's backlog.")
    return out


def _why_appends(b: dict) -> list[str]:
    top = max(b["rows"], key=lambda r: r["writers"])
    n = str(top["writers"])
    cpu = {side: b.get("detail", {}).get(side, {}).get(n, {}).get("writer_cpu_us_per_append")
           for side in ("eventstore", "raw_insert", "raw_eventstore_sql")}
    return [f"At {top['writers']} writers the append's own statement over plain psycopg (no Django) reaches "
            f"{_num(top['raw_eventstore_sql_per_s'])}/s, {_ratio(top['raw_eventstore_sql_per_s'] / top['raw_insert_per_s'])} "
            "the raw INSERT: the event table's unique indexes on random UUIDs, its (tx, position) and (type, "
            "position) indexes and the first-write trigger, which the plain table has none of. The rest is the "
            f"writers' own CPU, which 16 processes share with PostgreSQL on 2 cores: {_num(cpu['eventstore'])} µs per "
            f"append through Django against {_num(cpu['raw_eventstore_sql'])} µs for the same statement over "
            f"psycopg and {_num(cpu['raw_insert'])} µs for the raw INSERT."] + _one_writer(b)


def _one_writer(b: dict) -> list[str]:
    one = next((r for r in b["rows"] if r["writers"] == 1), None)
    if not one or not one.get("raw_eventstore_sql_per_s"):
        return []
    return [f"With one writer, where CPU is not shared, the append runs at "
            f"{_ratio(one['eventstore_per_s'] / one['raw_eventstore_sql_per_s'])} its plain-psycopg statement."]


def _why_sustained(b: dict) -> list[str]:
    ours = b["steps"].get("ours", [])
    missed = next((s for s in ours if not s["kept"]), None)
    if missed is None or not missed.get("cpu_ms_per_command"):
        return []
    cpu = missed["cpu_ms_per_command"]
    return [f"At {missed['rate']}/s the service answered {_num(missed['achieved_rate'])}/s with p99 "
            f"{_num(missed['command_latency_from_due']['p99_ms'], 1)} ms from the due time, its processes "
            f"(gunicorn, worker, beat, PostgreSQL, RabbitMQ) keeping {_num(missed['system_cores'], 2)} cores busy: "
            f"{_num(cpu, 2)} ms of CPU per registration. 200/s would take {_num(200 * cpu / 1000, 2)} cores of "
            "the machine's 2, beside the load generator and the poller; the tail grows as the cores fill up."]


def _why_feed(b: dict) -> list[str]:
    rate, followers = b["steady_with_followers"].get("achieved_rate") or 0, b["followers"]
    return [f"With {followers} followers each event is written to each of them: at {_num(rate)} commands/s that is "
            f"{_num(rate * followers)} writes per second from the feed's one process, beside the service, its worker "
            "and PostgreSQL on the machine's two cores."]


WHY = {"commands_http": _why_commands, "appends": _why_appends, "projections": _why_projections, "freshness": _why_freshness,
       "sustained": _why_sustained, "feed": _why_feed}


def _upcasting(b: dict) -> list[str]:
    rows = []
    for line, label in (("new", "all new"), ("half_old", "half old")):
        d = b["detail"][line]
        per = "; ".join(f"{name} {_num(p['median_seconds'], 2)} s" for name, p in d["projections"].items())
        rows.append([label, " / ".join(_num(t, 2) for t in d["round_seconds"]), _num(d["median_seconds"], 2),
                     _num(d["events_per_s"]), per])
    out = _table(["Log", "seconds per round (three projections)", "median s", "events/s", "median per projection"], rows)
    decode = "; ".join(f"{version}: {_num(d['us_per_event'], 2)} µs ({_num(d['events'])} events)"
                       for version, d in b["decode"].items())
    out += ["", f"The half-old log took {b['slowdown']:.3f}x the time of the new one. Read models of both logs the "
                f"same: {_num(b['same_read_models'])} ({b['read_model_differences']}).",
            "", f"Reading one ProductRegistered or ProductPriceChanged (`decode`), best of five passes: {decode}."]
    return out


def _sustained(b: dict) -> list[str]:
    rows = []
    for side, label in (("ours", "register (POST /api/products/)"), ("crud", "CRUD create (POST /crud/products/)")):
        for s in b["steps"].get(side, []):
            fresh = s.get("freshness", {})
            rows.append([label, _num(s["rate"]), _num(s["achieved_rate"]), _num(s["command_latency_from_due"]["p50_ms"], 1),
                         _num(s["command_latency_from_due"]["p99_ms"], 1),
                         _num(fresh.get("p50_ms"), 1) if fresh else "–", _num(fresh.get("p99_ms"), 1) if fresh else "–",
                         s["failed"], "kept" if s["kept"] else "**not kept**"])
    out = _table(["Side", "rate /s", "achieved /s", "command p50 ms (from due)", "command p99 ms", "freshness p50 ms",
                  "freshness p99 ms", "failed", ""], rows)
    kept = b["kept"]
    out += ["", f"Highest rate kept: the service {_num(kept['ours'])}/s, CRUD {_num(kept['crud'])}/s "
                f"({b['seconds_per_rate']:g} s per rate, from {b['start']}/s in steps of {b['step']}/s, at most "
                f"{b['ceiling']}/s)."]
    return out


def _feed(b: dict) -> list[str]:
    rows = []
    for key, label in (("idle", f"idle, {b['probes']} followers"), ("steady", f"steady, {b['probes']} followers"),
                       ("held", f"held, {b['followers']} followers"),
                       ("steady_with_followers", f"steady, {b['followers']} followers")):
        line = b[key]
        command = line.get("command_latency", {})
        rows.append([label, _num(line.get("rate")) if "rate" in line else "one at a time",
                     _num(line.get("achieved_rate")) if "rate" in line else "–",
                     _num(line["delivery"]["p50_ms"], 1), _num(line["delivery"]["p99_ms"], 1),
                     _num(line["delivery"]["max_ms"], 1), line["missing"],
                     _num(command.get("p99_ms"), 1) if command else "–"])
    out = _table(["Line", "commands/s asked", "answered/s", "delivery p50 ms", "delivery p99 ms", "max ms",
                  "never delivered", "command p99 ms"], rows)
    rss = b["feed_rss_mb"]
    out += ["", f"{b['followers']} followers opened in {_num(b['opening_seconds'], 2)} s ({_num(b.get('start_retries'))} "
                "answers of 503 while they started, each tried again a second later); "
                f"{b['still_open_after']} still "
                f"open at the end. The feed's memory went from {_num(rss['before'])} MB to {_num(rss['after'])} MB: "
                f"{_num(b['kb_per_follower'])} KB per idle follower. Delivery is measured at the probes, from the "
                "command's 202 to the message's arrival; the other followers read and drop what they get."]
    if b.get("follower_failures"):
        out += ["", "Followers that failed: " + "; ".join(f"`{failure}`" for failure in b["follower_failures"])]
    return out


def _webhooks(b: dict) -> list[str]:
    idle, alone, together = b["idle"], b["alone"], b["together"]
    plain, plain_together = b["baseline"], b["baseline_together"]
    rows = [["idle, one registration at a time: webhook", _num(idle["webhook"]["p50_ms"], 1),
             _num(idle["webhook"]["p99_ms"], 1), _num(idle["webhook"]["max_ms"], 1)],
            ["idle: the relay's message (baseline)", _num(idle["relay"]["p50_ms"], 1),
             _num(idle["relay"]["p99_ms"], 1), _num(idle["relay"]["max_ms"], 1)]]
    out = _table(["From the 202 to", "p50 ms", "p99 ms", "max ms"], rows)
    out += ["", f"Backlogs of {_num(b['bulk'])} deliveries each: one subscription sent {_num(alone['per_second'])} "
                f"per second; {together['subscriptions']} at once sent {_num(together['per_second'])} per second in "
                f"all. The same POSTs from one plain loop without the outbox: {_num(plain['per_second'])} per second; "
                f"from {plain_together['loops']} loops at once: {_num(plain_together['per_second'])} per second "
                f"({plain['failed'] + plain_together['failed']} failed)."]
    return out


SECTIONS = {"commands_http": _commands, "appends": _appends, "projections": _projections, "freshness": _freshness,
            "rebuild": _rebuild, "queries": _queries, "upcasting": _upcasting,
            "sustained": _sustained, "feed": _feed, "webhooks": _webhooks}


def _code(code: dict) -> str:
    changed = code.get("uncommitted_changes") or []
    if not changed:
        return f"commit {code.get('commit', '?')}"
    shown = ", ".join(f"`{path}`" for path in changed[:12]) + (" …" if len(changed) > 12 else "")
    return f"commit {code.get('commit', '?')} plus uncommitted changes to {len(changed)} file(s): {shown}"


def render(results: dict) -> str:
    machine = results.get("machine", {})
    versions = machine.get("versions", {})
    last = results.get("last_run", {})
    full = results.get("last_full_run")
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/report.py` from `bench/results/latest.json`; do not edit by hand. The service is "
        "measured side by side with what a user would otherwise run, in the same run on the same machine. "
        "Timing never goes into the tests.",
        "",
        "## How to run",
        "",
        "```sh",
        "make bench                                   # installs .[dev,bench], then python -m bench.run",
        ".venv/bin/python -m bench.run --only appends queries   # some benchmarks; the others keep their figures",
        ".venv/bin/python -m bench.run --quick        # reduced sizes, a smoke check (writes var/bench/quick.json)",
        "```",
        "",
        "It needs PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust; or `BENCH_POSTGRES_URL`) and RabbitMQ on "
        "127.0.0.1:5672 (guest/guest; or `BENCH_RABBITMQ_URL`) with `rabbitmqctl`, as `make test` does. Each "
        "benchmark makes its own database `bench_<random>` (and vhost) and removes it. HTTP load comes from `wrk` "
        "(`make bench` installs Debian's package when it can), else from a Python generator; the same one serves both "
        "sides. Logs of the processes it starts go to `var/bench-logs/`.",
        "",
        f"Last run: `{last.get('command', 'python -m bench.run')}`, finished {last.get('finished_at', '?')}, "
        f"{_num(last.get('wall_seconds'))} s in all."
        + (f" The last run of the whole suite took {_num(full.get('wall_seconds'))} s "
           f"({full.get('wall_seconds', 0) / 60:.1f} minutes), finished {full.get('finished_at', '?')}."
           if full else ""),
        "",
        "## Machine",
        "",
    ]
    settings = machine.get("postgresql_settings", {})
    lines += _table(["", ""], [
        ["code", _code(machine.get("code", {}))],
        ["cores", machine.get("cores")],
        ["CPU (of the last run; each benchmark names its own)", machine.get("cpu_model", "")],
        ["memory", f"{machine.get('memory_gib')} GiB"],
        ["kernel", machine.get("kernel")],
        ["Python", versions.get("python")],
        ["Django / DRF", f"{versions.get('django')} / {versions.get('djangorestframework')}"],
        ["Celery / kombu", f"{versions.get('celery')} / {versions.get('kombu')}"],
        ["psycopg", versions.get("psycopg")],
        ["gunicorn", f"{versions.get('gunicorn')} (deploy/gunicorn.conf.py: "
                     f"{_gunicorn(machine.get('gunicorn', {'workers': '?', 'worker_class': '?'}))}, both sides)"],
        ["PostgreSQL", f"{versions.get('postgresql')} ({', '.join(f'{k}={v}' for k, v in sorted(settings.items()))})"],
        ["RabbitMQ", versions.get("rabbitmq")],
        ["eventsourcing", versions.get("eventsourcing")],
        ["load generator", versions.get("wrk")],
    ])
    benchmarks = results.get("benchmarks", {})
    all_targets = []
    for name, figures in benchmarks.items():
        for t in figures.get("targets", []):
            all_targets.append([TITLES.get(name, name), t])
    met = sum(1 for _, t in all_targets if t["met"])
    with_target = sum(1 for _, t in all_targets if t["met"] is not None)
    lines += ["", "## Targets", "", f"{met} of {with_target} targets met.", ""]
    rows = [[bench, t["name"], f"{_num(t['ours'])} {t['unit']}",
             "–" if t["baseline"] is None else f"{_num(t['baseline'])} {t['unit']}", _ratio(t["ratio"]),
             t["target"] or "–", _met(t)] for bench, t in all_targets]
    lines += _table(["Benchmark", "Measure", "Ours", "Baseline", "Ratio", "Target", "Met"], rows)
    for name, figures in benchmarks.items():
        lines += ["", f"## {TITLES.get(name, name)}", "", _load_note(figures), ""]
        if "error" in figures:
            lines += [f"**Failed:** `{figures['error']}`"]
            continue
        doc = _module_doc(name)
        if doc:
            lines += [doc, ""]
        lines += _targets(figures.get("targets", [])) + [""]
        if any(t["met"] is False for t in figures.get("targets", [])) and name in WHY:
            why = WHY[name](figures)
            if why:
                lines += ["**Where a target is not met, and the measurement that shows why.** " + " ".join(why), ""]
        lines += SECTIONS[name](figures)
    lines += ["", "## Reading the figures", "",
              "- Every ratio is ours / baseline: above 1 means faster for rates, slower for latencies.",
              "- Compare ratios, not absolute figures across runs: on a shared virtual machine the same code's "
              "rates have differed by a third and more between runs of one day, while each ratio comes from one "
              "run, its two sides a minute apart.",
              "- Absolute figures (a sustained rate, a freshness in ms) follow the machine's speed. Each benchmark "
              "notes how long one core took for a million Python additions just before it ran: the same host has "
              "measured about twice as slow on one day as on another, and the absolute figures moved with it "
              "while the ratios held.",
              "- `other load` is CPU the machine spent outside the measured processes: other users' processes "
              "(`foreign_processes` in the JSON) and CPU no process accounts for (`other_load`: the kernel's "
              "network work for loopback traffic, short-lived processes). On a 2-core machine any of it lowers "
              "the figures, not always equally for both sides. `load_before` in the JSON is what other users "
              "kept busy just before each benchmark.",
              "- Latency percentiles are nearest-rank, as wrk computes them: each is a latency that was observed.",
              "- Full figures per line (latency percentiles, CPU per process group, errors) are in "
              "`bench/results/latest.json`.", ""]
    return "\n".join(lines)


def _module_doc(name: str) -> str:
    import importlib

    try:
        doc = importlib.import_module(f"bench.{name}").__doc__ or ""
    except Exception:
        return ""
    # The module docstring minus its title line: how the benchmark measures.
    body = doc.strip().split("\n", 1)
    return body[1].strip() if len(body) > 1 else ""


def write_report(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results))


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else LATEST
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else REPORT
    write_report(json.loads(source.read_text()), target)
