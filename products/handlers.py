"""The command handler: load the stream, fold, decide, append, nudge after commit.

This is the only write-side code that does I/O. Without an expected version, a command that
loses a race to another writer is decided again on the new state, so a client only ever
sees the business outcome (enough stock or not), never the race. States of recently used
products are kept per process (products.states), so a command reads only the events its
product received since, however long the product's history.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from . import eventstore, metrics
from .domain import events as domain_events
from .domain import rules
from .domain.commands import Command, RegisterProduct
from .domain.errors import DuplicateSku, ProductError, ProductExists, ProductNotFound, VersionConflict
from .domain.product import Product, decide, fold
from .eventstore import Checkpoint, EventsAlreadyStored, NewEvent, RecordedEvent, StreamVersionConflict
from .models import SkuClaim
from .nudge import nudge_projections
from .states import NOTHING, Known, RecentStates

STREAM_TYPE = "product"
_recent = RecentStates()
_IDEMPOTENCY_NAMESPACE = uuid.UUID("5f0b7a52-52a3-4a8e-9a51-0e7f6c3d8c11")
# Commands decide at most this many events; replays look for that many derived ids.
MAX_EVENTS_PER_COMMAND = 4


class PreconditionFailed(VersionConflict):
    """The If-Match header names a version the product is not at."""


class IdempotencyKeyReused(ProductError):
    code = "idempotency_key_reused"


class UnreadableStream(ProductError):
    """The product's stored events include a schema version or an event type newer than this code knows."""

    code = "stream_unreadable"


class TooMuchContention(ProductError):
    """The command lost the race to other writers on its product every time it was retried."""

    code = "unavailable"


@dataclass(frozen=True)
class Idempotency:
    """A client's Idempotency-Key, scoped to the user, and a hash of the request it came with."""

    scope: str
    key: str
    request_hash: str

    def event_id(self, index: int) -> uuid.UUID:
        # Derived, so a retry of the same command carries the same ids and the store keeps one copy.
        return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{self.scope}\x1f{self.key}\x1f{index}")


@dataclass(frozen=True)
class Outcome:
    product_id: uuid.UUID
    version: int
    position: Checkpoint | None
    events: list[RecordedEvent] = field(default_factory=list)
    replayed: bool = False


def handle(
    command: Command,
    *,
    expected_version: int | None = None,
    if_match: int | str | None = None,
    idempotency: Idempotency | None = None,
    metadata: dict[str, Any] | None = None,
    new_stream: bool = False,
) -> Outcome:
    """Decide the command against the stored product and append the outcome.

    `new_stream`: the product id was generated for this command, so no event can exist for it
    yet and the first attempt does not read the stream.
    """
    if idempotency and (replay := _replay(idempotency)):
        return replay
    for attempt in range(settings.COMMAND_MAX_ATTEMPTS):
        known = NOTHING if new_stream and attempt == 0 else _current(command.product_id)
        state, current = known.state, known.version
        try:
            _check_preconditions(command, state, current, expected_version, if_match)
            decided = decide(command, state)
        except ProductError:
            # A concurrent twin of this request may have stored it between our checks.
            if idempotency and (replay := _replay(idempotency)):
                return replay
            raise
        if not decided:
            return Outcome(command.product_id, current, known.position)
        try:
            recorded = _store(command, current, decided, idempotency, metadata or {})
        except StreamVersionConflict:
            if expected_version is not None or if_match is not None:
                _check_preconditions(command, state, _current_version(command), expected_version, if_match)
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # spread out the retrying writers
            continue
        except EventsAlreadyStored:
            assert idempotency is not None, "event ids collide only when derived from an Idempotency-Key"
            replay = _replay(idempotency)
            if replay is None:
                raise
            return replay
        _recent.put(command.product_id, Known(fold(decided, state), recorded[-1].version, recorded[-1].checkpoint))
        return Outcome(command.product_id, recorded[-1].version, recorded[-1].checkpoint, recorded)
    raise TooMuchContention("Too many concurrent commands on this product; retry shortly.")


def _store(
    command: Command,
    current: int,
    decided: list[domain_events.Event],
    idempotency: Idempotency | None,
    metadata: dict[str, Any],
) -> list[RecordedEvent]:
    assert len(decided) <= MAX_EVENTS_PER_COMMAND
    new_events = [
        NewEvent(
            event_id=idempotency.event_id(index) if idempotency else uuid.uuid4(),
            type=domain_events.type_name(event),
            data=domain_events.to_data(event),
            schema_version=event.schema_version,
        )
        for index, event in enumerate(decided)
    ]
    if idempotency:
        metadata = {**metadata, "idempotency_key": idempotency.key, "request_hash": idempotency.request_hash}
    if isinstance(command, RegisterProduct):
        with transaction.atomic():
            # The append must be the transaction's first write (see products.eventstore.dialects).
            recorded = eventstore.append(STREAM_TYPE, command.product_id, current, new_events, metadata)
            _claim_sku(command)
            transaction.on_commit(nudge_projections, robust=True)
    else:
        # A lone INSERT is atomic by itself: in autocommit it costs one round trip, not three.
        recorded = eventstore.append(STREAM_TYPE, command.product_id, current, new_events, metadata)
        transaction.on_commit(nudge_projections, robust=True)  # at once, unless inside a caller's transaction
    metrics.count_appended(recorded)
    return recorded


def _claim_sku(command: RegisterProduct) -> None:
    """Claim the SKU in the registering transaction; refuse if any product ever had it."""
    product_id = SkuClaim._meta.get_field("product_id").get_db_prep_value(command.product_id, connection)
    with connection.cursor() as cursor:
        # ON CONFLICT rather than catching the violation: no savepoint round trips for the usual case.
        cursor.execute(
            "INSERT INTO products_sku_claim (sku_key, product_id) VALUES (%s, %s)"
            " ON CONFLICT (sku_key) DO NOTHING RETURNING sku_key",
            [rules.sku_key(command.sku), product_id],
        )
        if cursor.fetchone() is None:
            raise DuplicateSku(f"SKU {command.sku!r} is already taken (SKUs are compared case-insensitively).")


def _check_preconditions(
    command: Command,
    state: Product | None,
    current: int,
    expected_version: int | None,
    if_match: int | str | None,
) -> None:
    if if_match == "*":
        if state is None:
            raise PreconditionFailed(expected=1, current=0)
    elif if_match is not None and if_match != current:
        raise PreconditionFailed(expected=int(if_match), current=current)
    if expected_version is None or expected_version == current:
        return
    if isinstance(command, RegisterProduct) and state is not None:
        raise ProductExists(f"Product {command.product_id} is already registered.")
    if not isinstance(command, RegisterProduct) and state is None:
        raise ProductNotFound(f"No product with id {command.product_id}.")
    raise VersionConflict(expected=expected_version, current=current)


def _current(product_id: uuid.UUID) -> Known:
    """The product as stored now: a recent state plus whatever was appended since."""
    known = _recent.get(product_id)
    newer = eventstore.load(product_id, after_version=known.version)
    if not newer:
        return known
    try:
        state = fold((domain_events.decode(e.type, e.schema_version, e.data) for e in newer), known.state)
    except (domain_events.FutureSchemaVersion, domain_events.UnknownEventType) as error:
        # Deciding on a state this code cannot read would store events that contradict it.
        raise UnreadableStream(f"Product {product_id} cannot be changed by this version of the service: {error}") from error
    known = Known(state, newer[-1].version, newer[-1].checkpoint)
    _recent.put(product_id, known)
    return known


def _current_version(command: Command) -> int:
    return _current(command.product_id).version


def _replay(idempotency: Idempotency) -> Outcome | None:
    stored = eventstore.load_events(idempotency.event_id(i) for i in range(MAX_EVENTS_PER_COMMAND))
    if not stored:
        return None
    if stored[0].metadata.get("request_hash") != idempotency.request_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
    last = stored[-1]
    return Outcome(last.stream_id, last.version, last.checkpoint, stored, replayed=True)
