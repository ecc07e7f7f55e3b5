"""What the outbox keeps: a delivery made is kept WEBHOOK_DELIVERIES_RETENTION_DAYS (beat trims
hourly, webhooks/tasks.py); what still waits is always kept."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from .models import Delivery

TRIM_STEP = 5000  # deliveries removed per statement: short locks on a large outbox


def trim_delivered(older_than: timedelta) -> int:
    """Remove the deliveries made longer ago than `older_than`, a batch at a time; how many went.
    What waits is never removed."""
    cutoff = timezone.now() - older_than
    removed = 0
    while True:
        batch = list(Delivery.objects.filter(state=Delivery.DELIVERED, delivered_at__lt=cutoff)
                     .values_list("pk", flat=True)[:TRIM_STEP])
        if not batch:
            return removed
        removed += Delivery.objects.filter(pk__in=batch).delete()[0]
