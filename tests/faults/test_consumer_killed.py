"""A worker killed inside a consumer, after its call to another system and before its checkpoint
commits: the event is given again, and the idempotency key of docs/CONSUMERS.md keeps the effect
single. The control, a warehouse that counts every call, counts that shipment twice."""

import os
import signal
import uuid
from decimal import Decimal

import pytest

from products.domain.commands import RegisterProduct, ShipStock
from products.handlers import handle
from projections.models import ProjectionState
from tests.faults.conftest import converge
from tests.support import warehouse
from tests.support.polling import wait_until
from tests.support.processes import celery_worker


def register(stock: int) -> uuid.UUID:
    product_id = uuid.uuid4()
    handle(RegisterProduct(product_id=product_id, sku=f"WH-{product_id.hex[:8]}", name="Crate", category="Crates",
                           price=Decimal("9.00"), currency="EUR", initial_stock=stock))
    return product_id


@pytest.mark.parametrize("kind, shipped_units", [("deduplicating", 3 + 4), ("counting_every_call", 3 + 3 + 4)])
def test_a_worker_killed_mid_consumer_gives_the_event_again_and_the_dedupe_keeps_the_effect_single(
    kind, shipped_units, committed_db, extra_projector, tmp_path
):
    extra_projector(warehouse.NAME, f"tests.support.warehouse.{kind}")
    warehouse.from_the_start()
    flag = tmp_path / "pause"
    env = {"EXTRA_PROJECTORS": f"{warehouse.NAME}=tests.support.warehouse.{kind}", "WAREHOUSE_PAUSE_FLAG": str(flag)}
    product_id = register(stock=100)

    flag.write_text(str(product_id))
    handle(ShipStock(product_id=product_id, quantity=3))
    with celery_worker("first", concurrency=1, **env):
        pid = int(wait_until(lambda: (inside := flag.with_suffix(".inside")).exists() and inside.read_text(),
                             timeout=60, what="the consumer to pause after its call"))
        os.kill(pid, signal.SIGKILL)
        flag.unlink()
        wait_until(lambda: ProjectionState.objects.get(name=warehouse.NAME).attempts >= 1,
                   timeout=30, what="the attempt to be counted")
    handle(ShipStock(product_id=product_id, quantity=4))
    with celery_worker("second", concurrency=1, **env):
        converge(timeout=60)

    calls = sorted(warehouse.calls_per_key(product_id).values())
    assert calls == [1, 2], f"the killed shipment should have been given twice, the other once: {calls}"
    assert warehouse.units_shipped(product_id) == shipped_units
    state = ProjectionState.objects.get(name=warehouse.NAME)
    assert (state.status, state.attempts) == ("running", 0)
