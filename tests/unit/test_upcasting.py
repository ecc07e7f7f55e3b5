"""Upcasting, pure: stored data of older versions brought to the current shape, step by step."""

from decimal import Decimal

import pytest

from products.domain import events
from products.domain.upcasting import FutureSchemaVersion, MissingUpcaster, Schemas


def money_v1_to_v2(data):
    return {"price": {"amount": data.pop("price"), "currency": data.pop("currency")}, **data}


def tagged_v2_to_v3(data):
    return {**data, "tags": []}


SCHEMAS = Schemas(
    current={"PriceSet": 3},
    upcasters={("PriceSet", 1): money_v1_to_v2, ("PriceSet", 2): tagged_v2_to_v3},
    aliases={"PriceChangedOld": "PriceSet"},
)


def test_an_old_event_goes_through_every_step_to_the_current_shape():
    assert SCHEMAS.upcast("PriceSet", 1, {"price": "5.00", "currency": "EUR"}) == (
        "PriceSet", 3, {"price": {"amount": "5.00", "currency": "EUR"}, "tags": []}
    )
    assert SCHEMAS.upcast("PriceSet", 2, {"price": {"amount": "1", "currency": "USD"}})[2]["tags"] == []


def test_a_current_event_and_a_type_nobody_registered_pass_unchanged():
    data = {"price": {"amount": "1", "currency": "USD"}, "tags": ["x"]}
    assert SCHEMAS.upcast("PriceSet", 3, data) == ("PriceSet", 3, data)
    assert SCHEMAS.upcast("Happened", 7, {"a": 1}) == ("Happened", 7, {"a": 1})


def test_the_stored_data_is_never_changed_in_place():
    stored = {"price": "5.00", "currency": "EUR"}
    SCHEMAS.upcast("PriceSet", 1, stored)
    assert stored == {"price": "5.00", "currency": "EUR"}


def test_a_renamed_type_reads_under_its_new_name():
    assert SCHEMAS.upcast("PriceChangedOld", 1, {"price": "2.00", "currency": "EUR"})[0] == "PriceSet"


def test_a_version_newer_than_the_code_is_refused_naming_type_and_version():
    with pytest.raises(FutureSchemaVersion, match=r"PriceSet is stored at schema version 4, newer than this code knows \(3\)"):
        SCHEMAS.upcast("PriceSet", 4, {})


def test_a_gap_between_versions_is_an_error_and_is_listed():
    broken = Schemas(current={"PriceSet": 3}, upcasters={("PriceSet", 1): money_v1_to_v2})
    assert broken.gaps() == [("PriceSet", 2)]
    with pytest.raises(MissingUpcaster, match="PriceSet schema version 2 to 3"):
        broken.upcast("PriceSet", 1, {"price": "1", "currency": "EUR"})


def test_the_product_events_have_an_upcaster_for_every_version_before_their_current_one():
    assert events.SCHEMAS.gaps() == []
    assert set(events.SCHEMAS.aliases.values()) <= set(events.EVENT_TYPES)  # every alias names a current type


def test_decode_builds_the_domain_event_from_the_current_shape():
    decoded = events.decode("StockShipped", 1, {"quantity": 2, "stock": 5})
    assert decoded == events.StockShipped(quantity=2, stock=5)
    with pytest.raises(FutureSchemaVersion):
        events.decode("StockShipped", events.StockShipped.schema_version + 1, {"quantity": 2, "stock": 5})
    assert events.decode("ProductPriceChanged", 1, {"old_price": "1.00", "old_currency": "EUR", "price": "2.50",
                                                     "currency": "EUR"}).price.amount == Decimal("2.50")
