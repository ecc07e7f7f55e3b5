"""A product's history for the admin: its stored events, and its state as of any version.

The question a support engineer asks first ("what did this product look like when...?") is
answered from the log itself, the state folded by the domain up to the chosen version, not from
a read model that only knows the present.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from products import eventstore
from products.domain import events as domain_events
from products.domain.product import fold


@dataclass(frozen=True)
class TimelineEntry:
    version: int
    position: str
    type: str
    schema_version: int  # as stored; the data is shown in the current shape
    recorded_at: Any
    data: str  # JSON, indented


@dataclass(frozen=True)
class Timeline:
    product_id: UUID
    entries: list[TimelineEntry]
    at_version: int
    state: dict[str, Any] | None  # the product folded up to at_version


class VersionOutOfRange(ValueError):
    pass


def timeline(product_id: UUID, at_version: int | None = None) -> Timeline | None:
    """The product's events and its state after `at_version` (the last by default); None if it has none."""
    stored = eventstore.load(product_id)
    if not stored:
        return None
    last = stored[-1].version
    at = last if at_version is None else at_version
    if not 1 <= at <= last:
        raise VersionOutOfRange(f"Choose a version from 1 to {last}.")
    decoded = [domain_events.decode(event.type, event.schema_version, event.data) for event in stored]
    entries = [
        TimelineEntry(event.version, str(event.checkpoint), domain_events.SCHEMAS.current_name(event.type),
                      event.schema_version, event.recorded_at,
                      json.dumps(domain_events.to_data(domain_event), indent=1, ensure_ascii=False))
        for event, domain_event in zip(stored, decoded)
    ]
    state = fold(decoded[:at])
    return Timeline(product_id, entries, at, asdict(state) if state is not None else None)
