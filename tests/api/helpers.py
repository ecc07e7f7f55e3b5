"""Shared helpers for the HTTP contract tests: request bodies, error-shape checks, "stores nothing"."""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

PRODUCTS = "/api/products/"
JSON = "application/json"

# The five commands on an existing product, each with a body it accepts.
PRODUCT_COMMANDS = {
    "update-details": {"name": "Renamed widget"},
    "change-price": {"price": "99.99"},
    "receive-stock": {"quantity": 1},
    "ship-stock": {"quantity": 1},
    "discontinue": {"reason": "End of line"},
}


def fresh_sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:16]}"


def register_body(**overrides) -> dict:
    """A body that registers a new product (fresh SKU), with fields replaced or added."""
    body = {
        "sku": fresh_sku(),
        "name": "Widget",
        "description": "A useful widget.",
        "category": "Tools",
        "price": "12.50",
        "currency": "EUR",
        "initial_stock": 10,
    }
    body.update(overrides)
    return body


def command_path(product_id, command: str) -> str:
    return f"{PRODUCTS}{product_id}/{command}/"


def post_raw(client, path: str, body: bytes | str, content_type: str | None = JSON, **extra):
    """POST exactly these bytes with this Content-Type (the test client sends it even for b"")."""
    if isinstance(body, str):
        body = body.encode()
    return client.generic("POST", path, body, content_type=content_type, **extra)


def post_json(client, path: str, data, **extra):
    """POST `data` serialized by json.dumps (ASCII escapes: "\\u0000", "\\ud800" stay escapes)."""
    return post_raw(client, path, json.dumps(data), **extra)


def event_counts() -> tuple[int, int]:
    from products.models import SkuClaim, StoredEvent

    return StoredEvent.objects.count(), SkuClaim.objects.count()


@contextmanager
def stores_nothing():
    """Asserts that the block stores no event (and claims no SKU)."""
    before = event_counts()
    yield
    after = event_counts()
    assert after == before, f"(events, sku claims) went from {before} to {after}: an error stored something"


@contextmanager
def stores_events(count: int):
    """Asserts that the block stores exactly `count` events."""
    from products.models import StoredEvent

    before = StoredEvent.objects.count()
    yield
    after = StoredEvent.objects.count()
    assert after - before == count, f"expected {count} new event(s), got {after - before}"


def _describe(response) -> str:
    return f"{response.status_code} {response.get('Content-Type')!r}: {response.content[:500]!r}"


def assert_json(response, status: int) -> object:
    """The status, a JSON content type (no HTML error page, no traceback), and the parsed body."""
    assert response.status_code == status, _describe(response)
    content_type = response.get("Content-Type", "")
    assert content_type.startswith("application/json"), _describe(response)
    assert b"Traceback" not in response.content, _describe(response)
    return json.loads(response.content)


def assert_error(response, status: int, code: str | None = None) -> dict:
    """An error answer shaped {"detail": "...", "code": "..."} (with `code` if given)."""
    body = assert_json(response, status)
    assert isinstance(body, dict), _describe(response)
    assert isinstance(body.get("detail"), str) and body["detail"], _describe(response)
    assert isinstance(body.get("code"), str) and body["code"], _describe(response)
    if code is not None:
        assert body["code"] == code, _describe(response)
    return body


def assert_field_errors(response, *fields: str) -> dict:
    """A 400 in DRF's {"field": ["message", ...]} shape naming (at least) these fields."""
    body = assert_json(response, 400)
    assert isinstance(body, dict) and body, _describe(response)
    for field in fields:
        assert field in body, f"{field!r} not named: {_describe(response)}"
        messages = body[field]
        assert isinstance(messages, list) and messages, _describe(response)
        assert all(isinstance(m, str) and m for m in messages), _describe(response)
    return body


def assert_parse_error(response) -> dict:
    """A 400 for a body that is not (strict) JSON."""
    return assert_error(response, 400, "parse_error")
