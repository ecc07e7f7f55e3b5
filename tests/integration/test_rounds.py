"""One round for the table projections (projections/rounds.py), on PostgreSQL.

A shared round applies each batch to every projection and moves their checkpoints together;
what each projection is promised stays its own: an event that fails in one stops that one
alone (with the control: without the fallback to each projection's own transaction, the healthy
ones stop too), a projection another runner holds is left to it, and one behind the others
catches up alone.
"""

import uuid
from decimal import Decimal

import psycopg
import pytest

from products import eventstore
from products.domain.commands import ChangePrice, RegisterProduct
from products.eventstore import Checkpoint
from products.handlers import handle
from projections import engine, projectors, rounds
from projections.models import CatalogProduct, CategoryMember, PriceHistoryEntry, ProjectionState
from projections.progress import Outcome
from projections.projectors.catalog import CatalogProjector
from projections.state_row import LOCK_PREFIX
from tests.support import processes

pytestmark = pytest.mark.integration

READ_MODELS = ["product_catalog", "category_summary", "price_history"]


def register(category: str = "Round trips") -> uuid.UUID:
    product_id = uuid.uuid4()
    handle(RegisterProduct(product_id=product_id, sku=f"RND-{product_id.hex[:12]}", name="Lantern", category=category,
                           price=Decimal("9.50"), currency="EUR", initial_stock=4))
    return product_id


def checkpoints() -> dict[str, Checkpoint]:
    return {s.name: Checkpoint(s.last_tx, s.last_position) for s in ProjectionState.objects.filter(name__in=READ_MODELS)}


def log_end() -> Checkpoint:
    return eventstore.last_settled()


@pytest.fixture
def together(committed_db):
    """The three table projections, each caught up with the log."""
    members = [projectors.get(name) for name in READ_MODELS]
    for projector in members:
        assert engine.catch_up(projector).outcome == Outcome.CAUGHT_UP
    return members


@pytest.fixture
def fast_retries(settings):
    settings.PROJECTION_RETRY_BASE_SECONDS = 0  # a failed event is due again at once
    settings.PROJECTION_MAX_ATTEMPTS = 2


@pytest.fixture
def held_lock():
    """Holds a projection's runner lock from another session, as another worker would."""
    holders = []

    def hold(name: str) -> psycopg.Connection:
        holder = psycopg.connect(processes.test_database_url(), autocommit=True)
        assert holder.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [LOCK_PREFIX + name]).fetchone()[0]
        holders.append(holder)
        return holder

    yield hold
    for holder in holders:
        holder.close()


def release(holder: psycopg.Connection) -> None:
    """The other runner is done. Closing its session would free the lock too, but only once the
    server has ended the session, a moment after the client let go: unlock first."""
    holder.execute("SELECT pg_advisory_unlock_all()")
    holder.close()


def test_a_round_applies_each_batch_to_every_projection_and_moves_them_together(together):
    ids = [register() for _ in range(4)]
    handle(ChangePrice(product_id=ids[0], price=Decimal("11.00")))

    results = rounds.catch_up_together(together)

    assert {name: r.outcome for name, r in results.items()} == dict.fromkeys(READ_MODELS, Outcome.CAUGHT_UP)
    assert {r.applied for r in results.values()} == {5}
    assert set(checkpoints().values()) == {log_end()}
    assert CatalogProduct.objects.get(id=ids[0]).price == Decimal("11.00")
    assert CategoryMember.objects.filter(product_id__in=ids).count() == 4
    assert PriceHistoryEntry.objects.filter(product_id=ids[0]).count() == 2
    assert {s.status for s in ProjectionState.objects.filter(name__in=READ_MODELS)} == {ProjectionState.RUNNING}


def poison_the_catalog(monkeypatch, poisoned: set) -> None:
    """The catalog's projector with a bug that meets the registration of the `poisoned` products."""
    original = CatalogProjector.registered

    def registered(self, event, meta):
        if meta.stream_id in poisoned:
            raise ValueError(f"a bug meets {meta.stream_id}")
        return original(self, event, meta)

    monkeypatch.setattr(CatalogProjector, "registered", registered)


def test_an_event_that_fails_in_one_projection_stalls_that_one_alone(together, fast_retries, monkeypatch):
    before, poisoned, after = register(), register(), register()
    poison_the_catalog(monkeypatch, {poisoned})
    try:
        for _ in range(3):  # the attempts run out
            rounds.catch_up_together(together)
        catalog = ProjectionState.objects.get(name="product_catalog")
        assert catalog.status == ProjectionState.STALLED
        assert "a bug meets" in catalog.last_error
        assert CatalogProduct.objects.filter(id=before).exists()  # the events before it were kept
        assert not CatalogProduct.objects.filter(id__in=[poisoned, after]).exists()
        # The others are current, and stay so while the catalog waits for an operator.
        later = register()
        results = rounds.catch_up_together(together)
        assert results["product_catalog"].outcome == Outcome.BLOCKED
        assert checkpoints()["category_summary"] == checkpoints()["price_history"] == log_end()
        assert CategoryMember.objects.filter(product_id__in=[before, poisoned, after, later]).count() == 4
    finally:
        monkeypatch.undo()  # the bug fixed: the operator's retry carries on
        engine.retry("product_catalog")
        assert engine.catch_up(projectors.get("product_catalog")).outcome == Outcome.CAUGHT_UP
    assert CatalogProduct.objects.filter(id__in=[poisoned, after, later]).count() == 3


def test_control_without_each_projections_own_transaction_one_failure_stops_them_all(together, monkeypatch):
    """The control: if a failed shared transaction were not followed by each projection's own,
    the healthy projections would stop at the poisoned event too; the test above would fail."""
    poisoned, after = register(), register()
    poison_the_catalog(monkeypatch, {poisoned})
    monkeypatch.setattr(rounds, "apply_and_settle", lambda *args: None)
    start = checkpoints()
    try:
        rounds.catch_up_together(together)
        assert checkpoints()["category_summary"] == start["category_summary"]
        assert not CategoryMember.objects.filter(product_id=after).exists()
    finally:
        monkeypatch.undo()
        for projector in together:
            engine.retry(projector.name)
            assert engine.catch_up(projector).outcome == Outcome.CAUGHT_UP


def test_a_projection_another_runner_holds_is_left_to_it(together, held_lock):
    holder = held_lock("category_summary")
    register()

    results = rounds.catch_up_together(together)

    assert results["category_summary"].outcome == Outcome.BUSY
    assert results["product_catalog"].outcome == results["price_history"].outcome == Outcome.CAUGHT_UP
    release(holder)
    assert engine.catch_up(projectors.get("category_summary")).outcome == Outcome.CAUGHT_UP


def test_a_projection_behind_the_others_catches_up_alone_in_the_same_round(together, held_lock):
    holder = held_lock("price_history")
    first = register()
    rounds.catch_up_together(together)  # price_history is left behind
    release(holder)
    second = register()

    results = rounds.catch_up_together(together)

    assert {name: r.outcome for name, r in results.items()} == dict.fromkeys(READ_MODELS, Outcome.CAUGHT_UP)
    assert results["price_history"].applied == 2 and results["product_catalog"].applied == 1
    assert set(checkpoints().values()) == {log_end()}
    assert PriceHistoryEntry.objects.filter(product_id__in=[first, second]).count() == 2


@pytest.mark.parametrize("relay_in_the_transaction", [False, True], ids=["as_shipped", "control"])
def test_the_relay_shares_the_round_but_publishes_outside_its_transaction_once(
    together, subscriber, monkeypatch, relay_in_the_transaction
):
    """A failure in the shared transaction is rolled back and retried by each table projection;
    the relay's publishes are not in it, so none of them is repeated. The control puts the relay
    in the shared transaction: its publishes are then made twice."""
    from tests.integration.test_relay import received, relay_catch_up

    connection, queue = subscriber
    relay_catch_up()
    received(connection, queue)
    relay = projectors.get("integration_relay")
    members = [relay, *together]  # the relay first: in the control it publishes before the failure
    assert engine.catch_up(relay).outcome == Outcome.CAUGHT_UP
    for projector in together:  # every member at the same checkpoint, as a shared round wants them
        engine.catch_up(projector)
    ids = [register() for _ in range(3)]
    poison_the_catalog(monkeypatch, {ids[1]})
    if relay_in_the_transaction:
        monkeypatch.setattr(rounds, "shares_transaction", lambda projector: True)
    try:
        results = rounds.catch_up_together(members)
        assert results["integration_relay"].outcome == Outcome.CAUGHT_UP
        assert results["integration_relay"].applied == 3
        assert results["product_catalog"].outcome == Outcome.FAILED
        published = sorted(m["stream_id"] for m in received(connection, queue) if uuid.UUID(m["stream_id"]) in ids)
        if relay_in_the_transaction:
            assert published == sorted(map(str, ids * 2))  # published in the failed round, then again
        else:
            assert published == sorted(map(str, ids))  # each once
    finally:
        monkeypatch.undo()
        engine.retry("product_catalog")
        assert engine.catch_up(projectors.get("product_catalog")).outcome == Outcome.CAUGHT_UP
