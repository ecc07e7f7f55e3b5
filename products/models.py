"""Tables of the write side: the event store and the SKU register."""

from django.db import models


class TransactionIdField(models.Field):
    """PostgreSQL's xid8, the id of the transaction that wrote the row (an integer elsewhere).

    The event store orders its global log by (tx, position): see products.eventstore.
    """

    description = "Writing transaction id"

    def db_type(self, connection):
        return "xid8" if connection.vendor == "postgresql" else "bigint"

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)

    def get_prep_value(self, value):
        return None if value is None else str(value)


class StoredEvent(models.Model):
    """One row per event, append-only: the database refuses UPDATE, DELETE and TRUNCATE.

    Rows are written only by products.eventstore.append, in raw SQL: its INSERT must be the
    first write of its transaction, and `tx` takes its default from the database.
    """

    position = models.BigAutoField(primary_key=True)
    tx = TransactionIdField(default=0, editable=False)
    stream_type = models.CharField(max_length=50)
    stream_id = models.UUIDField()
    version = models.PositiveIntegerField()
    event_id = models.UUIDField(unique=True)
    type = models.CharField(max_length=100)
    schema_version = models.PositiveSmallIntegerField(default=1)
    data = models.JSONField()
    metadata = models.JSONField(default=dict)
    recorded_at = models.DateTimeField()

    class Meta:
        db_table = "event_store"
        ordering = ["tx", "position"]
        constraints = [
            models.UniqueConstraint(fields=["stream_id", "version"], name="event_store_stream_version_uq"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="event_store_version_positive"),
        ]
        indexes = [
            models.Index(fields=["tx", "position"], name="event_store_tx_position"),
            models.Index(fields=["type", "position"], name="event_store_type_position"),
        ]
        # Events are never added, changed or deleted through Django: only viewing exists.
        default_permissions = ("view",)
        permissions = [("issue_product_commands", "Can issue product commands")]

    def __str__(self):
        return f"{self.type} {self.stream_id} v{self.version}"


class SkuClaim(models.Model):
    """Each SKU ever registered, compared case-insensitively, claimed in the registering transaction."""

    sku_key = models.CharField(max_length=64, primary_key=True)
    product_id = models.UUIDField()

    class Meta:
        db_table = "products_sku_claim"
        default_permissions = ()
