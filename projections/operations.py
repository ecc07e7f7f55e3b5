"""What operators do to projections: look at them, retry a stalled one, skip one event.

Shared by the management commands, the admin actions and the staff API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, transaction

from products import eventstore
from products.eventstore import Checkpoint

from . import engine, projectors
from .models import ProjectionState, SkippedEvent


@dataclass(frozen=True)
class Status:
    name: str
    status: str
    position: str
    lag: int
    attempts: int
    last_error: str
    failed_position: int | None
    events_applied: int
    updated_at: datetime | None


def statuses(using: str = DEFAULT_DB_ALIAS) -> list[Status]:
    names = list(projectors.all_projectors())
    engine.ensure_states(names, using)
    states = ProjectionState.objects.using(using).filter(name__in=names).order_by("name")
    return [
        Status(
            name=state.name,
            status=state.status,
            position=str(Checkpoint(state.last_tx, state.last_position)),
            lag=engine.lag(state, using),
            attempts=state.attempts,
            last_error=state.last_error,
            failed_position=state.failed_position,
            events_applied=state.events_applied,
            updated_at=state.updated_at,
        )
        for state in states
    ]


def retry(name: str, using: str = DEFAULT_DB_ALIAS) -> None:
    projectors.get(name)  # refuse unknown names
    engine.retry(name, using)


class CannotSkip(Exception):
    pass


def skip(name: str, position: int, reason: str, skipped_by: str = "", using: str = DEFAULT_DB_ALIAS) -> SkippedEvent:
    """Move `name` past the event at `position`, which must be the next one it has to apply.

    Recorded in projection_skipped_event with the reason and the last error. Only the next
    event can be skipped, so a skip can never jump over events that were not looked at.
    """
    projectors.get(name)
    if not reason.strip():
        raise CannotSkip("Give a reason: every skip is recorded.")
    engine.ensure_states([name], using)
    with engine.runner(name, using, wait=30) as owned:
        if not owned:
            raise CannotSkip(f"{name} is running; try again in a moment.")
        with transaction.atomic(using=using):
            state = ProjectionState.objects.using(using).select_for_update().get(name=name)
            upcoming = eventstore.read_all(after=Checkpoint(state.last_tx, state.last_position), limit=1, using=using)
            if not upcoming or upcoming[0].position != position:
                next_one = upcoming[0].position if upcoming else "none"
                raise CannotSkip(f"Event {position} is not the next event of {name} (the next is {next_one}).")
            event = upcoming[0]
            record = SkippedEvent.objects.using(using).create(
                projection=name,
                position=event.position,
                event_id=event.event_id,
                event_type=event.type,
                reason=reason.strip(),
                error=state.last_error,
                skipped_by=skipped_by,
            )
            ProjectionState.objects.using(using).filter(name=name).update(
                last_tx=event.tx,
                last_position=event.position,
                status=ProjectionState.RUNNING,
                attempts=0,
                next_retry_at=None,
                last_error="",
                failed_position=None,
                suspect_until=None,
            )
    return record
