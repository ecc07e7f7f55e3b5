"""A fold of the whole log into tables nobody reads yet: how a rebuild fills a new generation.

A generation that nobody reads needs none of the live path's work per event (load the rows,
upsert them, keep seven secondary indexes up to date). The log is read once for every
projection being rebuilt, one stream at a time (eventstore.read_streams), and each projector
folds a stream's events into the rows it ends with (`TableProjector.fold`); rows are written
once, with COPY, into tables whose secondary indexes are built afterwards.

Memory holds one stream and PROJECTION_REBUILD_COPY_ROWS rows waiting for their COPY, however
many products there are. Each COPY commits by itself: a writing transaction left open for the
whole fold would hold the read horizon of every live projection back (projections/horizon.py).

With `workers` > 1 the streams are split into that many ranges of stream ids: this process folds
the first, and each other is folded by a process of its own (a fresh interpreter: a forked
child would share this one's database sockets); what depends on every stream (`end_fold`: the
category counts) is combined here.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable
from uuid import UUID

from django.conf import settings
from django.db import connections

from products import eventstore
from products.eventstore import Checkpoint

from . import backends, projectors
from .generation_tables import GenerationTables
from .projectors.base import ProjectionFailed, TableProjector, decode
from .projectors.rows import RowTable


@dataclass(frozen=True)
class Target:
    """One projection to fold into: its name, its generation's tables (by tag) and state row."""

    name: str
    tag: str
    generation_name: str
    # A rebuild's generation records the changes it applies, as the live one does (the catalog's
    # product changes); a throwaway one (a drift check) leaves them alone.
    records_changes: bool = True

    def projector(self) -> TableProjector:
        live = projectors.get(self.name)
        projector = live.writing_to(self.tables().models, self.generation_name)
        projector.records_changes = live.records_changes and self.records_changes
        return projector

    def tables(self) -> GenerationTables:
        return GenerationTables(projectors.get(self.name).models, self.tag)


class FoldFailed(Exception):
    """A handler failed on an event: the fold stops; the engine's catch-up finds it again."""


@dataclass(frozen=True)
class _Part:
    """What one range of streams gave: its events, and its end_fold rows (as value tuples)."""

    events: int
    ends: dict[str, dict[Any, list[tuple]]]


def fold_log(targets: list[Target], upto: Checkpoint, using: str, workers: int = 1,
             progress: Callable[[int], None] = lambda events: None) -> int:
    """Fold the log up to `upto` into every target's (empty) tables; the events folded."""
    ranges = stream_ranges(processes(workers, using))
    if len(ranges) == 1:
        parts = [_fold_part(targets, upto, ranges[0], using, progress)]
    else:
        parts = _fold_in_processes(targets, upto, ranges, using, progress)
    for target in targets:
        projector = target.projector()
        ends = projector.combine_ends([part.ends[target.name] for part in parts])
        _Writer(target, projector, using).write_values(ends)
    return sum(part.events for part in parts)


def processes(workers: int, using: str) -> int:
    """How many processes a fold asked for `workers` uses: one where writers wait for each other."""
    return workers if backends.of(using).concurrent_writers else 1


def stream_ranges(parts: int) -> list[tuple[UUID | None, UUID | None]]:
    """`parts` ranges of stream ids, [first, before), as even as random (version 4) ids make them."""
    bounds = [None] + [UUID(int=(2**128 * k) // parts) for k in range(1, parts)] + [None]
    return list(zip(bounds, bounds[1:]))


def _fold_part(targets: list[Target], upto: Checkpoint, streams: tuple, using: str,
               progress: Callable[[int], None]) -> _Part:
    writers = []
    for target in targets:
        projector = target.projector()
        projector.begin_fold()
        writers.append(_Writer(target, projector, using))
    events, step = 0, settings.PROJECTION_REBUILD_COPY_ROWS
    for stream in eventstore.read_streams(upto, using, first=streams[0], before=streams[1]):
        events += len(stream)
        decoded = [_decoded(event) for event in stream]
        for writer in writers:
            try:
                writer.add(writer.projector.fold(stream, decoded))
            except ProjectionFailed as failure:
                raise FoldFailed(f"{writer.target.name} failed at event {failure.event.checkpoint} "
                                 f"({failure.event.type}): {failure}") from None
        if events // step != (events - len(stream)) // step:
            progress(events)
    ends = {}
    for writer in writers:
        writer.write()
        ends[writer.target.name] = {model: [row.values() for row in rows]
                                    for model, rows in writer.projector.end_fold().items()}
    progress(events)
    return _Part(events, ends)


def _decoded(event):
    """The event's domain event, decoded once for every projection folded; None where it is
    another kind of event or does not decode (the handler's own decoding then says why)."""
    try:
        return decode(event)
    except Exception:
        return None


class _Writer:
    """One projection's rows on their way to its generation's tables, a COPY every so many."""

    def __init__(self, target: Target, projector: TableProjector, using: str) -> None:
        self.target, self.projector, self.using = target, projector, using
        self.tables = {model: RowTable(table) for model, table in projector.tables.items()}
        self.pending: dict[Any, list] = {model: [] for model in self.tables}
        self.count = 0

    def add(self, rows: dict[Any, list]) -> None:
        for model, more in rows.items():
            self.pending[model].extend(more)
            self.count += len(more)
        if self.count >= settings.PROJECTION_REBUILD_COPY_ROWS:
            self.write()

    def write(self) -> None:
        self.write_values({model: [row.values() for row in rows] for model, rows in self.pending.items()})
        for rows in self.pending.values():
            rows.clear()
        self.count = 0

    def write_values(self, rows: dict[Any, list[tuple]]) -> None:
        for model, values in rows.items():
            self.tables[model].copy(self.using, values)


# --- in processes of their own -------------------------------------------------------------

_events_folded = None  # a counter shared by the processes of one fold, for the progress bar


def _fold_in_processes(targets, upto, ranges, using, progress) -> list[_Part]:
    """The first range here, each other in a process of its own, all at once."""
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    # The database this process uses, as it uses it (a test run's, say, not the settings' name).
    database = {key: connections[using].settings_dict[key] for key in ("NAME", "HOST", "PORT", "USER", "PASSWORD")}
    with ProcessPoolExecutor(len(ranges) - 1, mp_context=context, initializer=_start_process,
                             initargs=(counter, using, database)) as pool:
        futures = [pool.submit(_fold_part_in_process, targets, upto, streams, using) for streams in ranges[1:]]
        try:
            here = _fold_part(targets, upto, ranges[0], using, lambda events: progress(events + counter.value))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        while True:
            done, pending = wait(futures, timeout=0.5, return_when=FIRST_EXCEPTION)
            progress(here.events + counter.value)
            if not pending or any(future.exception() for future in done):
                break
        return [here, *(future.result() for future in futures)]  # raises the first failure


def _start_process(counter, using: str, database: dict) -> None:
    import django

    global _events_folded
    _events_folded = counter
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    connections[using].settings_dict.update(database)


def _fold_part_in_process(targets, upto, streams, using) -> _Part:
    last = 0

    def count(events: int) -> None:
        nonlocal last
        with _events_folded.get_lock():
            _events_folded.value += events - last
        last = events

    return _fold_part(targets, upto, streams, using, count)
