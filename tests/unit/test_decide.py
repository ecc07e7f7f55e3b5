"""decide: given past events, when a command, then the events it records or the error it raises.

The field rules themselves are in test_rules.py; this file is about what each command does.
"""

from decimal import Decimal

import pytest

from products.domain.commands import (
    ChangePrice,
    DiscontinueProduct,
    ReceiveStock,
    ShipStock,
    UpdateProductDetails,
)
from products.domain.errors import (
    InsufficientStock,
    ProductExists,
    ProductIsDiscontinued,
    ProductNotFound,
)
from products.domain.events import (
    Money,
    ProductDetailsUpdated,
    ProductDiscontinued,
    ProductPriceChanged,
    StockReceived,
    StockShipped,
)
from products.domain.product import decide

from .builders import PRODUCT_ID, given, register, registered


# --- Registering ------------------------------------------------------------------------------


def test_registering_a_new_product_records_every_field():
    command = register(description="A small widget.", initial_stock=5)

    events = decide(command, given())

    assert events == [registered()]


def test_registration_without_description_or_stock_defaults_to_empty_and_zero():
    [event] = decide(register(), given())

    assert event.description == ""
    assert event.initial_stock == 0


def test_registration_stores_name_and_category_trimmed():
    [event] = decide(register(name="  Widget \t", category="\n Gadgets  "), given())

    assert (event.name, event.category) == ("Widget", "Gadgets")


def test_registration_stores_the_price_quantized_to_two_places():
    [event] = decide(register(price=Decimal("12.5")), given())

    assert event.price.amount == Decimal("12.50")
    assert str(event.price.amount) == "12.50", "the stored price must carry exactly two decimal places"


def test_registering_an_existing_product_is_refused():
    with pytest.raises(ProductExists):
        decide(register(), given(registered()))


def test_registering_over_a_discontinued_product_is_refused_as_existing():
    with pytest.raises(ProductExists):
        decide(register(), given(registered(), ProductDiscontinued(reason="")))


# --- Unknown and discontinued products -------------------------------------------------------

EVERY_COMMAND_ON_AN_EXISTING_PRODUCT = [
    pytest.param(UpdateProductDetails(PRODUCT_ID, name="Gizmo"), id="update-details"),
    pytest.param(ChangePrice(PRODUCT_ID, price=Decimal("12.00")), id="change-price"),
    pytest.param(ReceiveStock(PRODUCT_ID, quantity=1), id="receive-stock"),
    pytest.param(ShipStock(PRODUCT_ID, quantity=1), id="ship-stock"),
    pytest.param(DiscontinueProduct(PRODUCT_ID), id="discontinue"),
]


@pytest.mark.parametrize("command", EVERY_COMMAND_ON_AN_EXISTING_PRODUCT)
def test_a_command_on_an_unknown_product_is_refused_as_not_found(command):
    with pytest.raises(ProductNotFound):
        decide(command, given())


@pytest.mark.parametrize(
    "command",
    [
        *EVERY_COMMAND_ON_AN_EXISTING_PRODUCT,
        pytest.param(ChangePrice(PRODUCT_ID, price=Decimal("10.00")), id="same-price"),
        pytest.param(ChangePrice(PRODUCT_ID, price=Decimal("10.00"), currency="EUR"), id="same-price-and-currency"),
        pytest.param(UpdateProductDetails(PRODUCT_ID, name="Widget"), id="same-details"),
        pytest.param(UpdateProductDetails(PRODUCT_ID), id="no-details"),
        pytest.param(DiscontinueProduct(PRODUCT_ID, reason="again"), id="second-discontinue"),
    ],
)
def test_a_discontinued_product_refuses_every_command_even_one_that_changes_nothing(command):
    history = given(registered(), ProductDiscontinued(reason="end of line"))

    with pytest.raises(ProductIsDiscontinued) as caught:
        decide(command, history)

    assert caught.value.code == "product_discontinued"


# --- Updating details ------------------------------------------------------------------------


def test_updating_one_detail_records_all_three_as_they_are_after_the_change():
    events = decide(UpdateProductDetails(PRODUCT_ID, name="Gizmo"), given(registered()))

    assert events == [ProductDetailsUpdated(name="Gizmo", description="A small widget.", category="Gadgets")]


def test_updating_every_detail_records_the_new_values_trimmed():
    command = UpdateProductDetails(PRODUCT_ID, name=" Gizmo ", description=" New.\n", category=" Tools ")

    events = decide(command, given(registered()))

    assert events == [ProductDetailsUpdated(name="Gizmo", description="New.", category="Tools")]


def test_description_can_be_cleared():
    events = decide(UpdateProductDetails(PRODUCT_ID, description=""), given(registered()))

    assert events == [ProductDetailsUpdated(name="Widget", description="", category="Gadgets")]


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(UpdateProductDetails(PRODUCT_ID), id="nothing-given"),
        pytest.param(
            UpdateProductDetails(PRODUCT_ID, name="Widget", description="A small widget.", category="Gadgets"),
            id="all-equal",
        ),
        pytest.param(UpdateProductDetails(PRODUCT_ID, name="  Widget  "), id="name-equal-after-trim"),
        pytest.param(UpdateProductDetails(PRODUCT_ID, category="\tGadgets\n"), id="category-equal-after-trim"),
    ],
)
def test_updating_details_to_their_current_values_records_nothing(command):
    assert decide(command, given(registered())) == []


# --- Changing the price ----------------------------------------------------------------------


def test_changing_the_price_without_currency_keeps_the_currency_and_records_the_old_price():
    events = decide(ChangePrice(PRODUCT_ID, price=Decimal("12.99")), given(registered()))

    assert events == [
        ProductPriceChanged(old_price=Money(Decimal("10.00"), "EUR"), price=Money(Decimal("12.99"), "EUR"))
    ]


def test_changing_only_the_currency_is_a_change():
    events = decide(ChangePrice(PRODUCT_ID, price=Decimal("10.00"), currency="USD"), given(registered()))

    assert events == [
        ProductPriceChanged(old_price=Money(Decimal("10.00"), "EUR"), price=Money(Decimal("10.00"), "USD"))
    ]


def test_a_price_change_records_the_old_price_of_the_latest_change():
    history = given(
        registered(),
        ProductPriceChanged(old_price=Money(Decimal("10.00"), "EUR"), price=Money(Decimal("8.00"), "USD")),
    )

    [event] = decide(ChangePrice(PRODUCT_ID, price=Decimal("9")), history)

    assert event.old_price == Money(Decimal("8.00"), "USD")
    assert (str(event.price.amount), event.price.currency) == ("9.00", "USD")


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(ChangePrice(PRODUCT_ID, price=Decimal("10.00")), id="same-price"),
        pytest.param(ChangePrice(PRODUCT_ID, price=Decimal("10")), id="same-price-other-scale"),
        pytest.param(ChangePrice(PRODUCT_ID, price=Decimal("10.00"), currency="EUR"), id="same-price-and-currency"),
    ],
)
def test_changing_the_price_to_the_current_one_records_nothing(command):
    assert decide(command, given(registered())) == []


# --- Stock -----------------------------------------------------------------------------------


def test_receiving_stock_records_the_quantity_and_the_new_level():
    events = decide(ReceiveStock(PRODUCT_ID, quantity=3), given(registered(initial_stock=5)))

    assert events == [StockReceived(quantity=3, stock=8)]


def test_receiving_the_largest_quantity_is_allowed():
    events = decide(ReceiveStock(PRODUCT_ID, quantity=1_000_000), given(registered(initial_stock=0)))

    assert events == [StockReceived(quantity=1_000_000, stock=1_000_000)]


def test_shipping_records_the_quantity_and_the_new_level():
    events = decide(ShipStock(PRODUCT_ID, quantity=2), given(registered(initial_stock=5)))

    assert events == [StockShipped(quantity=2, stock=3)]


def test_shipping_exactly_the_stock_is_allowed_and_leaves_none():
    events = decide(ShipStock(PRODUCT_ID, quantity=5), given(registered(initial_stock=5)))

    assert events == [StockShipped(quantity=5, stock=0)]


def test_shipping_more_than_stock_is_refused():
    history = given(registered(initial_stock=5), StockReceived(quantity=2, stock=7))

    with pytest.raises(InsufficientStock) as caught:
        decide(ShipStock(PRODUCT_ID, quantity=8), history)

    assert (caught.value.available, caught.value.requested) == (7, 8)
    assert caught.value.code == "insufficient_stock"


def test_shipping_from_an_empty_stock_is_refused():
    history = given(registered(initial_stock=1), StockShipped(quantity=1, stock=0))

    with pytest.raises(InsufficientStock) as caught:
        decide(ShipStock(PRODUCT_ID, quantity=1), history)

    assert (caught.value.available, caught.value.requested) == (0, 1)


# --- Discontinuing ---------------------------------------------------------------------------


def test_discontinuing_records_the_reason():
    events = decide(DiscontinueProduct(PRODUCT_ID, reason=" Replaced by the Gizmo. "), given(registered()))

    assert events == [ProductDiscontinued(reason="Replaced by the Gizmo.")]


def test_discontinuing_without_a_reason_records_an_empty_one():
    assert decide(DiscontinueProduct(PRODUCT_ID), given(registered())) == [ProductDiscontinued(reason="")]


def test_deciding_an_unknown_command_type_is_a_programming_error():
    with pytest.raises(TypeError):
        decide(object(), given(registered()))  # type: ignore[arg-type]
