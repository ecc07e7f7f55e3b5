"""The product changes the catalog applied (ProductChange rows): read in log order, and trimmed.

CatalogProjector writes a row for each change it applies, in the transaction that applies it,
so a row is there exactly when the catalog shows the change. The catalog applies the log in
order, one runner at a time, and a rebuild's next generation writes the same rows (the same
keys; the first one written stays): whatever is committed is every change up to some place in
the log, so reading the rows after a position, in (tx, position) order, passes over none.

A transaction that wrote changes notifies CHANGED_CHANNEL when it commits (PostgreSQL), for
the change feed to read again.

Rows older than PRODUCT_CHANGES_RETENTION_DAYS are deleted by `trim` (beat, hourly); how far it
went is kept, so a follower asking to resume from before it is told that it cannot, rather
than given what is left as if it were everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Q
from django.utils import timezone

from products import eventstore
from products.eventstore import Checkpoint
from project.database.announce import InsertAnnouncement

from .models import ProductChange, ProductChangesTrimmed

CHANGED_CHANNEL = "product_changes_applied"
TRIM_STEP = 5000  # rows deleted per statement, so a long-idle trim never holds one huge delete

_COLUMNS = ("tx", "position", "product_id", "version", "category", "previous_category", "event_type", "state")


@dataclass(frozen=True, slots=True)
class Change:
    """One product change as the feed sends it: `state` is the product's JSON at that version."""

    tx: int
    position: int
    product_id: UUID
    version: int
    category: str
    previous_category: str
    event_type: str
    state: str

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.tx, self.position)


def after(position: Checkpoint, limit: int, using: str = DEFAULT_DB_ALIAS) -> list[Change]:
    """Up to `limit` changes after `position`, in log order."""
    rows = (ProductChange.objects.using(using).filter(_after(position))
            .order_by("tx", "position").values_list(*_COLUMNS)[:limit])
    return [Change(*row) for row in rows]


def last(using: str = DEFAULT_DB_ALIAS) -> Checkpoint:
    """The last change recorded (the start of the log if there is none)."""
    row = ProductChange.objects.using(using).order_by("-tx", "-position").values_list("tx", "position").first()
    return Checkpoint(*row) if row else Checkpoint.START


def trimmed_through(using: str = DEFAULT_DB_ALIAS) -> Checkpoint:
    """The last place whose changes retention removed (the start if it removed none)."""
    row = ProductChangesTrimmed.objects.using(using).values_list("through_tx", "through_position").first()
    return Checkpoint(*row) if row else Checkpoint.START


def resumable(position: Checkpoint, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether a change or an event of the log stands at `position` (a token from either feed)."""
    return ProductChange.objects.using(using).filter(position=position.position, tx=position.tx).exists() \
        or eventstore.contains(position, using)


def states_at(positions: list[int], using: str = DEFAULT_DB_ALIAS) -> dict[int, str]:
    """The product's JSON recorded for each of these event positions that the catalog applied."""
    rows = ProductChange.objects.using(using).filter(position__in=positions).values_list("position", "state")
    return dict(rows)


def trim(older_than: timedelta, now: datetime | None = None, using: str = DEFAULT_DB_ALIAS) -> int:
    """Delete the changes recorded longer ago than `older_than`, oldest first; how many went.

    The oldest rows in log order go, up to the first one still within the retention: a row is
    never removed while one before it stays, so what is kept is always a whole suffix."""
    cutoff = (now or timezone.now()) - older_than
    removed = 0
    while True:
        oldest = list(ProductChange.objects.using(using).order_by("tx", "position")
                      .values_list("tx", "position", "recorded_at")[:TRIM_STEP])
        expired = list(_leading(oldest, cutoff))
        if not expired:
            return removed
        through = Checkpoint(expired[-1][0], expired[-1][1])
        with transaction.atomic(using=using):
            # The horizon first: a follower that reads it after this commits also sees the rows gone.
            ProductChangesTrimmed.objects.using(using).update_or_create(
                id=1, defaults={"through_tx": through.tx, "through_position": through.position,
                                "trimmed_at": timezone.now()})
            removed += ProductChange.objects.using(using).filter(~_after(through)).delete()[0]
        if len(expired) < len(oldest) or len(oldest) < TRIM_STEP:
            return removed


def _leading(rows, cutoff):
    for row in rows:
        if row[2] >= cutoff:
            return
        yield row


def _after(position: Checkpoint) -> Q:
    return Q(tx__gt=position.tx) | Q(tx=position.tx, position__gt=position.position)


# The change feed LISTENs to CHANGED_CHANNEL (installed by projections/migrations/0004).
CHANGED = InsertAnnouncement("read_product_change", CHANGED_CHANNEL, trigger="read_product_change_applied",
                             function="read_product_change_announce")


def announce_changes(schema_editor) -> None:
    CHANGED.install(schema_editor)


def stop_announcing_changes(schema_editor) -> None:
    CHANGED.remove(schema_editor)
