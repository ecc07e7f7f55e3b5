"""The MQTT bridge: the catalog for devices and screens, on an MQTT broker (Mosquitto, or
RabbitMQ's MQTT plugin), with MQTT_URL set.

Each product's state after each change goes to `catalog/products/<id>`, retained, so a new
subscriber to `catalog/products/#` gets every product's current state at once; each event goes
to `catalog/events/<EventType>`. Both at QoS 1. The bridge is a projection like the relay: its
checkpoint moves only after the broker acknowledged every message of the batch (PUBACK), so a
broker that is down or slow makes the batch fail, be retried with backoff and, if it lasts,
stall; a crash in between publishes those messages again (at least once; a retained topic
keeps the last, and messages of one connection arrive in order, so the last is the newest).

A product's state is what the catalog recorded when it applied that change (read_product_change,
projections/changes.py), the same JSON as /api/products/{id}/ and the product changes feed. The
bridge runs after the catalog in each round; an event the catalog has not applied yet fails the
batch, which is retried once the catalog has (a stalled catalog stalls the bridge, saying why).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Sequence
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings

from products.eventstore import RecordedEvent

from .. import changes
from ..api.serializers import ProductSerializer
from ..models import CatalogProduct
from ..state_row import StateRow
from .base import current_name
from .catalog import CatalogProjector, product_json
from .relay import message_body


class CatalogNotThereYet(Exception):
    """The catalog has not applied this event yet: the batch is tried again once it has."""


class MqttBridge:
    name = "mqtt_bridge"
    version = 1
    rebuild_refusal = (
        "mqtt_bridge publishes to an MQTT broker; it has no tables to rebuild. To publish every product's "
        "state and every event again (a broker that lost its retained messages), run "
        "`rebuild_projections --in-place mqtt_bridge`."
    )

    ack_timeout = 10.0  # seconds to wait for a batch's acknowledgements before the batch fails
    connect_timeout = 5.0

    def __init__(self, url: str | None = None, prefix: str | None = None) -> None:
        self.url = url or settings.MQTT_URL
        self.prefix = (prefix or settings.MQTT_TOPIC_PREFIX).strip("/")
        self.catalog_handles = set(CatalogProjector.handlers)
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()

    def apply(self, events: Sequence[RecordedEvent], using: str) -> None:
        states = self._states(events, using)
        client = self._connection()
        try:
            sent = []
            for event in events:
                body = message_body(event)  # before publishing: an event it cannot read is never sent
                sent.append(client.publish(f"{self.prefix}/events/{body['type']}", json.dumps(body), qos=1))
                state = states.get(event.position)
                if state is not None:
                    sent.append(client.publish(f"{self.prefix}/products/{event.stream_id}", state, qos=1, retain=True))
            self._wait_for_acks(sent)
        except Exception:
            self._disconnect()  # start clean next time; the engine retries the batch
            raise

    def reset(self, using: str) -> None:
        """Nothing to empty: replaying the bridge in place publishes the whole log again."""

    def _states(self, events: Sequence[RecordedEvent], using: str) -> dict[int, str]:
        """The product JSON to retain for each event the catalog applies, by position."""
        positions = [event.position for event in events if current_name(event.type) in self.catalog_handles]
        if not positions:
            return {}
        states = changes.states_at(positions, using)
        unrecorded = set(positions) - states.keys()
        missing = [event for event in events if event.position in unrecorded]
        if missing:
            catalog_at = StateRow("product_catalog", using).read().checkpoint
            behind = [event for event in missing if event.checkpoint > catalog_at]
            if behind:
                raise CatalogNotThereYet(f"the catalog has not applied event {behind[0].checkpoint} yet "
                                         f"(it is at {catalog_at})")
            # Applied without a record: a change the catalog skipped, or one retention removed
            # while this bridge stood still. The product as the catalog shows it now stands in.
            states.update(_current_states(missing, using))
        return states

    def _connection(self) -> mqtt.Client:
        if self._client is not None and self._client.is_connected():
            return self._client
        self._disconnect()
        address = urlsplit(self.url)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"catalog-{self.name}-{uuid.uuid4().hex[:12]}",
                             protocol=mqtt.MQTTv311)
        if address.username:
            client.username_pw_set(unquote(address.username), unquote(address.password or ""))
        if address.scheme == "mqtts":
            client.tls_set()
        client.max_inflight_messages_set(1000)  # a batch in flight at once, then its acks
        self._connected.clear()
        client.on_connect = lambda client_, userdata, flags, reason, properties: \
            reason.is_failure or self._connected.set()
        client.connect_async(address.hostname or "localhost", address.port or (8883 if address.scheme == "mqtts" else 1883),
                             keepalive=30)
        client.loop_start()
        self._client = client
        if not self._connected.wait(self.connect_timeout):
            self._disconnect()
            raise ConnectionError(f"the MQTT broker at {address.hostname}:{address.port} did not accept a "
                                  f"connection within {self.connect_timeout:.0f} s")
        return client

    def _wait_for_acks(self, sent: list[mqtt.MQTTMessageInfo]) -> None:
        deadline = time.monotonic() + self.ack_timeout
        for info in sent:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))  # raises if it could not be queued
            if not info.is_published():
                raise TimeoutError(f"the MQTT broker did not acknowledge {len(sent)} message(s) "
                                   f"within {self.ack_timeout:.0f} s")

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


def _current_states(events: list[RecordedEvent], using: str) -> dict[int, str]:
    rows = {row.id: row for row in CatalogProduct.objects.using(using).filter(id__in={e.stream_id for e in events})}
    shown = ProductSerializer()
    return {event.position: product_json(shown, rows[event.stream_id]) for event in events if event.stream_id in rows}

