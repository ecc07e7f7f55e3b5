"""Shared helpers: scratch databases and vhosts, the service's processes, summaries, results.

Everything a benchmark creates it removes again: each database `bench_<random>` is dropped, each
RabbitMQ vhost deleted, and each process it started (and only those: each runs in its own
process group) is stopped, also when a benchmark fails half-way.

Polling, ports, process groups, rabbitmqctl, database URLs and percentiles are the tests' own
helpers (tests/support/, the modules that need neither pytest nor Django).
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit

import psycopg

from tests.support.databases import on_same_server
from tests.support.polling import wait_until
from tests.support.rabbitmq import rabbitmqctl
from tests.support import spawning
from tests.support.spawning import free_port, stop
from tests.support.stats import percentile

from .datagen import CATEGORIES

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
LATEST = RESULTS_DIR / "latest.json"
QUICK = ROOT / "var" / "bench" / "quick.json"
REPORT = ROOT / "docs" / "BENCHMARKS.md"
# var/ is ignored by git; each run (each process of bench.run) logs into a folder of its own.
LOG_ROOT = ROOT / "var" / "bench-logs"
LOG_DIR = Path(os.environ.setdefault("BENCH_LOG_DIR", str(LOG_ROOT / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")))

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
# Both sides are served by the same gunicorn, run as deployed: with deploy/gunicorn.conf.py
# (its workers, worker class and threads; GUNICORN_WORKERS and GUNICORN_THREADS change them there too).
GUNICORN_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


def gunicorn_shape(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The workers, worker class and threads deploy/gunicorn.conf.py gives in this environment."""
    import runpy
    from unittest import mock

    with mock.patch.dict(os.environ, env or {}):
        conf = runpy.run_path(str(GUNICORN_CONFIG))
    return {"workers": conf["workers"], "worker_class": conf["worker_class"], "threads": conf.get("threads", 1)}
# The user every benchmark authenticates as: a plain user holding the command permission and
# the CRUD app's add/change permissions (so both sides check one model permission per command).
BENCH_USERNAME = "bench"


def _require_loopback(url: str) -> None:
    """Load goes to this machine only: refuse any database or broker that is not on loopback."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"Refusing to benchmark against {host!r}: only loopback addresses are allowed.")


_require_loopback(POSTGRES_URL)
_require_loopback(RABBITMQ_URL)


# --- Small utilities ----------------------------------------------------------------------


def summarize_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """Latencies given in seconds, summarized in milliseconds."""
    ms = [value * 1000 for value in seconds]
    return {
        "count": len(ms),
        "p50_ms": _round(percentile(ms, 50)),
        "p90_ms": _round(percentile(ms, 90)),
        "p99_ms": _round(percentile(ms, 99)),
        "max_ms": _round(max(ms)) if ms else None,
        "mean_ms": _round(sum(ms) / len(ms)) if ms else None,
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def db_url(name: str) -> str:
    return on_same_server(POSTGRES_URL, name)


def connect(name: str, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(db_url(name), autocommit=autocommit)


def queued_messages(vhost: str) -> dict[str, int]:
    """Messages in each queue of the vhost (ready and unacknowledged): the worker's backlog."""
    out = rabbitmqctl("list_queues", "-p", vhost, "name", "messages", check=False)
    depths = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            depths[parts[0]] = int(parts[1])
    return depths


def projections_caught_up(database: str, timeout: float = 120) -> float:
    """Wait until every projection has applied the whole log (the database alone: no rabbitmqctl,
    whose Erlang VM would land in the broker's CPU while it is being measured). Seconds waited."""
    started = time.monotonic()
    with connect(database) as conn:
        while time.monotonic() - started < timeout:
            lagging = conn.execute(
                "SELECT count(*) FROM projection_state s WHERE EXISTS (SELECT 1 FROM event_store e"
                " WHERE (e.tx, e.position) > (s.last_tx::text::xid8, s.last_position))").fetchone()[0]
            if not lagging:
                break
            time.sleep(0.005)
    return round(time.monotonic() - started, 3)


def worker_settled(database: str, vhost: str | None, timeout: float = 120) -> float:
    """Wait until the worker is idle again: every projection has applied the whole log and no
    task is queued, so one side's backlog never runs during the other side's measurement."""
    started = time.monotonic()
    with connect(database) as conn:
        while time.monotonic() - started < timeout:
            if vhost and any(queued_messages(vhost).values()):
                time.sleep(0.5)
                continue
            behind = conn.execute("SELECT EXISTS (SELECT 1 FROM event_store)"
                                  " AND NOT EXISTS (SELECT 1 FROM projection_state)").fetchone()[0]
            lagging = conn.execute(
                "SELECT count(*) FROM projection_state s WHERE EXISTS (SELECT 1 FROM event_store e"
                " WHERE (e.tx, e.position) > (s.last_tx::text::xid8, s.last_position))").fetchone()[0]
            if not lagging and not behind:
                break
            time.sleep(0.2)
    time.sleep(0.5)  # the last batch's task returns, the worker settles
    return round(time.monotonic() - started, 1)


# --- Processes ----------------------------------------------------------------------------


def start(args: list[str], env: dict[str, str], log_name: str) -> tuple[subprocess.Popen, Path]:
    """Start a process of ours in its own process group, its output in var/bench-logs/."""
    log_path = LOG_DIR / f"{log_name}.log"
    return spawning.start(args, env, log_path, cwd=ROOT), log_path


class Child:
    """A `python -m bench.worker TASK ARGS` process, driven through READY / GO / BENCH_RESULT / BYE.

    Several children can be made ready first and then started together; their CPU time and
    their database sessions' can be read while they are still alive, after they reported.
    """

    def __init__(self, task: str, args: dict[str, Any], env: dict[str, str], ready_timeout: float = 120) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.task = task
        self.log_path = LOG_DIR / f"child-{task}-{secrets.token_hex(3)}.log"
        with open(self.log_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.worker", task, json.dumps(args)],
                cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                start_new_session=True,
            )
        self.ready_timeout = ready_timeout
        self.result: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def _line(self, deadline: float) -> bytes:
        import select

        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if ready:
                line = self.process.stdout.readline()
                if not line:
                    raise RuntimeError(f"bench.worker {self.task} exited early; see {self.log_path}")
                return line
        raise TimeoutError(f"bench.worker {self.task} did not answer in time; see {self.log_path}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while self._line(deadline).strip() != b"READY":
            pass

    def _send(self, word: str) -> None:
        try:
            self.process.stdin.write(word.encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass

    def go(self) -> None:
        self._send("GO")

    def wait_result(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            line = self._line(deadline)
            if line.startswith(b"BENCH_RESULT "):
                self.result = json.loads(line[len(b"BENCH_RESULT "):])
                return self.result

    def finish(self, timeout: float = 60) -> dict[str, float]:
        """Let the child exit; returns its peak RSS (MB) from os.wait4, exactly this child's."""
        self._send("BYE")
        status, usage = wait_rusage(self.process, timeout)
        self.process.stdout.close()
        self.process.stdin.close()
        if status != 0:
            raise RuntimeError(f"bench.worker {self.task} failed ({status}); see {self.log_path}")
        return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "total_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)}

    def kill(self) -> None:
        stop(self.process)


def run_child(task: str, args: dict[str, Any], env: dict[str, str], timeout: float = 900,
              meter: bool = False) -> dict[str, Any]:
    """Run one child to completion; its result, plus "_process" (peak RSS) and, with `meter`,
    "_cores": the cores used while it measured, its own and its database session's included."""
    child = Child(task, args, env)
    try:
        child.wait_ready()
        cpu = CpuMeter({"child": [child.pid]}) if meter else None
        if cpu:
            cpu.start()
        child.go()
        result = child.wait_result(timeout)
        if cpu:
            result["_cores"] = cpu.stop()
        result["_process"] = child.finish()
        return result
    finally:
        child.kill()


def wait_rusage(process: subprocess.Popen, timeout: float) -> tuple[int, Any]:
    """Wait for `process` and return (exit status, its resource usage), for this child alone."""
    status, usage, timed_out = wait_or_stop(process, timeout)
    if timed_out:
        raise TimeoutError(f"{process.args} took longer than {timeout} s")
    return status, usage


def wait_or_stop(process: subprocess.Popen, timeout: float) -> tuple[int, Any, bool]:
    """Wait for `process`; at `timeout` stop it (its process group). Returns (exit status, its own
    resource usage from os.wait4, whether it had to be stopped)."""
    deadline = time.monotonic() + timeout
    timed_out = False
    sent: list[int] = []
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage, timed_out
        now = time.monotonic()
        if now > deadline:
            timed_out = True
            signum = signal.SIGTERM if not sent else signal.SIGKILL
            if not sent or now > deadline + 20:
                try:
                    os.killpg(process.pid, signum)
                except ProcessLookupError:
                    pass
                sent.append(signum)
                deadline = now if signum == signal.SIGTERM else now + 3600
        time.sleep(0.05)


# --- The run: scratch databases, vhosts, the service's processes ----------------------------


@dataclass
class Service:
    base_url: str
    host: str
    port: int
    process: subprocess.Popen
    log_path: Path


@dataclass
class Run:
    """One invocation of the suite: owns every database, vhost and process it creates."""

    quick: bool = False
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    stack: ExitStack = field(default_factory=ExitStack)
    template: str | None = None
    token: str | None = None

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()

    def size(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    # Databases ---------------------------------------------------------------------------

    def _template(self) -> str:
        """A migrated database with the benchmark user, copied for every scratch database."""
        if self.template:
            return self.template
        name = f"bench_{self.run_id}_template"
        self._create_database(name)
        self.stack.callback(self._drop_database, name)
        env = self.service_env(name)
        log(f"migrating the template database {name}")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=env, check=True, timeout=300,
        )
        self.token = run_child("setup_user", {"username": BENCH_USERNAME}, env, timeout=120)["token"]
        self.template = name
        return name

    @contextmanager
    def scratch_database(self) -> Iterator[str]:
        """A fresh database `bench_<random>`, migrated, with the benchmark user; dropped after."""
        template = self._template()
        name = f"bench_{secrets.token_hex(5)}"
        self._create_database(name, template=template)
        try:
            yield name
        finally:
            self._drop_database(name)

    @staticmethod
    def _create_database(name: str, template: str | None = None) -> None:
        assert re.fullmatch(r"bench_[a-z0-9_]+", name)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')

    @staticmethod
    def _drop_database(name: str) -> None:
        assert name.startswith("bench_")
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # RabbitMQ ------------------------------------------------------------------------------

    @contextmanager
    def vhost(self) -> Iterator[str]:
        name = f"bench-{secrets.token_hex(5)}"
        rabbitmqctl("add_vhost", name)
        try:
            rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
            yield name
        finally:
            rabbitmqctl("delete_vhost", name, check=False)

    # Processes -----------------------------------------------------------------------------

    def service_env(self, database: str, vhost: str | None = None, **overrides: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DJANGO_SECRET_KEY": "bench-secret-key-not-for-production",
            "DATABASE_URL": db_url(database),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "COMMAND_THROTTLE_RATE": "off",
            "CATALOG_VAR_DIR": str(ROOT / "var" / "bench"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("DJANGO_DEBUG", None)
        if vhost:
            env["CELERY_BROKER_URL"] = f"{RABBITMQ_URL}/{vhost}"
        else:
            # No broker: commands still nudge, but into the embedded file broker nobody reads.
            env.pop("CELERY_BROKER_URL", None)
            env.pop("INTEGRATION_RELAY_URL", None)
        env.update(overrides)
        return env

    @contextmanager
    def gunicorn(self, env: dict[str, str]) -> Iterator[Service]:
        """gunicorn as the compose file runs it: `--config deploy/gunicorn.conf.py`, on a port of its own."""
        port = free_port()
        args = [sys.executable, "-m", "gunicorn", "project.wsgi:application", "--config", str(GUNICORN_CONFIG)]
        env = {**env, "GUNICORN_HOST": "127.0.0.1", "PORT": str(port)}
        process, log_path = start(args, env, f"gunicorn-{port}")
        try:
            service = Service(f"http://127.0.0.1:{port}", "127.0.0.1", port, process, log_path)

            def answers() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited early; see {log_path}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                        sock.sendall(b"GET /api/categories/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                        return sock.recv(12).startswith(b"HTTP/1.")
                except OSError:
                    return False

            wait_until(answers, timeout=60, interval=0.1, what="gunicorn to answer")
            yield service
        finally:
            stop(process)

    @contextmanager
    def celery_worker(self, env: dict[str, str], concurrency: int | None = None) -> Iterator[subprocess.Popen]:
        """One Celery worker of the project, as the README runs it (INFO log, every queue)."""
        args = [sys.executable, "-m", "celery", "-A", "project", "worker", "--loglevel", "INFO",
                "--hostname", f"bench-{secrets.token_hex(3)}@%h", "--without-gossip", "--without-mingle"]
        if concurrency:
            args += ["--concurrency", str(concurrency)]
        with _started(args, env, "worker", " ready.", "the Celery worker to be ready", 90) as process:
            yield process

    @contextmanager
    def celery_beat(self, env: dict[str, str]) -> Iterator[subprocess.Popen]:
        """Celery beat, as the compose file runs it (its schedule file under the run's own var dir)."""
        schedule = LOG_DIR / f"beat-schedule-{secrets.token_hex(3)}"
        args = [sys.executable, "-m", "celery", "-A", "project", "beat", "--loglevel", "INFO", "-s", str(schedule)]
        with _started(args, env, "beat", "beat: Starting...", "Celery beat to start", 60) as process:
            yield process

    @contextmanager
    def deployed(self, env: dict[str, str]) -> Iterator["Deployment"]:
        """The whole service as deployed: gunicorn, a Celery worker (its default concurrency) and beat."""
        with self.gunicorn(env) as service, self.celery_worker(env) as worker, self.celery_beat(env) as beat:
            yield Deployment(service, worker, beat)


@contextmanager
def _started(args: list[str], env: dict[str, str], name: str, marker: str, what: str,
             timeout: float) -> Iterator[subprocess.Popen]:
    """A process of the service, once its log shows `marker`; stopped when the block ends."""
    process, log_path = start(args, env, f"{name}-{secrets.token_hex(3)}")
    process.log_path = log_path  # type: ignore[attr-defined]
    try:
        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early; see {log_path}")
            return marker in log_path.read_text(errors="replace")

        wait_until(ready, timeout=timeout, interval=0.2, what=what)
        yield process
    finally:
        stop(process)


def seed_crud_categories(database: str) -> None:
    """The CRUD baseline's categories, which its create looks up by name."""
    with connect(database) as conn:
        conn.execute("INSERT INTO crud_category (name) SELECT unnest(%s::text[])", (CATEGORIES,))


@dataclass
class Deployment:
    service: Service
    worker: subprocess.Popen
    beat: subprocess.Popen

    @property
    def groups(self) -> dict[str, list[int]]:
        """Its processes by CpuMeter group (PostgreSQL and RabbitMQ are measured by the meter itself)."""
        return {"gunicorn": [self.service.process.pid], "celery_worker": [self.worker.pid],
                "celery_beat": [self.beat.pid]}


# --- CPU accounting ------------------------------------------------------------------------


def _cpu(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class CpuMeter:
    """Cores used on average between start() and stop(), by group.

    Groups given by pid (with their children); `bench_client` this process and the rest of what
    it started (load generation, polling); `postgres_bench` every PostgreSQL backend of a bench_
    database (ours); `postgres_other` the rest of PostgreSQL (WAL writer, checkpointer, other
    databases); `rabbitmq` the broker; `foreign_processes` every other process that lived through
    the interval, and `other_load` whatever else kept the machine busy (short-lived processes,
    the kernel). The last three are other users of the machine: they make the figures less reliable.
    """

    def __init__(self, groups: dict[str, list[int]] | None = None) -> None:
        try:
            import psutil
        except ImportError:  # the bench extra is not installed: no CPU figures, everything else works
            psutil = None
        self.psutil = psutil
        self.groups = groups or {}
        self.before: dict[str, float] = {}
        self.t0 = 0.0

    def _snapshot(self) -> tuple[dict[str, dict[tuple, float]], float]:
        """Each group's processes, keyed by (pid, start time) so a reused pid is another process,
        with their CPU seconds so far; and the machine's busy seconds."""
        psutil = self.psutil
        groups = [*self.groups, "bench_client", "postgres_bench", "postgres_other", "rabbitmq", "foreign_processes"]
        snap: dict[str, dict[tuple, float]] = {name: {} for name in groups}
        seen: set[int] = set()

        def add(group: str, process) -> None:
            seen.add(process.pid)
            try:
                snap[group][(process.pid, process.create_time())] = _cpu(process)
            except psutil.Error:
                pass

        try:  # this process (load generation, polling) and what it started, less the measured groups
            me = psutil.Process(os.getpid())
            mine = [me, *me.children(recursive=True)]
        except psutil.Error:
            mine = []
        for name, pids in self.groups.items():
            for pid in pids:
                try:
                    root = psutil.Process(pid)
                    members = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for member in members:
                    if member.pid not in seen:
                        add(name, member)
        for member in mine:
            if member.pid not in seen:
                add("bench_client", member)
        for proc in psutil.process_iter(["name", "cmdline"]):
            if proc.pid in seen:
                continue
            name = proc.info.get("name") or ""
            if name.startswith("postgres"):
                cmdline = " ".join(proc.info.get("cmdline") or [])
                add("postgres_bench" if " bench_" in cmdline else "postgres_other", proc)
            elif name.startswith("beam"):
                add("rabbitmq", proc)
            else:
                # Other users of the machine (tests, builds) while it was measured.
                add("foreign_processes", proc)
        machine = psutil.cpu_times()
        return snap, machine.user + machine.system + getattr(machine, "softirq", 0) + getattr(machine, "irq", 0)

    def start(self) -> "CpuMeter":
        self.t0 = time.monotonic()
        self.before = self._snapshot() if self.psutil else {}
        return self

    def stop(self) -> dict[str, float]:
        """Average cores per group. A process counts for the CPU it used between the two
        snapshots (all of it, if it started in between); one that ended in between is missed,
        rather than taking its whole life's CPU off its group, as a sum per group would."""
        if not self.psutil:
            return {}
        elapsed = self.elapsed = time.monotonic() - self.t0
        (before, busy_before), (after, busy_after) = self.before, self._snapshot()
        cores = {}
        for group, processes in after.items():
            used = sum(max(cpu - before[group].get(key, 0.0), 0.0) for key, cpu in processes.items())
            cores[group] = round(used / elapsed, 3)
        cores["machine_busy"] = round(max(busy_after - busy_before, 0.0) / elapsed, 3)
        accounted = sum(value for name, value in cores.items() if name != "machine_busy")
        cores["other_load"] = round(max(cores["machine_busy"] - accounted, 0.0), 3)
        return cores


def background_load(seconds: float = 1.0) -> float | None:
    """Cores kept busy by processes that are not ours, sampled over `seconds` (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return None

    me = psutil.Process(os.getpid())
    mine = {me.pid, *(p.pid for p in me.children(recursive=True))}
    meter = CpuMeter({"bench": list(mine)}).start()
    time.sleep(seconds)
    cores = meter.stop()
    # The machine's total and our processes' share are sampled apart: near idle, the difference
    # can come out a hair below zero, which means none.
    return max(0.0, round(cores["machine_busy"] - cores["bench"] - cores["bench_client"] - cores["postgres_bench"], 3))


def core_speed_ms(rounds: int = 5) -> float:
    """Milliseconds one core takes for a fixed pure-Python workload (a million additions), best
    of `rounds`: lower is faster. On a shared host the same machine has measured twice as slow
    on one day as on another, so every benchmark notes it beside its figures."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        total = 0
        for n in range(1_000_000):
            total += n
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


def wait_for_quiet(max_wait: float = 60.0, threshold: float = 0.2) -> dict[str, float]:
    """Wait (bounded) until other users of the machine keep less than `threshold` cores busy."""
    deadline = time.monotonic() + max_wait
    waited = 0.0
    while True:
        load = background_load(1.0)
        if load is None or load < threshold or time.monotonic() >= deadline:
            return {"background_cores": load, "waited_s": round(waited, 1), "core_speed_ms": core_speed_ms()}
        if waited == 0.0:
            log(f"waiting for the machine to quieten down ({load:.2f} cores busy elsewhere)")
        time.sleep(2.0)
        waited = max_wait - (deadline - time.monotonic())


# --- Machine and results ---------------------------------------------------------------------


def _command_output(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info() -> dict[str, Any]:
    import django

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        pg_settings = dict(
            conn.execute(
                "SELECT name, setting || COALESCE(unit, '') FROM pg_settings WHERE name IN "
                "('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'work_mem')"
            ).fetchall()
        )
    rabbit = _command_output(["rabbitmqctl", "-q", "version"])
    versions = {"python": platform.python_version(), "django": django.get_version(), "postgresql": pg_version,
                "rabbitmq": rabbit or "unknown"}
    for package in ("djangorestframework", "celery", "kombu", "psycopg", "gunicorn", "eventsourcing"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = "not installed"
    wrk = _command_output(["wrk", "--version"]).splitlines()
    versions["wrk"] = wrk[0].split(" [")[0] if wrk else "not installed"
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = _command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    try:
        porcelain = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True,
                                   timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        porcelain = ""
    changed = [line[3:] for line in porcelain.splitlines()
               if line[3:] and not line[3:].startswith(("bench/", "docs/BENCHMARKS.md", "tests/bench/", "Makefile"))]
    return {
        # What was measured: the commit, and files of the work tree that differed from it (if any).
        "code": {"commit": commit or "unknown", "uncommitted_changes": changed},
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory / 2**30, 1),
        "kernel": platform.release(),
        "versions": versions,
        "postgresql_settings": pg_settings,
        "gunicorn": gunicorn_shape(),
    }


def load_results(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    return {"benchmarks": {}}


def write_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")


def ratio(ours: float | None, baseline: float | None) -> float | None:
    if ours is None or baseline in (None, 0):
        return None
    return round(ours / baseline, 3)
