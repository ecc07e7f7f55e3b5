"""The field rules of docs/API.md ("Commands", "Validation"), as decide enforces them.

Each case goes through decide (not rules.* directly) so that a rule decide forgets to call fails
here, and each refusal must name the offending field.
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
from products.domain.product import decide

from .builders import PRODUCT_ID, given, refused, register, registered


def registration(**overrides):
    """The single ProductRegistered event that registering with `overrides` records."""
    [event] = decide(register(**overrides), given())
    return event


# --- sku -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sku",
    ["A", "7", "a" * 64, "Sku-1_2.3", "9-LIVES", "x.", "x-"],
    ids=["one-letter", "one-digit", "64-chars", "every-allowed-kind", "leading-digit", "trailing-dot", "trailing-dash"],
)
def test_a_valid_sku_is_stored_as_given(sku):
    assert registration(sku=sku).sku == sku


@pytest.mark.parametrize(
    "sku",
    ["", "a" * 65, "-abc", "_abc", ".abc", "AB C", " ABC", "ABC ", "ABC\n", "AB/C", "AB#C", "ÀBC", "AB\x00C"],
    ids=[
        "empty",
        "65-chars",
        "leading-dash",
        "leading-underscore",
        "leading-dot",
        "inner-space",
        "leading-space",
        "trailing-space",
        "trailing-newline",
        "slash",
        "hash",
        "non-ascii-letter",
        "nul",
    ],
)
def test_an_invalid_sku_is_refused(sku):
    with refused("sku"):
        decide(register(sku=sku), given())


# --- name and category (single-line text, trimmed) -------------------------------------------

SINGLE_LINE_FIELDS = [("name", 200), ("category", 100)]


@pytest.mark.parametrize("field, maximum", SINGLE_LINE_FIELDS)
def test_a_single_line_field_at_its_maximum_length_is_accepted(field, maximum):
    assert getattr(registration(**{field: "x" * maximum}), field) == "x" * maximum


@pytest.mark.parametrize("field, maximum", SINGLE_LINE_FIELDS)
def test_a_single_line_field_is_measured_after_trimming(field, maximum):
    assert getattr(registration(**{field: "  " + "x" * maximum + " \t"}), field) == "x" * maximum


@pytest.mark.parametrize("field, maximum", SINGLE_LINE_FIELDS)
def test_a_single_line_field_one_over_its_maximum_is_refused(field, maximum):
    with refused(field):
        decide(register(**{field: "x" * (maximum + 1)}), given())


BAD_SINGLE_LINE_TEXT = pytest.mark.parametrize(
    "text",
    ["", "   ", "\t\n", "Wid\x00get", "Wid\x07get", "Wid\nget", "Wid\rget", "Wid\tget", "Wid\x7fget", "Wid\x9bget",
     "Wid\ud800get", "\ud800", "Widget\x00"],
    ids=["empty", "blank", "whitespace-only", "nul", "bell", "newline", "carriage-return", "tab", "delete",
         "c1-control", "lone-surrogate-inside", "lone-surrogate", "trailing-nul"],
)


@BAD_SINGLE_LINE_TEXT
@pytest.mark.parametrize("field", ["name", "category"])
def test_registering_with_a_blank_or_control_character_single_line_field_is_refused(field, text):
    with refused(field):
        decide(register(**{field: text}), given())


@BAD_SINGLE_LINE_TEXT
@pytest.mark.parametrize("field", ["name", "category"])
def test_updating_to_a_blank_or_control_character_single_line_field_is_refused(field, text):
    with refused(field):
        decide(UpdateProductDetails(PRODUCT_ID, **{field: text}), given(registered()))


@pytest.mark.parametrize("field, maximum", SINGLE_LINE_FIELDS)
def test_updating_a_single_line_field_beyond_its_maximum_is_refused(field, maximum):
    with refused(field):
        decide(UpdateProductDetails(PRODUCT_ID, **{field: "x" * (maximum + 1)}), given(registered()))


def test_unicode_letters_are_welcome_in_names():
    assert registration(name="Café Crème ☕", category="Boissons chaudes").name == "Café Crème ☕"


# --- description (free text up to 5,000) -----------------------------------------------------


@pytest.mark.parametrize(
    "description",
    ["", "x" * 5000, "Line one.\nLine two.\r\n\tIndented."],
    ids=["empty", "5000-chars", "line-breaks-and-tabs"],
)
def test_a_valid_description_is_stored(description):
    assert registration(description=description).description == description


BAD_DESCRIPTIONS = pytest.mark.parametrize(
    "description",
    ["x" * 5001, "a\x00b", "a\x07b", "a\x1bb", "a\ud800b"],
    ids=["5001-chars", "nul", "bell", "escape", "lone-surrogate"],
)


@BAD_DESCRIPTIONS
def test_registering_with_an_invalid_description_is_refused(description):
    with refused("description"):
        decide(register(description=description), given())


@BAD_DESCRIPTIONS
def test_updating_to_an_invalid_description_is_refused(description):
    with refused("description"):
        decide(UpdateProductDetails(PRODUCT_ID, description=description), given(registered()))


# --- price -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "price, stored",
    [
        ("0.01", "0.01"),
        ("12.5", "12.50"),
        ("12.50", "12.50"),
        ("7", "7.00"),
        ("1E+2", "100.00"),
        ("9999999999.99", "9999999999.99"),
    ],
)
def test_a_valid_price_is_stored_with_exactly_two_decimal_places(price, stored):
    assert str(registration(price=Decimal(price)).price.amount) == stored


BAD_PRICES = pytest.mark.parametrize(
    "price",
    ["0", "0.00", "-0", "-1", "-0.01", "1.234", "0.001", "10000000000", "10000000000.00", "1E+10", "NaN", "sNaN",
     "Infinity", "-Infinity"],
)


@BAD_PRICES
def test_registering_with_an_invalid_price_is_refused(price):
    with refused("price"):
        decide(register(price=Decimal(price)), given())


@BAD_PRICES
def test_changing_to_an_invalid_price_is_refused(price):
    with refused("price"):
        decide(ChangePrice(PRODUCT_ID, price=Decimal(price)), given(registered()))


@pytest.mark.parametrize("price", ["12.3400000000000000000000000001", "1.0000000000000000000000000000001"])
def test_a_price_with_many_decimal_places_is_refused_not_rounded(price):
    with refused("price"):
        decide(register(price=Decimal(price)), given())


# --- currency --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "currency",
    ["EUR", "USD", "JPY", "CHF", "XCG", "ZWG", "SLE", "XAU", "XDR", "CLF"],
    ids=["EUR", "USD", "JPY", "CHF", "XCG-2025", "ZWG-2024", "SLE-2022", "gold", "SDR", "fund-code"],
)
def test_an_active_iso_4217_code_is_a_currency(currency):
    assert registration(currency=currency).price.currency == currency


BAD_CURRENCIES = pytest.mark.parametrize(
    "currency",
    [
        "eur", "Eur", "EU", "EURO", "", "E1R", " EUR", "EUR\n", "ÉUR",
        "XYZ", "ABC",  # three capitals, but no currency
        "HRK", "ANG", "ZWL", "DEM", "CUC",  # withdrawn from ISO 4217
        "XTS", "XXX",  # the testing code and "no currency"
    ],
)


@BAD_CURRENCIES
def test_registering_with_an_invalid_currency_is_refused(currency):
    with refused("currency"):
        decide(register(currency=currency), given())


@BAD_CURRENCIES
def test_changing_to_an_invalid_currency_is_refused(currency):
    with refused("currency"):
        decide(ChangePrice(PRODUCT_ID, price=Decimal("12.00"), currency=currency), given(registered()))


# --- quantities ------------------------------------------------------------------------------

BAD_QUANTITIES = pytest.mark.parametrize(
    "quantity", [0, -1, 1_000_001, True, False, 1.0, "1"], ids=repr
)


@BAD_QUANTITIES
def test_receiving_an_invalid_quantity_is_refused(quantity):
    with refused("quantity"):
        decide(ReceiveStock(PRODUCT_ID, quantity=quantity), given(registered()))


@BAD_QUANTITIES
def test_shipping_an_invalid_quantity_is_refused(quantity):
    with refused("quantity"):
        decide(ShipStock(PRODUCT_ID, quantity=quantity), given(registered(initial_stock=1_000_000)))


def test_shipping_the_largest_quantity_is_allowed():
    [event] = decide(ShipStock(PRODUCT_ID, quantity=1_000_000), given(registered(initial_stock=1_000_000)))

    assert (event.quantity, event.stock) == (1_000_000, 0)


@pytest.mark.parametrize("initial_stock", [0, 1, 1_000_000])
def test_initial_stock_from_zero_to_a_million_is_accepted(initial_stock):
    assert registration(initial_stock=initial_stock).initial_stock == initial_stock


@pytest.mark.parametrize("initial_stock", [-1, 1_000_001, True, 1.0], ids=repr)
def test_an_invalid_initial_stock_is_refused(initial_stock):
    with refused("initial_stock"):
        decide(register(initial_stock=initial_stock), given())


# --- discontinue reason ----------------------------------------------------------------------


def test_a_discontinue_reason_with_control_characters_is_refused():
    with refused("reason"):
        decide(DiscontinueProduct(PRODUCT_ID, reason="bad\x00reason"), given(registered()))
