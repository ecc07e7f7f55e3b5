"""The `webhooks` consumer: every event of a type some subscription asked for goes into that
subscription's outbox (webhooks/outbox.py), in the transaction that moves its checkpoint."""

from products.domain.events import EVENT_TYPES
from projections.consumers import ConsumedEvent, consumer

from .outbox import active_subscriptions, enqueue, send_once_committed


@consumer(*EVENT_TYPES, name="webhooks", batch=True, rows_only=True)
def webhooks(events: list[ConsumedEvent]) -> None:
    # It sees every event of every command: the subscriptions are read once per batch.
    subscriptions = active_subscriptions()
    if not subscriptions:
        return
    queued: set[int] = set()
    for event in events:
        queued |= enqueue(event.id, event.type, event.stream_id, event.recorded_at, event.data, event.position,
                          subscriptions)
    send_once_committed(queued)  # a task per subscription for the batch, not one per event
