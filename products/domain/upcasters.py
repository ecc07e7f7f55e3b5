"""The upcasters and renamed types of the product events (see products/domain/upcasting.py).

To change an event: raise its class's `schema_version`, change its fields, and add here the
function that turns the data of the version before into the new shape, keyed by (type, the
version it upgrades from), and the old shape itself, which the event catalog (AsyncAPI)
describes. To rename a type: give the class its new name in EVENT_TYPES and add the old name
to ALIASES. docs/EVENTS.md walks through an example.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .upcasting import Upcaster


# The shapes of older versions, as the classes in events.py had them before each change. Nothing
# is built from them: they describe, in the event catalog, the events still stored at them.
@dataclass(frozen=True)
class ProductRegisteredV1:
    sku: str
    name: str
    description: str
    category: str
    price: Decimal
    currency: str
    initial_stock: int


@dataclass(frozen=True)
class ProductPriceChangedV1:
    old_price: Decimal
    old_currency: str
    price: Decimal
    currency: str



def _money(amount: str, currency: str) -> dict:
    return {"amount": amount, "currency": currency}


def registered_price_as_money(data: dict) -> dict:
    """ProductRegistered 1 -> 2: `price` and `currency` became one `price` value."""
    price, currency = data.pop("price"), data.pop("currency")
    return {**data, "price": _money(price, currency)}


def price_change_as_money(data: dict) -> dict:
    """ProductPriceChanged 1 -> 2: `old_price`, `old_currency`, `price`, `currency` became two values."""
    return {
        "old_price": _money(data["old_price"], data["old_currency"]),
        "price": _money(data["price"], data["currency"]),
    }


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("ProductRegistered", 1): registered_price_as_money,
    ("ProductPriceChanged", 1): price_change_as_money,
}

PAST_SHAPES: dict[tuple[str, int], type] = {
    ("ProductRegistered", 1): ProductRegisteredV1,
    ("ProductPriceChanged", 1): ProductPriceChangedV1,
}

ALIASES: dict[str, str] = {}
