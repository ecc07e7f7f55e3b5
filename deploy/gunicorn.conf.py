"""gunicorn settings for the command and query services (docker-compose.yml).

`gunicorn project.wsgi:application --config deploy/gunicorn.conf.py`. The address comes from
GUNICORN_HOST (default 0.0.0.0) and PORT (default 8000). With PROMETHEUS_MULTIPROC_DIR set,
every worker process writes its metrics there and /metrics adds them up: the directory is
emptied when gunicorn starts, and a worker that exits is marked dead.
"""

import os
import shutil
from pathlib import Path

bind = f"{os.environ.get('GUNICORN_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Above the longest a request may take: a read-your-writes wait (5 s), a command's retries.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# GUNICORN_ACCESS_LOG=- writes one JSON line per request to stdout, with the request id Django
# answered with (X-Request-ID), like the application's own log lines (LOG_FORMAT=json).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = (
    '{"time": "%(t)s", "level": "INFO", "logger": "gunicorn.access", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "duration_ms": %(M)s, "bytes": "%(B)s", "request_id": "%({x-request-id}o)s", "remote": "%(h)s"}'
)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")  # behind APISIX only
# No `gunicornc` control socket: a container is managed by signals, and its HOME is read-only.
control_socket_disable = True

if os.environ.get("LOG_FORMAT", "json") == "json":
    # gunicorn's own lines (start, stop, worker timeouts) as JSON too; the access log's lines
    # are JSON already (access_log_format), so they are written as they are.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "project.logformat.JsonFormatter"},
            "as_is": {"format": "%(message)s"},
        },
        "handlers": {
            "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "access_console": {"class": "logging.StreamHandler", "formatter": "as_is", "stream": "ext://sys.stdout"},
        },
        "root": {"level": "INFO", "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {
                "level": "INFO", "handlers": ["access_console"] if accesslog else [], "propagate": False,
            },
        },
    }


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        if path.exists():
            for entry in path.iterdir():  # counts of an earlier run would add up with ours
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        path.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
