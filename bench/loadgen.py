"""HTTP load: wrk (C, epoll) when it is installed, else a Python generator; the same for both sides.

A load is described once (`Load`) and turned into a wrk Lua script or run by the Python
generator. Each runs closed-loop on a fixed number of connections for a fixed duration and
reports requests/s, latency percentiles (ms), errors, and the generator's own CPU time, so a
run can show the generator was not the bottleneck. Only loopback URLs are accepted.

wrk measures latency from the request's first byte written to the response's last byte read;
the Python generator does the same around http.client calls.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.support.stats import percentile

from .common import LOG_DIR, wait_rusage


@dataclass
class Load:
    """Requests to send: `path` may hold {id}; `body` may hold {sku} and {price}.

    {id} takes the next id of `ids` in turn (pick="cycle", so consecutive commands on one product
    are len(ids) requests apart) or a random one (pick="random"). {sku} is unique per request;
    {price} is "<13 + round>.00", so each command on a product sets a price it does not have.
    """

    method: str
    path: str
    body: str | None = None
    ids: list[str] = field(default_factory=list)
    pick: str = "cycle"
    token: str | None = None
    prefix: str = "L"

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        return headers

    def request(self, n: int, rng: random.Random) -> tuple[str, str, bytes | None]:
        """The n-th request (n from 1), as the Lua script builds it."""
        path, body = self.path, self.body
        if self.ids:
            index = (n % len(self.ids)) if self.pick == "cycle" else rng.randrange(len(self.ids))
            path = path.replace("{id}", self.ids[index])
        if body is not None:
            rounds = n // len(self.ids) if self.ids else n
            body = body.replace("{sku}", f"{self.prefix}-{n}").replace("{price}", f"{13 + rounds % 90000}.00")
        return self.method, path, None if body is None else body.encode()


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_script(load: Load) -> str:
    headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in load.headers().items())
    ids = ", ".join(_lua_string(i) for i in load.ids)
    body = "nil" if load.body is None else _lua_string(load.body)
    return f"""
local method = {_lua_string(load.method)}
local path_template = {_lua_string(load.path)}
local body_template = {body}
local headers = {{ {headers} }}
local ids = {{ {ids} }}
local pick_random = {"true" if load.pick == "random" else "false"}
local prefix = {_lua_string(load.prefix)}
local n = 0

function init(args)
  math.randomseed(os.time())
end

function request()
  n = n + 1
  local path = path_template
  local rounds = n
  if #ids > 0 then
    local index
    if pick_random then index = math.random(#ids) else index = (n % #ids) + 1 end
    path = string.gsub(path, "{{id}}", ids[index])
    rounds = math.floor(n / #ids)
  end
  local body = body_template
  if body ~= nil then
    body = string.gsub(body, "{{sku}}", prefix .. "-" .. n)
    body = string.gsub(body, "{{price}}", string.format("%d.00", 13 + rounds % 90000))
  end
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def _check_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"Load goes to loopback only, not {host!r}")


def run(base_url: str, load: Load, connections: int, duration: float, generator: str | None = None,
        max_requests: int = 5_000_000) -> dict[str, Any]:
    """Closed-loop load for `duration` seconds on `connections` connections."""
    _check_loopback(base_url)
    generator = generator or os.environ.get("BENCH_LOAD_GENERATOR") or ("wrk" if wrk_available() else "python")
    if generator == "wrk":
        return _run_wrk(base_url, load, connections, duration)
    return _run_python(base_url, load, connections, duration, max_requests)


def _run_wrk(base_url: str, load: Load, connections: int, duration: float) -> dict[str, Any]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=LOG_DIR, delete=False) as script:
        script.write(lua_script(load))
    try:
        process = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s", "-s", script.name, base_url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        output = process.stdout.read().decode(errors="replace")  # wrk stops itself after -d
        _, usage = wait_rusage(process, timeout=duration + 60)
        process.stdout.close()
    finally:
        os.unlink(script.name)
    match = re.search(r"^BENCH_WRK (\{.*\})$", output, re.M)
    if not match:
        raise RuntimeError(f"wrk reported nothing:\n{output}")
    raw = json.loads(match[1])
    seconds = raw["duration_us"] / 1e6
    errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout")}
    return {
        "generator": "wrk",
        "connections": connections,
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "per_second": round(raw["requests"] / seconds, 1),
        "latency": {"p50_ms": raw["p50"] / 1000, "p90_ms": raw["p90"] / 1000, "p99_ms": raw["p99"] / 1000,
                    "p999_ms": raw["p999"] / 1000, "max_ms": raw["max"] / 1000, "mean_ms": round(raw["mean"] / 1000, 3)},
        "errors": errors,
        # Non-2xx/3xx answers and socket errors: a run with any is reported, not trusted.
        "error_count": sum(errors.values()),
        "generator_cores": round((usage.ru_utime + usage.ru_stime) / seconds, 3),
    }


def _run_python(base_url: str, load: Load, connections: int, duration: float, max_requests: int) -> dict[str, Any]:
    parts = urlsplit(base_url)
    headers = load.headers()
    counter = iter(range(1, max_requests + 1))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    deadline = time.perf_counter() + duration

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn: http.client.HTTPConnection | None = None
        mine: list[float] = []
        while time.perf_counter() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            method, path, body = load.request(n, rng)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                t0 = time.perf_counter()
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                mine.append(time.perf_counter() - t0)
                if response.status >= 400:
                    errors["status"] += 1
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                errors["read"] += 1
                if conn is not None:
                    conn.close()
                conn = None
        with lock:
            latencies.extend(mine)

    cpu0 = time.process_time()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 30)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    ms = [value * 1000 for value in latencies]
    return {
        "generator": "python",
        "connections": connections,
        "requests": len(ms),
        "seconds": round(seconds, 3),
        "per_second": round(len(ms) / seconds, 1),
        "latency": {key: None if value is None else round(value, 3) for key, value in (
            ("p50_ms", percentile(ms, 50)), ("p90_ms", percentile(ms, 90)), ("p99_ms", percentile(ms, 99)),
            ("p999_ms", percentile(ms, 99.9)), ("max_ms", max(ms) if ms else None),
            ("mean_ms", sum(ms) / len(ms) if ms else None))},
        "errors": errors,
        "error_count": sum(errors.values()),
        "generator_cores": round(cpu / seconds, 3),
    }


def post_json(base_url: str, path: str, body: dict, token: str | None = None, timeout: float = 10) -> tuple[int, dict]:
    """One request on a fresh connection (as a sync gunicorn worker closes it anyway)."""
    _check_loopback(base_url)
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        payload = response.read()
        return response.status, (json.loads(payload) if payload else {})
    finally:
        conn.close()


@dataclass
class Answer:
    """One request of an open-loop run: when it was due, sent and fully answered (perf_counter)."""

    slot: int
    due: float
    sent: float
    answered: float
    status: int
    body: dict


def open_loop_posts(base_url: str, token: str | None, requests: list[tuple[str, dict]], rate: float,
                    on_answer, timeout: float = 30) -> tuple[list[Answer], list[str], float]:
    """POST `requests` (path, JSON body) at `rate` per second on schedule, answered or not.

    One thread, one event loop, a fresh connection per request (a sync gunicorn worker closes it
    anyway): a generator of threads spent its time on the GIL, and at 200 requests/s the
    machine's second core then went to the generator, not to the service. `on_answer(answer)`
    is called in the loop as each answer is read whole. Returns (answers, errors, seconds from
    the first due time to the last answer).
    """
    import asyncio

    _check_loopback(base_url)
    parts = urlsplit(base_url)
    head = (f"Host: {parts.hostname}:{parts.port}\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
            + (f"Authorization: Token {token}\r\n" if token else "") + "Connection: close\r\n")
    answers: list[Answer] = []
    errors: list[str] = []

    async def one(slot: int, due: float, path: str, body: dict) -> None:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        payload = json.dumps(body).encode()
        sent = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(f"POST {path} HTTP/1.1\r\n{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
            status_line = await reader.readuntil(b"\r\n")
            headers = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", headers)
            if length is None:
                raise OSError(f"an answer without Content-Length: {status_line!r}")
            content = await reader.readexactly(int(length[1]))
            answered = time.perf_counter()
            writer.close()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            errors.append(repr(error))
            return
        answer = Answer(slot, due, sent, answered, int(status_line.split()[1]), json.loads(content or b"{}"))
        answers.append(answer)
        on_answer(answer)

    async def main() -> float:
        start = time.perf_counter() + 0.2
        tasks = [asyncio.create_task(one(n, start + n / rate, path, body)) for n, (path, body) in enumerate(requests)]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=len(requests) / rate + timeout)
        return time.perf_counter() - start

    seconds = asyncio.run(main())
    return answers, errors, seconds
