"""The integration relay publishes every event to RabbitMQ, in stream order, confirmed."""

import json
import uuid

import pytest

from products import eventstore
from projections import engine, projectors
from projections.models import ProjectionState
from tests.support.history import random_history
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration


def received(connection, queue) -> list[dict]:
    messages = []
    while message := queue(connection.default_channel).get(no_ack=True):
        body = json.loads(message.body)
        assert message.properties["message_id"] == body["event_id"]
        assert message.delivery_info["routing_key"] == body["type"]
        assert message.properties["delivery_mode"] == 2
        messages.append(body)
    return messages


def relay_catch_up() -> None:
    """Until the relay has published the whole log (the horizon may hold the newest back a moment)."""
    relay = projectors.get("integration_relay")

    def published_everything() -> bool:
        assert engine.catch_up(relay).outcome == "caught_up"
        return engine.lag(ProjectionState.objects.get(name="integration_relay")) == 0

    wait_until(published_everything, timeout=30, what="the relay to publish the whole log")


def test_a_subscriber_receives_every_event_once_and_each_stream_in_order(subscriber):
    connection, queue = subscriber
    relay_catch_up()  # publish what earlier tests stored, so only this test's events follow
    received(connection, queue)

    ids = random_history(commands=150, products=8, seed=21, after_each=lambda step: step % 40 == 0 and relay_catch_up())
    relay_catch_up()
    messages = [m for m in received(connection, queue) if uuid.UUID(m["stream_id"]) in ids]

    stored = [e for product_id in ids for e in eventstore.load(product_id)]
    assert sorted(m["event_id"] for m in messages) == sorted(str(e.event_id) for e in stored)
    for product_id in ids:
        versions = [m["version"] for m in messages if m["stream_id"] == str(product_id)]
        assert versions == sorted(versions) == list(range(1, len(versions) + 1))


def test_publishing_again_after_a_crash_only_repeats_events_with_their_ids(subscriber):
    """At least once: had the relay died after the confirms but before its commit, it publishes again."""
    connection, queue = subscriber
    relay_catch_up()
    received(connection, queue)
    before = ProjectionState.objects.get(name="integration_relay")
    ids = random_history(commands=20, products=3, seed=22)
    relay_catch_up()
    first = [m for m in received(connection, queue) if uuid.UUID(m["stream_id"]) in ids]

    # Put the checkpoint back, as if that batch's commit had never happened.
    ProjectionState.objects.filter(name="integration_relay").update(
        last_tx=before.last_tx, last_position=before.last_position
    )
    relay_catch_up()
    again = [m for m in received(connection, queue) if uuid.UUID(m["stream_id"]) in ids]

    assert again == first  # the same events, the same ids: a consumer deduplicating on event_id is safe
    stored = sum(len(eventstore.load(product_id)) for product_id in ids)
    assert len({m["event_id"] for m in first + again}) == len(first) == stored
