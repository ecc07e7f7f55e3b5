"""The catalog's product changes (projections/changes.py): one per change the catalog applied,
with the product as /api/products/{id}/ showed it at that version; kept through rebuilds, and
trimmed by retention as a whole prefix whose end is remembered."""

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client

from products import eventstore
from products.domain.commands import ChangePrice, RegisterProduct, ShipStock, UpdateProductDetails
from products.eventstore import Checkpoint
from products.handlers import handle
from projections import changes, engine, generations, projectors
from projections.models import ProductChange
from projections.progress import Outcome
from tests.integration.test_projections import catch_up_all
from tests.support.history import stored_history

pytestmark = pytest.mark.integration


def commands_for(product_id: uuid.UUID, category: str) -> list:
    return [
        RegisterProduct(product_id=product_id, sku=f"CH-{product_id.hex[:8]}", name="Lamp", description="",
                        category=category, price=Decimal("10.00"), currency="EUR", initial_stock=5),
        ChangePrice(product_id=product_id, price=Decimal("12.50"), currency="EUR"),
        UpdateProductDetails(product_id=product_id, name="Desk lamp", description="Brass", category=f"{category}-moved"),
        ShipStock(product_id=product_id, quantity=2),
        ChangePrice(product_id=product_id, price=Decimal("9.99"), currency="EUR"),
    ]


def recorded(product_id: uuid.UUID, using: str = "default") -> list[ProductChange]:
    return list(ProductChange.objects.using(using).filter(product_id=product_id).order_by("version"))


def test_each_change_is_recorded_as_the_product_page_showed_it_at_that_version(committed_db):
    product_id = uuid.uuid4()
    shown = []
    for command in commands_for(product_id, "lamps"):
        handle(command)
        catch_up_all()
        shown.append(Client().get(f"/api/products/{product_id}/").json())

    rows = recorded(product_id)
    assert [json.loads(row.state) for row in rows] == shown
    assert [row.version for row in rows] == [1, 2, 3, 4, 5]
    assert [row.event_type for row in rows] == [
        "ProductRegistered", "ProductPriceChanged", "ProductDetailsUpdated", "StockShipped", "ProductPriceChanged"]
    assert [row.previous_category for row in rows] == ["", "", "lamps", "", ""]  # only the move says where from
    assert [row.category for row in rows] == ["lamps", "lamps", "lamps-moved", "lamps-moved", "lamps-moved"]
    events = eventstore.load(product_id)
    assert [(row.tx, row.position) for row in rows] == [(event.tx, event.position) for event in events]


def test_changes_applied_in_one_batch_are_each_recorded_at_their_own_version(committed_db):
    product_id = uuid.uuid4()
    for command in commands_for(product_id, "desks"):
        handle(command)
    catch_up_all()  # the five events in one batch: each must still be recorded as it was then

    states = [json.loads(row.state) for row in recorded(product_id)]
    assert [(s["version"], s["price"], s["stock"], s["name"]) for s in states] == [
        (1, "10.00", 5, "Lamp"), (2, "12.50", 5, "Lamp"), (3, "12.50", 5, "Desk lamp"),
        (4, "12.50", 3, "Desk lamp"), (5, "9.99", 3, "Desk lamp"),
    ]


def test_a_batch_applied_again_records_nothing_twice_and_keeps_what_was_recorded(committed_db):
    product_id = uuid.uuid4()
    for command in commands_for(product_id, "chairs"):
        handle(command)
    catch_up_all()
    before = [(row.position, row.state) for row in recorded(product_id)]
    with transaction.atomic():
        projectors.get("product_catalog").apply(eventstore.load(product_id), "default")
    assert [(row.position, row.state) for row in recorded(product_id)] == before


@pytest.mark.parametrize("bounded", [True, False], ids=["fold_bounded_by_live", "control_fold_to_the_log_end"])
def test_a_rebuild_while_the_catalog_is_behind_leaves_no_change_unrecorded(committed_db, monkeypatch, bounded):
    """The catalog stands still while commands come in; a rebuild then folds the log. A fold
    records no changes, so it must stop where the live catalog stopped (the control folds to
    the end of the log, and the changes in between are never recorded)."""
    name = "product_catalog"
    applied_ids = stored_history(commands=60, products=6, seed=41, using="default")
    catch_up_all()
    history = {row.position: row.state for row in ProductChange.objects.filter(product_id__in=applied_ids)}
    behind_ids = stored_history(commands=60, products=6, seed=42, using="default")  # the catalog has not applied these
    if not bounded:
        monkeypatch.setattr(generations, "fold_upto", lambda targets, using: eventstore.last_settled(using))

    generations.start(name)
    assert generations.build(name).swapped
    assert engine.catch_up(projectors.get(name)).outcome == Outcome.CAUGHT_UP

    handled = set(projectors.get(name).handlers)
    expected = [event.position for product_id in behind_ids for event in eventstore.load(product_id)
                if event.type in handled]
    present = set(ProductChange.objects.filter(position__in=expected).values_list("position", flat=True))
    missing = [position for position in expected if position not in present]
    if bounded:
        assert missing == []
    else:
        assert missing, "the control recorded every change: the test could not fail"
    # What was recorded before the rebuild is history: kept as it was.
    assert {row.position: row.state for row in ProductChange.objects.filter(product_id__in=applied_ids)} == history


def test_trim_removes_a_prefix_older_than_the_retention_and_remembers_where_it_ends(committed_db):
    using = "sqlite"  # a database of the test's own: the run's other feeds resume from 0-0
    stored_history(commands=80, products=8, seed=43, using=using)
    assert engine.catch_up(projectors.get("product_catalog"), using=using).outcome == Outcome.CAUGHT_UP
    rows = list(ProductChange.objects.using(using).order_by("tx", "position"))
    middle = rows[len(rows) // 2]
    assert changes.trimmed_through(using) == Checkpoint.START

    # Everything recorded before the middle row's moment is older than a retention of nothing.
    removed = changes.trim(timedelta(0), now=middle.recorded_at, using=using)

    kept = list(ProductChange.objects.using(using).order_by("tx", "position"))
    assert removed == len(rows) - len(kept) > 0
    assert kept == rows[len(rows) - len(kept):]  # a whole suffix
    assert all(row.recorded_at >= middle.recorded_at for row in kept)
    last_removed = rows[len(rows) - len(kept) - 1]
    assert changes.trimmed_through(using) == Checkpoint(last_removed.tx, last_removed.position)
    assert changes.after(changes.trimmed_through(using), 1, using)[0].position == kept[0].position
    assert changes.trim(timedelta(0), now=middle.recorded_at, using=using) == 0  # nothing more is that old
