"""The event catalog: an AsyncAPI 3 document of what other programs can consume, built from the
event types, so it says what the code publishes.

The ways in: the integration relay's RabbitMQ topic exchange, one channel per event type (its
routing key), each message the relay's envelope (projectors/relay.py, message_body) around the
event's data at its current schema version; the change feed (feed/): the log as Server-Sent
Events, whose messages carry the same envelope, and the product changes over SSE and WebSocket,
each the product as /api/products/{id}/ shows it; and, with MQTT_URL set, the MQTT bridge's
topics. The schemas of older versions are in `components.schemas` too, for programs that kept
messages from before a change.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from kombu.utils.url import url_to_parts
from rest_framework import serializers as drf

from products.domain import json_schemas

from .api.serializers import ProductSerializer

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SCHEMAS = "#/components/schemas/"
Document = dict[str, Any]

DESCRIPTION = """\
Every change to a product is stored as an event; the integration relay publishes each stored
event, in log order, to the RabbitMQ topic exchange `{exchange}` with the event type as its
routing key. Bind a queue with `#` for every event or with type names for some.

Delivery is at least once: deduplicate on `event_id` (also the AMQP message id). Events of one
product come in its version order.

Each message carries its event's `data` in the shape of its type's current `schema_version`:
events stored in an older shape are upcast before they are published. The schemas of every
version are under `components.schemas`, named `<Type>.v<version>`.

Staff can also follow the log over HTTP, as Server-Sent Events (channel `eventStream`): each
event, in log order, exactly once across reconnects (resume with `Last-Event-ID`).
"""

FEED_DESCRIPTION = """Every stored event, in log order, as Server-Sent Events, for staff users (token or session).
Each message is `id: <position>`, `event: <type>`, `data: <the event as JSON>`. Reconnect with
`Last-Event-ID: <position>` (or `?after=<position>`, `0-0` for the whole log) to get every later
event, none missing and none twice. Filters: `type`, `stream_id`. A comment line comes at least
every {heartbeat:g} s without a message. A follower more than {tail} events behind gets a last
`resume` message naming where to resume, and the stream ends.
"""
FEED_CHANNEL = "eventStream"
RESUME = "resume"

PRODUCT_CHANGES_DESCRIPTION = """After the catalog applies a change, the product as `/api/products/{{id}}/` showed it at
that version, for any reader. Each message is `id: <position>`, `event: product.changed`,
`data: <the product as JSON>`. Resume as on the event stream, with `Last-Event-ID` or `?after=`.
Filters: `category` (a product that moves out of it is sent once more, showing where it went)
and `id` (repeatable). Changes are kept {retention:g} days: a position older than that is
refused (410) before the stream, or ends it with an `expired` message.
"""
PRODUCT_CHANGES_CHANNEL = "productChanges"
PRODUCT_CHANGES_SOCKET = "productChangesSocket"
PRODUCT_CHANGED = "product.changed"
EXPIRED = "expired"
MQTT_STATES = "mqttProductStates"
MQTT_EVENTS = "mqttEvents"
MQTT_BINDING_VERSION = "0.2.0"
WEBHOOKS = "webhooks"
STOCK_LOW = "catalog.stock.low"  # the low-stock alert's own type (alerts/, webhooks/outbox.py)
PING = "catalog.ping"  # a test delivery from the admin (webhooks/ping.py)


def document(feed_url: str | None = None) -> Document:
    """The catalog; `feed_url` is where the change feed answers (scheme://host), if it is known."""
    exchange = settings.INTEGRATION_EXCHANGE
    relay_url = url_to_parts(settings.INTEGRATION_RELAY_URL) if settings.INTEGRATION_RELAY_URL else None
    binding = {"name": exchange, "type": "topic", "durable": True, "autoDelete": False,
               "vhost": (relay_url.path if relay_url else None) or "/"}
    types = json_schemas.versions()
    doc: Document = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Product catalog events",
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
            "description": DESCRIPTION.format(exchange=exchange),
        },
        "defaultContentType": "application/json",
        "channels": {FEED_CHANNEL: _feed_channel(types)},
        "operations": {"followEventStream": _feed_operation(types)},
        "components": {
            "schemas": {**json_schemas.SHARED, **_data_schemas(types),
                        **{f"{name}Message": _envelope(name, versions) for name, versions in types.items()},
                        "ResumeMessage": _resume_schema()},
            "messages": {**{name: _message(name, versions) for name, versions in types.items()},
                         RESUME: _resume_message()},
        },
    }
    servers = {}
    if relay_url is not None:  # while the relay is off, there is no exchange to describe
        servers["rabbitmq"] = _rabbitmq_server(relay_url)
        for name in types:
            doc["channels"][name] = {**_channel(name, binding), "servers": [{"$ref": "#/servers/rabbitmq"}]}
            doc["operations"][f"publish{name}"] = _operation(name)
    doc["channels"][PRODUCT_CHANGES_CHANNEL] = _product_changes_channel()
    doc["channels"][PRODUCT_CHANGES_SOCKET] = _product_changes_socket()
    doc["operations"]["followProductChanges"] = _sends(PRODUCT_CHANGES_CHANNEL, [PRODUCT_CHANGED, RESUME, EXPIRED],
                                                       "The feed sends each product change the catalog applied, in log order.")
    doc["operations"]["followProductChangesSocket"] = _sends(
        PRODUCT_CHANGES_SOCKET, ["productChangedFrame", "controlFrame"],
        "The same product changes as WebSocket text frames.")
    components = doc["components"]
    components["schemas"].update({"Product": product_schema(), "ExpiredMessage": _expired_schema(),
                                  "ProductChangedFrame": _frame(f"{SCHEMAS}Product", PRODUCT_CHANGED),
                                  "ControlFrame": _control_frame()})
    components["messages"].update({
        PRODUCT_CHANGED: {"name": PRODUCT_CHANGED, "title": "A product, after a change",
                          "summary": "The product as /api/products/{id}/ showed it at this version; the SSE id is "
                                     "the position of the event that made it.",
                          "contentType": "application/json", "payload": {"$ref": f"{SCHEMAS}Product"}},
        EXPIRED: {"name": EXPIRED, "title": "Older than the retention",
                  "summary": "The last message to a follower behind what the feed keeps: load the catalog again.",
                  "contentType": "application/json", "payload": {"$ref": f"{SCHEMAS}ExpiredMessage"}},
        "productChangedFrame": {"name": "productChangedFrame", "title": "A product change, as a WebSocket frame",
                                "contentType": "application/json", "payload": {"$ref": f"{SCHEMAS}ProductChangedFrame"}},
        "controlFrame": {"name": "controlFrame", "title": "An error, resume or expired frame, before the close",
                         "contentType": "application/json", "payload": {"$ref": f"{SCHEMAS}ControlFrame"}},
    })
    _add_webhooks(doc, types)
    if settings.MQTT_URL:
        servers["mqtt"] = _mqtt_server(settings.MQTT_URL)
        doc["channels"][MQTT_STATES] = _mqtt_states_channel()
        doc["channels"][MQTT_EVENTS] = _mqtt_events_channel(types)
        doc["operations"]["publishProductStates"] = _sends(
            MQTT_STATES, ["productState"], "The bridge publishes each product's state after each change, retained, QoS 1.",
            bindings={"mqtt": {"qos": 1, "retain": True, "bindingVersion": MQTT_BINDING_VERSION}})
        doc["operations"]["publishEvents"] = _sends(
            MQTT_EVENTS, list(types), "The bridge publishes each stored event, QoS 1.",
            bindings={"mqtt": {"qos": 1, "retain": False, "bindingVersion": MQTT_BINDING_VERSION}})
        components["messages"]["productState"] = {
            "name": "productState", "title": "A product's state (retained)", "contentType": "application/json",
            "payload": {"$ref": f"{SCHEMAS}Product"}}
    if feed_url is not None:
        servers["feed"] = _feed_server(feed_url)
        scheme, _, host = feed_url.partition("://")
        servers["feedSocket"] = {"host": host, "protocol": "wss" if scheme == "https" else "ws",
                                 "description": "The change feed's WebSocket (the same ASGI service)."}
        # A channel that names no server is on every one: the feed's name their own.
        doc["channels"][FEED_CHANNEL]["servers"] = [{"$ref": "#/servers/feed"}]
        doc["channels"][PRODUCT_CHANGES_CHANNEL]["servers"] = [{"$ref": "#/servers/feed"}]
        doc["channels"][PRODUCT_CHANGES_SOCKET]["servers"] = [{"$ref": "#/servers/feedSocket"}]
    if servers:
        doc["servers"] = servers
    return doc


def _sends(channel: str, messages: list[str], summary: str, bindings: Document | None = None) -> Document:
    operation = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
    }
    if bindings:
        operation["bindings"] = bindings
    return operation


def _refs(names: list[str]) -> Document:
    return {name: {"$ref": f"#/components/messages/{name}"} for name in names}


def _product_changes_channel() -> Document:
    return {
        "address": "/api/products/changes/",
        "title": "The catalog's products, live",
        "description": PRODUCT_CHANGES_DESCRIPTION.format(retention=settings.PRODUCT_CHANGES_RETENTION_DAYS),
        "messages": _refs([PRODUCT_CHANGED, RESUME, EXPIRED]),
    }


def _product_changes_socket() -> Document:
    return {
        "address": "/ws/products/changes/",
        "title": "The catalog's products, live, over WebSocket",
        "description": "The messages of `productChanges` as JSON text frames `{\"id\", \"event\", \"data\"}`, with "
                       "the same filters and `?after=`. A refusal is an `error` frame, then a close with code 4000 + "
                       "the HTTP status (4400, 4401, 4403, 4410).",
        "messages": _refs(["productChangedFrame", "controlFrame"]),
    }


def _frame(data_ref: str, event: str) -> Document:
    return {"type": "object", "required": ["id", "event", "data"],
            "properties": {"id": {"type": "string", "pattern": r"^[0-9]+-[0-9]+$"}, "event": {"const": event},
                           "data": {"$ref": data_ref}}}


def _control_frame() -> Document:
    return {"type": "object", "required": ["event", "data"],
            "properties": {"event": {"enum": ["error", RESUME, EXPIRED]}, "data": {"type": "object"}}}


def _expired_schema() -> Document:
    return {"type": "object", "required": ["trimmed_through", "detail"],
            "properties": {"trimmed_through": {"type": "string", "pattern": r"^[0-9]+-[0-9]+$",
                                               "description": "The feed keeps only what came after this."},
                           "detail": {"type": "string"}}}


def product_schema() -> Document:
    """The product as /api/products/{id}/ shows it, from its serializer's fields."""
    kinds = [(drf.UUIDField, {"type": "string", "format": "uuid"}),
             (drf.DateTimeField, {"type": "string", "format": "date-time"}),
             (drf.DecimalField, {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}),
             (drf.IntegerField, {"type": "integer"}),
             (drf.CharField, {"type": "string"})]
    fields = ProductSerializer().fields
    properties = {name: next(dict(shape) for kind, shape in kinds if isinstance(field, kind))
                  for name, field in fields.items()}
    return {"type": "object", "required": list(fields), "properties": properties, "additionalProperties": False}


def _mqtt_server(url: str) -> Document:
    """The broker the MQTT bridge publishes to, without its credentials."""
    parts = urlsplit(url)
    secure = parts.scheme == "mqtts"
    return {"host": f"{parts.hostname}:{parts.port or (8883 if secure else 1883)}",
            "protocol": "secure-mqtt" if secure else "mqtt", "protocolVersion": "3.1.1",
            "description": "The MQTT broker the bridge publishes to (MQTT_URL)."}


def _mqtt_states_channel() -> Document:
    prefix = settings.MQTT_TOPIC_PREFIX
    return {
        "address": f"{prefix}/products/{{productId}}",
        "title": "Each product's current state",
        "description": f"Retained: a new subscriber to `{prefix}/products/#` gets every product's current state at once.",
        "parameters": {"productId": {"description": "The product's id (a UUID)."}},
        "messages": _refs(["productState"]),
        "servers": [{"$ref": "#/servers/mqtt"}],
    }


def _mqtt_events_channel(types: dict) -> Document:
    prefix = settings.MQTT_TOPIC_PREFIX
    return {
        "address": f"{prefix}/events/{{eventType}}",
        "title": "Each stored event",
        "description": "The relay's envelope around each event, at least once: deduplicate on `event_id`.",
        "parameters": {"eventType": {"enum": list(types), "description": "The event's type."}},
        "messages": _refs(list(types)),
        "servers": [{"$ref": "#/servers/mqtt"}],
    }


def _feed_server(url: str) -> Document:
    scheme, _, host = url.partition("://")
    return {"host": host, "protocol": scheme, "description": "The change feed (an ASGI server; the gateway routes "
                                                               "its streams to the `feed` service)."}


def _feed_channel(types: dict) -> Document:
    return {
        "address": "/api/events/stream/",
        "title": "The event log, live",
        "description": FEED_DESCRIPTION.format(heartbeat=settings.FEED_HEARTBEAT_SECONDS, tail=settings.FEED_TAIL_EVENTS),
        "messages": {**{name: {"$ref": f"#/components/messages/{name}"} for name in types},
                     RESUME: {"$ref": f"#/components/messages/{RESUME}"}},
    }


def _feed_operation(types: dict) -> Document:
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{FEED_CHANNEL}"},
        "summary": "The change feed sends each stored event to every follower, in log order (text/event-stream).",
        "messages": [{"$ref": f"#/channels/{FEED_CHANNEL}/messages/{name}"} for name in [*types, RESUME]],
    }


def _resume_message() -> Document:
    return {
        "name": RESUME,
        "title": "Resume from here",
        "summary": "The last message to a follower that fell behind; its SSE id is the same position.",
        "contentType": "application/json",
        "payload": {"$ref": f"{SCHEMAS}ResumeMessage"},
    }


def _resume_schema() -> Document:
    return {
        "type": "object",
        "required": ["after", "detail"],
        "properties": {
            "after": {"type": "string", "pattern": r"^[0-9]+-[0-9]+$",
                      "description": "Reconnect with this as Last-Event-ID (or ?after=)."},
            "detail": {"type": "string"},
        },
    }


def _rabbitmq_server(parts) -> Document:
    """The broker the relay publishes to, without its credentials."""
    return {
        "host": f"{parts.hostname}:{parts.port or 5672}",
        "protocol": "amqps" if parts.scheme == "amqps" else "amqp",
        "protocolVersion": "0.9.1",
        "description": "The RabbitMQ broker the integration relay publishes to.",
    }


def _channel(name: str, exchange: Document) -> Document:
    return {
        "address": name,
        "title": f"{name} events",
        "description": f"The `{exchange['name']}` topic exchange, routing key `{name}`.",
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "bindings": {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def _operation(name: str) -> Document:
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{name}"},
        "summary": f"The relay publishes each stored {name} event, persistent and confirmed by the broker.",
        "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def _message(name: str, versions: dict[int, type]) -> Document:
    current = max(versions)
    message: Document = {
        "name": name,
        "title": name,
        "summary": f"A {name} event, its data at schema version {current}.",
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {
                "event_id": {"type": "string", "format": "uuid"},
                "stream_id": {"type": "string", "format": "uuid"},
                "version": {"type": "integer", "minimum": 1},
            },
        },
        "payload": {"$ref": f"{SCHEMAS}{name}Message"},
        "bindings": {"amqp": {"contentEncoding": "utf-8", "messageType": name, "bindingVersion": AMQP_BINDING_VERSION}},
    }
    description = json_schemas.description(versions[current])
    if description:
        message["description"] = description
    return message


def _envelope(name: str, versions: dict[int, type]) -> Document:
    """The relay's message around an event's data (projectors/relay.py, message_body)."""
    current = max(versions)
    return {
        "type": "object",
        "required": [
            "event_id", "type", "schema_version", "stream_type", "stream_id", "version", "position", "recorded_at",
            "data", "metadata",
        ],
        "properties": {
            "event_id": {"type": "string", "format": "uuid", "description": "Unique; deduplicate on it."},
            "type": {"const": name},
            "schema_version": {"const": current},
            "stream_type": {"type": "string", "examples": ["product"]},
            "stream_id": {"type": "string", "format": "uuid", "description": "The product's id."},
            "version": {"type": "integer", "minimum": 1, "description": "The product's version after this event."},
            "position": {
                "type": "string",
                "pattern": r"^[0-9]+-[0-9]+$",
                "description": "The event's place in the log, a token the Query API's min_position takes.",
            },
            "recorded_at": {"type": "string", "format": "date-time"},
            "data": {"$ref": f"{SCHEMAS}{name}.v{current}"},
            "metadata": {
                "type": "object",
                "properties": {key: {"type": "string"} for key in ("correlation_id", "causation_id", "request_id")},
            },
        },
    }


def _data_schemas(types: dict[str, dict[int, type]]) -> Document:
    schemas = {}
    for name, versions in types.items():
        current = max(versions)
        for version, shape in versions.items():
            schema = json_schemas.data_schema(shape, SCHEMAS)
            schema["title"] = f"{name} data, schema version {version}"
            if version < current:
                schema["description"] = f"Stored before version {version + 1}; published upcast to version {current}."
            schemas[f"{name}.v{version}"] = schema
    return schemas


def _add_webhooks(doc: Document, types: dict) -> None:
    """The webhook deliveries: a CloudEvents 1.0 document POSTed to each subscription's URL."""
    names = [*types, STOCK_LOW, PING]
    doc["channels"][WEBHOOKS] = {
        "address": None,  # each subscription's own URL
        "title": "Webhook deliveries",
        "description": "POSTed to the URL of each subscription (the admin) that asked for the type, in log order, at "
                       "least once: deduplicate on `id`. `Content-Type: application/cloudevents+json`, and "
                       "`Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.\" + the raw body>` "
                       "(docs/CONSUMERS.md).",
        "messages": {f"webhook.{name}": {"$ref": f"#/components/messages/webhook.{name}"} for name in names},
    }
    doc["operations"]["deliverWebhooks"] = _sends(WEBHOOKS, [f"webhook.{name}" for name in names],
                                                  "Each event a subscription asked for, POSTed to its URL.")
    schemas, messages = doc["components"]["schemas"], doc["components"]["messages"]
    schemas["StockLow"] = {
        "type": "object", "required": ["product_id", "sku", "category", "stock", "threshold", "position"],
        "properties": {"product_id": {"type": "string", "format": "uuid"}, "sku": {"type": "string"},
                       "category": {"type": "string"}, "stock": {"type": "integer"},
                       "threshold": {"type": "integer", "minimum": 0},
                       "position": {"type": "string", "pattern": r"^[0-9]+-[0-9]+$"}},
    }
    schemas["Ping"] = {
        "type": "object", "required": ["subscription", "event_types"],
        "description": "A test delivery, sent from the admin: no event of the log, and no product (no `subject`).",
        "properties": {"subscription": {"type": "string"}, "event_types": {"type": "array", "items": {"type": "string"}}},
    }
    own = {STOCK_LOW: f"{SCHEMAS}StockLow", PING: f"{SCHEMAS}Ping"}
    for name in names:
        data = own.get(name) or f"{SCHEMAS}{name}.v{max(types[name])}"
        subject = [] if name == PING else ["subject"]
        schemas[f"CloudEvent.{name}"] = {
            "type": "object",
            "required": ["specversion", "id", "source", "type", *subject, "time", "datacontenttype", "data"],
            "properties": {
                "specversion": {"const": "1.0"}, "id": {"type": "string", "format": "uuid"},
                "source": {"type": "string"}, "type": {"const": name},
                "subject": {"type": "string", "format": "uuid", "description": "The product's id."},
                "time": {"type": "string", "format": "date-time"}, "datacontenttype": {"const": "application/json"},
                "data": {"$ref": data},
            },
        }
        messages[f"webhook.{name}"] = {
            "name": f"webhook.{name}", "title": f"{name}, as a CloudEvent", "contentType": "application/cloudevents+json",
            "headers": {"type": "object", "required": ["Webhook-Signature"],
                        "properties": {"Webhook-Signature": {"type": "string", "pattern": r"^t=[0-9]+,v1=[0-9a-f]{64}$"}}},
            "payload": {"$ref": f"{SCHEMAS}CloudEvent.{name}"},
        }
