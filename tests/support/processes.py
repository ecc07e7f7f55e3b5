"""Starting the service's own processes (web server, workers) against this run's database and vhost."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests
from django.conf import settings

from tests import settings as test_settings

from . import spawning
from .databases import database_url
from .polling import wait_until
from .spawning import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def test_database_url() -> str:
    """This run's database, for the processes a test starts."""
    return database_url(settings.DATABASES["default"])


def database_url_via_proxy(port: int) -> str:
    """This run's database URL by way of a proxy listening on `port` (tests/support/proxy.py)."""
    return test_database_url().replace(":5432/", f":{port}/")


def service_environment(**overrides: str) -> dict[str, str]:
    """The environment a deployed process would have, pointed at this run's database and vhost."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": "test-secret-key",
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": f"{test_settings.RABBITMQ_URL}/{test_settings.TEST_VHOST}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "COMMAND_THROTTLE_RATE": "off",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_DEBUG", None)
    env.update(overrides)
    return env


@contextmanager
def started(args: list[str], env: dict[str, str], log_name: str, cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    """Run a process of ours for the duration of the block, its output in test-artifacts/<log_name>.log."""
    with spawning.started(args, env, ARTIFACTS / f"{log_name}.log", cwd) as process:
        yield process


@contextmanager
def web_server(workers: int = 2, threads: int = 10, **env_overrides: str) -> Iterator[str]:
    """gunicorn serving project.wsgi, as deployed; yields its base URL once it answers."""
    port = free_port()
    args = [
        sys.executable, "-m", "gunicorn", "project.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", str(threads), "--timeout", "60",
    ]
    with started(args, service_environment(**env_overrides), f"gunicorn-{port}") as process:
        base_url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert process.poll() is None, f"gunicorn exited early; see test-artifacts/gunicorn-{port}.log"
            try:
                return requests.options(f"{base_url}/api/products/", timeout=5).status_code < 500
            except (requests.ConnectionError, requests.Timeout):
                return False

        wait_until(answers, timeout=30, what="gunicorn to answer")
        yield base_url


@contextmanager
def feed_server(**env_overrides: str) -> Iterator[str]:
    """uvicorn serving project.asgi, the change feed's server; yields its base URL once it answers."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--timeout-graceful-shutdown", "5", "--no-access-log"]
    with started(args, service_environment(**env_overrides), f"feed-{port}") as process:
        base_url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert process.poll() is None, f"uvicorn exited early; see test-artifacts/feed-{port}.log"
            try:
                return requests.get(f"{base_url}/health/live", timeout=5).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                return False

        wait_until(answers, timeout=30, what="uvicorn to answer")
        yield base_url


@contextmanager
def celery_worker(name: str, concurrency: int = 2, **env_overrides: str) -> Iterator[subprocess.Popen]:
    """A real Celery worker process of the project, consuming every queue; yields once it is ready."""
    args = [
        sys.executable, "-m", "celery", "-A", "project", "worker", "--loglevel", "INFO",
        "--hostname", f"{name}@%h", "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
    ]
    log_name = f"worker-{name}-{free_port()}"
    with started(args, service_environment(**env_overrides), log_name) as process:
        log = ARTIFACTS / f"{log_name}.log"

        def ready() -> bool:
            assert process.poll() is None, f"the worker exited early; see test-artifacts/{log_name}.log"
            return " ready." in log.read_text(errors="replace")

        wait_until(ready, timeout=60, interval=0.2, what=f"worker {name} to be ready")
        yield process


@contextmanager
def celery_beat(**env_overrides: str) -> Iterator[subprocess.Popen]:
    """Celery beat of the project, with its schedule file in a throwaway place."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_name = f"beat-{free_port()}"
    schedule = ARTIFACTS / f"{log_name}-schedule"
    args = [sys.executable, "-m", "celery", "-A", "project", "beat", "--loglevel", "INFO", "--schedule", str(schedule)]
    with started(args, service_environment(**env_overrides), log_name) as process:
        log = ARTIFACTS / f"{log_name}.log"
        wait_until(lambda: "beat: Starting" in log.read_text(errors="replace"), timeout=60, what="beat to start")
        yield process
