"""Field rules of the catalog, shared by `decide` and the HTTP input serializers."""

from __future__ import annotations

import re
import unicodedata
from decimal import Context, Decimal

import iso4217

from .errors import InvalidCommand

SKU_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# The active codes are ISO 4217's current list ("list one") as its maintenance agency publishes it,
# shipped by the pinned `iso4217` package (`iso4217.__published__` dates it): withdrawn codes such
# as HRK or ANG are not on it. Funds, precious metals and units of account (CLF, XAU, XDR) are
# active codes and stay; XTS is reserved for testing and XXX means "no currency", so neither
# can price a product.
NOT_A_PRICE_CURRENCY = frozenset({"XTS", "XXX"})
ACTIVE_CURRENCIES = frozenset(currency.code for currency in iso4217.Currency) - NOT_A_PRICE_CURRENCY
MAX_NAME = 200
MAX_CATEGORY = 100
MAX_DESCRIPTION = 5000
MAX_REASON = 1000
PRICE_MAX_WHOLE_DIGITS = 10
PRICE_MAX_DECIMAL_PLACES = 2
MAX_QUANTITY = 1_000_000


def _has_control_characters(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in text)


def sku(value: str) -> str:
    if not SKU_PATTERN.fullmatch(value):
        raise InvalidCommand(
            "sku",
            "1 to 64 characters: letters, digits, '-', '_' or '.', starting with a letter or digit.",
        )
    return value


def sku_key(value: str) -> str:
    """SKUs are unique case-insensitively; this is the form they are compared in."""
    return value.lower()


def _single_line(field: str, value: str, maximum: int) -> str:
    value = value.strip()
    if not 1 <= len(value) <= maximum:
        raise InvalidCommand(field, f"Must be 1 to {maximum} characters after trimming.")
    if _has_control_characters(value):
        raise InvalidCommand(field, "Must not contain control characters.")
    return value


def name(value: str) -> str:
    return _single_line("name", value, MAX_NAME)


def category(value: str) -> str:
    return _single_line("category", value, MAX_CATEGORY)


def _free_text(field: str, value: str, maximum: int) -> str:
    value = value.strip()
    if len(value) > maximum:
        raise InvalidCommand(field, f"Must be at most {maximum} characters.")
    # Line breaks and tabs are fine in prose; NUL and other controls are not (jsonb refuses NUL).
    if _has_control_characters(value, allowed="\n\r\t"):
        raise InvalidCommand(field, "Must not contain control characters.")
    return value


def description(value: str) -> str:
    return _free_text("description", value, MAX_DESCRIPTION)


def reason(value: str) -> str:
    return _free_text("reason", value, MAX_REASON)


def price(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise InvalidCommand("price", "Must be a number greater than 0.")
    if value >= Decimal(10) ** PRICE_MAX_WHOLE_DIGITS:
        raise InvalidCommand("price", f"At most {PRICE_MAX_WHOLE_DIGITS} digits before the point.")
    # Compared exactly: normalize() would first round to the context's 28 digits.
    cents = value.quantize(Decimal("0.01"), context=Context(prec=40))
    if cents != value:
        raise InvalidCommand("price", f"At most {PRICE_MAX_DECIMAL_PLACES} decimal places.")
    return cents


def currency(value: str) -> str:
    if not isinstance(value, str) or value not in ACTIVE_CURRENCIES:
        raise InvalidCommand("currency", "An active ISO 4217 currency code in capitals, such as EUR.")
    return value


def quantity(value: int, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise InvalidCommand(field, f"A whole number from 1 to {MAX_QUANTITY:,}.")
    return value


def initial_stock(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise InvalidCommand("initial_stock", f"A whole number from 0 to {MAX_QUANTITY:,}.")
    return value
