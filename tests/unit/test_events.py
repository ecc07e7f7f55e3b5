"""Events survive the trip to the store's JSON and back exactly, under their stable type names."""

import json
from decimal import Decimal

import pytest

from products.domain.events import (
    EVENT_TYPES,
    ProductDetailsUpdated,
    ProductDiscontinued,
    ProductPriceChanged,
    StockReceived,
    StockShipped,
    Money,
    decode,
    from_data,
    to_data,
    type_name,
)

from .builders import registered

ONE_OF_EACH = [
    registered(description="Line one.\nLine two — café ☕"),
    ProductDetailsUpdated(name="Gizmo", description="", category="Tools"),
    ProductPriceChanged(old_price=Money(Decimal("10.00"), "EUR"), price=Money(Decimal("9999999999.99"), "USD")),
    StockReceived(quantity=1_000_000, stock=1_000_005),
    StockShipped(quantity=5, stock=0),
    ProductDiscontinued(reason="Replaced."),
]


def test_every_event_type_has_an_example_here():
    assert {type(event) for event in ONE_OF_EACH} == set(EVENT_TYPES.values()), (
        "add an example of the new event type to ONE_OF_EACH"
    )


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=type_name)
def test_an_event_round_trips_through_json(event):
    stored = json.loads(json.dumps(to_data(event)))

    assert from_data(type_name(event), stored) == event


@pytest.mark.parametrize("price", ["0.01", "12.50", "9999999999.99", "10.10"])
def test_prices_round_trip_exactly_as_strings(price):
    event = registered(price=Money(Decimal(price), "EUR"))

    data = to_data(event)
    restored = from_data("ProductRegistered", json.loads(json.dumps(data)))

    assert data["price"] == {"amount": price, "currency": "EUR"}, "amounts travel as strings: no float rounding"
    assert restored.price.amount.as_tuple() == Decimal(price).as_tuple(), "the scale (trailing zeros) must be kept too"


def test_both_prices_of_a_price_change_come_back_as_decimals():
    event = ProductPriceChanged(old_price=Money(Decimal("0.10"), "EUR"), price=Money(Decimal("0.20"), "EUR"))

    restored = from_data("ProductPriceChanged", to_data(event))

    assert (str(restored.old_price.amount), str(restored.price.amount)) == ("0.10", "0.20")


def test_version_1_prices_are_read_as_money():
    stored = {"old_price": "0.10", "old_currency": "EUR", "price": "0.20", "currency": "USD"}  # as version 1 wrote it

    assert decode("ProductPriceChanged", 1, stored) == ProductPriceChanged(
        old_price=Money(Decimal("0.10"), "EUR"), price=Money(Decimal("0.20"), "USD"))


def test_type_names_are_stable_words_not_module_paths():
    assert [type_name(event) for event in ONE_OF_EACH] == [
        "ProductRegistered",
        "ProductDetailsUpdated",
        "ProductPriceChanged",
        "StockReceived",
        "StockShipped",
        "ProductDiscontinued",
    ]
