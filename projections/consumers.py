"""Consumers: plain functions that react to events, run by the engine as projections are.

    from projections.consumers import consumer

    @consumer("StockShipped", "ProductDiscontinued", name="notify_warehouse")
    def notify_warehouse(event):
        ...

Put them in a `consumers` module of any installed app: it is imported when Django starts
(`discover`). Each consumer is a projection of its own (its name, its checkpoint, its runner
lock, its Celery queue `projection.<name>`): it gets the events of its types in log order,
each as a `ConsumedEvent` (the data upcast to the type's current shape), with retries and
backoff when it raises, `stalled` after PROJECTION_MAX_ATTEMPTS, and retry and skip in the
admin and `manage.py`, like any projection.

At least once. What a consumer writes to the database commits with its checkpoint, so that
happens exactly once; anything else (a call to another service, an e-mail) can happen again
for the same event after a crash: send `event.id` as the call's idempotency key, for the other
side to act once per key (docs/CONSUMERS.md shows the pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.utils.module_loading import autodiscover_modules

from products.domain import events as domain_events
from products.eventstore import Checkpoint, RecordedEvent

from .projectors.base import ProjectionFailed, current_name


@dataclass(frozen=True)
class ConsumedEvent:
    id: UUID  # the event's id: unique, the one to deduplicate by
    type: str  # its type's current name
    data: dict[str, Any]  # in the type's current shape (upcast)
    schema_version: int
    stream_id: UUID  # the product's id
    version: int  # the product's version after this event
    position: Checkpoint
    recorded_at: datetime
    metadata: dict[str, Any]  # correlation_id, causation_id, request_id, user_id...


class Consumer:
    """A consumer function as the engine runs it: a projector without tables.

    With `batch`, the function gets each batch's events of its types as one list (work it does
    once per batch, such as reading its settings, is then not done once per event); if it
    raises, the engine gives it the events one at a time to find the one that fails.

    With `rows_only`, the function promises to do nothing but write rows through Django (no
    call to anything outside the database): it then applies in the round's transaction with the
    read models, rather than in one of its own after it (projections/rounds.py)."""

    version = 1

    def __init__(self, function: Callable, types: Sequence[str], name: str, batch: bool = False,
                 rows_only: bool = False) -> None:
        self.function, self.types, self.name, self.batch = function, frozenset(types), name, batch
        self.shares_transaction = rows_only  # projections/rounds.py
        self.rebuild_refusal = (
            f"{name} is a consumer: it has no tables to rebuild. To give it every event again (it must "
            f"deduplicate by event id), run `rebuild_projections --in-place {name}`.")

    def apply(self, events: Sequence[RecordedEvent], using: str) -> None:
        if self.batch:
            taken = [consumed(event) for event in events if current_name(event.type) in self.types]
            if taken:
                self.function(taken)
            return
        for event in events:
            if current_name(event.type) not in self.types:
                continue
            try:
                self.function(consumed(event))
            except Exception as error:
                raise ProjectionFailed(event, error) from error

    def reset(self, using: str) -> None:
        """Nothing to empty: replaying a consumer in place gives it every event again."""

    def __repr__(self) -> str:
        return f"<consumer {self.name} of {', '.join(sorted(self.types))}>"


def consumed(event: RecordedEvent) -> ConsumedEvent:
    type_name, schema_version, data = domain_events.SCHEMAS.upcast(event.type, event.schema_version, event.data)
    return ConsumedEvent(id=event.event_id, type=type_name, data=data, schema_version=schema_version,
                         stream_id=event.stream_id, version=event.version, position=event.checkpoint,
                         recorded_at=event.recorded_at, metadata=dict(event.metadata))


_registered: dict[str, Consumer] = {}


def consumer(*types: str, name: str | None = None, batch: bool = False, rows_only: bool = False) -> Callable:
    """Run the decorated function for each stored event of these types (current names); with
    `batch`, once per batch with the list of them; with `rows_only` (it writes database rows and
    nothing else), in the read models' transaction."""
    if not types:
        raise TypeError("@consumer needs at least one event type")
    unknown = [t for t in types if t not in domain_events.EVENT_TYPES]
    if unknown:
        raise ValueError(f"@consumer: no event type named {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(domain_events.EVENT_TYPES))}")

    def register(function: Callable[[ConsumedEvent], None]) -> Callable[[ConsumedEvent], None]:
        consumer_name = name or function.__name__
        known = _registered.get(consumer_name)
        if known is not None and known.function is not function:
            raise ValueError(f"two consumers are named {consumer_name!r}: give one of them another name=")
        _registered[consumer_name] = Consumer(function, types, consumer_name, batch, rows_only)
        return function

    return register


def registered() -> dict[str, Consumer]:
    """Every consumer, by name, once the installed apps' `consumers` modules are imported."""
    return dict(_registered)


def discover() -> None:
    """Import the `consumers` module of every installed app (as the admin finds `admin` modules)."""
    autodiscover_modules("consumers")
