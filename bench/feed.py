"""9. The change feed: followers held at once, delivery latency, memory per follower.

The service as deployed (gunicorn with deploy/gunicorn.conf.py, a Celery worker, beat) and the
feed service as docker-compose runs it (uvicorn serving project.asgi), on a scratch database
and a scratch RabbitMQ vhost. Followers are SSE connections to /api/events/stream/ opened from
one asyncio loop in this process; a few of them (the probes) read each message and note when
it came, the others read and drop what they get.

- held: FOLLOWERS connections open together (opened WAVE at a time; one answered 503 tries
  again a second later, as an EventSource would); the feed's memory (RSS) before and after they
  connect gives the memory per idle follower. With all of them connected, registrations at
  HELD_RATE per second must all be answered 202, and reach every follower.
- idle: one registration at a time, with only the probes connected: from the 202 to the
  message at each probe. Probes follow both streams: the log (/api/events/stream/) and the
  product changes (/api/products/changes/), whose message comes after the catalog applied the
  change, so it includes the projection's own delay.
- steady: registrations at STEADY_RATE per second (open loop), probes only, and the same again
  with all FOLLOWERS connected (the moonshot's line).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
import time
from typing import Any

from tests.support.spawning import free_port

from . import loadgen
from .common import Run, _started, log, summarize_ms, worker_settled

FOLLOWERS = 1000
PROBES = 5
HELD_RATE = 10.0
STEADY_RATE = 100.0
IDLE_COMMANDS = 100
STARTS = 30  # tries a follower makes to start, a second apart
WAVE = 25  # followers that ask to start together
_STREAM_ID = re.compile(rb'"stream_id":"([0-9a-f-]{36})"')
_PRODUCT_ID = re.compile(rb'"id":"([0-9a-f-]{36})"')
LOG_STREAM = "/api/events/stream/"
PRODUCT_CHANGES = "/api/products/changes/"


class Followers:
    """SSE connections on one event loop: probes note when each product's first message came."""

    def __init__(self, port: int, token: str, path: str = LOG_STREAM) -> None:
        self.port, self.token, self.path = port, token, path
        self.product_id = _STREAM_ID if path == LOG_STREAM else _PRODUCT_ID
        self.seen: list[dict[str, float]] = []  # per probe: product id -> arrival
        self.bytes_dropped = 0
        self.tasks: list[asyncio.Task] = []
        self.failures: list[str] = []
        self.retries = 0  # 503s while starting, each retried a second later

    async def open(self, count: int, probe: bool) -> None:
        """`count` followers, WAVE at a time (each wave connected before the next asks)."""
        for first in range(0, count, WAVE):
            ready = [asyncio.get_running_loop().create_future() for _ in range(min(WAVE, count - first))]
            for future in ready:
                seen: dict[str, float] | None = {} if probe else None
                if seen is not None:
                    self.seen.append(seen)
                self.tasks.append(asyncio.create_task(self._follow(future, seen)))
            await asyncio.wait_for(asyncio.gather(*ready), 120)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The stream, retried after a 503 as an EventSource would (the feed starts followers a few
        at a time)."""
        for _ in range(STARTS):
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                         f"Authorization: Token {self.token}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if b" 200 " in status:
                return reader, writer  # the writer too: once collected, it closes the connection
            writer.close()
            if b" 503 " not in status:
                raise OSError(head[:200].decode(errors="replace"))
            self.retries += 1
            await asyncio.sleep(1.0)
        raise OSError(f"still 503 after {STARTS} tries")

    async def _follow(self, ready: asyncio.Future, seen: dict[str, float] | None) -> None:
        try:
            reader, writer = await self._connect()
            ready.set_result(None)
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    raise OSError("the feed closed the stream")
                if seen is None:
                    self.bytes_dropped += len(chunk)
                    continue
                now = time.perf_counter()
                for match in self.product_id.finditer(chunk):
                    seen.setdefault(match[1].decode(), now)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noted; a follower that fails is counted, not fatal
            self.failures.append(repr(error))
            if not ready.done():
                ready.set_exception(error)

    def latencies(self, answered: dict[str, float]) -> tuple[list[float], int]:
        """From each 202 to its message at each probe; and how many never arrived."""
        values, missing = [], 0
        for seen in self.seen:
            for product_id, t0 in answered.items():
                if product_id in seen:
                    values.append(seen[product_id] - t0)
                else:
                    missing += 1
        return values, missing

    async def wait_for(self, product_ids, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while any(not set(product_ids) <= set(seen) for seen in self.seen) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _body(sku: str) -> dict:
    return {"sku": sku, "name": f"Feed kettle {sku}", "category": "Kitchen", "price": "12.50", "currency": "EUR"}


async def _post(port: int, token: str, body: dict) -> tuple[int, str, float]:
    status, answer = await asyncio.to_thread(loadgen.post_json, f"http://127.0.0.1:{port}", "/api/products/", body,
                                             token)
    return status, answer.get("product_id", ""), time.perf_counter()


async def _idle(service_port: int, token: str, followers: Followers, changes: Followers) -> dict[str, Any]:
    answered = {}
    for n in range(IDLE_COMMANDS):
        status, product_id, at = await _post(service_port, token, _body(f"FI{secrets.token_hex(3)}-{n}"))
        assert status == 202, status
        answered[product_id] = at
        await followers.wait_for([product_id], timeout=10)
        await changes.wait_for([product_id], timeout=10)
    values, missing = followers.latencies(answered)
    changed, changes_missing = changes.latencies(answered)
    return {"commands": IDLE_COMMANDS, "delivery": summarize_ms(values), "missing": missing,
            "product_changes": {"delivery": summarize_ms(changed), "missing": changes_missing}}


async def _stream(base_url: str, token: str, rate: float, seconds: float, followers: Followers) -> dict[str, Any]:
    requests = [("/api/products/", _body(f"FS{secrets.token_hex(3)}-{n}")) for n in range(int(rate * seconds))]
    answered: dict[str, float] = {}

    def on_answer(answer: loadgen.Answer) -> None:
        if answer.status == 202:
            answered[answer.body["product_id"]] = answer.answered

    answers, errors, elapsed = await asyncio.to_thread(loadgen.open_loop_posts, base_url, token, requests, rate,
                                                       on_answer)
    await followers.wait_for(list(answered), timeout=30)
    values, missing = followers.latencies(answered)
    return {"rate": rate, "sent": len(requests), "answered_202": len(answered), "errors": len(errors),
            "achieved_rate": round(len(answered) / elapsed, 1) if elapsed else 0.0,
            "command_latency": summarize_ms([a.answered - a.due for a in answers]),
            "delivery": summarize_ms(values), "missing": missing}


def _rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return round(sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20, 1)


def run(ctx: Run) -> dict[str, Any]:
    followers_count = ctx.size(FOLLOWERS, 100)
    seconds = ctx.size(10.0, 3.0)
    with ctx.vhost() as vhost, ctx.scratch_database() as database:
        env = ctx.service_env(database, vhost)
        feed_port = free_port()
        feed_args = [sys.executable, "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1", "--port",
                     str(feed_port), "--no-access-log", "--timeout-graceful-shutdown", "3"]
        with ctx.deployed(env) as deployment, \
                _started(feed_args, env, "feed", "Uvicorn running on", "the feed to start", 60) as feed:
            token, service = ctx.token, deployment.service

            async def measure() -> dict[str, Any]:
                probes = Followers(feed_port, token)
                await probes.open(PROBES, probe=True)
                change_probes = Followers(feed_port, token, PRODUCT_CHANGES)
                await change_probes.open(PROBES, probe=True)
                log("feed: idle, one registration at a time")
                idle = await _idle(service.port, token, probes, change_probes)
                await change_probes.close()
                worker_settled(database, vhost)
                log(f"feed: steady {STEADY_RATE:g}/s with {PROBES} followers")
                steady = await _stream(service.base_url, token, STEADY_RATE, seconds, probes)
                worker_settled(database, vhost)
                rss_before = _rss_mb(feed.pid)
                crowd = Followers(feed_port, token)
                log(f"feed: opening {followers_count} followers")
                opened = time.perf_counter()
                await crowd.open(followers_count - PROBES, probe=False)
                opening_s = time.perf_counter() - opened
                await asyncio.sleep(2)
                rss_after = _rss_mb(feed.pid)
                log(f"feed: {HELD_RATE:g}/s with {followers_count} followers held")
                held = await _stream(service.base_url, token, HELD_RATE, seconds, probes)
                worker_settled(database, vhost)
                log(f"feed: steady {STEADY_RATE:g}/s with {followers_count} followers")
                crowded = await _stream(service.base_url, token, STEADY_RATE, seconds, probes)
                still_open = sum(1 for task in crowd.tasks if not task.done())
                await crowd.close()
                await probes.close()
                return {
                    "followers": followers_count, "probes": PROBES, "opening_seconds": round(opening_s, 2),
                    "start_retries": crowd.retries,
                    "still_open_after": still_open + PROBES, "follower_failures": crowd.failures[:3] + probes.failures[:3],
                    "feed_rss_mb": {"before": rss_before, "after": rss_after},
                    "kb_per_follower": round((rss_after - rss_before) * 1024 / max(1, followers_count - PROBES), 1),
                    "bytes_to_other_followers": crowd.bytes_dropped,
                    "idle": idle, "steady": steady, "held": held, "steady_with_followers": crowded,
                }

            figures = asyncio.run(measure())
    held_ok = (figures["still_open_after"] == followers_count and figures["held"]["errors"] == 0
               and figures["held"]["answered_202"] == figures["held"]["sent"] and figures["held"]["missing"] == 0)
    idle, steady, crowded = figures["idle"]["delivery"], figures["steady"]["delivery"], figures["steady_with_followers"]["delivery"]
    changes = figures["idle"]["product_changes"]["delivery"]
    figures["targets"] = [
        {"name": f"followers held at once, every command answered and delivered ({HELD_RATE:g}/s)",
         "ours": figures["still_open_after"] if held_ok else 0, "baseline": None, "unit": "connections", "ratio": None,
         "target": ">= 1,000", "met": held_ok and figures["still_open_after"] >= 1000},
        {"name": "delivery from the 202 to the follower, idle: p50", "ours": idle["p50_ms"], "baseline": None,
         "unit": "ms", "ratio": None, "target": "<= 20 ms", "met": (idle["p50_ms"] or 1e9) <= 20},
        {"name": "delivery, idle: p99", "ours": idle["p99_ms"], "baseline": None, "unit": "ms", "ratio": None,
         "target": "<= 100 ms", "met": (idle["p99_ms"] or 1e9) <= 100},
        {"name": "product changes: delivery from the 202 to the follower, idle, projection included: p50",
         "ours": changes["p50_ms"], "baseline": None, "unit": "ms", "ratio": None, "target": "<= 20 ms",
         "met": (changes["p50_ms"] or 1e9) <= 20},
        {"name": "product changes: delivery, idle: p99", "ours": changes["p99_ms"], "baseline": None, "unit": "ms",
         "ratio": None, "target": "<= 100 ms", "met": (changes["p99_ms"] or 1e9) <= 100},
        {"name": f"delivery at {STEADY_RATE:g} commands/s: p50", "ours": steady["p50_ms"], "baseline": None,
         "unit": "ms", "ratio": None, "target": "<= 20 ms", "met": (steady["p50_ms"] or 1e9) <= 20},
        {"name": f"delivery at {STEADY_RATE:g} commands/s: p99", "ours": steady["p99_ms"], "baseline": None,
         "unit": "ms", "ratio": None, "target": "<= 100 ms", "met": (steady["p99_ms"] or 1e9) <= 100},
        {"name": f"delivery at {STEADY_RATE:g} commands/s with {followers_count} followers: p99",
         "ours": crowded["p99_ms"], "baseline": None, "unit": "ms", "ratio": None, "target": "<= 25 ms (moonshot)",
         "met": (crowded["p99_ms"] or 1e9) <= 25},
    ]
    return figures
