"""The Query API's row serializers give exactly the JSON DRF's ModelSerializer gives.

projections/api/serializers.py makes each row with one converter per field instead of DRF's walk
over its fields; these tests hold the two side by side, field by field, for every read model
the Query API serves, in UTC and in another time zone.
"""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers

from projections.api.serializers import CategorySerializer, PriceSerializer, ProductSerializer, RowSerializer
from projections.models import CatalogProduct, CategorySummary, PriceHistoryEntry

UTC = datetime.timezone.utc


def _drf_twin(row_serializer: type[RowSerializer]) -> type[serializers.ModelSerializer]:
    """A plain ModelSerializer with the same Meta."""
    return type(f"Plain{row_serializer.__name__}", (serializers.ModelSerializer,), {"Meta": row_serializer.Meta})


def _products() -> list[CatalogProduct]:
    moments = [
        datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime.datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
        datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
    ]
    return [
        CatalogProduct(
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"product-{n}"), sku=f"SKU-{n}", name=name, description=description, category="Kitchen",
            price=price, currency="EUR", stock=stock, status=status, version=n + 1,
            created_at=moments[n % 3], updated_at=moments[(n + 1) % 3],
        )
        for n, (name, description, price, stock, status) in enumerate([
            ("Kettle", "", Decimal("12.5"), 0, "active"),
            ("Tea \u00e9 \U0001f375", "Multi\nline \"quoted\"", Decimal("0.01"), 2**40, "discontinued"),
            ("Pot", "A pot.", Decimal("9999999999.99"), -3, "active"),
        ])
    ]


def _prices() -> list[PriceHistoryEntry]:
    return [
        PriceHistoryEntry(product_id=product.id, version=product.version, price=product.price, currency="EUR",
                          changed_at=product.updated_at)
        for product in _products()
    ]


def _categories() -> list[CategorySummary]:
    return [CategorySummary(name="Kitchen", active_products=3, discontinued_products=0, total_stock=12),
            CategorySummary(name="\u00c9picerie", active_products=0, discontinued_products=7, total_stock=0)]


CASES = [(ProductSerializer, _products), (PriceSerializer, _prices), (CategorySerializer, _categories)]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
@pytest.mark.parametrize("row_serializer, rows", CASES, ids=[s.__name__ for s, _ in CASES])
def test_each_row_is_what_drfs_model_serializer_gives(row_serializer, rows, zone):
    plain = _drf_twin(row_serializer)
    with timezone.override(zone):
        ours = row_serializer(rows(), many=True).data
        drf = plain(rows(), many=True).data
        one = row_serializer(rows()[0]).data
        one_drf = plain(rows()[0]).data
    assert [dict(row) for row in ours] == [dict(row) for row in drf]
    assert dict(one) == dict(one_drf)
    assert [list(row) for row in ours] == [list(row) for row in drf]  # the keys in the same order


def test_the_time_zone_comparison_can_fail():
    """The control: the two zones give different text, so the comparison above would see a
    shortcut that ignored the zone."""
    product = _products()[0]
    with timezone.override("UTC"):
        in_utc = ProductSerializer(product).data["created_at"]
    with timezone.override("Europe/Paris"):
        in_paris = ProductSerializer(product).data["created_at"]
    assert in_utc == "2026-01-02T03:04:05Z"
    assert in_paris == "2026-01-02T04:04:05+01:00"


def test_a_field_that_is_not_a_plain_attribute_takes_drfs_way():
    class WithMethod(RowSerializer):
        label = serializers.SerializerMethodField()

        class Meta:
            model = CategorySummary
            fields = ["name", "label"]

        def get_label(self, category) -> str:
            return category.name.upper()

    assert dict(WithMethod(_categories()[1]).data) == {"name": "\u00c9picerie", "label": "\u00c9PICERIE"}
