"""10. Webhooks: deliveries per second, and the delay from a command's 202 to its delivery.

The service as deployed (gunicorn with deploy/gunicorn.conf.py, a Celery worker with its default
concurrency, beat) on a scratch database and a scratch RabbitMQ vhost, with
WEBHOOK_ALLOW_PRIVATE_ADDRESSES on: the receiver is an HTTP server in this process, on loopback,
that notes when each CloudEvent arrives and answers 204.

- idle: one registration at a time; from the 202 to the CloudEvent at the receiver. Baseline,
  in the same run: the same command's message at a subscriber of the integration relay's
  RabbitMQ exchange, the other way the catalog sends its events out (a projection, as the
  webhooks consumer is).
- throughput: BULK registrations are queued for parked subscriptions, then the subscriptions are
  resumed (`manage.py webhook_resume`, as an operator does) and sent their backlog: one
  subscription alone, then SUBSCRIPTIONS at once, to a receiver that answers at once. From the
  first arrival to the last. Baseline: the same number of POSTs made by webhooks.delivery.send
  itself from plain loops with no outbox (bench/worker.py webhook_sender), to the same receiver:
  one loop against the subscription alone, and as many loops as the worker has processes (its
  default concurrency, the machine's cores) against the subscriptions at once.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from tests.support.polling import wait_until

from . import loadgen
from .common import RABBITMQ_URL, ROOT, Child, Run, connect, log, summarize_ms, worker_settled

IDLE_COMMANDS = 100
BULK = 2000
BULK_RATE = 200.0
SUBSCRIPTIONS = 4
EXCHANGE = "catalog.events"


class Receiver:
    """Notes (path -> subject -> arrival) for every CloudEvent POSTed to it; answers 204."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, dict[str, float]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, for a sender that keeps its connection

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                arrived = time.perf_counter()
                subject = json.loads(body)["subject"]
                with receiver.lock:
                    receiver.arrivals.setdefault(self.path, {}).setdefault(subject, arrived)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def at(self, path: str) -> dict[str, float]:
        with self.lock:
            return dict(self.arrivals.get(path, {}))

    @contextmanager
    def serving(self) -> Iterator["Receiver"]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


class RelaySubscriber(threading.Thread):
    """A queue bound to the relay's exchange; notes when each product's first message arrives."""

    def __init__(self, broker_url: str) -> None:
        from kombu import Connection, Exchange, Queue

        super().__init__(daemon=True)
        self.connection = Connection(broker_url, connect_timeout=5)
        exchange = Exchange(EXCHANGE, type="topic", durable=True)
        self.queue = self.connection.SimpleQueue(Queue("bench.webhooks.relay", exchange=exchange, routing_key="#"))
        self.arrivals: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                message = self.queue.get(block=True, timeout=0.2)
            except self.queue.Empty:
                continue
            self.arrivals.setdefault(json.loads(message.body)["stream_id"], time.perf_counter())
            message.ack()

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.queue.close()
        self.connection.release()


def _register(n: int, prefix: str) -> tuple[str, dict]:
    sku = f"{prefix}{secrets.token_hex(3)}-{n}"
    return "/api/products/", {"sku": sku, "name": f"Webhook kettle {sku}", "category": "Kitchen", "price": "12.50",
                              "currency": "EUR"}


def _subscribe(database: str, name: str, url: str, parked: bool) -> None:
    with connect(database) as conn:
        conn.execute(
            "INSERT INTO webhook_subscription (name, url, event_types, secret, active, status, parked_reason,"
            " last_error, delivered_through, created_at) VALUES (%s, %s, '[\"ProductRegistered\"]', 'bench-secret',"
            " true, %s, '', '', '', now())", [name, url, "parked" if parked else "active"])


def _idle(ctx: Run, service_url: str, receiver: Receiver, relay: RelaySubscriber, count: int) -> dict[str, Any]:
    hooked, relayed = [], []
    for n in range(count):
        path, body = _register(n, "WI")
        status, answer = loadgen.post_json(service_url, path, body, ctx.token)
        answered = time.perf_counter()
        assert status == 202, (status, answer)
        product_id = answer["product_id"]
        wait_until(lambda: product_id in receiver.at("/idle") and product_id in relay.arrivals, timeout=30,
                   interval=0.001, what="the delivery and the relayed message")
        hooked.append(receiver.at("/idle")[product_id] - answered)
        relayed.append(relay.arrivals[product_id] - answered)
    return {"commands": count, "webhook": summarize_ms(hooked), "relay": summarize_ms(relayed)}


def _drain(env: dict[str, str], receiver: Receiver, names: list[str], expected: int) -> dict[str, Any]:
    """Resume the parked subscriptions together; deliveries per second from the first arrival to the last."""
    subprocess.run([sys.executable, "manage.py", "webhook_resume", *names], cwd=ROOT, env=env, check=True,
                   timeout=60, capture_output=True)
    wait_until(lambda: all(len(receiver.at(f"/{name}")) >= expected for name in names), timeout=600, interval=0.1,
               what=f"{expected} deliveries to each of {', '.join(names)}")
    return {"subscriptions": len(names), "deliveries": expected * len(names),
            "per_second": _arrival_rate(receiver, [f"/{name}" for name in names])}


def _arrival_rate(receiver: Receiver, paths: list[str]) -> float:
    times = sorted(t for path in paths for t in receiver.at(path).values())
    return round((len(times) - 1) / (times[-1] - times[0]), 1)


def _plain(env: dict[str, str], receiver: Receiver, loops: int, total: int, label: str) -> dict[str, Any]:
    """`loops` plain senders started together, `total` POSTs between them; per second in all."""
    paths = [f"/{label}{n}" for n in range(loops)]
    children = [Child("webhook_sender", {"url": receiver.url + path, "count": total // loops}, env) for path in paths]
    try:
        for child in children:
            child.wait_ready()
        for child in children:
            child.go()
        failed = sum(child.wait_result(600)["failed"] for child in children)
        for child in children:
            child.finish()
    finally:
        for child in children:
            child.kill()
    return {"loops": loops, "sent": total, "failed": failed, "per_second": _arrival_rate(receiver, paths)}


def run(ctx: Run) -> dict[str, Any]:
    idle_count, bulk = ctx.size(IDLE_COMMANDS, 20), ctx.size(BULK, 200)
    with Receiver().serving() as receiver, ctx.vhost() as vhost, ctx.scratch_database() as database:
        env = ctx.service_env(database, vhost, WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1")
        relay = RelaySubscriber(f"{RABBITMQ_URL}/{vhost}")
        relay.start()
        try:
            with ctx.deployed(env) as deployment:
                service_url = deployment.service.base_url
                _subscribe(database, "idle", f"{receiver.url}/idle", parked=False)
                log(f"webhooks: idle, {idle_count} registrations one at a time")
                idle = _idle(ctx, service_url, receiver, relay, idle_count)
                with connect(database) as conn:
                    conn.execute("UPDATE webhook_subscription SET active = false WHERE name = 'idle'")
                names = [f"bulk{n}" for n in range(1 + SUBSCRIPTIONS)]
                for name in names:
                    _subscribe(database, name, f"{receiver.url}/{name}", parked=True)
                log(f"webhooks: queueing {bulk} registrations for {len(names)} parked subscriptions")
                requests = [_register(n, "WB") for n in range(bulk)]
                answers, errors, _ = loadgen.open_loop_posts(service_url, ctx.token, requests, BULK_RATE,
                                                             lambda answer: None)
                assert not errors and all(a.status == 202 for a in answers), errors[:3]
                worker_settled(database, vhost)
                log("webhooks: one subscription's backlog")
                alone = _drain(env, receiver, names[:1], bulk)
                worker_settled(database, vhost)
                log(f"webhooks: {SUBSCRIPTIONS} subscriptions' backlogs at once")
                together = _drain(env, receiver, names[1:], bulk)
                worker_settled(database, vhost)
            log(f"webhooks: baseline, {bulk} POSTs from a plain loop, then {bulk * SUBSCRIPTIONS} from "
                f"{os.cpu_count()} loops")
            plain = _plain(env, receiver, 1, bulk, "plain")
            plain_together = _plain(env, receiver, os.cpu_count() or 1, bulk * SUBSCRIPTIONS, "plain-together")
        finally:
            relay.stop()
    figures = {"idle": idle, "bulk": bulk, "alone": alone, "together": together, "baseline": plain,
               "baseline_together": plain_together}
    hook, relayed = idle["webhook"], idle["relay"]
    figures["targets"] = [
        {"name": "deliveries per second, one subscription", "ours": alone["per_second"],
         "baseline": plain["per_second"], "unit": "deliveries/s",
         "ratio": round(alone["per_second"] / plain["per_second"], 2), "target": None, "met": None},
        {"name": f"deliveries per second, {SUBSCRIPTIONS} subscriptions at once", "ours": together["per_second"],
         "baseline": plain_together["per_second"], "unit": "deliveries/s",
         "ratio": round(together["per_second"] / plain_together["per_second"], 2), "target": None, "met": None},
        {"name": "from the 202 to the delivery, idle: p50", "ours": hook["p50_ms"], "baseline": relayed["p50_ms"],
         "unit": "ms", "ratio": round(hook["p50_ms"] / relayed["p50_ms"], 2), "target": None, "met": None},
        {"name": "from the 202 to the delivery, idle: p99", "ours": hook["p99_ms"], "baseline": relayed["p99_ms"],
         "unit": "ms", "ratio": round(hook["p99_ms"] / relayed["p99_ms"], 2), "target": None, "met": None},
    ]
    return figures
