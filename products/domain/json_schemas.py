"""The JSON Schema of each event type's data at each of its schema versions.

The current version's comes from the event class, the older ones' from the shapes kept beside
their upcasters (upcasters.PAST_SHAPES), so the schemas cannot drift from the code. The event
catalog (projections/asyncapi.py) publishes them for other programs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import upcasters
from .events import EVENT_TYPES

Schema = dict[str, Any]

DECIMAL: Schema = {
    "type": "string",
    "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    "description": "A decimal number, written as a string so that no precision is lost.",
    "examples": ["12.50"],
}
MONEY: Schema = {
    "type": "object",
    "description": "An amount in a currency, one value so the two are never read apart.",
    "required": ["amount", "currency"],
    "additionalProperties": False,
    "properties": {
        "amount": DECIMAL,
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "An ISO 4217 code.", "examples": ["EUR"]},
    },
}

# The named schemas that the schemas of the event data refer to.
SHARED: dict[str, Schema] = {"Money": MONEY}

_SIMPLE: dict[str, Schema] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "Decimal": DECIMAL,
}


def versions() -> dict[str, dict[int, type]]:
    """Every event type, and the shape of each of its versions (the last one the class itself)."""
    shapes: dict[str, dict[int, type]] = {name: {cls.schema_version: cls} for name, cls in EVENT_TYPES.items()}
    for (name, version), shape in upcasters.PAST_SHAPES.items():
        shapes[name][version] = shape
    return {name: dict(sorted(by_version.items())) for name, by_version in shapes.items()}


def data_schema(shape: type, ref_prefix: str) -> Schema:
    """The JSON Schema of a shape's data; named schemas (SHARED) are referred to under ref_prefix."""
    fields = dataclasses.fields(shape)
    return {
        "type": "object",
        "required": [field.name for field in fields],
        "additionalProperties": False,
        "properties": {field.name: _field_schema(shape, field, ref_prefix) for field in fields},
    }


def _field_schema(shape: type, field: dataclasses.Field, ref_prefix: str) -> Schema:
    # A string under `from __future__ import annotations`, the class itself without it.
    type_name = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    if type_name in SHARED:
        return {"$ref": f"{ref_prefix}{type_name}"}
    if type_name in _SIMPLE:
        return _SIMPLE[type_name]
    # A field of a new kind must say how it is written as JSON before the catalog can describe it.
    raise TypeError(f"{shape.__name__}.{field.name}: no JSON Schema for a field of type {type_name}.")


def description(shape: type) -> str | None:
    """The shape's own docstring, not the signature dataclasses write when there is none."""
    doc = shape.__doc__ or ""
    return None if not doc or doc.startswith(f"{shape.__name__}(") else " ".join(doc.split())
