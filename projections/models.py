"""Read-model tables (each written by exactly one projector) and the engine's bookkeeping."""

from django.db import models
from django.db.models.functions import Upper


class ProjectionState(models.Model):
    """Where one projection is in the log, and whether it is healthy. Written only by the engine.

    A rebuild's next generation has a row of its own, named `<projection>.next` (see
    projections/generations.py), until it replaces the live one.
    """

    RUNNING, RETRYING, STALLED, REBUILDING = "running", "retrying", "stalled", "rebuilding"
    STATUSES = [(s, s) for s in (RUNNING, RETRYING, STALLED, REBUILDING)]

    name = models.CharField(max_length=100, primary_key=True)
    # The checkpoint: the last applied event's (transaction id, position), see products.eventstore.
    last_tx = models.BigIntegerField(default=0)
    last_position = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=STATUSES, default=RUNNING)
    attempts = models.PositiveIntegerField(default=0, help_text="Batches started since the last success.")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    failed_position = models.BigIntegerField(null=True, blank=True, help_text="The event the last failure stopped at.")
    # Set before a batch is applied and cleared when it commits: still set means a runner died
    # in that batch, so the next ones go one event at a time up to it, to find the culprit.
    suspect_until = models.BigIntegerField(null=True, blank=True, help_text="A runner died before this event was done.")
    events_applied = models.BigIntegerField(default=0)
    version = models.PositiveIntegerField(default=1, help_text="The projector version that built these tables.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When a next generation's build started.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "projection_state"
        ordering = ["name"]
        verbose_name = "projection"
        default_permissions = ("view",)
        permissions = [("operate_projections", "Can rebuild, retry and skip projections")]

    def __str__(self):
        return self.name


class SkippedEvent(models.Model):
    """An event an operator chose to leave out of a projection, and why. Never automatic."""

    projection = models.CharField(max_length=100)
    position = models.BigIntegerField()
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=100)
    reason = models.TextField()
    error = models.TextField(blank=True)
    skipped_by = models.CharField(max_length=150, blank=True)
    skipped_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "projection_skipped_event"
        ordering = ["-skipped_at"]
        default_permissions = ("view",)


class CatalogProduct(models.Model):
    """One row per product, shaped for the product list. Written only by CatalogProjector."""

    id = models.UUIDField(primary_key=True)
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    stock = models.BigIntegerField()
    status = models.CharField(max_length=20)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "read_product_catalog"
        ordering = ["name", "id"]
        default_permissions = ("view",)
        verbose_name = "catalog product"
        # Every index costs each event's upsert (measured in docs/BENCHMARKS.md): one per
        # filter or ordering the Query API serves, no more.
        indexes = [
            models.Index(Upper("sku"), name="read_catalog_sku_upper"),  # ?sku= matches case-insensitively
            models.Index(fields=["name", "id"], name="read_catalog_name"),  # the default order
            models.Index(fields=["category", "name"], name="read_catalog_category_name"),
            models.Index(fields=["status", "name"], name="read_catalog_status_name"),
            models.Index(fields=["price", "id"], name="read_catalog_price"),
            models.Index(fields=["created_at", "id"], name="read_catalog_created"),
            models.Index(fields=["updated_at", "id"], name="read_catalog_updated"),
        ]

    def __str__(self):
        return f"{self.sku} {self.name}"


class CategoryMember(models.Model):
    """The category summary's own view of each product. Written only by CategorySummaryProjector."""

    product_id = models.UUIDField(primary_key=True)
    category = models.CharField(max_length=100, db_index=True)
    active = models.BooleanField()
    stock = models.BigIntegerField()
    version = models.PositiveIntegerField()

    class Meta:
        db_table = "read_category_member"
        default_permissions = ("view",)


class CategorySummary(models.Model):
    """One row per category that has products. Written only by CategorySummaryProjector."""

    name = models.CharField(max_length=100, primary_key=True)
    # Plain integers, not Positive...: PostgreSQL checks CHECK constraints on the row an
    # INSERT ... ON CONFLICT proposes, and the projector proposes negative deltas.
    active_products = models.IntegerField()
    discontinued_products = models.IntegerField()
    total_stock = models.BigIntegerField(help_text="Stock of the active products.")

    class Meta:
        db_table = "read_category_summary"
        ordering = ["name"]
        default_permissions = ("view",)
        verbose_name_plural = "category summaries"

    def __str__(self):
        return self.name


class PriceHistoryEntry(models.Model):
    """One row per price a product has had. Written only by PriceHistoryProjector."""

    product_id = models.UUIDField()
    version = models.PositiveIntegerField(help_text="The product version that set this price.")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    changed_at = models.DateTimeField()

    class Meta:
        db_table = "read_price_history"
        ordering = ["product_id", "version"]
        default_permissions = ("view",)
        verbose_name_plural = "price history"
        constraints = [
            models.UniqueConstraint(fields=["product_id", "version"], name="read_price_history_product_version")
        ]


class ProductChange(models.Model):
    """The product as the catalog showed it after each change it applied: what the product
    changes feed sends. Written by CatalogProjector in the transaction that applies the change.

    One row per event the catalog applied, keyed by the event's place in the log, so a follower
    resumes after any position token. Kept for PRODUCT_CHANGES_RETENTION_DAYS (see
    projections/changes.py); rows are history and never rewritten, not even by a rebuild.
    """

    position = models.BigIntegerField(primary_key=True, help_text="The event's position in the log.")
    tx = models.BigIntegerField(help_text="The event's transaction id: with position, its place in log order.")
    product_id = models.UUIDField()
    version = models.PositiveIntegerField(help_text="The product version this change made.")
    category = models.CharField(max_length=100)
    previous_category = models.CharField(max_length=100, blank=True, help_text="Set when this change moved it.")
    event_type = models.CharField(max_length=100)
    recorded_at = models.DateTimeField(help_text="When the event was stored.")
    state = models.TextField(help_text="The product as /api/products/{id}/ showed it, as JSON.")

    class Meta:
        db_table = "read_product_change"
        ordering = ["tx", "position"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["tx", "position"], name="read_product_change_order")]

    def __str__(self):
        return f"{self.product_id} v{self.version}"


class ProductChangesTrimmed(models.Model):
    """How far retention has removed product changes: a follower that would resume before this
    place is told so, rather than silently given what is left. One row, written by the trim."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    through_tx = models.BigIntegerField(default=0)
    through_position = models.BigIntegerField(default=0)
    trimmed_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "read_product_change_trimmed"
        default_permissions = ()
