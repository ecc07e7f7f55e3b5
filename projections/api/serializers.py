"""Output shapes of the Query API; the read models are shaped for them, so these stay thin."""

import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from products.domain.events import SCHEMAS, FutureSchemaVersion
from products.eventstore import Checkpoint
from products.models import StoredEvent

from ..models import CatalogProduct, CategorySummary, PriceHistoryEntry


class RowSerializer(serializers.ModelSerializer):
    """A read-only ModelSerializer of a read model's rows: the same JSON, made more cheaply.

    DRF's representation walks, for every field of every row, the field's source lookup, its
    attribute getter and its `to_representation`; on a page of 50 products that was two thirds
    of the request's CPU, more than the plain CRUD list it is measured against. Here each field
    has one converter, worked out once per class from the field DRF would use: the value's own
    `str` or `int` where DRF's gives the same (text, integers, UUIDs), DRF's own for decimals,
    and for datetimes DRF's ISO 8601 in the current time zone, looked up once per page rather
    than once per value. Tests compare the two representations row by row.
    """

    _converters: list[tuple[str, str, str, serializers.Field]] | None = None

    def _plan(self) -> list[tuple[str, str, str, serializers.Field]] | None:
        """(key, attribute, kind, DRF field) per readable field, once per class (building a
        serializer's fields costs more than a page of rows); None when a field is not a plain
        attribute of the row, and DRF's own way is then taken."""
        cls = type(self)
        if "_converters" not in cls.__dict__:
            readable = [(name, field) for name, field in self.fields.items() if not field.write_only]
            plain = all(field.source_attrs == [field.source] for _, field in readable)
            cls._converters = [(name, field.source, _kind(field), field) for name, field in readable] if plain else None
        return cls._converters

    def to_representation(self, instance):
        plan = self._plan()
        if plan is None:
            return super().to_representation(instance)
        if not hasattr(self, "_zone"):  # one serializer per request; the zone holds for its page
            self._zone = timezone.get_current_timezone() if settings.USE_TZ else None
        row = {}
        for key, attribute, kind, field in plan:
            value = getattr(instance, attribute)
            if value is None:
                row[key] = None
            elif kind == "str":
                row[key] = str(value)
            elif kind == "int":
                row[key] = int(value)
            elif kind == "datetime":
                row[key] = _iso_datetime(value, self._zone)
            else:
                row[key] = field.to_representation(value)
        return row


def _kind(field: serializers.Field) -> str:
    """How RowSerializer converts a field's value: a shortcut only where it gives what DRF's would."""
    if type(field) is serializers.CharField:
        return "str"
    if type(field) is serializers.UUIDField and field.uuid_format == "hex_verbose":
        return "str"
    if type(field) is serializers.IntegerField:
        return "int"
    iso = isinstance(api_settings.DATETIME_FORMAT, str) and api_settings.DATETIME_FORMAT.lower() == ISO_8601
    if type(field) is serializers.DateTimeField and iso and not hasattr(field, "format") \
            and not hasattr(field, "timezone"):
        return "datetime"
    return "drf"


def _iso_datetime(value: datetime.datetime, zone) -> str:
    """DRF's DateTimeField output (ISO 8601, "Z" for UTC) for a datetime, in `zone` if it is aware."""
    if zone is not None:
        value = value.astimezone(zone) if timezone.is_aware(value) else timezone.make_aware(value, zone)
    elif timezone.is_aware(value):
        value = timezone.make_naive(value, datetime.timezone.utc)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class ProductSerializer(RowSerializer):
    class Meta:
        model = CatalogProduct
        fields = [
            "id", "sku", "name", "description", "category", "price", "currency",
            "stock", "status", "version", "created_at", "updated_at",
        ]
        read_only_fields = fields


class PriceSerializer(RowSerializer):
    class Meta:
        model = PriceHistoryEntry
        fields = ["version", "price", "currency", "changed_at"]
        read_only_fields = fields


class CategorySerializer(RowSerializer):
    class Meta:
        model = CategorySummary
        fields = ["name", "active_products", "discontinued_products", "total_stock"]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    position = serializers.SerializerMethodField(help_text="A token for `after` and `min_position`.")

    class Meta:
        model = StoredEvent
        fields = [
            "event_id", "position", "stream_type", "stream_id", "version",
            "type", "schema_version", "data", "metadata", "recorded_at",
        ]
        read_only_fields = fields

    def get_position(self, event) -> str:
        return str(Checkpoint(event.tx, event.position))

    def to_representation(self, event):
        """The event as the code reads it now: its current type name, schema version and shape."""
        body = super().to_representation(event)
        try:
            body["type"], body["schema_version"], body["data"] = SCHEMAS.upcast(event.type, event.schema_version, event.data)
        except FutureSchemaVersion:
            pass  # newer than this code can read: shown as stored, its version says so
        return body


class NextGenerationSerializer(serializers.Serializer):
    """A rebuild under way: the generation that will replace the live tables once caught up."""

    version = serializers.IntegerField(help_text="The projector version building it.")
    status = serializers.CharField()
    position = serializers.CharField(help_text="How far it has applied the log: a position token.")
    lag = serializers.IntegerField(help_text="Events it has still to apply.")
    started_at = serializers.DateTimeField()
    events_per_second = serializers.FloatField(allow_null=True, help_text="Since it started.")
    eta_seconds = serializers.FloatField(allow_null=True, help_text="At that rate, until it has caught up.")
    last_error = serializers.CharField()


class ProjectionSerializer(serializers.Serializer):
    """One projection's health, from projections.operations.statuses()."""

    name = serializers.CharField()
    status = serializers.CharField()
    position = serializers.CharField()
    lag = serializers.IntegerField(help_text="Events stored but not yet applied.")
    last_error = serializers.CharField()
    failed_position = serializers.CharField(
        allow_null=True,
        help_text="The position token of the event a stalled projection failed at, as `projection_skip --event` takes it.",
    )
    updated_at = serializers.DateTimeField()
    version = serializers.IntegerField(help_text="The projector version that built the live tables.")
    next = NextGenerationSerializer(allow_null=True, help_text="A rebuild under way, or null.")
