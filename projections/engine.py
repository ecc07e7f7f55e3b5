"""The projection engine: it alone reads checkpoints, takes locks, counts attempts and commits.

Contract for one projection:
- One runner at a time (a PostgreSQL session advisory lock, released even if the worker dies).
- Each batch is read after the checkpoint through the event store's horizon reader, applied by
  the projector and followed by the checkpoint's advance, all in ONE transaction: a crash
  anywhere replays the batch, never half of it.
- Before each batch, the attempt counter is bumped in its own committed transaction, so a
  worker killed mid-batch still counts. After a failure the projection retries with backoff,
  one event per batch so the failing event is pinpointed; at PROJECTION_MAX_ATTEMPTS it is
  `stalled` with the event and the error, and only an operator moves it on. Other projections
  have their own state rows and keep going.
- It drains: batches continue until the log is caught up or the time budget is spent.
"""

from __future__ import annotations

import logging
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from products import eventstore
from products.eventstore import Checkpoint, RecordedEvent

from .models import ProjectionState
from .projectors.base import ProjectionFailed, Projector

log = logging.getLogger(__name__)

ACTIVE = [ProjectionState.RUNNING, ProjectionState.RETRYING, ProjectionState.REBUILDING]


@dataclass
class CatchUp:
    applied: int = 0
    outcome: str = "caught_up"  # caught_up | busy | blocked | failed | out_of_time


def catch_up(projector: Projector, time_budget: float | None = None, using: str = DEFAULT_DB_ALIAS) -> CatchUp:
    """Apply every event after the projection's checkpoint. Safe to call concurrently and twice."""
    deadline = time.monotonic() + (time_budget or settings.PROJECTION_TIME_BUDGET)
    result = CatchUp()
    while True:
        with runner(projector.name, using) as owned:
            if not owned:
                result.outcome = "busy"  # the owner drains; see below for why nothing is missed
                return result
            _drain(projector, result, deadline, using)
        # A nudge that found the lock taken relied on this runner. Anything it was sent for
        # committed before that, so one look after releasing the lock sees it.
        if result.outcome != "caught_up" or not _has_unread(projector.name, using):
            return result


def _drain(projector: Projector, result: CatchUp, deadline: float, using: str) -> None:
    while True:
        if time.monotonic() > deadline:
            result.outcome = "out_of_time"
            return
        if not _has_unread(projector.name, using):
            result.outcome = "caught_up"
            return
        attempts = _count_attempt(projector.name, using)
        if attempts is None:
            result.outcome = "blocked"  # stalled, or waiting for its next retry
            return
        if attempts > settings.PROJECTION_MAX_ATTEMPTS:
            _stall(projector.name, using)
            result.outcome = "blocked"
            return
        # After a failure, go one event at a time: the batch that fails is then the poison event.
        limit = 1 if attempts > 1 else settings.PROJECTION_BATCH_SIZE
        batch: list[RecordedEvent] = []
        try:
            with transaction.atomic(using=using):
                state = ProjectionState.objects.using(using).get(name=projector.name)
                batch = eventstore.read_all(after=_checkpoint(state), limit=limit, using=using)
                if batch:
                    projector.apply(batch, using)
                _advance(projector.name, batch, using)
        except Exception as error:
            failed_event = error.event if isinstance(error, ProjectionFailed) else (batch[0] if batch else None)
            _record_failure(projector.name, attempts, error, failed_event, using)
            result.outcome = "failed"
            return
        result.applied += len(batch)
        if len(batch) < limit and limit > 1:
            result.outcome = "caught_up"
            return


def rebuild(
    projector: Projector,
    progress: Callable[[int], None] = lambda applied: None,
    using: str = DEFAULT_DB_ALIAS,
    lock_timeout: float = 60,
) -> int:
    """Empty the projector's tables and replay the whole log into them, in bounded batches."""
    with runner(projector.name, using, wait=lock_timeout) as owned:
        if not owned:
            raise TimeoutError(f"{projector.name} is being run by someone else; try again.")
        with transaction.atomic(using=using):
            _ensure_state(projector.name, using)
            ProjectionState.objects.using(using).filter(name=projector.name).update(
                status=ProjectionState.REBUILDING, last_tx=0, last_position=0, attempts=0,
                next_retry_at=None, last_error="", failed_position=None, events_applied=0,
            )
            projector.reset(using)
        applied, checkpoint = 0, Checkpoint.START
        while True:
            with transaction.atomic(using=using):
                batch = eventstore.read_all(after=checkpoint, limit=settings.PROJECTION_BATCH_SIZE, using=using)
                if batch:
                    projector.apply(batch, using)
                    checkpoint = batch[-1].checkpoint
                _advance(projector.name, batch, using, keep_status=True)
            applied += len(batch)
            progress(applied)
            if len(batch) < settings.PROJECTION_BATCH_SIZE:
                break
        ProjectionState.objects.using(using).filter(name=projector.name).update(status=ProjectionState.RUNNING)
        return applied


def retry(name: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Give a stalled or backing-off projection a fresh set of attempts, now."""
    ProjectionState.objects.using(using).filter(name=name).update(
        status=ProjectionState.RUNNING, attempts=0, next_retry_at=None
    )


def ensure_states(names, using: str = DEFAULT_DB_ALIAS) -> None:
    for name in names:
        _ensure_state(name, using)


def lag(state: ProjectionState, using: str = DEFAULT_DB_ALIAS) -> int:
    """Stored events the projection has not applied yet (committed or not yet visible to it)."""
    return eventstore.count_after(_checkpoint(state), using=using)


def _checkpoint(state: ProjectionState) -> Checkpoint:
    return Checkpoint(state.last_tx, state.last_position)


def _ensure_state(name: str, using: str) -> None:
    ProjectionState.objects.using(using).get_or_create(name=name)


def _has_unread(name: str, using: str) -> bool:
    state = ProjectionState.objects.using(using).filter(name=name).first()
    if state is None:
        _ensure_state(name, using)
        return bool(eventstore.read_all(after=Checkpoint.START, limit=1, using=using))
    return bool(eventstore.read_all(after=_checkpoint(state), limit=1, using=using))


def _count_attempt(name: str, using: str) -> int | None:
    """Bump the attempt counter in its own transaction; None if the projection may not run now."""
    with transaction.atomic(using=using):
        bumped = (
            ProjectionState.objects.using(using)
            .filter(name=name, status__in=ACTIVE)
            .filter(Q(next_retry_at__isnull=True) | Q(next_retry_at__lte=timezone.now()))
            .update(attempts=F("attempts") + 1)
        )
        if not bumped:
            return None
        return ProjectionState.objects.using(using).values_list("attempts", flat=True).get(name=name)


def _advance(name: str, batch: list[RecordedEvent], using: str, keep_status: bool = False) -> None:
    changes = dict(attempts=0, next_retry_at=None, last_error="", failed_position=None, updated_at=timezone.now())
    if not keep_status:
        changes["status"] = ProjectionState.RUNNING
    if batch:
        last = batch[-1]
        changes.update(last_tx=last.tx, last_position=last.position, events_applied=F("events_applied") + len(batch))
    ProjectionState.objects.using(using).filter(name=name).update(**changes)


def _record_failure(name: str, attempts: int, error: Exception, event: RecordedEvent | None, using: str) -> None:
    stalled = attempts >= settings.PROJECTION_MAX_ATTEMPTS
    backoff = min(settings.PROJECTION_RETRY_BASE_SECONDS * 2 ** (attempts - 1), 300)
    cause = error.cause if isinstance(error, ProjectionFailed) else error
    detail = "".join(traceback.format_exception_only(type(cause), cause)).strip()
    log.error("Projection %s failed at %s (attempt %s): %s", name, event and event.position, attempts, detail)
    ProjectionState.objects.using(using).filter(name=name).update(
        status=ProjectionState.STALLED if stalled else ProjectionState.RETRYING,
        next_retry_at=None if stalled else timezone.now() + timedelta(seconds=backoff),
        last_error=f"{detail}\n(event {event.event_id} {event.type} at position {event.position})" if event else detail,
        failed_position=event.position if event else None,
        updated_at=timezone.now(),
    )


def _stall(name: str, using: str) -> None:
    """Too many attempts and no recorded failure: the runner died mid-batch each time."""
    state = ProjectionState.objects.using(using).get(name=name)
    ProjectionState.objects.using(using).filter(name=name).update(
        status=ProjectionState.STALLED,
        next_retry_at=None,
        last_error=state.last_error or f"{state.attempts - 1} attempts ended without finishing their batch "
        "(the worker died or was killed while applying it).",
        updated_at=timezone.now(),
    )


@contextmanager
def runner(name: str, using: str = DEFAULT_DB_ALIAS, wait: float = 0) -> Iterator[bool]:
    """Hold the right to run `name`; yields False if another runner has it.

    PostgreSQL: a session-level advisory lock, held across the batch transactions and released
    by the database if this process dies. SQLite: every write transaction takes the database's
    single write lock (transaction_mode IMMEDIATE) and re-reads the checkpoint inside it, so
    two runners can only take turns, never apply a batch twice.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield True
        return
    key = f"projection:{name}"
    deadline = time.monotonic() + wait
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
            owned = cursor.fetchone()[0]
            if owned or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    try:
        yield owned
    finally:
        if owned:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
