"""Rebuilds without downtime: a read model's next generation, built beside the live one.

A rebuild (`start`, then `build`) fills the projection's next generation, tables of its own
(`<table>__next`, see generation_tables), from the log, with the same engine as every
projection: the next generation has its own state row (`<name>.next`) and runner lock, so it is
counted, retried and stalled like any projection, and a build killed at any moment resumes
from its last committed batch. Meanwhile the live generation serves every query and keeps
catching up.

Once the next generation has caught up, `build` swaps it in: holding the live runner lock, it
catches the next generation up to at least the live checkpoint (so a read-your-writes answer
never goes back), then ONE transaction puts its tables in the live ones' place and gives its
checkpoint and version to the live state row. The old tables are dropped after the commit.

A worker starts a rebuild by itself when a projector's `version` is not the one its live tables
were built by (`start_due`, from beat's sweep): a deploy that raises it needs no other step.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.utils import timezone

from products import eventstore
from products.eventstore import Checkpoint

from . import backends, engine, folding, projectors
from .generation_tables import GenerationTables
from .models import ProjectionState
from .progress import Outcome
from .projectors.base import TableProjector
from .state_row import StateRow

log = logging.getLogger(__name__)

NEXT = "next"
# How long the swap waits for the live runner (a batch in flight) before trying again later.
SWAP_RUNNER_WAIT = 10.0
# A build reports its progress between catch-ups of this many seconds.
REPORT_EVERY = 1.0


class CannotRebuild(Exception):
    """A rebuild that may not start or go on; the message says why and what to do instead."""


def next_name(name: str) -> str:
    """The state row and runner lock of `name`'s next generation."""
    return f"{name}.{NEXT}"


def rebuildable(name: str) -> TableProjector:
    """The projector of `name`, if it can be rebuilt in a generation; CannotRebuild says why not."""
    projector = projectors.get(name)
    if not isinstance(projector, TableProjector):
        reason = getattr(projector, "rebuild_refusal", None) or (
            f"{name} has no read-model tables of its own (a TableProjector's `models`) to build a new "
            f"generation of. `rebuild_projections --in-place {name}` replays the log into it where it is."
        )
        raise CannotRebuild(reason)
    return projector


def tables_of(projector: TableProjector, tag: str = NEXT) -> GenerationTables:
    return GenerationTables(projector.models, tag)


def next_state(name: str, using: str = DEFAULT_DB_ALIAS) -> ProjectionState | None:
    return ProjectionState.objects.using(using).filter(name=next_name(name)).first()


@dataclass(frozen=True)
class Started:
    version: int
    resumed: bool  # a build of this version was under way (killed, or between two worker tasks)


def start(name: str, using: str = DEFAULT_DB_ALIAS) -> Started:
    """Start building `name`'s next generation, at its projector's version, or find it started.

    Refused while another process builds it. A next generation of another version (the code
    changed again meanwhile) is dropped and started again.
    """
    projector = rebuildable(name)
    engine.ensure_states([name], using)
    row = StateRow(next_name(name), using)
    with engine.runner(row.name, using) as owned:
        if not owned:
            raise CannotRebuild(_running_message(name, using))
        tables = tables_of(projector)
        current = next_state(name, using)
        if current is not None and current.version == projector.version and tables.exist(using):
            return Started(current.version, resumed=True)
        tables.create(using, indexes=False)  # built after the bulk load (see fill)
        row.start_generation(projector.version)
    log.info("Building generation v%s of %s", projector.version, name)
    return Started(projector.version, resumed=False)


def refuse_if_unable(name: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """CannotRebuild if `name` has no generations or another process is building one now."""
    rebuildable(name)
    with engine.runner(next_name(name), using) as owned:
        if not owned:
            raise CannotRebuild(_running_message(name, using))


def _running_message(name: str, using: str) -> str:
    state = next_state(name, using)
    if state is None:
        return f"A rebuild of {name} is being started by another process."
    started = state.started_at.isoformat(timespec="seconds") if state.started_at else "?"
    return (
        f"A rebuild of {name} (v{state.version}) is already running, started at {started}, now at position "
        f"{Checkpoint(state.last_tx, state.last_position)}; `projection_status` shows its progress."
    )


@dataclass(frozen=True)
class Built:
    """How a build ended: `swapped` (the generation is live), or its engine outcome."""

    swapped: bool
    outcome: Outcome
    applied: int


def build(
    name: str,
    using: str = DEFAULT_DB_ALIAS,
    time_budget: float | None = None,
    progress: Callable[[ProjectionState], None] = lambda state: None,
) -> Built:
    """Catch `name`'s next generation up with the log and swap it in; resumable at any point.

    Without a time budget it runs until the swap (or a failure the engine is retrying); with
    one (a worker's task) it returns when the budget is spent, and the next task goes on.
    """
    projector = rebuildable(name)
    deadline = time.monotonic() + time_budget if time_budget else float("inf")
    with engine.runner(next_name(name), using) as owned:
        if not owned:
            raise CannotRebuild(_running_message(name, using))
        state = next_state(name, using)
        if state is None:
            raise CannotRebuild(f"No rebuild of {name} is under way; start one with `rebuild_projections {name}`.")
        if state.version != projector.version:  # the code changed again: never swap in what it no longer writes
            raise CannotRebuild(f"The rebuild of {name} under way builds v{state.version}, but its projector is now "
                                f"v{projector.version}; the next sweep (or `rebuild_projections {name}`) starts again.")
        tables = tables_of(projector)
        generation = projector.writing_to(tables.models, next_name(name))
        # The first build folds the log for every generation still at its start, in one read.
        applied = fill(_at_start(using), using, progress=lambda events: progress(next_state(name, using))).get(name, 0)
        while True:
            result = engine.catch_up(
                generation, time_budget=min(REPORT_EVERY, max(deadline - time.monotonic(), 0.01)), using=using,
                batch_size=settings.PROJECTION_REBUILD_BATCH_SIZE,
            )
            applied += result.applied
            progress(next_state(name, using))
            if result.outcome == Outcome.CAUGHT_UP and _swap(projector, generation, tables, using):
                return Built(True, Outcome.CAUGHT_UP, applied)
            if result.outcome in (Outcome.BLOCKED, Outcome.FAILED, Outcome.BUSY):
                return Built(False, result.outcome, applied)  # the engine retries it when due
            if time.monotonic() >= deadline:
                return Built(False, Outcome.OUT_OF_TIME, applied)


def _swap(projector: TableProjector, generation: TableProjector, tables: GenerationTables, using: str) -> bool:
    """Make the caught-up next generation the live one; False if that must wait (tried again)."""
    tables.build_indexes(using)  # unless the fill built them
    tables.drop_retired(using)  # left by a swap that was killed before it could drop them
    with engine.runner(projector.name, using, wait=SWAP_RUNNER_WAIT) as owned:
        if not owned:
            return False
        # The live checkpoint stands still now; the next generation must reach it, at least.
        if engine.catch_up(generation, using=using).outcome != Outcome.CAUGHT_UP:
            return False
        try:
            with transaction.atomic(using=using):
                _swap_in(projector, tables, using)
        except OperationalError as error:  # a reader held the tables longer than the lock timeout
            log.warning("Could not swap in the next generation of %s yet: %s", projector.name, error)
            return False
    tables.drop_retired(using)
    log.info("Generation v%s of %s is live", projector.version, projector.name)
    # A nudge that found the live runner busy during the swap relied on it: catch up once.
    engine.catch_up(projector, using=using)
    return True


def _swap_in(projector: TableProjector, tables: GenerationTables, using: str) -> None:
    connection = connections[using]
    timeout = backends.of(connection).swap_lock_timeout_sql
    if timeout:
        with connection.cursor() as cursor:
            cursor.execute(timeout)
    live, generation = StateRow(projector.name, using), StateRow(next_name(projector.name), using)
    live_state, next_state_ = live.locked(), generation.locked()
    behind = Checkpoint(next_state_.last_tx, next_state_.last_position) < Checkpoint(live_state.last_tx, live_state.last_position)
    if behind:  # cannot happen while the live runner lock is held; refuse rather than go back
        raise OperationalError(f"the next generation of {projector.name} is behind the live one")
    tables.swap_in(using)
    live.take_over(next_state_)
    generation.delete()


def _at_start(using: str) -> list[str]:
    """The projections whose next generation is started but nothing is in it yet."""
    rows = ProjectionState.objects.using(using).filter(name__endswith=f".{NEXT}", last_position=0)
    return [live_name(state.name) for state in rows if live_name(state.name) in projectors.all_projectors()]


def fill(names, using: str = DEFAULT_DB_ALIAS, progress: Callable[[int], None] = lambda events: None,
         workers: int = 1) -> dict[str, int]:
    """Fold the whole settled log into the next generation of each of `names` still at its start.

    One read of the log serves them all (see folding); the secondary indexes are built at the
    end, then each generation's checkpoint is set to the last event folded and catch-up goes on
    from there. Killed, a fill leaves its generations at the start, and the next one begins
    again from empty tables. A handler that fails leaves them there too: the engine then applies
    the log batch by batch, and retries and stalls on the failing event as for any projection.
    Returns the events folded, by projection.
    """
    with ExitStack() as held:
        targets = []
        for name in names:
            projector = rebuildable(name)
            if not held.enter_context(engine.runner(next_name(name), using)):
                continue  # being built elsewhere
            state = next_state(name, using)
            if state is not None and state.last_position == 0 and projector.folds():
                targets.append(folding.Target(name, NEXT, next_name(name)))
        upto = fold_upto(targets, using) if targets else None
        if upto is None:
            return {}
        for target in targets:
            target.tables().create(using, indexes=False)  # empty: a fill cut short left rows behind
        try:
            events = folding.fold_log(targets, upto, using, workers, progress)
        except folding.FoldFailed as failure:
            log.warning("The fold of the log stopped: %s. The new generations are caught up batch by batch instead.", failure)
            for target in targets:
                target.tables().create(using, indexes=False)
            return {}
        for target in targets:
            target.tables().build_indexes(using)
            StateRow(target.generation_name, using).filled(upto, events)
        return {target.name: events for target in targets}


def fold_upto(targets: list[folding.Target], using: str) -> Checkpoint | None:
    """How far a fill folds the log: all that has settled, but no further than the live
    generation of a projector that records changes has applied (a fold records none, so the
    generation applies the rest event by event, recording each; see TableProjector); None: nothing."""
    upto = eventstore.last_settled(using)
    for target in targets:
        if upto is not None and target.projector().records_changes:
            upto = min(upto, StateRow(target.name, using).read().checkpoint)
    return None if upto in (None, Checkpoint.START) else upto


def start_due(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Start the rebuilds a deploy asked for; the names of every generation to build now.

    A projector whose `version` is not the live tables' gets a next generation at that version
    (one already under way at another version is started again); one under way is resumed.
    """
    names = [name for name, projector in projectors.all_projectors().items() if isinstance(projector, TableProjector)]
    engine.ensure_states(names, using)
    live = {s.name: s for s in ProjectionState.objects.using(using).filter(name__in=names)}
    building = {s.name: s for s in ProjectionState.objects.using(using).filter(name__in=[next_name(n) for n in names])}
    due = []
    for name in names:
        version = projectors.get(name).version
        under_way = building.get(next_name(name))
        if live[name].version != version and (under_way is None or under_way.version != version):
            try:
                start(name, using)
            except CannotRebuild as refusal:  # being started or built elsewhere right now
                log.debug("%s", refusal)
                continue
        elif under_way is None:
            continue
        due.append(name)
    return due


@dataclass(frozen=True)
class NextGeneration:
    """A generation being built, as operators see it."""

    version: int
    status: str
    position: str
    lag: int
    started_at: datetime | None
    events_per_second: float | None
    eta_seconds: float | None
    last_error: str


def progress_of(state: ProjectionState, using: str = DEFAULT_DB_ALIAS) -> NextGeneration:
    """How far a next generation's build is, from its state row: rate since it started, and ETA."""
    checkpoint = Checkpoint(state.last_tx, state.last_position)
    lag = eventstore.count_after(checkpoint, using=using)
    elapsed = (timezone.now() - state.started_at).total_seconds() if state.started_at else 0
    rate = state.events_applied / elapsed if elapsed > 0 and state.events_applied else None
    return NextGeneration(
        version=state.version,
        status=state.status,
        position=str(checkpoint),
        lag=lag,
        started_at=state.started_at,
        events_per_second=round(rate, 1) if rate else None,
        eta_seconds=round(lag / rate, 1) if rate else None,
        last_error=state.last_error,
    )


def next_generations(names, using: str = DEFAULT_DB_ALIAS) -> dict[str, NextGeneration]:
    """The generations being built for these projections, by projection name."""
    rows = ProjectionState.objects.using(using).filter(name__in=[next_name(name) for name in names])
    return {live_name(state.name): progress_of(state, using) for state in rows}


def is_generation_row(name: str) -> bool:
    return name.endswith(f".{NEXT}")


def live_name(name: str) -> str:
    """The projection a generation's row (`<name>.next`) belongs to."""
    return name.removesuffix(f".{NEXT}")


def cancel(name: str, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Drop `name`'s next generation, if one is under way and not being built right now."""
    projector = rebuildable(name)
    with engine.runner(next_name(name), using) as owned:
        if not owned:
            raise CannotRebuild(_running_message(name, using))
        tables_of(projector).drop(using)
        existed = next_state(name, using) is not None
        StateRow(next_name(name), using).delete()
    return existed

