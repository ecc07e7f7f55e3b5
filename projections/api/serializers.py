"""Output shapes of the Query API; the read models are shaped for them, so these stay thin."""

from rest_framework import serializers

from products.domain.events import SCHEMAS, FutureSchemaVersion
from products.eventstore import Checkpoint
from products.models import StoredEvent

from ..models import CatalogProduct, CategorySummary, PriceHistoryEntry


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = CatalogProduct
        fields = [
            "id", "sku", "name", "description", "category", "price", "currency",
            "stock", "status", "version", "created_at", "updated_at",
        ]
        read_only_fields = fields


class PriceSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriceHistoryEntry
        fields = ["version", "price", "currency", "changed_at"]
        read_only_fields = fields


class CategorySerializer(serializers.ModelSerializer):
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
