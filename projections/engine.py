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

A batch is four steps, each a function of the `Progress` value the last one returned: pull
(read the log after the checkpoint), count (the attempt, committed), apply (and advance, in
one transaction), settle (the next progress). Every statement on the state row is in
`state_row.StateRow`; what differs between databases is in `backends`.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from products import eventstore
from products.eventstore import Checkpoint, RecordedEvent

from . import metrics, projectors
from .models import ProjectionState
from .progress import Outcome, Progress
from .projectors.base import ProjectionFailed, Projector
from .state_row import StateRow, error_detail, unread

__all__ = ["CatchUp", "catch_up", "unread", "reset", "replay_in_place", "retry", "ensure_states", "lag", "runner"]

log = logging.getLogger(__name__)


@dataclass
class CatchUp:
    """What one catch-up did: events applied, and how it ended."""

    applied: int = 0
    outcome: Outcome = Outcome.CAUGHT_UP


def catch_up(
    projector: Projector, time_budget: float | None = None, using: str = DEFAULT_DB_ALIAS, look_again: bool = True,
    batch_size: int | None = None,
) -> CatchUp:
    """Apply every event after the projection's checkpoint. Safe to call concurrently and twice.

    `look_again=False` leaves the look after releasing the lock (below) to the caller, who must
    then make it (`unread`): a round over every projection makes one look for all of them.
    `batch_size` overrides PROJECTION_BATCH_SIZE (a rebuild's generation takes larger batches).
    """
    deadline = time.monotonic() + (time_budget or settings.PROJECTION_TIME_BUDGET)
    row = StateRow(projector.name, using, projector_version(projector))
    result = CatchUp()
    while True:
        progress = row.lock_and_read()
        if progress is None:
            result.outcome = Outcome.BUSY  # the owner drains; see below for why nothing is missed
            return result
        try:
            checkpoint = drain(projector, row, progress, result, deadline, batch_size)
        finally:
            row.unlock()
        # A nudge that found the lock taken relied on this runner. Anything it was sent for
        # committed before that, so one look after releasing the lock sees it.
        if (not look_again or result.outcome != Outcome.CAUGHT_UP
                or not eventstore.read_all(after=checkpoint, limit=1, using=using)):
            return result


def drain(projector: Projector, row: StateRow, progress: Progress, result: CatchUp, deadline: float,
           batch_size: int | None) -> Checkpoint:
    """Apply batches until caught up, blocked or out of time; returns the checkpoint reached.

    While this runner holds the lock nobody else moves the checkpoint (reset and skip take the
    lock too), so the state row is read once and then known from each batch's own updates:
    a batch costs the log read, the attempt count and one transaction.
    """
    while True:
        if time.monotonic() > deadline:
            result.outcome = Outcome.OUT_OF_TIME
            return progress.checkpoint
        if not progress.may_run(timezone.now()):
            result.outcome = Outcome.BLOCKED  # stalled, or waiting for its next retry
            return progress.checkpoint
        # pull
        limit = progress.batch_size(batch_size)
        batch = eventstore.read_all(after=progress.checkpoint, limit=limit, using=row.using)
        if not batch:
            result.outcome = caught_up(row, progress)
            return progress.checkpoint
        # count
        counted = row.count_attempt(progress.checkpoint, batch[-1].position)
        if counted is None:
            current = row.read()
            if current.checkpoint == progress.checkpoint:
                result.outcome = Outcome.BLOCKED  # stalled, or a retry is not due yet
                return progress.checkpoint
            # Moved since it was read (SQLite has no runner lock; on PostgreSQL the state comes
            # from the statement that took the lock): nothing was counted, go on from there.
            progress = current
            continue
        if counted.attempts > settings.PROJECTION_MAX_ATTEMPTS:
            row.stall(batch[0] if progress.suspect else None)
            result.outcome = Outcome.BLOCKED
            return progress.checkpoint
        # apply, settle
        try:
            settled = apply_and_settle(projector, row, batch, progress, counted, result)
        except _Moved:
            progress = row.read()
            continue
        if settled is None:
            return progress.checkpoint
        progress = settled
        if len(batch) < limit:
            result.outcome = caught_up(row, progress)
            return progress.checkpoint


def apply_and_settle(projector: Projector, row: StateRow, batch: list[RecordedEvent], progress: Progress,
                     counted: Progress, result: CatchUp) -> Progress | None:
    """Apply a counted batch and settle it: the progress after it, or None if the projection
    stopped on a failure (recorded on its row; `result.outcome` says FAILED)."""
    started = time.monotonic()
    try:
        applied, failure = apply_batch(projector, row, batch, progress, counted)
    except _Moved:
        raise
    except Exception as error:  # the batch transaction itself failed: nothing was applied
        event = batch[0] if len(batch) == 1 else None
        log_failure(counted.attempts, error, event)
        row.record_failure(counted.attempts, error, event)
        result.outcome = Outcome.FAILED
        return None
    result.applied += len(applied)
    if applied:
        report_batch(projector.name, applied, time.monotonic() - started)
    if failure is not None:
        result.outcome = Outcome.FAILED
        return None
    return progress.after_batch(counted, applied)


def caught_up(row: StateRow, progress: Progress) -> Outcome:
    if progress.status == ProjectionState.REBUILDING:
        row.finish_rebuilding()
    return Outcome.CAUGHT_UP


def report_batch(name: str, applied: list[RecordedEvent], seconds: float) -> None:
    """One log line per batch, naming the commands' correlation ids, and the batch's metrics."""
    metrics.observe_batch(name, applied, seconds)
    log.info("Applied %s event(s) to %s", len(applied), name, extra=metrics.batch_log_fields(name, applied, seconds))


class _Moved(Exception):
    """The checkpoint was moved under this runner (possible on SQLite only): read it again."""


def apply_batch(projector: Projector, row: StateRow, batch: list[RecordedEvent], progress: Progress,
                 counted: Progress) -> tuple[list, ProjectionFailed | None]:
    """Apply the batch and advance the checkpoint in one transaction; returns (applied, failure).

    The usual case goes straight through. If anything in it fails, that transaction is rolled
    back whole and the batch is gone through again with a savepoint per try (`_apply`), so the
    failing event is found and the events before it are kept.
    """
    try:
        with transaction.atomic(using=row.using):
            _check_not_moved(row, counted)
            projector.apply(batch, row.using)
            row.advance(batch, progress, counted)
        return batch, None
    except _Moved:
        raise
    except Exception:
        pass
    with transaction.atomic(using=row.using):
        _check_not_moved(row, counted)
        applied, failure = _apply(projector, batch, row.using)
        if failure is not None:
            log_failure(counted.attempts, failure.cause, failure.event)
        row.advance(applied, progress, counted, failure)
    return applied, failure


def _check_not_moved(row: StateRow, counted: Progress) -> None:
    # With a runner lock (PostgreSQL) nobody else moves it. Without one (SQLite) this
    # transaction holds the database's single write lock, so re-reading the checkpoint settles it.
    if not row.backend.runner_lock and row.read().checkpoint != counted.checkpoint:
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


def log_failure(attempts: int, cause: BaseException, event: RecordedEvent | None) -> None:
    where = f" at {event.checkpoint} ({event.type} {event.event_id})" if event else ""
    log.error("Projection failed%s on attempt %s: %s", where, attempts, error_detail(cause))


def reset(projector: Projector, using: str = DEFAULT_DB_ALIAS, lock_timeout: float = 60) -> None:
    """Empty the projector's tables and put its checkpoint back to the start of the log.

    The projection is `rebuilding` until catch-up (or `replay_in_place`) has replayed the whole log.
    """
    with runner(projector.name, using, wait=lock_timeout) as owned:
        if not owned:
            raise TimeoutError(f"{projector.name} is being run by someone else; try again.")
        with transaction.atomic(using=using):
            StateRow(projector.name, using).reset()
            projector.reset(using)


def replay_in_place(
    projector: Projector,
    progress: Callable[[int], None] = lambda applied: None,
    using: str = DEFAULT_DB_ALIAS,
    lock_timeout: float = 60,
) -> int:
    """Reset the projection and replay the whole log into it, in bounded batches, here and now.

    Its queries see partial tables until the replay ends: the way to rebuild a projection that
    has no tables of its own (the relay publishes the log again), or a database nobody reads.
    Read models are rebuilt without downtime by projections.generations.
    """
    reset(projector, using, lock_timeout)
    row = StateRow(projector.name, using)
    with runner(projector.name, using, wait=lock_timeout) as owned:
        if not owned:
            raise TimeoutError(f"{projector.name} is being run by someone else; try again.")
        applied, at = 0, Progress(Checkpoint.START, ProjectionState.REBUILDING, attempts=0)
        # Larger batches than catch-up's: nobody waits on a rebuild's single batch, and memory
        # stays bounded by the batch all the same.
        size = settings.PROJECTION_REBUILD_BATCH_SIZE
        while True:
            with transaction.atomic(using=using):
                batch = eventstore.read_all(after=at.checkpoint, limit=size, using=using)
                if batch:
                    projector.apply(batch, using)
                row.advance(batch, at, at)
            at = at.after_batch(at, batch)
            applied += len(batch)
            progress(applied)
            if len(batch) < size:
                break
        row.finish_rebuilding()
        return applied


def retry(name: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Give a stalled or backing-off projection a fresh set of attempts, now."""
    StateRow(name, using).retry()


def ensure_states(names, using: str = DEFAULT_DB_ALIAS) -> None:
    configured = projectors.all_projectors()
    for name in names:
        StateRow(name, using, projector_version(configured.get(name))).read()


def projector_version(projector: Projector | None) -> int:
    return getattr(projector, "version", 1)


def lag(state: ProjectionState, using: str = DEFAULT_DB_ALIAS) -> int:
    """Stored events the projection has not applied yet (committed or not yet visible to it)."""
    return eventstore.count_after(Checkpoint(state.last_tx, state.last_position), using=using)


@contextmanager
def runner(name: str, using: str = DEFAULT_DB_ALIAS, wait: float = 0) -> Iterator[bool]:
    """Hold the right to run `name`; yields False if another runner has it.

    PostgreSQL: a session-level advisory lock, held across the batch transactions and released
    by the database if this process dies. SQLite: every write transaction takes the database's
    single write lock (transaction_mode IMMEDIATE) and re-reads the checkpoint inside it, so
    two runners can only take turns, never apply a batch twice.
    """
    row = StateRow(name, using)
    deadline = time.monotonic() + wait
    while True:
        owned = row.try_lock()
        if owned or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    try:
        yield owned
    finally:
        if owned:
            row.unlock()
