"""The product aggregate: a frozen state, `decide` (which may refuse) and `evolve` (which never does)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from functools import reduce
from typing import Iterable
from uuid import UUID

from . import rules
from .commands import (
    ChangePrice,
    Command,
    DiscontinueProduct,
    ReceiveStock,
    RegisterProduct,
    ShipStock,
    UpdateProductDetails,
)
from .errors import InsufficientStock, ProductExists, ProductIsDiscontinued, ProductNotFound
from .events import (
    Event,
    Money,
    ProductDetailsUpdated,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRegistered,
    StockReceived,
    StockShipped,
)


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    description: str
    category: str
    price: Decimal
    currency: str
    stock: int
    discontinued: bool = False


def decide(command: Command, state: Product | None) -> list[Event]:
    """The events that carrying out `command` on `state` produces; [] when nothing would change."""
    match command:
        case RegisterProduct():
            if state is not None:
                raise ProductExists(f"Product {command.product_id} is already registered.")
            return [
                ProductRegistered(
                    sku=rules.sku(command.sku),
                    name=rules.name(command.name),
                    description=rules.description(command.description),
                    category=rules.category(command.category),
                    price=Money(rules.price(command.price), rules.currency(command.currency)),
                    initial_stock=rules.initial_stock(command.initial_stock),
                )
            ]
        case UpdateProductDetails():
            product = _require_active(state, command.product_id)
            details = ProductDetailsUpdated(
                name=product.name if command.name is None else rules.name(command.name),
                description=(
                    product.description
                    if command.description is None
                    else rules.description(command.description)
                ),
                category=product.category if command.category is None else rules.category(command.category),
            )
            unchanged = (details.name, details.description, details.category) == (
                product.name,
                product.description,
                product.category,
            )
            return [] if unchanged else [details]
        case ChangePrice():
            product = _require_active(state, command.product_id)
            price = rules.price(command.price)
            currency = product.currency if command.currency is None else rules.currency(command.currency)
            if (price, currency) == (product.price, product.currency):
                return []
            return [ProductPriceChanged(old_price=Money(product.price, product.currency), price=Money(price, currency))]
        case ReceiveStock():
            product = _require_active(state, command.product_id)
            quantity = rules.quantity(command.quantity)
            return [StockReceived(quantity=quantity, stock=product.stock + quantity)]
        case ShipStock():
            product = _require_active(state, command.product_id)
            quantity = rules.quantity(command.quantity)
            if quantity > product.stock:
                raise InsufficientStock(available=product.stock, requested=quantity)
            return [StockShipped(quantity=quantity, stock=product.stock - quantity)]
        case DiscontinueProduct():
            _require_active(state, command.product_id)
            return [ProductDiscontinued(reason=rules.reason(command.reason))]
    raise TypeError(f"No decision for {type(command).__name__}")


def evolve(state: Product | None, event: Event) -> Product | None:
    """The state after `event`. History has already happened, so this never refuses."""
    match event:
        case ProductRegistered():
            return Product(
                sku=event.sku,
                name=event.name,
                description=event.description,
                category=event.category,
                price=event.price.amount,
                currency=event.price.currency,
                stock=event.initial_stock,
            )
        case ProductDetailsUpdated():
            assert state is not None, "details updated before registration"
            return replace(state, name=event.name, description=event.description, category=event.category)
        case ProductPriceChanged():
            assert state is not None, "price changed before registration"
            return replace(state, price=event.price.amount, currency=event.price.currency)
        case StockReceived() | StockShipped():
            assert state is not None, "stock moved before registration"
            return replace(state, stock=event.stock)
        case ProductDiscontinued():
            assert state is not None, "discontinued before registration"
            return replace(state, discontinued=True)
    return state


def fold(events: Iterable[Event], state: Product | None = None) -> Product | None:
    """The state after `events`, starting from `state` (nothing by default)."""
    return reduce(evolve, events, state)


def _require_active(state: Product | None, product_id: UUID) -> Product:
    if state is None:
        raise ProductNotFound(f"No product with id {product_id}.")
    if state.discontinued:
        raise ProductIsDiscontinued(f"Product {product_id} is discontinued and accepts no further commands.")
    return state
