"""Projectors and the engine against the real database: idempotence and rebuild == live."""

import uuid
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from products import eventstore
from products.domain.commands import RegisterProduct, UpdateProductDetails
from products.handlers import handle
from projections import engine, projectors
from projections.models import CatalogProduct, CategoryMember, CategorySummary, PriceHistoryEntry
from tests.support.history import random_history

pytestmark = pytest.mark.integration

READ_MODELS = [CatalogProduct, CategoryMember, CategorySummary, PriceHistoryEntry]


def snapshot(using: str = "default") -> dict[str, list[tuple]]:
    """Every row of every read-model table, in a stable order (without surrogate ids)."""
    return {
        model._meta.db_table: sorted(
            model.objects.using(using).values_list(*[f.name for f in model._meta.fields if f.name != "id" or not f.auto_created]).order_by()
        )
        for model in READ_MODELS
    }


def catch_up_all() -> None:
    for name in projectors.read_models():
        result = engine.catch_up(projectors.get(name))
        assert result.outcome == "caught_up", (name, result)


def test_each_projector_applied_twice_gives_the_same_rows(committed_db):
    ids = random_history(commands=120, products=10, seed=11)
    catch_up_all()
    events = [event for product_id in ids for event in eventstore.load(product_id)]
    before = snapshot()

    for name in projectors.read_models():
        with transaction.atomic():
            projectors.get(name).apply(events, "default")

    assert snapshot() == before


def test_rebuilding_gives_exactly_the_rows_live_catch_up_gave(committed_db):
    # Live: catch up at random moments while 1,200 commands come in, as workers would.
    random_history(commands=1200, products=60, seed=3, after_each=lambda step: step % 97 == 0 and catch_up_all())
    catch_up_all()
    live = snapshot()

    for name in projectors.read_models():
        engine.replay_in_place(projectors.get(name))

    assert snapshot() == live
    assert len(live["read_product_catalog"]) >= 60
    assert category_summaries() == computed_from_the_catalog()


@pytest.mark.parametrize("same_batch", [False, True], ids=["later_batch", "same_batch"])
def test_a_category_whose_last_product_moves_away_leaves_the_summary(committed_db, same_batch):
    catch_up_all()
    product_id, old, new = uuid.uuid4(), f"Old-{uuid.uuid4().hex[:8]}", f"New-{uuid.uuid4().hex[:8]}"
    handle(RegisterProduct(product_id=product_id, sku=f"MV-{product_id.hex[:10]}", name="Lamp", category=old,
                           price=Decimal("5.00"), currency="EUR", initial_stock=3))
    if not same_batch:
        catch_up_all()
        assert category_summaries()[old] == (1, 0, 3)
    handle(UpdateProductDetails(product_id=product_id, category=new))
    catch_up_all()

    summaries = category_summaries()
    assert old not in summaries and summaries[new] == (1, 0, 3)
    assert summaries == computed_from_the_catalog()


def category_summaries() -> dict[str, tuple[int, int, int]]:
    return {s.name: (s.active_products, s.discontinued_products, s.total_stock) for s in CategorySummary.objects.all()}


def computed_from_the_catalog() -> dict[str, tuple[int, int, int]]:
    """The category summary the slow way, with GROUP BY over the catalog: an independent oracle."""
    rows = CatalogProduct.objects.values("category").annotate(
        active=Count("id", filter=Q(status="active")),
        discontinued=Count("id", filter=Q(status="discontinued")),
        stock=Coalesce(Sum("stock", filter=Q(status="active")), 0),
    )
    return {row["category"]: (row["active"], row["discontinued"], row["stock"]) for row in rows}


def test_a_replayed_event_changes_nothing_and_a_gap_is_refused(committed_db):
    product_id = random_history(commands=6, products=1, seed=5)[0]
    catch_up_all()
    history = eventstore.load(product_id)
    catalog = projectors.get("product_catalog")
    before = snapshot()

    with transaction.atomic():
        catalog.apply(history[:1], "default")  # an old event again
    assert snapshot() == before

    # Forge the next event two versions ahead, as if one had been lost on the way: it must fail.
    last = history[-1]
    forged = eventstore.RecordedEvent(
        **{**last.__dict__, "version": last.version + 2, "event_id": uuid.uuid4(), "position": last.position + 10**9}
    )
    with pytest.raises(Exception, match="follows"), transaction.atomic():
        catalog.apply([forged], "default")
    assert snapshot() == before


def test_an_attempt_is_counted_only_at_the_checkpoint_its_batch_was_read_after(committed_db):
    # A runner whose state row is a batch old (read a moment before it held the lock) must not
    # count an attempt or mark a batch as suspect behind the real checkpoint: that would leave
    # the projection going one event at a time for good.
    from projections.models import ProjectionState
    from projections.state_row import StateRow

    name = "product_catalog"
    catch_up_all()
    state = ProjectionState.objects.get(name=name)
    current = eventstore.Checkpoint(state.last_tx, state.last_position)
    stale = eventstore.Checkpoint(state.last_tx, state.last_position - 1)

    assert StateRow(name).count_attempt(stale, current.position) is None
    after = ProjectionState.objects.get(name=name)
    assert (after.attempts, after.suspect_until) == (state.attempts, state.suspect_until)

    # The control: at its own checkpoint the same call counts and marks.
    counted = StateRow(name).count_attempt(current, current.position + 1)
    assert counted is not None and counted.attempts == state.attempts + 1
    ProjectionState.objects.filter(name=name).update(attempts=state.attempts, suspect_until=state.suspect_until)
