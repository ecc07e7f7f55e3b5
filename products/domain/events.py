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
from .upcasting import FutureSchemaVersion, Schemas, UnknownEventType

__all__ = [
    "Event", "EVENT_TYPES", "Money", "SCHEMAS", "FutureSchemaVersion", "UnknownEventType", "decode", "from_data",
    "to_data", "type_name",
]


@dataclass(frozen=True)
class Event:
    # The shape's version: raised, with an upcaster from the one before, whenever the fields change.
    schema_version: ClassVar[int] = 1


@dataclass(frozen=True)
class Money:
    """An amount in a currency: one value, so the two can never be read apart. Stored as
    {"amount": "12.50", "currency": "EUR"}, the amount a string so no precision is lost."""

    amount: Decimal
    currency: str


@dataclass(frozen=True)
class ProductRegistered(Event):
    schema_version: ClassVar[int] = 2  # 2: the price as Money (1 had price and currency apart)

    sku: str
    name: str
    description: str
    category: str
    price: Money
    initial_stock: int


@dataclass(frozen=True)
class ProductDetailsUpdated(Event):
    """Carries all three descriptive fields as they are after the change."""

    name: str
    description: str
    category: str


@dataclass(frozen=True)
class ProductPriceChanged(Event):
    schema_version: ClassVar[int] = 2  # 2: both prices as Money (1 had four fields)

    old_price: Money
    price: Money


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



def type_name(event: Event) -> str:
    return TYPE_NAMES[type(event)]


def to_data(event: Event) -> dict[str, Any]:
    """The event's JSON payload; amounts travel as strings so no precision is lost."""
    return {field.name: _to_json(getattr(event, field.name)) for field in dataclasses.fields(event)}


def _to_json(value: Any) -> Any:
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency}
    return str(value) if isinstance(value, Decimal) else value


def decode(name: str, schema_version: int, data: dict[str, Any]) -> Event:
    """A stored event as the domain event the code knows: upcast to the current shape, then built."""
    current_name, _, current_data = SCHEMAS.upcast(name, schema_version, data)
    if current_name not in EVENT_TYPES:
        raise UnknownEventType(name)
    return from_data(current_name, current_data)


def from_data(name: str, data: dict[str, Any]) -> Event:
    """The event of type `name` from its payload in the current shape (see decode for stored ones)."""
    cls = EVENT_TYPES[name]
    return cls(**{field: read(data[field]) for field, read in _FIELDS[cls]})


def _money(value: dict[str, Any]) -> Money:
    return Money(Decimal(value["amount"]), value["currency"])


def _as_is(value: Any) -> Any:
    return value


# Each type's fields and how each is read from JSON: worked out once, as projections decode every event.
_READERS = {"Money": _money, "Decimal": Decimal}
_FIELDS = {
    cls: [(field.name, _READERS.get(str(field.type), _as_is)) for field in dataclasses.fields(cls)]
    for cls in EVENT_TYPES.values()
}

SCHEMAS = Schemas(
    current={name: cls.schema_version for name, cls in EVENT_TYPES.items()},
    upcasters=upcasters.UPCASTERS,
    aliases=upcasters.ALIASES,
)
