"""Celery tasks of the webhooks: send one subscription's outbox; beat's sweep over all of them,
and its hourly trim of what was delivered long ago."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from . import delivery
from .models import Delivery, Subscription
from .retention import trim_delivered

log = logging.getLogger(__name__)

QUEUE = "webhooks"


@shared_task(name="webhooks.deliver", ignore_result=True)
def deliver(subscription_id: int) -> None:
    """Send what is due; come back when the next retry is due, or at once if time ran out."""
    wait = delivery.deliver_pending(subscription_id, settings.WEBHOOK_TASK_SECONDS)
    if wait is not None and wait < settings.WEBHOOK_SWEEP_SECONDS:
        deliver.apply_async(args=[subscription_id], countdown=max(wait, 0.0), queue=QUEUE)


def resume(subscription: Subscription) -> None:
    """An operator's resume (the admin, `manage.py webhook_resume`): it goes on from the delivery
    it stopped at, sent now rather than at beat's next sweep."""
    delivery.resume(subscription)
    deliver.apply_async(args=[subscription.pk], queue=QUEUE)


@shared_task(name="webhooks.sweep", ignore_result=True)
def sweep() -> None:
    """Beat: every active subscription with something pending (a task lost, a retry due later)."""
    pending = (Delivery.objects.filter(state=Delivery.PENDING, subscription__status=Subscription.ACTIVE)
               .values_list("subscription_id", flat=True).distinct())
    for subscription_id in pending:
        deliver.apply_async(args=[subscription_id], queue=QUEUE)


@shared_task(name="webhooks.trim", ignore_result=True)
def trim() -> int:
    """Beat, hourly: deliveries made more than WEBHOOK_DELIVERIES_RETENTION_DAYS ago go."""
    removed = trim_delivered(timedelta(days=settings.WEBHOOK_DELIVERIES_RETENTION_DAYS))
    if removed:
        log.info("Removed %s webhook deliveries made more than %s days ago", removed,
                 settings.WEBHOOK_DELIVERIES_RETENTION_DAYS)
    return removed
