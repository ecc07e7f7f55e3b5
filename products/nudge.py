"""After a command commits, wake the projections up: best-effort, never in the request's way.

The events table is the outbox, so a lost nudge only delays the read models until the next
beat sweep; it never loses an event. Publishing therefore runs on one background thread per
process: a request only sets a flag, and a burst of commands while a publish is in flight
becomes one more publish, not one per command.

A nudge is one task, projections.catch_up without a name, on its own queue: the worker that
takes it catches every projection up, in shared rounds (projections/rounds.py). (A fan-out to
a task per projection cost every command a second hop through the broker and five tasks; a
publish per projection from here cost the command side four confirmed publishes.)

The nudge carries the request id and correlation id of the command that asked for it as Celery
message headers, so the worker's log lines name them. A nudge that coalesced several commands
carries the ids of the last one (the others' events are applied by the same catch-up, and the
engine's log line for each batch names every correlation id found in the events' metadata).
"""

from __future__ import annotations

import logging
import os
import threading

from celery import current_app
from django.conf import settings

from project.logformat import propagated_headers
from project.queues import capped_queue

from . import metrics

log = logging.getLogger(__name__)

_wakeup = threading.Event()
_started_in_pid: int | None = None
_start_lock = threading.Lock()
_latest_headers: dict[str, str] = {}  # the ids of the last command that asked for a nudge


def nudge_projections() -> None:
    """Ask for one publish of the nudge task soon; returns at once."""
    global _latest_headers
    _latest_headers = propagated_headers()  # read here: the publisher thread has no request context
    _ensure_publisher_thread()
    _wakeup.set()


def publish_nudge(headers: dict[str, str] | None = None) -> None:
    """Publish the nudge now. Bounded in time by the broker settings; raises if it fails."""
    headers = propagated_headers() if headers is None else headers
    # Transient: a nudge carries nothing the log does not hold, so RabbitMQ need not write it to
    # disk before it confirms it (persistent was every task's default here).
    current_app.send_task(settings.CATALOG_NUDGE_TASK, queue=capped_queue(settings.NUDGE_QUEUE), retry=False,
                          headers=headers, delivery_mode=1)


def _ensure_publisher_thread() -> None:
    global _started_in_pid
    # A thread started before a fork (gunicorn --preload) does not exist in the child.
    if _started_in_pid == os.getpid():
        return
    with _start_lock:
        if _started_in_pid != os.getpid():
            threading.Thread(target=_publish_forever, name="projection-nudger", daemon=True).start()
            _started_in_pid = os.getpid()


def _publish_forever() -> None:
    while True:
        _wakeup.wait()
        _wakeup.clear()
        try:
            publish_nudge(_latest_headers)
        except Exception:  # the broker is down or refused: the beat sweep will catch up
            metrics.NUDGE_PUBLISH_FAILURES.inc()
            log.warning("Could not nudge the projections; the periodic sweep will catch up.", exc_info=True)
