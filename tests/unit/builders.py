"""Builders for the unit tests: past events and commands with sensible defaults.

Unit tests need no database: given events, when a command, then events or an error.
"""

from contextlib import contextmanager
from decimal import Decimal
from uuid import UUID

import pytest

from products.domain.commands import RegisterProduct
from products.domain.errors import InvalidCommand
from products.domain.events import Money, ProductRegistered
from products.domain.product import fold

PRODUCT_ID = UUID("00000000-0000-4000-8000-000000000001")


def registered(**overrides) -> ProductRegistered:
    """A ProductRegistered event as decide would have recorded it."""
    fields = dict(
        sku="WIDGET-1",
        name="Widget",
        description="A small widget.",
        category="Gadgets",
        price=Money(Decimal("10.00"), "EUR"),
        initial_stock=5,
    )
    return ProductRegistered(**{**fields, **overrides})


def register(**overrides) -> RegisterProduct:
    """A RegisterProduct command for PRODUCT_ID, with fields replaced."""
    fields = dict(
        product_id=PRODUCT_ID,
        sku="WIDGET-1",
        name="Widget",
        category="Gadgets",
        price=Decimal("10.00"),
        currency="EUR",
    )
    return RegisterProduct(**{**fields, **overrides})


def given(*events):
    """The product's state after its history."""
    return fold(events)


@contextmanager
def refused(field: str):
    """Expect decide to refuse with InvalidCommand naming `field`."""
    with pytest.raises(InvalidCommand) as caught:
        yield caught
    assert caught.value.field == field, (
        f"InvalidCommand names {caught.value.field!r}, expected {field!r}: {caught.value.detail}"
    )
