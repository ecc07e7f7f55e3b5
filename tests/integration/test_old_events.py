"""Events as an earlier version of the code stored them still load, decide, project and rebuild.

tests/fixtures/events_v1.json holds product events exactly as the code wrote them when every
type was at schema version 1, and the read models its projectors made of them. Whatever shapes
the events have now, a log of those events must give the same read models, by live catch-up
and by a rebuild, and their products must still take commands (docs/EVENTS.md).
"""

import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client

from products import eventstore
from products.domain import upcasters
from products.domain.commands import ReceiveStock, RegisterProduct, ShipStock
from products.domain.errors import InsufficientStock
from products.eventstore import NewEvent
from products import handlers
from products.handlers import UnreadableStream, handle
from products.states import RecentStates
from projections import engine, generations, projectors
from projections.models import CatalogProduct, CategoryMember, CategorySummary, PriceHistoryEntry, ProjectionState
from projections.progress import Outcome
from tests.integration.test_projections import catch_up_all

pytestmark = pytest.mark.integration

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "events_v1.json").read_text())
READ_MODELS = ["product_catalog", "category_summary", "price_history"]
# Per table: the model, the columns the fixture leaves out, and which columns hold a product id / category.
TABLES = {
    "read_product_catalog": (CatalogProduct, {"created_at", "updated_at"}, 0, 4),
    "read_category_member": (CategoryMember, set(), 0, 1),
    "read_category_summary": (CategorySummary, set(), None, 0),
    "read_price_history": (PriceHistoryEntry, {"id", "changed_at"}, 0, None),
}


class StoredFixture:
    """The fixture's events appended to this run's log, under new ids and category names of its
    own, so that each test's products and categories are its alone."""

    def __init__(self) -> None:
        self.ids = {event["stream_id"]: str(uuid.uuid4()) for event in FIXTURE["events"]}
        self.suffix = uuid.uuid4().hex[:8]
        for event in FIXTURE["events"]:
            data = dict(event["data"])
            if "category" in data:
                data["category"] = self.category(data["category"])
            stored = NewEvent(uuid.uuid4(), event["type"], data, schema_version=event["schema_version"])
            eventstore.append("product", uuid.UUID(self.ids[event["stream_id"]]), event["version"] - 1, [stored])

    def category(self, name: str) -> str:
        return f"{name} {self.suffix}"

    def expected(self) -> dict[str, list[list[str]]]:
        return {table: sorted(self._mapped(table, row) for row in rows) for table, rows in FIXTURE["read_models"].items()}

    def _mapped(self, table: str, row: list[str]) -> list[str]:
        _, _, id_column, category_column = TABLES[table]
        row = list(row)
        if id_column is not None:
            row[id_column] = self.ids[row[id_column]]
        if category_column is not None:
            row[category_column] = self.category(row[category_column])
        return row

    def read_models(self) -> dict[str, list[list[str]]]:
        found = {}
        for table, (model, left_out, id_column, category_column) in TABLES.items():
            fields = [f.attname for f in model._meta.concrete_fields if f.attname not in left_out]
            if id_column is not None:
                rows = model.objects.filter(**{f"{fields[id_column]}__in": list(self.ids.values())})
            else:
                rows = model.objects.filter(name__endswith=f" {self.suffix}")
            found[table] = sorted([str(value) for value in values] for values in rows.values_list(*fields))
        return found


@pytest.fixture
def stored_fixture(committed_db) -> StoredFixture:
    return StoredFixture()


def test_the_old_events_project_to_the_read_models_they_gave(stored_fixture):
    catch_up_all()
    assert stored_fixture.read_models() == stored_fixture.expected()


def test_the_old_events_rebuild_to_the_read_models_they_gave(stored_fixture):
    catch_up_all()
    for name in READ_MODELS:
        generations.start(name)
        assert generations.build(name).swapped
    assert stored_fixture.read_models() == stored_fixture.expected()


def test_a_product_of_old_events_loads_and_takes_a_command(stored_fixture):
    last = {}
    for event in FIXTURE["events"]:
        last[event["stream_id"]] = event
    active = next(stream for stream, event in last.items() if event["type"] != "ProductDiscontinued")
    product_id = uuid.UUID(stored_fixture.ids[active])

    outcome = handle(ReceiveStock(product_id=product_id, quantity=5))

    assert outcome.version == last[active]["version"] + 1
    [received] = eventstore.load(product_id, after_version=last[active]["version"])
    catalog_row = [row for row in FIXTURE["read_models"]["read_product_catalog"] if row[0] == active][0]
    assert received.data["stock"] == int(catalog_row[7]) + 5  # decided on the state the old events fold to


def test_the_event_log_shows_old_events_in_the_current_shape(stored_fixture, make_user):
    from rest_framework.test import APIClient

    staff = APIClient()
    staff.force_authenticate(make_user(is_staff=True))
    registration = next(event for event in FIXTURE["events"] if event["type"] == "ProductRegistered")
    body = staff.get("/api/events/", {"stream_id": stored_fixture.ids[registration["stream_id"]]}).json()
    first = body["results"][0]
    assert (first["type"], first["schema_version"]) == ("ProductRegistered", 2)
    old = registration["data"]
    assert first["data"]["price"] == {"amount": old["price"], "currency": old["currency"]} and "currency" not in first["data"]


def test_the_control_without_the_upcasters_cannot_project_them(stored_fixture, monkeypatch):
    projector = projectors.get("product_catalog")
    for name in ["category_summary", "price_history"]:
        engine.catch_up(projectors.get(name))
    monkeypatch.delitem(upcasters.UPCASTERS, ("ProductRegistered", 1))
    monkeypatch.delitem(upcasters.UPCASTERS, ("ProductPriceChanged", 1))
    try:
        result = engine.catch_up(projector)
        state = ProjectionState.objects.get(name="product_catalog")
        assert result.outcome == Outcome.FAILED
        assert "No upcaster from ProductRegistered schema version 1 to 2" in state.last_error
    finally:
        monkeypatch.undo()  # the code as shipped, with its upcasters: the same events project again
        engine.retry("product_catalog")
        assert engine.catch_up(projector).outcome == Outcome.CAUGHT_UP
    assert stored_fixture.read_models() == stored_fixture.expected()


# A name StockShipped had once, known only during the test below. The event stored under it
# stays the last of its stream: once the name is unknown again, every projection and every
# rebuild passes over it alike, so the shared log stays consistent for the other tests.
RENAMED = "StockDispatched"


def test_events_stored_under_a_type_s_old_name_load_decide_and_project(committed_db, monkeypatch, make_user):
    admin_client = Client()
    admin_client.force_login(make_user(is_staff=True, is_superuser=True))
    catch_up_all()
    product_id = uuid.uuid4()
    handle(RegisterProduct(product_id=product_id, sku=f"REN-{product_id.hex[:10]}", name="Crate", category="Storage",
                           price=Decimal("4.00"), currency="EUR", initial_stock=10))
    eventstore.append("product", product_id, 1, [NewEvent(uuid.uuid4(), RENAMED, {"quantity": 4, "stock": 6})])
    stored = eventstore.load(product_id)

    monkeypatch.setitem(upcasters.ALIASES, RENAMED, "StockShipped")
    with pytest.raises(InsufficientStock):  # decided on the folded old name: 6 left, not 10
        handle(ShipStock(product_id=product_id, quantity=7))
    projector = projectors.get("product_catalog")
    with pytest.raises(RolledBack), transaction.atomic():  # applied, looked at, never kept
        projector.apply(stored, "default")
        row = CatalogProduct.objects.get(id=product_id)
        assert (row.version, row.stock) == (2, 6)
        raise RolledBack
    timeline_page = admin_client.get(f"/admin/projections/catalogproduct/{product_id}/timeline/")
    assert timeline_page.status_code == 200 and "StockShipped" in timeline_page.content.decode()

    monkeypatch.undo()  # the name is unknown again: refused clearly, never a 500
    monkeypatch.setattr(handlers, "_recent", RecentStates())  # as in a process that never read it
    with pytest.raises(UnreadableStream, match="StockDispatched is not an event type this code knows"):
        handle(ShipStock(product_id=product_id, quantity=1))
    assert admin_client.get(f"/admin/projections/catalogproduct/{product_id}/timeline/").status_code == 503


class RolledBack(Exception):
    pass
