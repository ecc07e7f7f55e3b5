"""The projection engine: it alone reads checkpoints, takes locks, counts attempts and commits.

Contract for one projection:
- One runner at a time (a PostgreSQL session advisory lock, released even if the worker dies).
- Each batch is read after the checkpoint through the event store's horizon reader, applied by
  the projector and followed by the checkpoint's advance, all in ONE transaction: a crash
  anywhere replays the batch, never half of it.
- Before each batch, the attempt counter is bumped in its own committed transaction, so a
  worker killed mid-batch still counts. A handler that raises is pinned to its event: the
  events before it are applied, the projection retries that event with backoff, and at
  PROJECTION_MAX_ATTEMPTS it is `stalled` with the event and the error; only an operator
  moves it on. A batch whose worker died is retried one event at a time, so a killing event
  is found the same way. Other projections have their own state rows and keep going.
- It drains: batches continue until the log is caught up or the time budget is spent.
"""

from __future__ import annotations

import logging
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from products import eventstore
from products.eventstore import Checkpoint, RecordedEvent
from . import backends, metrics
from .models import ProjectionState
from .progress import Outcome
from .projectors.base import ProjectionFailed, Projector

log = logging.getLogger(__name__)

ACTIVE = [ProjectionState.RUNNING, ProjectionState.RETRYING, ProjectionState.REBUILDING]
_TABLE = ProjectionState._meta.db_table


@dataclass
class CatchUp:
    applied: int = 0
    outcome: Outcome = Outcome.CAUGHT_UP


def catch_up(
    projector: Projector, time_budget: float | None = None, using: str = DEFAULT_DB_ALIAS, look_again: bool = True
) -> CatchUp:
    """Apply every event after the projection's checkpoint. Safe to call concurrently and twice.

    `look_again=False` leaves the look after releasing the lock (below) to the caller, who must
    then make it (`unread`): a round over every projection makes one look for all of them.
    """
    deadline = time.monotonic() + (time_budget or settings.PROJECTION_TIME_BUDGET)
    result = CatchUp()
    while True:
        owned, state = _lock_with_state(projector.name, using)
        if not owned:
            result.outcome = Outcome.BUSY  # the owner drains; see below for why nothing is missed
            return result
        try:
            checkpoint = _drain(projector, state, result, deadline, using)
        finally:
            _unlock(projector.name, using)
        # A nudge that found the lock taken relied on this runner. Anything it was sent for
        # committed before that, so one look after releasing the lock sees it.
        if (not look_again or result.outcome != Outcome.CAUGHT_UP
                or not eventstore.read_all(after=checkpoint, limit=1, using=using)):
            return result


def unread(names: list[str], using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Those of the projections that have settled events after their checkpoint: one query."""
    if not names:
        return []
    backend = backends.of(using)
    if backend.dialect.horizon is None:
        return [name for name in names if eventstore.read_all(after=_checkpoint(_state(name, using)), limit=1, using=using)]
    rows = _execute(
        using,
        f"SELECT s.name FROM {_TABLE} s WHERE s.name = ANY(%s) AND EXISTS (SELECT 1 FROM event_store e"
        " WHERE (e.tx, e.position) > (s.last_tx::text::xid8, s.last_position)"
        f" AND e.tx < {backend.dialect.horizon})",
        [list(names)],
    )
    found = {row[0] for row in rows}
    return [name for name in names if name in found]


@dataclass
class _Counted:
    """The state row as the attempt counter left it, just before a batch."""

    attempts: int
    status: str
    suspect_until: int | None
    checkpoint: Checkpoint


def _drain(projector: Projector, state, result: CatchUp, deadline: float, using: str) -> Checkpoint:
    """Apply batches until caught up, blocked or out of time; returns the checkpoint reached.

    While this runner holds the lock nobody else moves the checkpoint (reset and skip take the
    lock too), so the state row is read once and then known from each batch's own updates:
    a batch costs the log read, the attempt count and one transaction.
    """
    checkpoint, status, suspect_until = _checkpoint(state), state.status, state.suspect_until
    next_retry_at = state.next_retry_at
    while True:
        if time.monotonic() > deadline:
            result.outcome = Outcome.OUT_OF_TIME
            return checkpoint
        if status not in ACTIVE or (next_retry_at and next_retry_at > timezone.now()):
            result.outcome = Outcome.BLOCKED  # stalled, or waiting for its next retry
            return checkpoint
        # A runner died inside the last batch: go one event at a time through it, so the event
        # that kills is found and each death is counted against that event alone.
        suspect = suspect_until is not None
        limit = 1 if suspect else settings.PROJECTION_BATCH_SIZE
        batch = eventstore.read_all(after=checkpoint, limit=limit, using=using)
        if not batch:
            if status == ProjectionState.REBUILDING:
                _finish_rebuilding(projector.name, using)
            result.outcome = Outcome.CAUGHT_UP
            return checkpoint
        counted = _count_attempt(projector.name, checkpoint, batch[-1].position, using)
        if counted is None:
            state = _state(projector.name, using)
            if _checkpoint(state) == checkpoint:
                result.outcome = Outcome.BLOCKED  # stalled, or a retry is not due yet
                return checkpoint
            # Moved since it was read (SQLite has no runner lock; on PostgreSQL the state comes
            # from the statement that took the lock): nothing was counted, read it again.
            checkpoint, status, suspect_until = _checkpoint(state), state.status, state.suspect_until
            next_retry_at = state.next_retry_at
            continue
        if counted.attempts > settings.PROJECTION_MAX_ATTEMPTS:
            _stall(projector.name, batch[0] if suspect else None, using)
            result.outcome = Outcome.BLOCKED
            return checkpoint
        started = time.monotonic()
        try:
            applied, failure = _apply_batch(projector, batch, counted, suspect, using)
        except _Moved:
            state = _state(projector.name, using)
            checkpoint, status, suspect_until = _checkpoint(state), state.status, state.suspect_until
            continue
        except Exception as error:  # the batch transaction itself failed: nothing was applied
            _record_failure(projector.name, counted.attempts, error, batch[0] if len(batch) == 1 else None, using)
            result.outcome = Outcome.FAILED
            return checkpoint
        result.applied += len(applied)
        if applied:  # one log line per batch, naming the commands' correlation ids, and its metrics
            checkpoint = applied[-1].checkpoint
            seconds = time.monotonic() - started
            metrics.observe_batch(projector.name, applied, seconds)
            log.info("Applied %s event(s) to %s", len(applied), projector.name, extra=metrics.batch_log_fields(projector.name, applied, seconds))
        if failure is not None:
            result.outcome = Outcome.FAILED
            return checkpoint
        status = ProjectionState.REBUILDING if counted.status == ProjectionState.REBUILDING else ProjectionState.RUNNING
        still_suspect = suspect and not any(e.position == counted.suspect_until for e in applied)
        suspect_until = counted.suspect_until if still_suspect else None
        next_retry_at = None
        if len(batch) < limit:
            if status == ProjectionState.REBUILDING:
                _finish_rebuilding(projector.name, using)
            result.outcome = Outcome.CAUGHT_UP
            return checkpoint


class _Moved(Exception):
    """The checkpoint was moved under this runner (possible on SQLite only): read it again."""


def _apply_batch(projector: Projector, batch: list[RecordedEvent], counted: _Counted, suspect: bool,
                 using: str) -> tuple[list, ProjectionFailed | None]:
    """Apply the batch and advance the checkpoint in one transaction; returns (applied, failure).

    The usual case goes straight through. If anything in it fails, that transaction is rolled
    back whole and the batch is gone through again with a savepoint per try (`_apply`), so the
    failing event is found and the events before it are kept.
    """
    try:
        with transaction.atomic(using=using):
            _check_not_moved(projector.name, counted, using)
            projector.apply(batch, using)
            _advance(projector.name, batch, counted, using, suspect=suspect)
        return batch, None
    except _Moved:
        raise
    except Exception:
        pass
    with transaction.atomic(using=using):
        _check_not_moved(projector.name, counted, using)
        applied, failure = _apply(projector, batch, using)
        _advance(projector.name, applied, counted, using, failure=failure, suspect=suspect)
    return applied, failure


def _check_not_moved(name: str, counted: _Counted, using: str) -> None:
    # On PostgreSQL the runner lock already guarantees it. SQLite has no such lock, but this
    # transaction holds its single write lock, so re-reading the checkpoint here settles it.
    if not backends.of(using).runner_lock and _checkpoint(_state(name, using)) != counted.checkpoint:
        raise _Moved


def _apply(projector: Projector, batch: list[RecordedEvent], using: str) -> tuple[list, ProjectionFailed | None]:
    """Apply the batch; if it fails, find the event that fails and keep everything before it.

    Returns the events applied and the failure, if any. Keeping the healthy events ahead of a
    poison one means every later attempt fails on that event alone.
    """
    try:
        with transaction.atomic(using=using):
            projector.apply(batch, using)
        return batch, None
    except ProjectionFailed as pinned:
        failure = pinned  # `except ... as` names are unbound when the block ends
        index = next(i for i, event in enumerate(batch) if event.position == failure.event.position)
    except Exception as error:
        if len(batch) == 1:
            return [], ProjectionFailed(batch[0], error)
        # Only the batch as a whole failed (in a bulk write, say): look for the event one by one.
        for index, event in enumerate(batch):
            try:
                with transaction.atomic(using=using):
                    projector.apply([event], using)
            except Exception as single:
                failure = ProjectionFailed(event, single)
                break
        else:
            return batch, None
    with transaction.atomic(using=using):
        projector.apply(batch[:index], using)  # redo the prefix the failed savepoint rolled back
    return batch[:index], failure


def reset(projector: Projector, using: str = DEFAULT_DB_ALIAS, lock_timeout: float = 60) -> None:
    """Empty the projector's tables and put its checkpoint back to the start of the log.

    The projection is `rebuilding` until catch-up (or `rebuild`) has replayed the whole log.
    """
    with runner(projector.name, using, wait=lock_timeout) as owned:
        if not owned:
            raise TimeoutError(f"{projector.name} is being run by someone else; try again.")
        with transaction.atomic(using=using):
            _state(projector.name, using)
            ProjectionState.objects.using(using).filter(name=projector.name).update(
                status=ProjectionState.REBUILDING, last_tx=0, last_position=0, attempts=0, next_retry_at=None,
                last_error="", failed_position=None, suspect_until=None, events_applied=0,
            )
            projector.reset(using)


def rebuild(
    projector: Projector,
    progress: Callable[[int], None] = lambda applied: None,
    using: str = DEFAULT_DB_ALIAS,
    lock_timeout: float = 60,
) -> int:
    """Reset the projection and replay the whole log into it, in bounded batches, here and now."""
    reset(projector, using, lock_timeout)
    with runner(projector.name, using, wait=lock_timeout) as owned:
        if not owned:
            raise TimeoutError(f"{projector.name} is being run by someone else; try again.")
        applied, checkpoint = 0, Checkpoint.START
        # Larger batches than catch-up's: nobody waits on a rebuild's single batch, and memory
        # stays bounded by the batch all the same.
        size = settings.PROJECTION_REBUILD_BATCH_SIZE
        while True:
            with transaction.atomic(using=using):
                batch = eventstore.read_all(after=checkpoint, limit=size, using=using)
                if batch:
                    projector.apply(batch, using)
                    checkpoint = batch[-1].checkpoint
                _advance(projector.name, batch, _Counted(0, ProjectionState.REBUILDING, None, checkpoint), using)
            applied += len(batch)
            progress(applied)
            if len(batch) < size:
                break
        _finish_rebuilding(projector.name, using)
        return applied


def retry(name: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Give a stalled or backing-off projection a fresh set of attempts, now."""
    ProjectionState.objects.using(using).filter(name=name).update(
        status=ProjectionState.RUNNING, attempts=0, next_retry_at=None, suspect_until=None
    )


def ensure_states(names, using: str = DEFAULT_DB_ALIAS) -> None:
    for name in names:
        _state(name, using)


def lag(state: ProjectionState, using: str = DEFAULT_DB_ALIAS) -> int:
    """Stored events the projection has not applied yet (committed or not yet visible to it)."""
    return eventstore.count_after(_checkpoint(state), using=using)


def _checkpoint(state: ProjectionState) -> Checkpoint:
    return Checkpoint(state.last_tx, state.last_position)


@dataclass
class _State:
    """The fields of a projection's state row that a runner needs."""

    last_tx: int
    last_position: int
    status: str
    suspect_until: int | None
    next_retry_at: datetime | None


def _state(name: str, using: str) -> _State | ProjectionState:
    """The projection's state row, created if it is missing.

    In plain SQL on PostgreSQL: it is read at the start of every catch-up, and the ORM's query
    building cost more than the query itself.
    """
    if backends.of(using).binds_server_side:
        rows = _execute(
            using, f"SELECT last_tx, last_position, status, suspect_until, next_retry_at FROM {_TABLE} WHERE name = %s",
            [name],
        )
        if rows:
            return _State(*rows[0])
    return ProjectionState.objects.using(using).get_or_create(name=name)[0]


def _execute(using: str, sql: str, params: list) -> list[tuple]:
    """Run one of the engine's own statements; the rows it returns, if any.

    On PostgreSQL through the server-binding cursor: these statements run a dozen times per
    catch-up, so they are worth preparing once per connection (see DATABASE_PREPARE_THRESHOLD).
    """
    connection = connections[using]
    with backends.of(connection).cursor(connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _count_attempt(name: str, checkpoint: Checkpoint, batch_end: int, using: str) -> _Counted | None:
    """Bump the attempt counter and mark the batch in flight, committed before the batch runs.

    None if the projection may not run now, or if its checkpoint is no longer the one the batch
    was read after (then nothing is counted or marked). Being committed first is what makes a
    worker that is killed mid-batch still count. One statement, in autocommit.
    """
    now = connections[using].ops.adapt_datetimefield_value(timezone.now())
    rows = _execute(
        using,
        f"UPDATE {_TABLE} SET attempts = attempts + 1, suspect_until = COALESCE(suspect_until, %s)"
        f" WHERE name = %s AND last_tx = %s AND last_position = %s AND status IN (%s, %s, %s)"
        f" AND (next_retry_at IS NULL OR next_retry_at <= %s)"
        f" RETURNING attempts, status, suspect_until, last_tx, last_position",
        [batch_end, name, checkpoint.tx, checkpoint.position, *ACTIVE, now],
    )
    if not rows:
        return None
    attempts, status, suspect_until, last_tx, last_position = rows[0]
    return _Counted(attempts, status, suspect_until, Checkpoint(last_tx, last_position))


def _advance(
    name: str,
    applied: list[RecordedEvent],
    counted: _Counted,
    using: str,
    failure: ProjectionFailed | None = None,
    suspect: bool = False,
) -> None:
    """Move the checkpoint past `applied`, in the batch's transaction, and settle the attempts."""
    changes: dict = dict(updated_at=timezone.now())
    if applied:
        last = applied[-1]
        changes.update(last_tx=last.tx, last_position=last.position)
    if failure is not None:
        changes.update(_failure_changes(counted.attempts, failure.cause, failure.event), suspect_until=None)
    elif suspect and not any(e.position == counted.suspect_until for e in applied):
        # A healthy event inside the range where a runner died: this attempt does not count.
        changes.update(attempts=counted.attempts - 1)
    else:
        changes.update(attempts=0, suspect_until=None, next_retry_at=None, last_error="", failed_position=None)
        if counted.status != ProjectionState.REBUILDING:  # that ends only when the log is replayed
            changes["status"] = ProjectionState.RUNNING
    # In plain SQL, like the attempt count: once per batch, where the ORM's overhead showed.
    connection = connections[using]
    values = [connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v for v in changes.values()]
    assignments = ", ".join(f"{column} = %s" for column in changes)
    _execute(using, f"UPDATE {_TABLE} SET {assignments}, events_applied = events_applied + %s WHERE name = %s",
             [*values, len(applied), name])


def _finish_rebuilding(name: str, using: str) -> None:
    ProjectionState.objects.using(using).filter(name=name, status=ProjectionState.REBUILDING).update(
        status=ProjectionState.RUNNING
    )


def _failure_changes(attempts: int, cause: BaseException, event: RecordedEvent | None) -> dict:
    stalled = attempts >= settings.PROJECTION_MAX_ATTEMPTS
    backoff = min(settings.PROJECTION_RETRY_BASE_SECONDS * 2 ** (attempts - 1), 300)
    detail = "".join(traceback.format_exception_only(type(cause), cause)).strip()
    where = f" at {event.checkpoint} ({event.type} {event.event_id})" if event else ""
    log.error("Projection failed%s on attempt %s: %s", where, attempts, detail)
    return dict(
        status=ProjectionState.STALLED if stalled else ProjectionState.RETRYING,
        next_retry_at=None if stalled else timezone.now() + timedelta(seconds=backoff),
        last_error=f"{detail}\n(event {event.event_id} {event.type} at position {event.checkpoint})" if event else detail,
        failed_position=event.position if event else None,
    )


def _record_failure(name: str, attempts: int, error: Exception, event: RecordedEvent | None, using: str) -> None:
    changes = _failure_changes(attempts, error, event)
    ProjectionState.objects.using(using).filter(name=name).update(**changes, suspect_until=None, updated_at=timezone.now())


def _stall(name: str, event: RecordedEvent | None, using: str) -> None:
    """Out of attempts and no failure recorded: the runner died in the batch each time."""
    where = f" at position {event.checkpoint} ({event.type} {event.event_id})" if event else ""
    ProjectionState.objects.using(using).filter(name=name).update(
        status=ProjectionState.STALLED,
        next_retry_at=None,
        failed_position=event.position if event else None,
        last_error=f"The worker died while applying the event{where}, {settings.PROJECTION_MAX_ATTEMPTS} times.",
        updated_at=timezone.now(),
    )


def _lock_with_state(name: str, using: str) -> tuple[bool, _State | ProjectionState | None]:
    """Try to take the runner lock, reading the state row in the same statement (PostgreSQL).

    The row is read in the statement's snapshot, a moment before the lock is held, so it can be
    one batch old: the attempt count then finds another checkpoint and _drain reads it again.
    """
    if not backends.of(using).runner_lock:
        return True, _state(name, using)
    rows = _execute(
        using,
        f"SELECT pg_try_advisory_lock(hashtext(%s)), s.last_tx, s.last_position, s.status, s.suspect_until,"
        f" s.next_retry_at FROM (SELECT 1) AS one LEFT JOIN {_TABLE} s ON s.name = %s",
        [_lock_key(name), name],
    )
    owned, *fields = rows[0]
    if not owned:
        return False, None
    return True, _State(*fields) if fields[2] is not None else _state(name, using)


def _unlock(name: str, using: str) -> None:
    if backends.of(using).runner_lock:
        _execute(using, "SELECT pg_advisory_unlock(hashtext(%s))", [_lock_key(name)])


def _lock_key(name: str) -> str:
    return f"projection:{name}"


@contextmanager
def runner(name: str, using: str = DEFAULT_DB_ALIAS, wait: float = 0) -> Iterator[bool]:
    """Hold the right to run `name`; yields False if another runner has it.

    PostgreSQL: a session-level advisory lock, held across the batch transactions and released
    by the database if this process dies. SQLite: every write transaction takes the database's
    single write lock (transaction_mode IMMEDIATE) and re-reads the checkpoint inside it, so
    two runners can only take turns, never apply a batch twice.
    """
    if not backends.of(using).runner_lock:
        yield True
        return
    deadline = time.monotonic() + wait
    while True:
        owned = _execute(using, "SELECT pg_try_advisory_lock(hashtext(%s))", [_lock_key(name)])[0][0]
        if owned or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    try:
        yield owned
    finally:
        if owned:
            _unlock(name, using)
