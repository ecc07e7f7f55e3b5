"""What a client asks the catalog to do, in the domain's words."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID


@dataclass(frozen=True)
class Command:
    product_id: UUID


@dataclass(frozen=True)
class RegisterProduct(Command):
    sku: str
    name: str
    category: str
    price: Decimal
    currency: str
    description: str = ""
    initial_stock: int = 0


@dataclass(frozen=True)
class UpdateProductDetails(Command):
    """Change any of the descriptive fields; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class ChangePrice(Command):
    price: Decimal
    currency: str | None = None  # None keeps the current currency


@dataclass(frozen=True)
class ReceiveStock(Command):
    quantity: int


@dataclass(frozen=True)
class ShipStock(Command):
    quantity: int


@dataclass(frozen=True)
class DiscontinueProduct(Command):
    reason: str = ""
