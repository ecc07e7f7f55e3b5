"""The write side's Prometheus metrics: commands answered, events appended, nudges that failed.

Served at /metrics (project/health.py). Under gunicorn's several worker processes, set
PROMETHEUS_MULTIPROC_DIR (an empty directory per container) so that a scrape adds up every
process's counts; see deploy/README.md.
"""

from __future__ import annotations

import logging
import os
from typing import Iterable

from prometheus_client import Counter

if _multiproc_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_multiproc_dir, exist_ok=True)  # prometheus_client opens its files there as metrics are made

log = logging.getLogger("products.commands")

COMMANDS_ACCEPTED = Counter(
    "catalog_commands_accepted", "Commands answered with a success status (202 stored events, 200 changed nothing).",
    ["command", "status"],
)
COMMANDS_REFUSED = Counter(
    "catalog_commands_refused", "Commands answered with an error, by the error's code.", ["command", "code"]
)
EVENTS_APPENDED = Counter("catalog_events_appended", "Events appended to the event store, by type.", ["type"])
NUDGE_PUBLISH_FAILURES = Counter(
    "catalog_nudge_publish_failures", "Nudges to the projections that could not be published (the sweep catches up)."
)

def observe_command(view, response) -> None:
    """Count a command's answer and log it: one line per command, with the request's ids (context)."""
    command = view.command_name  # register, change_price, ...
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    if response.status_code < 400:
        COMMANDS_ACCEPTED.labels(command, str(response.status_code)).inc()
        log.info(
            "Command %s answered %s", command, response.status_code,
            extra={
                "command": command, "status": response.status_code, "product_id": data.get("product_id"),
                "position": data.get("position"), "events": [e.get("type") for e in data.get("events", [])],
            },
        )
    else:
        code = data.get("code") if isinstance(data.get("code"), str) else "invalid"  # 400s name fields instead
        COMMANDS_REFUSED.labels(command, code).inc()
        log.info(
            "Command %s refused with %s %s", command, response.status_code, code,
            extra={"command": command, "status": response.status_code, "code": code},
        )


def count_appended(events: Iterable) -> None:
    for event in events:
        EVENTS_APPENDED.labels(event.type).inc()
