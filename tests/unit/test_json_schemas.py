"""The JSON Schemas of the event data, pure: true to what the code writes and to what is stored.

Events stored at version 1 (tests/fixtures/events_v1.json, written by the code of that time)
fit the schema of version 1, and their upcast data fits the current one; so does what the code
writes now. A schema that did not match the shapes kept beside the upcasters would fail here.
"""

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from products.domain import events, json_schemas
from products.domain.events import Money

from .builders import registered

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "events_v1.json").read_text())


def validator(shape: type) -> jsonschema.Draft7Validator:
    schema = {**json_schemas.data_schema(shape, "#/definitions/"), "definitions": json_schemas.SHARED}
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def test_every_type_has_a_shape_for_each_version_up_to_its_class():
    for name, by_version in json_schemas.versions().items():
        current = events.EVENT_TYPES[name]
        assert list(by_version) == list(range(1, current.schema_version + 1)), name
        assert by_version[current.schema_version] is current


def test_stored_events_fit_their_version_and_their_upcast_data_fits_the_current_one():
    shapes = json_schemas.versions()
    seen = set()
    for stored in FIXTURE["events"]:
        name, version, data = stored["type"], stored["schema_version"], stored["data"]
        validator(shapes[name][version]).validate(data)
        current_name, current_version, current_data = events.SCHEMAS.upcast(name, version, data)
        validator(shapes[current_name][current_version]).validate(current_data)
        seen.add(name)
    assert seen == set(events.EVENT_TYPES)  # the fixture holds every type


def test_what_the_code_writes_now_fits_the_current_schemas():
    written = [
        registered(),
        events.ProductDetailsUpdated(name="Widget", description="", category="Gadgets"),
        events.ProductPriceChanged(old_price=Money(Decimal("10.00"), "EUR"), price=Money(Decimal("12.50"), "EUR")),
        events.StockReceived(quantity=3, stock=8),
        events.StockShipped(quantity=8, stock=0),
        events.ProductDiscontinued(reason="end of line"),
    ]
    assert {events.type_name(event) for event in written} == set(events.EVENT_TYPES)
    for event in written:
        validator(type(event)).validate(events.to_data(event))


def test_data_of_the_wrong_shape_is_refused():
    """The control: the schemas are strict enough to tell versions apart."""
    v1_registered = next(e["data"] for e in FIXTURE["events"] if e["type"] == "ProductRegistered")
    with pytest.raises(jsonschema.ValidationError):
        validator(events.ProductRegistered).validate(v1_registered)
    with pytest.raises(jsonschema.ValidationError):
        validator(events.ProductRegistered).validate(
            {**events.to_data(registered()), "price": {"amount": "1,50", "currency": "EUR"}}
        )


def test_a_field_the_catalog_cannot_describe_is_an_error_not_a_guess():
    @dataclass(frozen=True)
    class Tagged:
        tags: frozenset

    with pytest.raises(TypeError, match="Tagged.tags"):
        json_schemas.data_schema(Tagged, "#/definitions/")


def test_a_docstring_of_its_own_is_the_description():
    assert json_schemas.description(events.ProductDetailsUpdated).startswith("Carries all three")
    assert json_schemas.description(events.StockReceived) is None
