"""A test delivery, as GitHub's ping and Stripe's "send test webhook": sent at once, from the
admin, to check that a receiver is reachable and verifies the signature.

It is not an event of the log: it has a fresh id, no subject, and it neither moves the
subscription's position nor joins its outbox, so it can be sent whatever the subscription's
state. It goes through the same sender as every delivery (address check, signature, timeouts,
read limit).
"""

from __future__ import annotations

import uuid

from django.utils import timezone

from . import cloudevents, delivery
from .models import Delivery, Subscription

PING = "catalog.ping"


def ping(subscription: Subscription) -> tuple[int | None, str]:
    """(status code or None, error text or ""), as webhooks.delivery.send."""
    body = cloudevents.structured(uuid.uuid4(), PING, None, timezone.now(),
                                  {"subscription": subscription.name, "event_types": list(subscription.event_types)})
    return delivery.send(subscription, Delivery(body=body))
