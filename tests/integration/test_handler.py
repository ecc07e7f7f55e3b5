"""The command handler's view of a product is always the stored one, whatever it remembers."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from products import eventstore
from products.domain import events as domain_events
from products.domain.commands import ReceiveStock, RegisterProduct, ShipStock
from products.domain.errors import InsufficientStock
from products.eventstore import NewEvent
from products.handlers import handle

pytestmark = pytest.mark.integration


def test_a_command_sees_events_another_process_appended_after_this_one_remembered_the_product(committed_db):
    product_id = uuid.uuid4()
    handle(RegisterProduct(product_id=product_id, sku=f"C-{product_id.hex[:10]}", name="Kettle",
                           category="Kitchen", price=Decimal("1.00"), currency="EUR", initial_stock=5))
    handle(ShipStock(product_id=product_id, quantity=1))  # remembered here at version 2, stock 4
    # Another process ships the remaining four, straight into the store.
    shipped = domain_events.StockShipped(quantity=4, stock=0)
    eventstore.append("product", product_id, 2, [NewEvent(uuid.uuid4(), "StockShipped", domain_events.to_data(shipped))])

    with pytest.raises(InsufficientStock):
        handle(ShipStock(product_id=product_id, quantity=1))
    outcome = handle(ReceiveStock(product_id=product_id, quantity=2))

    assert outcome.version == 4
    assert eventstore.load(product_id)[-1].data == {"quantity": 2, "stock": 2}


def test_a_long_history_is_read_once_per_process(committed_db):
    product_id = uuid.uuid4()
    handle(RegisterProduct(product_id=product_id, sku=f"L-{product_id.hex[:10]}", name="Kettle",
                           category="Kitchen", price=Decimal("1.00"), currency="EUR"))
    for _ in range(50):
        handle(ReceiveStock(product_id=product_id, quantity=1))

    with CaptureQueriesContext(connection) as queries:
        handle(ReceiveStock(product_id=product_id, quantity=1))

    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "FROM event_store" in q["sql"]]
    assert len(reads) == 1 and "version > 51" in reads[0], reads  # only what came after version 51
    assert eventstore.load(product_id, after_version=51)[-1].data == {"quantity": 1, "stock": 51}
