"""Every statement on a projection's state row (projection_state), and the runner lock beside it.

The hot ones (lock and read, count an attempt, advance, unlock) run once per catch-up or once
per batch, in plain SQL through the backend's cursor: on PostgreSQL they are bound server-side
and prepared once per connection, where the ORM's query building cost more than the queries.
"""

from __future__ import annotations

import traceback
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from products import eventstore
from products.eventstore import Checkpoint, RecordedEvent

from . import backends
from .models import ProjectionState
from .progress import ACTIVE, Progress
from .projectors.base import ProjectionFailed, retryable

TABLE = ProjectionState._meta.db_table
# A projection's runner lock is the advisory lock on hashtext(LOCK_PREFIX || its name).
LOCK_PREFIX = "projection:"
_PROGRESS = "last_tx, last_position, status, attempts, suspect_until, next_retry_at"

# A fresh set of attempts, due now.
FRESH_ATTEMPTS = dict(attempts=0, next_retry_at=None, suspect_until=None)
# The failure cleared: what a success, a skip and a reset leave behind.
CLEARED_FAILURE = dict(FRESH_ATTEMPTS, last_error="", failed_position=None)


class StateRow:
    """One projection's state row: its checkpoint, status, attempts and last failure.

    Identified by the projection's name, which also keys the runner lock; a projection split
    across workers would have a row and a lock per part, with the same statements. Methods take
    and return `Progress` values: the object keeps nothing between statements.
    """

    def __init__(self, name: str, using: str = DEFAULT_DB_ALIAS, version: int = 1) -> None:
        self.name = name
        self.using = using
        self.version = version  # what a row created here says built its tables
        self.backend = backends.of(using)
        self.lock_key = f"{LOCK_PREFIX}{name}"

    # --- the runner lock ---------------------------------------------------------------------

    def lock_and_read(self) -> Progress | None:
        """Take the runner lock and read the row in ONE statement; None if another runner has it.

        The row is read in the statement's snapshot, a moment before the lock is held, so it can
        be one batch old: the attempt count then finds another checkpoint and the runner reads
        the row again.
        """
        if not self.backend.runner_lock:
            return self.read()
        rows = self._execute(
            f"SELECT pg_try_advisory_lock(hashtext(%s)), s.last_tx, s.last_position, s.status, s.attempts,"
            f" s.suspect_until, s.next_retry_at FROM (SELECT 1) AS one LEFT JOIN {TABLE} s ON s.name = %s",
            [self.lock_key, self.name],
        )
        owned, last_tx, last_position, *fields = rows[0]
        if not owned:
            return None
        if fields[0] is None:  # no row yet
            return self.read()
        return Progress(Checkpoint(last_tx, last_position), *fields)

    def try_lock(self) -> bool:
        if not self.backend.runner_lock:
            return True
        return self._execute("SELECT pg_try_advisory_lock(hashtext(%s))", [self.lock_key])[0][0]

    def unlock(self) -> None:
        if self.backend.runner_lock:
            self._execute("SELECT pg_advisory_unlock(hashtext(%s))", [self.lock_key])

    # --- reads -------------------------------------------------------------------------------

    def read(self) -> Progress:
        """The row's progress; the row is created if it is missing."""
        if self.backend.binds_server_side:
            rows = self._execute(f"SELECT {_PROGRESS} FROM {TABLE} WHERE name = %s", [self.name])
            if rows:
                last_tx, last_position, *fields = rows[0]
                return Progress(Checkpoint(last_tx, last_position), *fields)
        # The ORM where values need converting the backend's way (SQLite), and to create the row.
        state, _ = ProjectionState.objects.using(self.using).get_or_create(name=self.name, defaults={"version": self.version})
        return Progress.of(state)

    def locked(self) -> ProjectionState:
        """The whole row, locked until the end of the caller's transaction."""
        return ProjectionState.objects.using(self.using).select_for_update().get(name=self.name)

    # --- one batch ---------------------------------------------------------------------------

    def count_attempt(self, checkpoint: Checkpoint, batch_end: int) -> Progress | None:
        """Bump the attempt counter and mark the batch in flight, committed before the batch runs.

        None if the projection may not run now, or if its checkpoint is no longer the one the
        batch was read after (then nothing is counted or marked). Being committed first is what
        makes a worker that is killed mid-batch still count. One statement, in autocommit.
        """
        rows = self._execute(*_count_attempts("name = %s", self.name, checkpoint, batch_end, self._adapt(timezone.now())))
        if not rows:
            return None
        _, progress = _counted(rows[0])
        return progress

    def advance(self, applied: list[RecordedEvent], progress: Progress, counted: Progress,
                failure: ProjectionFailed | None = None) -> None:
        """Move the checkpoint past `applied`, in the batch's transaction, and settle the attempts.

        `progress` is what the batch was read at, `counted` what its attempt count left; with a
        `failure`, the batch stopped at its event and the rest was not applied.
        """
        changes: dict = dict(updated_at=timezone.now())
        if applied:
            changes.update(last_tx=applied[-1].tx, last_position=applied[-1].position)
        if failure is not None:
            changes.update(self._failure(counted.attempts, failure.cause, failure.event), suspect_until=None)
        elif progress.still_suspect(counted, applied):
            changes.update(attempts=counted.attempts - 1)  # a healthy event where a runner died
        else:
            changes.update(CLEARED_FAILURE)
            if counted.status != ProjectionState.REBUILDING:  # that ends only when the log is replayed
                changes["status"] = ProjectionState.RUNNING
        self._update(changes, events_applied=len(applied))

    def record_failure(self, attempts: int, error: BaseException, event: RecordedEvent | None) -> None:
        """The batch's own transaction failed: nothing was applied."""
        self._update(dict(self._failure(attempts, error, event), suspect_until=None, updated_at=timezone.now()))

    def stall(self, event: RecordedEvent | None) -> None:
        """Out of attempts and no failure recorded: the runner died in the batch each time."""
        where = f" at position {event.checkpoint} ({event.type} {event.event_id})" if event else ""
        self._update(dict(
            status=ProjectionState.STALLED,
            next_retry_at=None,
            failed_position=event.position if event else None,
            last_error=f"The worker died while applying the event{where}, {settings.PROJECTION_MAX_ATTEMPTS} times.",
            updated_at=timezone.now(),
        ))

    # --- what operators and rebuilds do ------------------------------------------------------

    def reset(self) -> None:
        """Back to the start of the log, rebuilding, with no failure and nothing applied."""
        self.read()  # creates the row if it is missing
        self._update(dict(CLEARED_FAILURE, status=ProjectionState.REBUILDING, last_tx=0, last_position=0, events_applied=0))

    def finish_rebuilding(self) -> None:
        self._update(dict(status=ProjectionState.RUNNING), status=ProjectionState.REBUILDING)

    def start_generation(self, version: int) -> None:
        """A next generation's row: at the start of the log, built by `version`, started now."""
        ProjectionState.objects.using(self.using).update_or_create(name=self.name, defaults=dict(
            CLEARED_FAILURE, status=ProjectionState.RUNNING, last_tx=0, last_position=0, events_applied=0,
            version=version, started_at=timezone.now(),
        ))

    def filled(self, upto: Checkpoint, events: int) -> None:
        """A new generation's tables hold the fold of the log up to `upto` (`events` events)."""
        self._update(dict(last_tx=upto.tx, last_position=upto.position, events_applied=events, updated_at=timezone.now()))

    def take_over(self, generation: ProjectionState) -> None:
        """The live row, once `generation`'s tables are the live ones: its checkpoint and version."""
        self._update(dict(
            CLEARED_FAILURE, status=ProjectionState.RUNNING, version=generation.version,
            last_tx=generation.last_tx, last_position=generation.last_position,
            events_applied=generation.events_applied, updated_at=timezone.now(),
        ))

    def delete(self) -> None:
        self._execute(f"DELETE FROM {TABLE} WHERE name = %s", [self.name])

    def retry(self) -> None:
        """A fresh set of attempts, now; the last error stays on show until a batch succeeds."""
        self._update(dict(FRESH_ATTEMPTS, status=ProjectionState.RUNNING))

    def skip_to(self, event: RecordedEvent) -> None:
        """Past `event`, with the failure cleared (the skip itself is recorded by the caller)."""
        self._update(dict(CLEARED_FAILURE, status=ProjectionState.RUNNING, last_tx=event.tx, last_position=event.position))

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _failure(attempts: int, cause: BaseException, event: RecordedEvent | None) -> dict:
        """The failed attempt's changes: retried after a backoff, or stalled at the limit."""
        stalled = attempts >= settings.PROJECTION_MAX_ATTEMPTS or not retryable(cause)
        backoff = min(settings.PROJECTION_RETRY_BASE_SECONDS * 2 ** (attempts - 1), 300)
        detail = error_detail(cause)
        return dict(
            status=ProjectionState.STALLED if stalled else ProjectionState.RETRYING,
            next_retry_at=None if stalled else timezone.now() + timedelta(seconds=backoff),
            last_error=f"{detail}\n(event {event.event_id} {event.type} at position {event.checkpoint})" if event else detail,
            failed_position=event.position if event else None,
        )

    def _update(self, changes: dict, events_applied: int | None = None, status: str | None = None) -> None:
        """UPDATE the row with `changes`; `events_applied` adds to its count, `status` guards it."""
        assignments = ", ".join(f"{column} = %s" for column in changes)
        params = [self._adapt(value) for value in changes.values()]
        if events_applied is not None:
            assignments += ", events_applied = events_applied + %s"
            params.append(events_applied)
        where, params = "name = %s", [*params, self.name]
        if status is not None:
            where, params = where + " AND status = %s", [*params, status]
        self._execute(f"UPDATE {TABLE} SET {assignments} WHERE {where}", params)

    def _adapt(self, value):
        return connections[self.using].ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value

    def _execute(self, sql: str, params: list) -> list[tuple]:
        return execute(self.using, sql, params)


class StateRows:
    """The state rows of projections that run one round together (projections/rounds.py): the
    hot statements of StateRow, each one statement for all of them. PostgreSQL only, as the
    rounds are: it needs the runner locks.
    """

    def __init__(self, rows: list[StateRow]) -> None:
        self.rows = {row.name: row for row in rows}
        self.using = rows[0].using

    def lock_and_read(self) -> dict[str, Progress | None]:
        """Take each runner lock that is free and read the rows, in ONE statement (see
        StateRow.lock_and_read); None for a projection whose lock another runner holds."""
        found = self._execute(
            f"SELECT k.name, pg_try_advisory_lock(hashtext(%s || k.name)), s.last_tx, s.last_position,"
            f" s.status, s.attempts, s.suspect_until, s.next_retry_at"
            f" FROM unnest(%s::text[]) WITH ORDINALITY AS k(name, rank) LEFT JOIN {TABLE} s ON s.name = k.name"
            f" ORDER BY k.rank",  # in the order given: the round applies them in that order
            [LOCK_PREFIX, list(self.rows)],
        )
        progress: dict[str, Progress | None] = {}
        for name, owned, last_tx, last_position, *fields in found:
            if not owned:
                progress[name] = None
            elif fields[0] is None:  # no row yet
                progress[name] = self.rows[name].read()
            else:
                progress[name] = Progress(Checkpoint(last_tx, last_position), *fields)
        return progress

    def count_attempts(self, names: list[str], checkpoint: Checkpoint, batch_end: int) -> dict[str, Progress]:
        """StateRow.count_attempt for each of `names` at the same checkpoint; those it could not
        count (not at that checkpoint, or not allowed to run now) are left out."""
        rows = self._execute(*_count_attempts("name = ANY(%s)", list(names), checkpoint, batch_end, timezone.now()))
        return dict(_counted(row) for row in rows)

    def advance(self, names: list[str], applied: list[RecordedEvent]) -> None:
        """StateRow.advance of a whole batch that succeeded for each of `names`, none of them
        going one event at a time: past the batch, the failure cleared, a rebuild still one."""
        # What StateRow.advance sets after a success, for all of them; a rebuild stays one.
        changes = dict(CLEARED_FAILURE, last_tx=applied[-1].tx, last_position=applied[-1].position,
                       updated_at=timezone.now())
        assignments = ", ".join(f"{column} = %s" for column in changes)
        self._execute(
            f"UPDATE {TABLE} SET {assignments}, status = CASE WHEN status = %s THEN status ELSE %s END,"
            f" events_applied = events_applied + %s WHERE name = ANY(%s)",
            [*changes.values(), ProjectionState.REBUILDING, ProjectionState.RUNNING, len(applied), list(names)],
        )

    def unlock(self, names: list[str]) -> None:
        if names:
            self._execute("SELECT pg_advisory_unlock(hashtext(%s || k)) FROM unnest(%s::text[]) AS k",
                          [LOCK_PREFIX, list(names)])

    def _execute(self, sql: str, params: list) -> list[tuple]:
        return execute(self.using, sql, params)


def _count_attempts(which: str, names, checkpoint: Checkpoint, batch_end: int, now) -> tuple[str, list]:
    """The attempt count of StateRow.count_attempt, for the rows `which` selects (with `names`)."""
    return (
        f"UPDATE {TABLE} SET attempts = attempts + 1, suspect_until = COALESCE(suspect_until, %s)"
        f" WHERE {which} AND last_tx = %s AND last_position = %s AND status IN (%s, %s, %s)"
        f" AND (next_retry_at IS NULL OR next_retry_at <= %s)"
        f" RETURNING name, attempts, status, suspect_until, last_tx, last_position",
        [batch_end, names, checkpoint.tx, checkpoint.position, *ACTIVE, now],
    )


def _counted(row: tuple) -> tuple[str, Progress]:
    name, attempts, status, suspect_until, last_tx, last_position = row
    return name, Progress(Checkpoint(last_tx, last_position), status, attempts, suspect_until)


def execute(using: str, sql: str, params: list) -> list[tuple]:
    """Run one of the engine's own statements; the rows it returns, if any.

    On PostgreSQL through the server-binding cursor: these statements run a dozen times per
    catch-up, so they are worth preparing once per connection (see DATABASE_PREPARE_THRESHOLD).
    """
    connection = connections[using]
    with backends.of(connection).cursor(connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def unread(names: list[str], using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Those of the projections that have settled events after their checkpoint: one query."""
    if not names:
        return []
    horizon = backends.of(using).dialect.horizon
    if horizon is None:  # SQLite: every committed event is settled; a look per projection
        return [name for name in names if eventstore.read_all(after=StateRow(name, using).read().checkpoint, limit=1, using=using)]
    rows = execute(
        using,
        f"SELECT s.name FROM {TABLE} s WHERE s.name = ANY(%s) AND EXISTS (SELECT 1 FROM event_store e"
        f" WHERE (e.tx, e.position) > (s.last_tx::text::xid8, s.last_position) AND e.tx < {horizon})",
        [list(names)],
    )
    found = {row[0] for row in rows}
    return [name for name in names if name in found]


def error_detail(cause: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(cause), cause)).strip()
