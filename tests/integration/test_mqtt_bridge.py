"""The MQTT bridge (projections/projectors/mqtt_bridge.py) against a real Mosquitto of the
test's own: retained product states equal the catalog, every event is published, and a broker
that stops makes the bridge retry, then catch up when it is back, losing nothing."""

import uuid
from decimal import Decimal

import pytest
from django.test import Client

from products import eventstore
from products.domain.commands import ChangePrice
from products.domain.errors import ProductError
from products.handlers import handle
from projections import engine
from projections.models import ProjectionState
from projections.progress import Outcome
from tests.integration.test_projections import catch_up_all
from tests.support.history import random_history
from tests.support.mqtt import Subscriber, mosquitto
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

NAME = "mqtt_bridge"


@pytest.fixture
def broker():
    with mosquitto() as running:
        yield running


@pytest.fixture
def bridge(broker, settings, extra_projector, committed_db):
    """The bridge, from the end of the log as it is now: the run's earlier events are not this test's."""
    settings.MQTT_URL = broker.url
    settings.PROJECTION_RETRY_BASE_SECONDS = 0.2
    bridge = extra_projector(NAME, "projections.projectors.mqtt_bridge.MqttBridge")
    catch_up_all()
    end = eventstore.last_settled() or eventstore.Checkpoint.START
    engine.ensure_states([NAME])
    ProjectionState.objects.filter(name=NAME).update(last_tx=end.tx, last_position=end.position)
    yield bridge
    bridge._disconnect()


def product_pages(ids) -> dict[str, dict]:
    return {str(product_id): Client().get(f"/api/products/{product_id}/").json() for product_id in ids}


def retained_states(broker, ids, prefix: str = "catalog") -> dict[str, dict]:
    """What a new subscriber to catalog/products/# is given at once: the retained states."""
    wanted = {str(product_id) for product_id in ids}
    subscriber = Subscriber(broker, f"{prefix}/products/#")
    try:
        def all_there():
            return wanted <= {topic.rsplit("/", 1)[1] for topic, _, retained in subscriber.messages() if retained}
        wait_until(all_there, timeout=15, what="a retained state for every product")
        return {topic.rsplit("/", 1)[1]: body for topic, body, retained in subscriber.messages()
                if retained and topic.rsplit("/", 1)[1] in wanted}
    finally:
        subscriber.close()


def test_retained_states_equal_the_catalog_and_every_event_is_published(broker, bridge):
    events_seen = Subscriber(broker, "catalog/events/#")
    try:
        ids = random_history(commands=240, products=24, seed=51)
        catch_up_all()
        assert engine.catch_up(bridge).outcome == Outcome.CAUGHT_UP

        assert retained_states(broker, ids) == product_pages(ids)
        stored = [event for product_id in ids for event in eventstore.load(product_id)]
        wait_until(lambda: {b["event_id"] for _, b, _ in events_seen.messages()} >= {str(e.event_id) for e in stored},
                   timeout=15, what="every event on catalog/events/#")
        by_id = {body["event_id"]: (topic, body) for topic, body, _ in events_seen.messages()}
        for event in stored:
            topic, body = by_id[str(event.event_id)]
            assert topic == f"catalog/events/{event.type}" and body["position"] == str(event.checkpoint)
    finally:
        events_seen.close()


def test_the_bridge_waits_for_the_catalog_rather_than_publish_a_state_it_has_not_recorded(bridge, broker):
    ids = random_history(commands=10, products=2, seed=52)
    outcome = engine.catch_up(bridge)  # before the catalog applied them
    assert outcome.outcome == Outcome.FAILED
    assert "has not applied" in ProjectionState.objects.get(name=NAME).last_error
    catch_up_all()
    wait_until(lambda: engine.catch_up(bridge).outcome == Outcome.CAUGHT_UP, timeout=15, what="the bridge's retry")
    assert retained_states(broker, ids) == product_pages(ids)


def test_a_stopped_broker_stalls_the_bridge_and_it_catches_up_when_the_broker_is_back(broker, bridge):
    ids = random_history(commands=40, products=4, seed=53)
    catch_up_all()
    assert engine.catch_up(bridge).outcome == Outcome.CAUGHT_UP
    broker.stop()
    for product_id in ids:
        try:
            handle(ChangePrice(product_id=product_id, price=Decimal(uuid.uuid4().int % 90 + 10), currency=None))
        except ProductError:
            pass  # discontinued by the history

    catch_up_all()
    before = ProjectionState.objects.get(name=NAME)

    assert engine.catch_up(bridge).outcome == Outcome.FAILED
    failed = ProjectionState.objects.get(name=NAME)
    assert failed.status == ProjectionState.RETRYING and failed.last_error
    assert (failed.last_tx, failed.last_position) == (before.last_tx, before.last_position)  # nothing counted as sent

    broker.start()
    wait_until(lambda: engine.catch_up(bridge).outcome == Outcome.CAUGHT_UP, timeout=30, what="the bridge to catch up")
    assert ProjectionState.objects.get(name=NAME).status == ProjectionState.RUNNING
    assert retained_states(broker, ids) == product_pages(ids)
