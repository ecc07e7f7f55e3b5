"""What happened to a product: past-tense facts, each with a stable stored type name.

Stream id, version, position and time belong to the stored envelope, not to the event.
An event that has been stored is never changed: a new shape gets a new type name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class ProductRegistered(Event):
    sku: str
    name: str
    description: str
    category: str
    price: Decimal
    currency: str
    initial_stock: int


@dataclass(frozen=True)
class ProductDetailsUpdated(Event):
    """Carries all three descriptive fields as they are after the change."""

    name: str
    description: str
    category: str


@dataclass(frozen=True)
class ProductPriceChanged(Event):
    old_price: Decimal
    old_currency: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class StockReceived(Event):
    quantity: int
    stock: int  # the level after receiving, so readers need no arithmetic


@dataclass(frozen=True)
class StockShipped(Event):
    quantity: int
    stock: int  # the level after shipping


@dataclass(frozen=True)
class ProductDiscontinued(Event):
    reason: str


EVENT_TYPES: dict[str, type[Event]] = {
    "ProductRegistered": ProductRegistered,
    "ProductDetailsUpdated": ProductDetailsUpdated,
    "ProductPriceChanged": ProductPriceChanged,
    "StockReceived": StockReceived,
    "StockShipped": StockShipped,
    "ProductDiscontinued": ProductDiscontinued,
}
TYPE_NAMES: dict[type[Event], str] = {cls: name for name, cls in EVENT_TYPES.items()}

_DECIMAL_FIELDS = {"price", "old_price"}


def type_name(event: Event) -> str:
    return TYPE_NAMES[type(event)]


def to_data(event: Event) -> dict[str, Any]:
    """The event's JSON payload; decimals travel as strings so no precision is lost."""
    return {
        field.name: str(value) if isinstance(value, Decimal) else value
        for field in dataclasses.fields(event)
        for value in [getattr(event, field.name)]
    }


def from_data(name: str, data: dict[str, Any]) -> Event:
    cls = EVENT_TYPES[name]
    kwargs = {
        field: Decimal(data[field]) if is_decimal else data[field]
        for field, is_decimal in _FIELDS[cls]
    }
    return cls(**kwargs)


# Each type's field names, and which are decimals: worked out once, as projections decode every event.
_FIELDS = {
    cls: [(field.name, field.name in _DECIMAL_FIELDS) for field in dataclasses.fields(cls)] for cls in EVENT_TYPES.values()
}
