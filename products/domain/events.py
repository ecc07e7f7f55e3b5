"""What happened to a product: past-tense facts, each with a stable stored type name.

Stream id, version, position and time belong to the stored envelope, not to the event.
An event that has been stored is never changed. A new shape of an event raises its class's
`schema_version`, and an upcaster (products/domain/upcasters.py) brings the stored events of
the versions before it to the new shape when they are read (`decode`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from . import upcasters
from .upcasting import FutureSchemaVersion, Schemas

__all__ = ["Event", "EVENT_TYPES", "SCHEMAS", "FutureSchemaVersion", "decode", "from_data", "to_data", "type_name"]


@dataclass(frozen=True)
class Event:
    # The shape's version: raised, with an upcaster from the one before, whenever the fields change.
    schema_version: ClassVar[int] = 1


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


def decode(name: str, schema_version: int, data: dict[str, Any]) -> Event:
    """A stored event as the domain event the code knows: upcast to the current shape, then built."""
    current_name, _, current_data = SCHEMAS.upcast(name, schema_version, data)
    return from_data(current_name, current_data)


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


SCHEMAS = Schemas(
    current={name: cls.schema_version for name, cls in EVENT_TYPES.items()},
    upcasters=upcasters.UPCASTERS,
    aliases=upcasters.ALIASES,
)
