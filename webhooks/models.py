"""Webhook subscriptions, and their deliveries: an outbox, one row per event per subscription.

The `webhooks` consumer writes a subscription's deliveries in the transaction that moves its
checkpoint (webhooks/consumers.py), so each subscription gets each of its events exactly once
in its outbox, in log order; the delivery task sends them, oldest first, one at a time
(webhooks/delivery.py). A subscription's position is the last event delivered to it.
"""

from django.db import models


class Subscription(models.Model):
    ACTIVE, PARKED = "active", "parked"

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=2000, help_text="Where each event is POSTed (http or https).")
    event_types = models.JSONField(default=list, help_text="Event types (ProductRegistered, …, catalog.stock.low).")
    secret = models.CharField(max_length=200, help_text="Signs every delivery (Webhook-Signature); never shown again.")
    active = models.BooleanField(default=True, help_text="Off: no new events are queued for it.")
    status = models.CharField(max_length=10, choices=[(s, s) for s in (ACTIVE, PARKED)], default=ACTIVE)
    parked_reason = models.TextField(blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_through = models.CharField(max_length=60, blank=True, help_text="The position of the last event delivered.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "webhook_subscription"
        ordering = ["name"]
        permissions = [("operate_webhooks", "Can resume parked webhook subscriptions")]

    def __str__(self):
        return self.name


class Delivery(models.Model):
    PENDING, DELIVERED = "pending", "delivered"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(help_text="The CloudEvent id: the event's own, to deduplicate by.")
    event_type = models.CharField(max_length=100)
    tx = models.BigIntegerField(help_text="With position: the event's place in the log, the order of delivery.")
    position = models.BigIntegerField()
    body = models.TextField(help_text="The CloudEvent, as sent at every attempt.")
    state = models.CharField(max_length=10, choices=[(s, s) for s in (PENDING, DELIVERED)], default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_delivery"
        ordering = ["tx", "position", "id"]
        verbose_name_plural = "deliveries"
        default_permissions = ("view",)
        constraints = [models.UniqueConstraint(fields=["subscription", "event_id", "event_type"],
                                               name="webhook_delivery_once")]
        indexes = [models.Index(fields=["subscription", "state", "tx", "position"], name="webhook_delivery_next"),
                   # The hourly trim's: what was delivered, by when (webhooks/outbox.py trim_delivered).
                   models.Index(fields=["delivered_at"], condition=models.Q(state="delivered"),
                                name="webhook_delivery_made")]

    @property
    def token(self) -> str:
        return f"{self.tx}-{self.position}"
