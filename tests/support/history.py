"""Random but valid product histories: through the real command handler, or decided by the
domain and appended straight to any database (the contract tests' SQLite among them)."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal

from products import eventstore
from products.domain import commands as c
from products.domain import events as domain_events
from products.domain.errors import ProductError
from products.domain.product import decide, evolve
from products.eventstore import NewEvent
from products.handlers import handle

CATEGORIES = ["Kitchen", "Garden", "Tools", "Toys", "Books"]


def random_history(commands: int, products: int = 40, seed: int = 7, after_each=None) -> list[uuid.UUID]:
    """Issue `commands` random commands over `products` new products; refusals are part of it."""
    rng = random.Random(seed)
    ids = [uuid.uuid4() for _ in range(products)]
    for product_id in ids:
        handle(_register(rng, product_id))
    for step in range(commands - products):
        product_id = rng.choice(ids)
        try:
            handle(_random_command(rng, product_id))
        except ProductError:
            pass  # insufficient stock, discontinued: refused commands store nothing
        if after_each:
            after_each(step)
    return ids


def stored_history(commands: int, products: int, seed: int, using: str) -> list[uuid.UUID]:
    """As random_history, decided by the domain and appended to the database `using`."""
    rng = random.Random(seed)
    ids = [uuid.uuid4() for _ in range(products)]
    states: dict[uuid.UUID, tuple] = {}

    def run(command: c.Command) -> None:
        state, version = states.get(command.product_id, (None, 0))
        try:
            decided = decide(command, state)
        except ProductError:
            return
        events = [NewEvent(event_id=uuid.uuid4(), type=domain_events.type_name(event), data=domain_events.to_data(event),
                           schema_version=event.schema_version)
                  for event in decided]
        eventstore.append("product", command.product_id, version, events, using=using)
        for event in decided:
            state = evolve(state, event)
        states[command.product_id] = (state, version + len(decided))

    for product_id in ids:
        run(_register(rng, product_id))
    for _ in range(commands - products):
        run(_random_command(rng, rng.choice(ids)))
    return ids


def _register(rng: random.Random, product_id: uuid.UUID) -> c.RegisterProduct:
    return c.RegisterProduct(
        product_id=product_id,
        sku=f"H-{product_id.hex[:12]}",
        name=f"Product {rng.randint(1, 999)}",
        category=rng.choice(CATEGORIES),
        price=Decimal(rng.randint(100, 99999)) / 100,
        currency="EUR",
        initial_stock=rng.randint(0, 50),
    )


def _random_command(rng: random.Random, product_id: uuid.UUID) -> c.Command:
    kind = rng.choices(["price", "details", "receive", "ship", "discontinue"], weights=[30, 15, 25, 28, 2])[0]
    if kind == "price":
        return c.ChangePrice(product_id=product_id, price=Decimal(rng.randint(100, 99999)) / 100)
    if kind == "details":
        return c.UpdateProductDetails(
            product_id=product_id, name=f"Product {rng.randint(1, 999)}", category=rng.choice(CATEGORIES)
        )
    if kind == "receive":
        return c.ReceiveStock(product_id=product_id, quantity=rng.randint(1, 20))
    if kind == "ship":
        return c.ShipStock(product_id=product_id, quantity=rng.randint(1, 20))
    return c.DiscontinueProduct(product_id=product_id, reason="end of line")
