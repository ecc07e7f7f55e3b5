"""Realistic product events, written fast: COPY into event_store, one COPY per transaction.

Payloads have exactly the shapes of products.domain.events.to_data (decimals as strings), each
stream's versions run 1, 2, 3, … in log order, stock never goes negative, a discontinued product
gets no further event, and metadata looks like the Command API's. Streams are interleaved
within a chunk of products, as live traffic would interleave them.

Events are stored as the code writes them now, at each type's current schema version. A log
can also begin with `old_events` events as the code wrote them before its event changes
(every type at version 1): the upcasting benchmark's log of old and new events.

The event store's trigger wants the append to be its transaction's first write: each chunk is
one transaction whose only statement is the COPY (COPY fires the statement trigger like INSERT).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

import psycopg

from products.domain.events import SCHEMAS

CATEGORIES = [
    "Kitchen", "Garden", "Tools", "Toys", "Books", "Music", "Office", "Sports", "Outdoor", "Bath",
    "Bedroom", "Lighting", "Storage", "Pets", "Baby", "Beauty", "Health", "Grocery", "Wine", "Coffee",
    "Tea", "Cycling", "Camping", "Fishing", "Automotive", "Electronics", "Audio", "Cameras", "Phones",
    "Computers", "Gaming", "Crafts", "Sewing", "Party", "Travel", "Luggage", "Shoes", "Watches",
    "Jewellery", "Stationery",
]
WORDS = [
    "steel", "kettle", "lamp", "chair", "table", "brush", "mug", "bottle", "cable", "charger", "pen",
    "notebook", "ball", "racket", "tent", "stove", "blanket", "pillow", "towel", "soap", "shampoo",
    "leash", "bowl", "plate", "knife", "spoon", "fork", "pan", "pot", "grinder", "speaker", "headset",
    "camera", "tripod", "phone", "case", "keyboard", "mouse", "monitor", "desk",
]
ADJECTIVES = ["classic", "compact", "deluxe", "eco", "large", "mini", "pro", "smart", "soft", "ultra"]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "GBP"]
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)

COPY_SQL = (
    "COPY event_store (stream_type, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at)"
    " FROM STDIN"
)


@dataclass
class ProductState:
    """What the generator knows of a product: the catalog row the projector should end up with."""

    id: uuid.UUID
    sku: str
    name: str
    description: str
    category: str
    price: str
    currency: str
    stock: int
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


def _price(rng: random.Random) -> str:
    return f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"


def registration(rng: random.Random, number: int, sku_prefix: str) -> dict:
    """A ProductRegistered payload (also the body of a register command, less initial_stock's name)."""
    noun = rng.choice(WORDS)
    name = f"{rng.choice(ADJECTIVES).capitalize()} {noun} {number}"
    return {
        "sku": f"{sku_prefix}-{number}",
        "name": name,
        "description": f"A {noun} for everyday use, model {number}. " + " ".join(rng.choices(WORDS, k=8)),
        "category": rng.choice(CATEGORIES),
        "price": _price(rng),
        "currency": rng.choice(CURRENCIES),
        "initial_stock": rng.randint(0, 500),
    }


def metadata(rng: random.Random) -> dict:
    request_id = f"{rng.getrandbits(128):032x}"
    return {"user_id": 2, "username": "bench", "request_id": request_id, "correlation_id": request_id,
            "causation_id": request_id}


class EventGenerator:
    """Generates the events of `products` products, `events` events in all, chunk by chunk."""

    def __init__(self, seed: int = 1, sku_prefix: str = "GEN", discontinue_share: float = 0.03,
                 old_events: int = 0) -> None:
        self.rng = random.Random(seed)
        self.old_events = old_events  # the first events of the log, stored at schema version 1
        self.sku_prefix = sku_prefix
        self.discontinue_share = discontinue_share
        self.position = 0  # for recorded_at: one millisecond apart
        self.product_number = 0

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def chunk_rows(self, products: int, events: int, final: Callable[[ProductState], None] | None = None) -> Iterator[tuple]:
        """The rows of one chunk (COPY order), `products` new streams and `events` events in all."""
        rng = self.rng
        assert events >= products
        counts = [0] * products
        for _ in range(events - products):
            counts[rng.randrange(products)] += 1
        slots = [index for index in range(products) for _ in range(1 + counts[index])]
        rng.shuffle(slots)
        states: list[ProductState | None] = [None] * products
        remaining = [1 + c for c in counts]
        ends_discontinued = [c > 0 and rng.random() < self.discontinue_share for c in counts]
        for index in slots:
            self.position += 1
            at = EPOCH + timedelta(milliseconds=self.position)
            state = states[index]
            remaining[index] -= 1
            if state is None:
                self.product_number += 1
                data = registration(rng, self.product_number, self.sku_prefix)
                state = states[index] = ProductState(
                    id=self._uuid(), sku=data["sku"], name=data["name"], description=data["description"],
                    category=data["category"], price=data["price"], currency=data["currency"],
                    stock=data["initial_stock"], status="active", version=1, created_at=at, updated_at=at,
                )
                kind = "ProductRegistered"
            else:
                state.version += 1
                state.updated_at = at
                kind, data = self._next_event(state, last=remaining[index] == 0 and ends_discontinued[index])
            schema_version, data = self._stored(kind, data)
            yield ("product", state.id, state.version, self._uuid(), kind, schema_version, json.dumps(data),
                   json.dumps(metadata(rng)), at)
            if remaining[index] == 0 and final is not None:
                final(state)

    def _stored(self, kind: str, data: dict) -> tuple[int, dict]:
        """The event as it is stored: at version 1 (the shapes below) if it is one of the old
        events, else in its current shape, which is what the domain's upcasters make of version 1."""
        if self.position <= self.old_events:
            return 1, data
        _, version, current = SCHEMAS.upcast(kind, 1, data)
        return version, current

    def _next_event(self, state: ProductState, last: bool) -> tuple[str, dict]:
        rng = self.rng
        if last:
            state.status = "discontinued"
            return "ProductDiscontinued", {"reason": "End of line"}
        roll = rng.random()
        if roll < 0.40:
            old_price, old_currency = state.price, state.currency
            new_price = _price(rng)
            while new_price == old_price:
                new_price = _price(rng)
            state.price = new_price
            return "ProductPriceChanged", {"old_price": old_price, "old_currency": old_currency,
                                           "price": new_price, "currency": state.currency}
        if roll < 0.65 or (roll < 0.85 and state.stock == 0):
            quantity = rng.randint(1, 100)
            state.stock += quantity
            return "StockReceived", {"quantity": quantity, "stock": state.stock}
        if roll < 0.85:
            quantity = rng.randint(1, state.stock)
            state.stock -= quantity
            return "StockShipped", {"quantity": quantity, "stock": state.stock}
        noun = rng.choice(WORDS)
        state.name = f"{rng.choice(ADJECTIVES).capitalize()} {noun} {state.sku.rsplit('-', 1)[-1]}"
        state.description = f"A {noun}, now improved. " + " ".join(rng.choices(WORDS, k=8))
        if rng.random() < 0.3:
            state.category = rng.choice(CATEGORIES)
        return "ProductDetailsUpdated", {"name": state.name, "description": state.description,
                                         "category": state.category}


def write_events(
    conn: psycopg.Connection,
    products: int,
    events: int,
    generator: EventGenerator | None = None,
    chunk_products: int = 20_000,
    final: Callable[[ProductState], None] | None = None,
) -> int:
    """COPY `events` events of `products` new products into event_store; returns the rows written."""
    generator = generator or EventGenerator()
    written = 0
    done_products = 0
    while done_products < products:
        chunk = min(chunk_products, products - done_products)
        # Spread the events over the chunks in proportion (the last chunk takes the remainder).
        chunk_events = events - written if done_products + chunk == products else round(events * chunk / products)
        with conn.transaction():  # the COPY is the transaction's first (and only) write
            with conn.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
                for row in generator.chunk_rows(chunk, chunk_events, final):
                    copy.write_row(row)
        written += chunk_events
        done_products += chunk
    return written
