"""The `webhooks` consumer: every event of a type some subscription asked for goes into that
subscription's outbox (webhooks/outbox.py), in the transaction that moves its checkpoint."""

from products.domain.events import EVENT_TYPES
from projections.consumers import ConsumedEvent, consumer

from .outbox import enqueue


@consumer(*EVENT_TYPES, name="webhooks")
def webhooks(event: ConsumedEvent) -> None:
    enqueue(event.id, event.type, event.stream_id, event.recorded_at, event.data, event.position)
