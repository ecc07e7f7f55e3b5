"""The event catalog (/api/asyncapi/): a valid AsyncAPI 3 document that names every event type,
and whose message schemas fit what the integration relay publishes.

Validated with `jsonschema` against the AsyncAPI specification's own JSON Schema
(tests/fixtures/asyncapi/, the AsyncAPI Initiative's, unchanged).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from django.test import Client
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from products.domain import events
from products.domain.events import Money
from products.eventstore import RecordedEvent
from projections.projectors.relay import message_body

FIXTURES = Path(__file__).parents[1] / "fixtures"
SPECIFICATION = json.loads((FIXTURES / "asyncapi" / "asyncapi-3.0.0.schema.json").read_text())
EVENTS_V1 = json.loads((FIXTURES / "events_v1.json").read_text())["events"]
DOCUMENT_URI = "urn:test:catalog-asyncapi"


FEED_CHANNELS = {"eventStream", "productChanges", "productChangesSocket", "webhooks"}
FEED_OPERATIONS = {"followEventStream", "followProductChanges", "followProductChangesSocket", "deliverWebhooks"}
FEED_MESSAGES = {"resume", "product.changed", "expired", "productChangedFrame", "controlFrame",
                 *(f"webhook.{name}" for name in [*events.EVENT_TYPES, "catalog.stock.low", "catalog.ping"])}


def get(path: str = "/api/asyncapi/"):
    return Client(raise_request_exception=False).get(path)


@pytest.fixture
def document(settings) -> dict:
    settings.INTEGRATION_RELAY_URL = "amqp://catalog:s3cret@rabbitmq:5673/catalog"
    response = get()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def specification_errors(document: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(SPECIFICATION)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


def test_the_document_is_valid_asyncapi_3(document):
    assert document["asyncapi"] == "3.0.0"
    assert specification_errors(document) == []


def test_the_validation_can_fail():
    """The control: the specification's schema refuses documents that break it."""
    good = get().json()
    no_version = {**good, "info": {"title": "x"}}
    assert any("'version' is a required property" in error for error in specification_errors(no_version))
    bad_binding = json.loads(json.dumps(good))
    bad_binding["channels"]["ProductRegistered"]["bindings"]["amqp"]["exchange"]["type"] = "broadcast"
    assert specification_errors(bad_binding)


def test_every_event_type_has_its_channel_message_and_a_schema_per_version(document):
    types = set(events.EVENT_TYPES)
    assert set(document["channels"]) == types | FEED_CHANNELS
    assert set(document["components"]["messages"]) == types | FEED_MESSAGES
    assert {op["channel"]["$ref"].rsplit("/", 1)[1] for op in document["operations"].values()} == types | FEED_CHANNELS
    schemas = document["components"]["schemas"]
    for name, cls in events.EVENT_TYPES.items():
        assert {f"{name}.v{v}" for v in range(1, cls.schema_version + 1)} <= set(schemas), name
        message = schemas[f"{name}Message"]
        assert message["properties"]["schema_version"] == {"const": cls.schema_version}
        assert message["properties"]["data"] == {"$ref": f"#/components/schemas/{name}.v{cls.schema_version}"}
    # The change shipped with version 2: both shapes are described.
    assert "currency" in schemas["ProductPriceChanged.v1"]["properties"]
    assert schemas["ProductPriceChanged.v2"]["properties"]["price"] == {"$ref": "#/components/schemas/Money"}


def test_the_channels_are_the_relays_exchange_and_routing_keys(document, settings):
    for name in events.EVENT_TYPES:
        channel = document["channels"][name]
        assert channel["servers"] == [{"$ref": "#/servers/rabbitmq"}]
        binding = channel["bindings"]["amqp"]
        assert channel["address"] == name  # the relay's routing key is the event type
        assert binding["is"] == "routingKey"
        assert binding["exchange"] == {
            "name": settings.INTEGRATION_EXCHANGE, "type": "topic", "durable": True, "autoDelete": False, "vhost": "catalog",
        }
    assert document["servers"]["rabbitmq"] == {
        "host": "rabbitmq:5673", "protocol": "amqp", "protocolVersion": "0.9.1",
        "description": "The RabbitMQ broker the integration relay publishes to.",
    }
    assert "s3cret" not in json.dumps(document)


def test_the_event_stream_is_a_channel_of_the_feed_server_with_every_event_type(document):
    channel = document["channels"]["eventStream"]
    assert channel["address"] == "/api/events/stream/"
    assert channel["servers"] == [{"$ref": "#/servers/feed"}]
    assert set(channel["messages"]) == set(events.EVENT_TYPES) | {"resume"}
    assert document["servers"]["feed"]["host"] == "testserver"  # where the document was asked for
    assert document["servers"]["feed"]["protocol"] == "http"
    assert document["operations"]["followEventStream"]["action"] == "send"


def test_the_product_changes_are_channels_of_the_feed_over_sse_and_websocket(document):
    sse, socket = document["channels"]["productChanges"], document["channels"]["productChangesSocket"]
    assert sse["address"] == "/api/products/changes/" and sse["servers"] == [{"$ref": "#/servers/feed"}]
    assert socket["address"] == "/ws/products/changes/" and socket["servers"] == [{"$ref": "#/servers/feedSocket"}]
    assert document["servers"]["feedSocket"] == {**document["servers"]["feedSocket"], "host": "testserver",
                                                 "protocol": "ws"}
    assert set(sse["messages"]) == {"product.changed", "resume", "expired"}


def test_without_the_relay_or_mqtt_the_document_names_no_broker_and_no_exchange(settings):
    settings.INTEGRATION_RELAY_URL = settings.MQTT_URL = ""
    document = get().json()
    assert set(document["servers"]) == {"feed", "feedSocket"}
    assert set(document["channels"]) == FEED_CHANNELS and set(document["operations"]) == FEED_OPERATIONS
    assert set(document["components"]["messages"]) == set(events.EVENT_TYPES) | FEED_MESSAGES
    assert specification_errors(document) == []


def test_with_mqtt_the_bridges_topics_are_channels_of_its_broker(settings):
    settings.MQTT_URL = "mqtt://bridge:secret@broker.example:1884"
    document = get().json()
    assert document["servers"]["mqtt"] == {**document["servers"]["mqtt"], "host": "broker.example:1884", "protocol": "mqtt"}
    assert "secret" not in json.dumps(document)
    states, published = document["channels"]["mqttProductStates"], document["channels"]["mqttEvents"]
    assert states["address"] == "catalog/products/{productId}" and published["address"] == "catalog/events/{eventType}"
    assert set(published["parameters"]["eventType"]["enum"]) == set(events.EVENT_TYPES)
    assert document["operations"]["publishProductStates"]["bindings"]["mqtt"]["retain"] is True
    assert specification_errors(document) == []


def recorded(type_name: str, schema_version: int, data: dict, version: int = 1) -> RecordedEvent:
    return RecordedEvent(
        position=7, tx=812, stream_type="product", stream_id=uuid.uuid4(), version=version, event_id=uuid.uuid4(),
        type=type_name, schema_version=schema_version, data=data,
        metadata={"correlation_id": str(uuid.uuid4()), "request_id": "req-1", "actor": "someone"},
        recorded_at=datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc),
    )


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def current_events() -> list[RecordedEvent]:
    written = [
        events.ProductRegistered(sku="W-1", name="Widget", description="", category="Tools", price=eur("9.99"),
                                 initial_stock=3),
        events.ProductDetailsUpdated(name="Widget", description="Small.", category="Tools"),
        events.ProductPriceChanged(old_price=eur("9.99"), price=eur("12.50")),
        events.StockReceived(quantity=2, stock=5),
        events.StockShipped(quantity=5, stock=0),
        events.ProductDiscontinued(reason="end of line"),
    ]
    return [recorded(events.type_name(e), type(e).schema_version, events.to_data(e)) for e in written]


def payload_validator(document: dict, pointer: str) -> jsonschema.Draft7Validator:
    """A validator of the schema at `pointer` in the document, its references resolved in the document."""
    registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7))
    return jsonschema.Draft7Validator(
        {"$ref": f"{DOCUMENT_URI}{pointer}"}, registry=registry, format_checker=jsonschema.FormatChecker()
    )


@pytest.mark.parametrize("source", ["stored at version 1", "written now"])
def test_what_the_relay_publishes_fits_its_message_schema(document, source):
    if source == "written now":
        published = current_events()
    else:
        published = [recorded(e["type"], e["schema_version"], e["data"], e["version"]) for e in EVENTS_V1]
    for event in published:
        body = message_body(event)
        payload = document["components"]["messages"][body["type"]]["payload"]["$ref"]
        payload_validator(document, payload).validate(body)


def test_a_message_of_another_version_does_not_fit():
    """The control: a body with the data of version 1 under version 2 is refused."""
    document = get().json()
    v1 = next(e for e in EVENTS_V1 if e["type"] == "ProductPriceChanged")
    body = {**message_body(recorded(v1["type"], 1, v1["data"])), "data": v1["data"]}
    assert not payload_validator(document, "#/components/schemas/ProductPriceChangedMessage").is_valid(body)


@pytest.mark.parametrize("role", ["command", "query"])
def test_a_split_deployment_still_serves_the_catalog(settings, role):
    settings.SERVICE_ROLE = role
    assert get().status_code == 200
