"""Queue an event for every active subscription that asked for its type, in the caller's
transaction (a consumer's, so once per event); once that commits, have each subscription that
got something sent it (one task per subscription, however many events it got)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import transaction

from products.eventstore import Checkpoint

from . import cloudevents
from .models import Delivery, Subscription

# The low-stock alert's own event type (alerts/consumers.py), beside the catalog's events.
STOCK_LOW = "catalog.stock.low"


def active_subscriptions() -> list[Subscription]:
    return list(Subscription.objects.filter(active=True))


def enqueue(event_id: UUID, event_type: str, subject: UUID, time: datetime, data: dict, position: Checkpoint,
            among: list[Subscription] | None = None) -> set[int]:
    """The ids of the subscriptions it was queued for; `among`: the active subscriptions, if the
    caller has read them already (once for a batch of events). Pass the ids, of one event or of
    a whole batch, to send_once_committed."""
    candidates = active_subscriptions() if among is None else among
    subscriptions = [s for s in candidates if event_type in s.event_types]
    if not subscriptions:
        return set()
    body = cloudevents.structured(event_id, event_type, subject, time, data)
    Delivery.objects.bulk_create(
        [Delivery(subscription=s, event_id=event_id, event_type=event_type, tx=position.tx, position=position.position,
                  body=body) for s in subscriptions],
        ignore_conflicts=True,  # given again (at least once): queued once
    )
    return {s.pk for s in subscriptions}


def send_once_committed(subscription_ids: set[int]) -> None:
    """A delivery task for each of these subscriptions once the caller's transaction commits (none
    if it rolls back): a sender sends its subscription's whole outbox, so one task is enough."""
    if subscription_ids:
        ids = sorted(subscription_ids)
        transaction.on_commit(lambda: _send_soon(ids))


def _send_soon(subscription_ids: list[int]) -> None:
    from .tasks import deliver

    for subscription_id in subscription_ids:
        deliver.delay(subscription_id)
