"""Log lines that carry the request's ids, from the HTTP request through Celery to the read model.

A context (a contextvar, so each request thread and each task sees its own) holds `request_id`,
`correlation_id` and, in workers, `task_id` and `projection`. RequestIdMiddleware binds the
request's ids; the nudge carries them as Celery message headers (a nudge that coalesced several
commands carries the last one's); in the worker a `task_prerun` handler binds them again, and
tasks published from inside a task (the fan-out to each projection) pass them on.

LOG_FORMAT=json gives one JSON object per line (default when DEBUG is off), `plain` a readable
line with the ids appended as key=value pairs (default for DEBUG). Named logformat, not logging,
so that nothing can mistake it for the standard library's module.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import datetime, timezone
from typing import Any, Iterator

# The ids a log line names, in this order. Only these travel in Celery headers.
CONTEXT_FIELDS = ("request_id", "correlation_id", "task_id", "projection")
PROPAGATED = ("request_id", "correlation_id")
HEADER_PREFIX = "catalog_"  # Celery headers share a namespace with Celery's own: keep ours apart

_context: ContextVar[dict[str, Any]] = ContextVar("catalog_log_context", default={})

# LogRecord's own attributes: everything else on a record came in through `extra=`.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def bind(**values: Any) -> Token:
    """Add ids to the current context; returns a token for `unbind`."""
    return _context.set({**_context.get(), **{k: v for k, v in values.items() if v not in (None, "")}})


def unbind(token: Token) -> None:
    _context.reset(token)


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    token = bind(**values)
    try:
        yield
    finally:
        unbind(token)


def current() -> dict[str, Any]:
    return dict(_context.get())


def propagated_headers(context: dict[str, Any] | None = None) -> dict[str, str]:
    """The Celery message headers that carry the ids of `context` (the current one by default)."""
    context = current() if context is None else context
    return {HEADER_PREFIX + name: str(context[name]) for name in PROPAGATED if context.get(name)}


def ids_from_headers(source: Any) -> dict[str, str]:
    """The ids a task message carried, from its headers or from `task.request`."""
    found = {}
    for name in PROPAGATED:
        key = HEADER_PREFIX + name
        value = source.get(key) if isinstance(source, dict) else getattr(source, key, None)
        if value is None and not isinstance(source, dict):
            value = (getattr(source, "headers", None) or {}).get(key)
        if value:
            found[name] = str(value)
    return found


class ContextFilter(logging.Filter):
    """Puts the context's ids on every record (so any formatter, or a handler's filter, sees them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context's ids and any `extra`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context.get())
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        if record.processName not in ("MainProcess", None):
            entry.setdefault("process", record.processName)
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """The classic line, with the context's ids appended as key=value pairs."""

    def __init__(self, fmt: str | None = None, *args, **kwargs) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = {**_context.get(), **{k: getattr(record, k) for k in CONTEXT_FIELDS if hasattr(record, k)}}
        ids = " ".join(f"{name}={context[name]}" for name in CONTEXT_FIELDS if context.get(name))
        if not ids:
            return line
        first, newline, rest = line.partition("\n")  # keep a traceback below the line it belongs to
        return f"{first} [{ids}]{newline}{rest}"


# Beat's sweeps (the projections' and the webhooks' every few seconds), its hourly trims (the
# product changes' and the webhook deliveries'), and the catch-up the sweep sends to each
# projection (one projection named: the nudge a command sends names none). Celery's own lines
# for them, "received" and "succeeded", would fill an idle service's log; what they do is logged
# by the engine, the trims and the deliveries themselves (work at INFO, failures at ERROR).
SWEEP_TASKS = frozenset({"projections.sweep", "webhooks.sweep", "projections.trim_product_changes", "webhooks.trim"})
CATCH_UP_TASK = "projections.catch_up"
BEAT_SENDING = "Scheduler: Sending due task"  # celery.beat's line, with the entry's and the task's name


def _routine(task: str | None, args: object) -> bool:
    return task in SWEEP_TASKS or (task == CATCH_UP_TASK and args not in (None, "", "()", "[]"))


def _demote(record: logging.LogRecord, level: int) -> bool:
    """Give the record a lower level, and keep it only if its logger lets that level through."""
    record.levelno, record.levelname = level, logging.getLevelName(level)
    return logging.getLogger(record.name).isEnabledFor(level)


class RoutineTasksAtDebug(logging.Filter):
    """Celery's INFO lines about the sweep and its catch-ups at DEBUG: a worker's "received"
    (celery.worker.strategy) and "succeeded" (celery.app.trace), which carry the task's name and
    arguments in `data`, and beat's "Sending due task" (celery.beat). Failures keep their level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            routine = _routine(data.get("name"), data.get("args"))
        else:
            routine = str(record.msg).startswith(BEAT_SENDING) and len(record.args or ()) == 2 and record.args[1] in SWEEP_TASKS
        return _demote(record, logging.DEBUG) if routine else True


class UnavailableAtWarning(logging.Filter):
    """django.request logs every 5xx answer at ERROR. A 503 is an answer the service gives on purpose
    (projection_lagging, unavailable, not ready: "retry later"), never a fault in its code: WARNING.
    A 500, an exception nothing handled, stays an ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and getattr(record, "status_code", None) == 503:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def logging_config(log_format: str, level: str = "INFO") -> dict:
    """settings.LOGGING for LOG_FORMAT `json` or `plain`."""
    if log_format not in ("json", "plain"):
        raise ValueError("LOG_FORMAT must be json or plain.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "project.logformat.ContextFilter"},
            "routine_tasks": {"()": "project.logformat.RoutineTasksAtDebug"},
            "unavailable": {"()": "project.logformat.UnavailableAtWarning"},
        },
        "formatters": {
            "json": {"()": "project.logformat.JsonFormatter"},
            "plain": {"()": "project.logformat.PlainFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            **{name: {"filters": ["routine_tasks"]} for name in ("celery.worker.strategy", "celery.app.trace", "celery.beat")},
            "django.request": {"filters": ["unavailable"]},
            # A line per webhook delivery; its outcome is on the delivery's row, and a failure is
            # logged by webhooks.delivery.
            "httpx": {"level": "WARNING"},
        },
    }


# --- Celery: the ids travel with the task messages (connected in project/celery.py) ---------


def bind_task_ids(task_id=None, task=None, args=None, **_):
    """task_prerun: bind the task's ids (and its message's request ids) for its log lines."""
    ids = ids_from_headers(task.request) if task is not None else {}
    name = task.name if task is not None else ""
    projection = args[0] if name == "projections.catch_up" and args else None
    task.request.catalog_log_token = bind(task_id=task_id, projection=projection, task=name, **ids)


def unbind_task_ids(task=None, **_):
    """task_postrun: restore the context bind_task_ids found."""
    token = getattr(task.request, "catalog_log_token", None) if task is not None else None
    if token is not None:
        try:
            unbind(token)
        except ValueError:  # bound in another context (a thread pool): nothing to restore here
            pass
        task.request.catalog_log_token = None


def pass_ids_on(headers=None, **_):
    """before_task_publish: a task published while a request's ids are bound (the fan-out of a
    nudge) passes them on."""
    if headers is None:
        return
    for key, value in propagated_headers().items():
        headers.setdefault(key, value)
