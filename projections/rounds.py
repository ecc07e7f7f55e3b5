"""One round for the projections at the same checkpoint: one lock, one log read, one attempt
count, one transaction for the table projections, one unlock.

A command's nudge catches every projection up. Run one by one, each projection paid the same
fixed cost per round (its lock, its state row, its read of the log, its attempt count, its
transaction, its unlock), which under a stream of commands cost more than the events did.
Here the projections that stand at the same checkpoint go together: each statement of the
engine's contract (projections/engine.py) is made once for all of them, and one transaction
applies the batch to every table projector (and every consumer that writes only rows) and
advances their checkpoints. Any other projector (the integration relay) shares the lock, the
read and the count, and applies the batch after that transaction in its own, as
engine.catch_up would: what it does outside the database (a publish) must never be rolled back
and repeated because another projection failed.

What each projection is promised does not change. Each keeps its own state row and runner
lock: one another runner holds is left to it (`busy`). One that is stalled, waiting for a
retry, going one event at a time after a worker died, or behind the others, runs alone, as
engine.catch_up runs it. If the shared transaction fails, it is rolled back whole and each
projection applies the batch in a transaction of its own, so an event that fails in one
projection retries and stalls that projection alone while the others go on.

PostgreSQL only (it takes the runner locks); elsewhere the projections run one by one.
"""

from __future__ import annotations

import time
from collections import Counter

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from products import eventstore

from . import backends
from .engine import CatchUp, apply_and_settle, catch_up, caught_up, drain, projector_version, report_batch
from .progress import Outcome, Progress
from .projectors.base import Projector, TableProjector
from .state_row import StateRow, StateRows


def shares_transaction(projector: Projector) -> bool:
    """Whether it writes nothing but rows in the engine's transaction, so that a rolled-back
    round leaves no trace of it: a table projector, or a consumer that says so (`rows_only`)."""
    return isinstance(projector, TableProjector) or getattr(projector, "shares_transaction", False)


def catch_up_together(projectors: list[Projector], time_budget: float | None = None,
                      using: str = DEFAULT_DB_ALIAS) -> dict[str, CatchUp]:
    """engine.catch_up(look_again=False) of each projector, in shared rounds where they can be.

    The caller makes the look after the locks are released (engine.unread), as for one."""
    if len(projectors) < 2 or not backends.of(using).runner_lock:
        return {p.name: catch_up(p, time_budget, using, look_again=False) for p in projectors}
    deadline = time.monotonic() + (time_budget or settings.PROJECTION_TIME_BUDGET)
    by_name = {p.name: p for p in projectors}
    rows = {p.name: StateRow(p.name, using, projector_version(p)) for p in projectors}
    results = {name: CatchUp() for name in by_name}
    shared = StateRows(list(rows.values()))
    progress = shared.lock_and_read()
    owned = [name for name, at in progress.items() if at is not None]
    for name in by_name.keys() - set(owned):
        results[name].outcome = Outcome.BUSY  # its runner drains what this round was sent for
    try:
        members = _members({name: progress[name] for name in owned})
        alone = {name: progress[name] for name in owned if name not in members}
        if members:
            alone.update(_drain_together(by_name, rows, shared, members, results, deadline))
        for name, at in alone.items():
            drain(by_name[name], rows[name], at, results[name], deadline, None)
    finally:
        shared.unlock(owned)
    return results


def _members(progress: dict[str, Progress]) -> dict[str, Progress]:
    """Those that can share a round: free to run now, batch by batch, at the checkpoint most of
    them share. Fewer than two: nobody (alone costs the same)."""
    now = timezone.now()
    able = {name: at for name, at in progress.items() if at.may_run(now) and not at.suspect}
    if not able:
        return {}
    checkpoint, count = Counter(at.checkpoint for at in able.values()).most_common(1)[0]
    return {name: at for name, at in able.items() if at.checkpoint == checkpoint} if count >= 2 else {}


def _drain_together(by_name: dict[str, Projector], rows: dict[str, StateRow], shared: StateRows,
                    members: dict[str, Progress], results: dict[str, CatchUp], deadline: float) -> dict[str, Progress]:
    """Shared batches until the members are caught up or out of time. Returns the projections
    that left the round on the way and must go on alone, with their progress."""
    alone: dict[str, Progress] = {}
    limit = settings.PROJECTION_BATCH_SIZE
    while members:
        if time.monotonic() > deadline:
            for name in members:
                results[name].outcome = Outcome.OUT_OF_TIME
            return alone
        checkpoint = next(iter(members.values())).checkpoint
        batch = eventstore.read_all(after=checkpoint, limit=limit, using=shared.using)
        if not batch:
            for name, at in members.items():
                results[name].outcome = caught_up(rows[name], at)
            return alone
        counted = shared.count_attempts(list(members), checkpoint, batch[-1].position)
        for name in members.keys() - counted.keys():  # it moved, or may not run now: it says why alone
            alone[name] = rows[name].read()
        over = {name for name, at in counted.items() if at.attempts > settings.PROJECTION_MAX_ATTEMPTS}
        for name in over:  # out of attempts with no failure recorded, as engine.drain stalls it
            rows[name].stall(None)
            results[name].outcome = Outcome.BLOCKED
        # In the order given, not the order the update returned the rows in.
        members = {name: at for name, at in members.items() if name in counted and name not in over}
        if not members:
            return alone
        members = _apply_together(by_name, rows, shared, members, counted, batch, results)
        if len(batch) < limit:
            for name, at in members.items():
                results[name].outcome = caught_up(rows[name], at)
            return alone
    return alone


def _apply_together(by_name: dict[str, Projector], rows: dict[str, StateRow], shared: StateRows,
                    members: dict[str, Progress], counted: dict[str, Progress], batch: list,
                    results: dict[str, CatchUp]) -> dict[str, Progress]:
    """The batch to every table projector and their checkpoints past it, in one transaction, then
    to each other member in its own (engine.apply_and_settle); if the shared transaction fails,
    every member in its own. The members that go on, with their progress."""
    in_transaction = [name for name in members if shares_transaction(by_name[name])]
    going_on: dict[str, Progress] = {}
    by_itself = [name for name in members if name not in in_transaction]
    started = time.monotonic()
    try:
        with transaction.atomic(using=shared.using):
            for name in in_transaction:
                by_name[name].apply(batch, shared.using)
            if in_transaction:
                shared.advance(in_transaction, batch)
    except Exception:
        by_itself = list(members)  # each in its own transaction, the failing event found there
    else:
        seconds = time.monotonic() - started
        for name in in_transaction:
            results[name].applied += len(batch)
            report_batch(name, batch, seconds)
            going_on[name] = members[name].after_batch(counted[name], batch)
    for name in by_itself:
        settled = apply_and_settle(by_name[name], rows[name], batch, members[name], counted[name], results[name])
        if settled is not None:
            going_on[name] = settled
    return going_on
