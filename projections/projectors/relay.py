"""The integration relay: every committed event, published to a RabbitMQ topic exchange.

Other services bind their own queues to the exchange (routing key = event type, e.g.
`ProductPriceChanged` or `#` for all). Delivery is at least once: the relay's checkpoint moves
only after the broker confirmed every message of the batch, so a crash in between publishes
those events again. Consumers deduplicate on the `event_id` header/message id.

The batch is published without waiting between messages, then the relay waits for the
broker's confirms of all of them (publisher confirms, pipelined): waiting for each confirm in
turn made every event cost a round trip to RabbitMQ.
"""

from __future__ import annotations

import json
import time
from typing import Sequence

from django.conf import settings
from kombu import Connection, Exchange, Producer

from products.domain import events as domain_events
from products.eventstore import RecordedEvent


class IntegrationRelay:
    """Publishes the log to the `catalog.events` topic exchange, persistent and confirmed."""

    name = "integration_relay"
    version = 1
    # What it writes is messages to other services, not tables a new generation could replace.
    rebuild_refusal = (
        "integration_relay publishes every event to other services; it has no tables to rebuild, and "
        "replaying it would publish the whole log again. To publish it again on purpose (for a new "
        "subscriber that deduplicates by event_id), run `rebuild_projections --in-place integration_relay`."
    )

    confirm_timeout = 10.0  # seconds to wait for a batch's confirms before the batch fails

    def __init__(self) -> None:
        self.broker_url = settings.INTEGRATION_RELAY_URL
        self.exchange = Exchange(settings.INTEGRATION_EXCHANGE, type="topic", durable=True)
        self._connection: Connection | None = None
        self._channel_in_use = None
        self._sent = 0  # delivery tags given out on the channel (confirm mode numbers them 1, 2, ...)
        self._unconfirmed: set[int] = set()
        self._refused = False

    def apply(self, events: Sequence[RecordedEvent], using: str) -> None:
        producer = Producer(self._channel(), exchange=self.exchange)
        try:
            for event in events:
                body = message_body(event)  # before the delivery tag: an event it cannot read is never sent
                self._sent += 1
                self._unconfirmed.add(self._sent)
                producer.publish(
                    json.dumps(body),
                    routing_key=body["type"],
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,  # persistent
                    message_id=str(event.event_id),
                    headers={"event_id": str(event.event_id), "stream_id": str(event.stream_id), "version": event.version},
                    declare=[self.exchange],
                    retry=False,
                )
            self._wait_for_confirms()
        except Exception:
            self._discard_connection()  # start clean next time; the engine retries the batch
            raise

    def _wait_for_confirms(self) -> None:
        deadline = time.monotonic() + self.confirm_timeout
        while self._unconfirmed and not self._refused:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"RabbitMQ did not confirm {len(self._unconfirmed)} published event(s) in time.")
            self._connection.drain_events(timeout=remaining)
        if self._refused:
            raise RuntimeError("RabbitMQ refused (nack) a published event; the batch is published again.")

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {tag for tag in self._unconfirmed if tag > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._refused = True

    def reset(self, using: str) -> None:
        """Nothing to empty: replaying the relay in place publishes the whole log again."""

    def _channel(self):
        if self._connection is None:
            self._connection = Connection(
                self.broker_url, connect_timeout=5, transport_options={"read_timeout": 10, "write_timeout": 10}
            )
        channel = self._connection.default_channel
        if channel is not self._channel_in_use:
            # Confirm mode, with the broker's acks counted here (see _wait_for_confirms).
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            self._channel_in_use, self._sent, self._unconfirmed, self._refused = channel, 0, set(), False
        return channel

    def _discard_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:
                pass
            self._connection = None
        self._channel_in_use, self._sent, self._unconfirmed, self._refused = None, 0, set(), False


def message_body(event: RecordedEvent) -> dict:
    """The published message: the event as the code knows it now (upcast, under its current name)."""
    type_name, schema_version, data = domain_events.SCHEMAS.upcast(event.type, event.schema_version, event.data)
    return {
        "event_id": str(event.event_id),
        "type": type_name,
        "schema_version": schema_version,
        "stream_type": event.stream_type,
        "stream_id": str(event.stream_id),
        "version": event.version,
        "position": str(event.checkpoint),
        "recorded_at": event.recorded_at.isoformat(),
        "data": data,
        "metadata": {k: v for k, v in event.metadata.items() if k in ("correlation_id", "causation_id", "request_id")},
    }
