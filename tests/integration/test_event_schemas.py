"""Stored events of a schema version newer than the code: refused where they are read, clearly.

The event from the future is stored under a type name of its own that, during each test, is an
alias of ProductPriceChanged (products/domain/upcasters.py ALIASES). Once the test ends nothing
knows that name, so every projection passes over the event and the shared log stays readable.
"""

import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from products import eventstore
from products.domain import upcasters
from products.domain.commands import ChangePrice, RegisterProduct
from products.eventstore import NewEvent
from products.handlers import UnreadableStream, handle
from projections import engine, projectors
from projections.models import CatalogProduct, ProjectionState
from projections.progress import Outcome

pytestmark = pytest.mark.integration

FROM_THE_FUTURE = "ProductPriceChangedFromTheFuture"
READ_MODELS = ["product_catalog", "category_summary", "price_history"]


@pytest.fixture
def future_event(committed_db, monkeypatch):
    """A registered product whose last stored event is a ProductPriceChanged at schema version 99."""
    for name in READ_MODELS:
        engine.catch_up(projectors.get(name))
    product_id = uuid.uuid4()
    handle(RegisterProduct(product_id=product_id, sku=f"FUT-{product_id.hex[:10]}", name="Lamp", category="Lighting",
                           price=Decimal("5.00"), currency="EUR", initial_stock=3))
    data = {"price": {"amount": "6.00", "currency": "EUR"}, "old_price": {"amount": "5.00", "currency": "EUR"}}
    [event] = eventstore.append("product", product_id, 1, [NewEvent(uuid.uuid4(), FROM_THE_FUTURE, data, schema_version=99)])
    monkeypatch.setitem(upcasters.ALIASES, FROM_THE_FUTURE, "ProductPriceChanged")
    yield product_id, event
    monkeypatch.delitem(upcasters.ALIASES, FROM_THE_FUTURE)
    for name in READ_MODELS:  # the type is unknown again: retried, each passes over the event
        engine.retry(name)
        assert engine.catch_up(projectors.get(name)).outcome == Outcome.CAUGHT_UP


def test_a_projection_that_meets_a_newer_schema_version_stalls_at_once_naming_type_and_version(future_event):
    product_id, event = future_event
    for name in READ_MODELS:
        result = engine.catch_up(projectors.get(name))
        state = ProjectionState.objects.get(name=name)
        assert result.outcome == Outcome.FAILED
        # No retries: trying again cannot help until the code that wrote it is deployed.
        assert (state.status, state.attempts, state.failed_position) == (ProjectionState.STALLED, 1, event.position)
        assert "ProductPriceChanged is stored at schema version 99, newer than this code knows (2)" in state.last_error
    assert CatalogProduct.objects.get(id=product_id).version == 1  # everything before it was applied


def test_a_command_on_a_stream_with_a_newer_schema_version_is_refused_with_503_and_stores_nothing(future_event, api):
    product_id, _ = future_event
    with pytest.raises(UnreadableStream, match="cannot be changed by this version of the service"):
        handle(ChangePrice(product_id=product_id, price=Decimal("7.00")))

    response = api.post(f"/api/products/{product_id}/change-price/", {"price": "7.00"}, format="json")
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["code"] == "stream_unreadable" and "schema version 99" in body["detail"]
    assert [e.version for e in eventstore.load(product_id)] == [1, 2]  # nothing more stored


def test_event_schemas_lists_each_type_its_version_and_the_stored_versions(future_event):
    out = StringIO()
    call_command("event_schemas", stdout=out)
    lines = {line.split()[0]: line for line in out.getvalue().splitlines()[1:]}
    assert set(lines) >= {"ProductRegistered", "ProductPriceChanged", "StockShipped", FROM_THE_FUTURE}
    assert lines["ProductRegistered"].split()[1] == "v2" and "v2: " in lines["ProductRegistered"]
    assert lines["StockShipped"].split()[1] == "v1"
    assert "old name of ProductPriceChanged; NEWER than this code: v99" in lines[FROM_THE_FUTURE]
