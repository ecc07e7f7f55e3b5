"""Drift check: a read model as it is, row by row, against the same read model built from the log.

`verify(name)` folds the log into a throwaway generation (`<table>__verify`, see folding) up to
the live checkpoint, brings it to the live checkpoint of the moment while holding the live
runner (so neither moves), and compares the two table by table in key order. What it finds is
what a bug, a manual edit, a restore or a skipped event left behind: rows missing from the live
table, rows it has that the log does not give, and rows whose values differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import F
from django.db.models.functions import Collate

from products import eventstore
from products.eventstore import Checkpoint

from . import backends, engine, folding, generations
from .models import ProjectionState

TAG = "verify"
# How long the check may wait for the live runner (a batch in flight) each time it needs it.
RUNNER_WAIT = 30.0


@dataclass
class TableDrift:
    """One table's differences: counts of each kind, and the first `keep` of each."""

    table: str
    key: tuple[str, ...]
    keep: int
    checked: int = 0
    missing: list[tuple] = field(default_factory=list)  # keys the log gives and the table lacks
    extra: list[tuple] = field(default_factory=list)  # keys the table has and the log does not give
    different: list[tuple[tuple, dict[str, tuple[Any, Any]]]] = field(default_factory=list)  # key, {column: (live, log)}
    counts: dict[str, int] = field(default_factory=lambda: {"missing": 0, "extra": 0, "different": 0})

    def note(self, kind: str, item) -> None:
        self.counts[kind] += 1
        found = getattr(self, kind)
        if len(found) < self.keep:
            found.append(item)

    @property
    def drifted(self) -> bool:
        return any(self.counts.values())


@dataclass(frozen=True)
class Verification:
    name: str
    position: Checkpoint  # the live checkpoint both sides were compared at
    tables: list[TableDrift]

    @property
    def drifted(self) -> bool:
        return any(table.drifted for table in self.tables)


def verify(name: str, using: str = DEFAULT_DB_ALIAS, keep: int = 10) -> Verification:
    """Compare `name`'s live tables with a generation built from the log, up to the same event."""
    generations.rebuildable(name)  # refuses the relay and projections without tables
    check_name = f"{name}.{TAG}"
    target = folding.Target(name, TAG, check_name, records_changes=False)
    tables = target.tables()
    with engine.runner(check_name, using) as owned:
        if not owned:
            raise generations.CannotRebuild(f"{name} is being verified by another process; try again when it is done.")
        try:
            tables.create(using, indexes=False)
            built_to = _live_checkpoint(name, using)
            if built_to != Checkpoint.START:
                _build(target, built_to, using)
            with engine.runner(name, using, wait=RUNNER_WAIT) as live_owned:
                if not live_owned:
                    raise generations.CannotRebuild(f"{name}'s runner stayed busy for {RUNNER_WAIT:.0f} s; try again.")
                # The live tables stand still now; the check's generation catches up to them.
                position = _live_checkpoint(name, using)
                _apply_between(target, built_to, position, using)
                drift = [_compare(model, generation, using, keep) for model, generation in tables.models.items()]
        finally:
            tables.drop(using)
    return Verification(name, position, drift)


def _live_checkpoint(name: str, using: str) -> Checkpoint:
    engine.ensure_states([name], using)
    state = ProjectionState.objects.using(using).get(name=name)
    return Checkpoint(state.last_tx, state.last_position)


def _build(target: folding.Target, upto: Checkpoint, using: str) -> None:
    projector = target.projector()
    if projector.folds():
        try:
            folding.fold_log([target], upto, using)
        except folding.FoldFailed as failure:
            raise generations.CannotRebuild(f"The log cannot be projected: {failure}") from None
    else:
        _apply_between(target, Checkpoint.START, upto, using)


def _apply_between(target: folding.Target, after: Checkpoint, upto: Checkpoint, using: str) -> None:
    """Apply the events after `after`, up to `upto`, to the check's tables, batch by batch."""
    projector = target.projector()
    while after < upto:
        batch = [event for event in eventstore.read_all(after=after, limit=settings.PROJECTION_REBUILD_BATCH_SIZE, using=using) if event.checkpoint <= upto]
        if not batch:
            return
        with transaction.atomic(using=using):
            projector.apply(batch, using)
        after = batch[-1].checkpoint


def _compare(model, generation, using: str, keep: int) -> TableDrift:
    """Both tables in key order, side by side (a merge: neither is held in memory)."""
    columns = [f.attname for f in model._meta.concrete_fields if not f.auto_created]
    key = _key(model)
    drift = TableDrift(model._meta.db_table, key, keep)
    positions = [columns.index(name) for name in key]

    # In the order Python compares the keys in: text by code point, not by the database's locale.
    collation = backends.of(using).binary_collation
    text = {f.attname for f in model._meta.concrete_fields if f.get_internal_type() in ("CharField", "TextField")}
    order = [Collate(F(name), collation) if name in text else F(name) for name in key]

    def rows(of) -> Iterator[tuple]:
        query = of.objects.using(using).order_by(*order).values_list(*columns)
        for values in query.iterator(chunk_size=5000):
            yield tuple(values[i] for i in positions), values

    live, built = rows(model), rows(generation)
    left, right = next(live, None), next(built, None)
    while left is not None or right is not None:
        drift.checked += 1
        if right is None or (left is not None and left[0] < right[0]):
            drift.note("extra", left[0])
            left = next(live, None)
        elif left is None or right[0] < left[0]:
            drift.note("missing", right[0])
            right = next(built, None)
        else:
            if left[1] != right[1]:
                changed = {column: (a, b) for column, a, b in zip(columns, left[1], right[1]) if a != b}
                drift.note("different", (left[0], changed))
            left, right = next(live, None), next(built, None)
    return drift


def _key(model) -> tuple[str, ...]:
    """The columns a row is known by: its primary key, or its unique fields if the key is a counter."""
    if not model._meta.pk.auto_created:
        return (model._meta.pk.attname,)
    unique = next(constraint for constraint in model._meta.constraints if getattr(constraint, "fields", None))
    return tuple(model._meta.get_field(name).attname for name in unique.fields)
