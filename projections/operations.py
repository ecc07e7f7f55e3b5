"""What operators do to projections: look at them, retry a stalled one, skip one event.

Shared by the management commands, the admin actions and the staff API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import OuterRef, QuerySet, Subquery

from products import eventstore
from products.eventstore import Checkpoint
from products.models import StoredEvent

from . import engine, generations, projectors
from .models import ProjectionState, SkippedEvent
from .state_row import StateRow


@dataclass(frozen=True)
class Status:
    name: str
    status: str
    position: str  # a position token, as the API gives them (see products.eventstore.Checkpoint)
    lag: int
    attempts: int
    last_error: str
    failed_position: str | None  # the token of the event the last failure stopped at: projection_skip's --event
    events_applied: int
    updated_at: datetime | None
    version: int  # of the projector that built the live tables
    next: generations.NextGeneration | None  # a rebuild under way


def statuses(using: str = DEFAULT_DB_ALIAS) -> list[Status]:
    names = list(projectors.all_projectors())
    engine.ensure_states(names, using)
    states = with_failed_tx(ProjectionState.objects.using(using).filter(name__in=names).order_by("name"))
    building = generations.next_generations(names, using)
    return [
        Status(
            name=state.name,
            status=state.status,
            position=str(Checkpoint(state.last_tx, state.last_position)),
            lag=engine.lag(state, using),
            attempts=state.attempts,
            last_error=state.last_error,
            failed_position=failed_token(state),
            events_applied=state.events_applied,
            updated_at=state.updated_at,
            version=state.version,
            next=building.get(state.name),
        )
        for state in states
    ]


def with_failed_tx(states: QuerySet) -> QuerySet:
    """The states, each annotated with `failed_tx`: the transaction id of the event it failed at."""
    return states.annotate(failed_tx=tx_of_event_at("failed_position"))


def tx_of_event_at(position_field: str) -> Subquery:
    """The transaction id of the stored event at the position in `position_field`.

    Rows that refer to an event keep only its position; its token needs the tx as well.
    """
    return Subquery(StoredEvent.objects.filter(position=OuterRef(position_field)).values("tx")[:1])


def failed_token(state: ProjectionState) -> str | None:
    """The position token of the event the projection failed at (a state from `with_failed_tx`)."""
    if state.failed_position is None or state.failed_tx is None:
        return None
    return str(Checkpoint(state.failed_tx, state.failed_position))


def check_known(name: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """LookupError unless `name` is a projection, or the generation of one being built (`<name>.next`)."""
    if generations.is_generation_row(name):
        projectors.get(generations.live_name(name))
        if not ProjectionState.objects.using(using).filter(name=name).exists():
            raise LookupError(f"No rebuild of {generations.live_name(name)} is under way.")
        return
    projectors.get(name)


def retry(name: str, using: str = DEFAULT_DB_ALIAS) -> None:
    check_known(name, using)
    engine.retry(name, using)


class CannotSkip(Exception):
    pass


def skip(name: str, event: Checkpoint, reason: str, skipped_by: str = "", using: str = DEFAULT_DB_ALIAS) -> SkippedEvent:
    """Move `name` past `event` (its token parsed), which must be the next one it has to apply.

    Recorded in projection_skipped_event with the reason and the last error. Only the next
    event can be skipped, so a skip can never jump over events that were not looked at.
    """
    check_known(name, using)
    if not reason.strip():
        raise CannotSkip("Give a reason: every skip is recorded.")
    engine.ensure_states([name], using)
    with engine.runner(name, using, wait=30) as owned:
        if not owned:
            raise CannotSkip(f"{name} is running; try again in a moment.")
        with transaction.atomic(using=using):
            row = StateRow(name, using)
            state = row.locked()
            upcoming = eventstore.read_all(after=Checkpoint(state.last_tx, state.last_position), limit=1, using=using)
            if not upcoming or upcoming[0].checkpoint != event:
                next_one = upcoming[0].checkpoint if upcoming else "none"
                raise CannotSkip(f"Event {event} is not the next event of {name} (the next is {next_one}).")
            skipped = upcoming[0]
            record = SkippedEvent.objects.using(using).create(
                projection=name,
                position=skipped.position,
                event_id=skipped.event_id,
                event_type=skipped.type,
                reason=reason.strip(),
                error=state.last_error,
                skipped_by=skipped_by,
            )
            row.skip_to(skipped)
    return record
