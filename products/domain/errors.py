"""Refusals. Each carries a stable `code` that the HTTP layer passes to clients."""

from __future__ import annotations


class ProductError(Exception):
    code = "product_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidCommand(ProductError):
    """A field breaks a validation rule; `field` names it."""

    code = "invalid"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class ProductNotFound(ProductError):
    code = "product_not_found"


class ProductExists(ProductError):
    code = "product_exists"


class DuplicateSku(ProductError):
    code = "duplicate_sku"


class InsufficientStock(ProductError):
    code = "insufficient_stock"

    def __init__(self, available: int, requested: int) -> None:
        super().__init__(f"Cannot ship {requested}: only {available} in stock.")
        self.available = available
        self.requested = requested


class ProductIsDiscontinued(ProductError):
    code = "product_discontinued"


class VersionConflict(ProductError):
    """The stream is not at the version the client expected."""

    code = "version_conflict"

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"Expected version {expected}, but the product is at version {current}.")
        self.expected = expected
        self.current = current
