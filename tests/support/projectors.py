"""Projectors for tests only: most have no tables, so they can be run, stalled and skipped freely."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from projections.projectors.base import ProjectionFailed
from projections.projectors.catalog import CatalogProjector

# Streams whose events PoisonProjector refuses (POISONED) or dies on (KILLERS); tests add their
# own product ids and clear the sets.
POISONED: set[UUID] = set()
KILLERS: set[UUID] = set()
# Positions applied, and the size of each batch applied (not transactional: successes only).
APPLIED: dict[str, list[int]] = defaultdict(list)
BATCHES: dict[str, list[int]] = defaultdict(list)


class WorkerDied(BaseException):
    """Stands for the worker process being killed mid-batch: no `except Exception` catches it."""


class PoisonProjector:
    """Refuses every event of a poisoned stream, as a handler with a bug would."""

    name = "test_poison"

    def apply(self, events, using):
        for event in events:
            if event.stream_id in KILLERS:
                raise WorkerDied(f"killed while applying {event.position}")
            if event.stream_id in POISONED:
                raise ProjectionFailed(event, ValueError(f"poisoned stream {event.stream_id}"))
        APPLIED[self.name].extend(event.position for event in events)
        BATCHES[self.name].append(len(events))

    def reset(self, using):
        APPLIED[self.name].clear()


class CatalogProjectorV2(CatalogProjector):
    """The catalog's projector as a deploy that raised its version would ship it."""

    version = 2


class BrokenCatalogProjector(CatalogProjector):
    """A new version of the catalog's projector with a bug: it fails on the POISONED streams."""

    version = 2

    def new_row(self, meta, **fields):
        if meta.stream_id in POISONED:
            raise ValueError(f"a bug meets stream {meta.stream_id}")
        return super().new_row(meta, **fields)
