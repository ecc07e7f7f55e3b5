"""The integration relay: every committed event, published to a RabbitMQ topic exchange.

Other services bind their own queues to the exchange (routing key = event type, e.g.
`ProductPriceChanged` or `#` for all). Delivery is at least once: the relay's checkpoint moves
only after the broker confirmed every message of the batch, so a crash in between publishes
those events again. Consumers deduplicate on the `event_id` header/message id.
"""

from __future__ import annotations

import json
from typing import Sequence

from django.conf import settings
from kombu import Connection, Exchange, Producer

from products.eventstore import RecordedEvent


class IntegrationRelay:
    """Publishes the log to the `catalog.events` topic exchange, persistent and confirmed."""

    name = "integration_relay"

    def __init__(self) -> None:
        self.broker_url = settings.INTEGRATION_RELAY_URL
        self.exchange = Exchange(settings.INTEGRATION_EXCHANGE, type="topic", durable=True)
        self._connection: Connection | None = None

    def apply(self, events: Sequence[RecordedEvent], using: str) -> None:
        producer = Producer(self._channel(), exchange=self.exchange)
        try:
            for event in events:
                producer.publish(
                    json.dumps(message_body(event)),
                    routing_key=event.type,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,  # persistent
                    message_id=str(event.event_id),
                    headers={"event_id": str(event.event_id), "stream_id": str(event.stream_id), "version": event.version},
                    declare=[self.exchange],
                    retry=False,
                )
        except Exception:
            self._discard_connection()  # start clean next time; the engine retries the batch
            raise

    def reset(self, using: str) -> None:
        """Nothing to empty: rebuilding the relay publishes the whole log again."""

    def _channel(self):
        if self._connection is None:
            self._connection = Connection(
                self.broker_url,
                connect_timeout=5,
                # Every publish waits for the broker's confirm: only then may the checkpoint move.
                transport_options={"confirm_publish": True, "read_timeout": 10, "write_timeout": 10},
            )
        return self._connection.default_channel

    def _discard_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:
                pass
            self._connection = None


def message_body(event: RecordedEvent) -> dict:
    return {
        "event_id": str(event.event_id),
        "type": event.type,
        "schema_version": event.schema_version,
        "stream_type": event.stream_type,
        "stream_id": str(event.stream_id),
        "version": event.version,
        "position": str(event.checkpoint),
        "recorded_at": event.recorded_at.isoformat(),
        "data": event.data,
        "metadata": {k: v for k, v in event.metadata.items() if k in ("correlation_id", "causation_id", "request_id")},
    }
