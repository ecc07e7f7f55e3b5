"""Consumers (projections/consumers.py) run by the engine as projections are, and the one the
project ships: the low-stock alert (alerts/)."""

import uuid
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models.expressions import RawSQL

from alerts.models import LowStockAlert, LowStockThreshold
from products import eventstore
from products.domain.commands import ReceiveStock, RegisterProduct, ShipStock, UpdateProductDetails
from products.handlers import handle
from projections import consumers, engine, operations, projectors, rounds
from projections.models import ProjectionState
from projections.progress import Outcome
from tests.integration.test_projections import catch_up_all

pytestmark = pytest.mark.integration

ALERT = "low_stock_alert"


def register(category: str = "Kettles", stock: int = 10) -> uuid.UUID:
    product_id = uuid.uuid4()
    handle(RegisterProduct(product_id=product_id, sku=f"LS-{product_id.hex[:8]}", name="Kettle", category=category,
                           price=Decimal("20.00"), currency="EUR", initial_stock=stock))
    return product_id


def ship(product_id: uuid.UUID, quantity: int) -> None:
    handle(ShipStock(product_id=product_id, quantity=quantity))


def alerts_of(product_id: uuid.UUID) -> list[tuple[int, int]]:
    return list(LowStockAlert.objects.filter(product_id=product_id).order_by("raised_at").values_list("stock", "threshold"))


def caught_up(name: str = ALERT) -> None:
    assert engine.catch_up(projectors.get(name)).outcome == Outcome.CAUGHT_UP


def test_the_consumer_is_a_projection_of_its_own(committed_db):
    assert isinstance(projectors.get(ALERT), consumers.Consumer)
    assert ALERT not in projectors.read_models()  # not rebuilt with the read models; replayed in place
    caught_up()
    assert ALERT in {status.name for status in operations.statuses()}


def test_a_shipment_below_the_threshold_raises_one_alert_until_the_stock_is_back(committed_db, settings):
    settings.LOW_STOCK_THRESHOLD = 5
    product_id = register(stock=10)
    ship(product_id, 4)  # 6: above
    ship(product_id, 2)  # 4: below, an alert
    ship(product_id, 1)  # 3: still below, no other
    handle(ReceiveStock(product_id=product_id, quantity=10))  # 13
    ship(product_id, 9)  # 4: below again, a second alert
    caught_up()
    assert alerts_of(product_id) == [(4, 5), (4, 5)]


def test_a_categorys_threshold_comes_before_the_one_for_every_category(committed_db):
    LowStockThreshold.objects.update_or_create(category="", defaults={"threshold": 2})
    category = f"Teapots-{uuid.uuid4().hex[:6]}"
    LowStockThreshold.objects.create(category=category, threshold=8)
    try:
        teapot, other = register(category=category, stock=10), register(stock=12)
        ship(teapot, 3)  # 7 < 8
        ship(other, 3)  # 9, above 2
        handle(UpdateProductDetails(product_id=other, category=category))
        ship(other, 2)  # 7 < 8: the threshold of the category it moved to
        caught_up()
        assert alerts_of(teapot) == [(7, 8)] and alerts_of(other) == [(7, 8)]
    finally:
        LowStockThreshold.objects.filter(category__in=["", category]).delete()


def test_an_event_given_twice_raises_one_alert(committed_db, settings):
    settings.LOW_STOCK_THRESHOLD = 5
    product_id = register(stock=6)
    ship(product_id, 3)
    caught_up()
    with transaction.atomic():  # as after a worker died between the consumer's work and its commit
        projectors.get(ALERT).apply(eventstore.load(product_id), "default")
    assert alerts_of(product_id) == [(3, 5)]


@pytest.fixture
def failing_consumer(request, monkeypatch, fresh_projectors):
    """A consumer with a bug that meets the shipments of `victims`; registered for the test only
    (with the parameter `rows_only`, it applies in the read models' transaction)."""
    victims: set[uuid.UUID] = set()
    seen: list[uuid.UUID] = []

    def picky(event):
        if event.stream_id in victims:
            raise ValueError(f"a bug meets {event.stream_id}")
        seen.append(event.id)

    monkeypatch.setitem(consumers._registered, "test_picky",
                        consumers.Consumer(picky, ["StockShipped"], "test_picky",
                                           rows_only=getattr(request, "param", "") == "rows_only"))
    projectors.all_projectors.cache_clear()
    return victims, seen


@pytest.mark.parametrize("failing_consumer", ["own_transaction", "rows_only"], indirect=True)
def test_a_consumer_that_raises_stalls_alone_while_the_others_stay_current(committed_db, settings, failing_consumer):
    victims, seen = failing_consumer
    settings.PROJECTION_RETRY_BASE_SECONDS = 0
    settings.PROJECTION_MAX_ATTEMPTS = 2
    catch_up_all()
    for name in ("test_picky", ALERT):
        engine.ensure_states([name])
        end = eventstore.last_settled()
        ProjectionState.objects.filter(name=name).update(last_tx=end.tx, last_position=end.position)
    poisoned, healthy = register(stock=10), register(stock=10)
    victims.add(poisoned)
    ship(poisoned, 8)
    ship(healthy, 7)

    everyone = list(projectors.all_projectors().values())
    for _ in range(3):  # rounds, as the nudges and the sweep run them
        rounds.catch_up_together(everyone)
    state = ProjectionState.objects.get(name="test_picky")
    assert state.status == ProjectionState.STALLED and "a bug meets" in state.last_error
    for name in [*projectors.read_models(), ALERT]:
        assert engine.catch_up(projectors.get(name)).outcome == Outcome.CAUGHT_UP, name
        assert engine.lag(ProjectionState.objects.get(name=name)) == 0, name
    assert alerts_of(poisoned) == [(2, 5)] and alerts_of(healthy) == [(3, 5)]
    assert seen == []  # it stopped at the poisoned shipment, which came first

    shipped = eventstore.load(poisoned)[-1]
    operations.skip("test_picky", shipped.checkpoint, reason="the bug is known; the shipment needs no notice")
    assert engine.catch_up(projectors.get("test_picky")).outcome == Outcome.CAUGHT_UP
    assert len(seen) == 1  # the healthy product's shipment, after the skipped one


@pytest.mark.parametrize("rows_only", [True, False], ids=["as_shipped", "control_own_transactions"])
def test_consumers_that_write_only_rows_apply_in_the_read_models_transaction(committed_db, rows_only):
    """The round's one transaction moves the read models' checkpoints and theirs: their state
    rows carry the same xmin (the id of the transaction that last wrote them). The control, each
    consumer in a transaction of its own after it, shows the check can tell."""
    for name in (ALERT, "webhooks"):
        assert projectors.get(name).shares_transaction  # as the shipped consumers declare
        projectors.get(name).shares_transaction = rows_only
    try:
        everyone = list(projectors.all_projectors().values())
        rounds.catch_up_together(everyone)
        ship(register(stock=10), 1)
        rounds.catch_up_together(everyone)
        writers = dict(ProjectionState.objects.annotate(writer=RawSQL("xmin::text", [])).values_list("name", "writer"))
    finally:
        for name in (ALERT, "webhooks"):
            projectors.get(name).shares_transaction = True
    together = {writers["product_catalog"] == writers[name] for name in (ALERT, "webhooks")}
    assert together == {rows_only}
    assert writers["integration_relay"] != writers["product_catalog"]  # a publisher is never in it


def test_each_consumer_has_a_queue_the_workers_consume():
    from project.celery import app

    assert f"projection.{ALERT}" in app.amqp.queues


def test_a_batch_consumer_gets_lists_and_a_failure_is_pinned_to_its_event(committed_db, monkeypatch, fresh_projectors):
    victims: set[uuid.UUID] = set()
    calls: list[list[uuid.UUID]] = []

    def in_batches(events):
        if any(event.stream_id in victims for event in events):
            raise ValueError("a bug meets one of these")
        calls.append([event.stream_id for event in events])

    monkeypatch.setitem(consumers._registered, "test_batches",
                        consumers.Consumer(in_batches, ["ProductRegistered"], "test_batches", batch=True))
    projectors.all_projectors.cache_clear()
    engine.ensure_states(["test_batches"])
    end = eventstore.last_settled()
    ProjectionState.objects.filter(name="test_batches").update(last_tx=end.tx, last_position=end.position)
    first, poisoned, last = register(), register(), register()
    victims.add(poisoned)

    assert engine.catch_up(projectors.get("test_batches")).outcome == Outcome.FAILED
    state = ProjectionState.objects.get(name="test_batches")
    assert state.failed_position == eventstore.load(poisoned)[0].position  # found one event at a time
    assert calls[-1] == [first] and last not in sum(calls, [])  # kept before it, nothing after
