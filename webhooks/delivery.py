"""Sending a subscription's outbox: oldest first, one at a time, so a receiver sees its events
in log order; each delivery at least once.

- 2xx: delivered; the next one goes.
- 429, 5xx, a timeout, a refused or broken connection: tried again after a backoff that doubles
  from WEBHOOK_RETRY_BASE_SECONDS, with jitter; after WEBHOOK_MAX_ATTEMPTS the subscription is
  parked.
- Another 4xx (the receiver says the request itself is wrong: 400, 401, 404, 410...), or an
  address it may not reach: parked at once.

A parked subscription holds its position; the others go on. An operator resumes it (the admin,
or `manage.py webhook_resume`) and it continues with the delivery it stopped at. Connect and read
timeouts are short, and at most WEBHOOK_READ_BYTES of an answer are read (its status is what
counts), so a slow or huge answer cannot hold a worker.
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import contextmanager
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import addresses, client, signing
from .cloudevents import CONTENT_TYPE
from .models import Delivery, Subscription

logger = logging.getLogger(__name__)


PAGE = 100  # pending deliveries read at once: their order is fixed, and only this sender changes them


def deliver_pending(subscription_id: int, time_budget: float) -> float | None:
    """Send what is due, oldest first, for up to `time_budget` seconds; the seconds until the
    next one is due (None: nothing pending, parked, or another worker is on it)."""
    deadline = time.monotonic() + time_budget
    with _sending(subscription_id) as owned:
        if not owned:
            return None
        while time.monotonic() < deadline:
            subscription = Subscription.objects.filter(pk=subscription_id).first()
            if subscription is None or subscription.status == Subscription.PARKED:
                return None
            page = list(subscription.deliveries.filter(state=Delivery.PENDING).order_by("tx", "position", "id")[:PAGE])
            if not page:
                return None
            for delivery in page:
                wait = (delivery.next_attempt_at - timezone.now()).total_seconds() if delivery.next_attempt_at else 0
                if wait > 0:
                    return wait
                if time.monotonic() >= deadline:
                    return 0.0
                if not attempt(subscription, delivery):
                    break  # read again: it waits for its retry, or the subscription is parked
        return 0.0


def attempt(subscription: Subscription, delivery: Delivery) -> bool:
    """One try of one delivery, and what it means for the subscription; whether it was delivered."""
    status, error = send(subscription, delivery)
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status, error
    subscription.last_status_code, subscription.last_error, subscription.last_attempt_at = status, error, now
    delivered = status is not None and 200 <= status < 300
    if delivered:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = Delivery.DELIVERED, now, None
        subscription.delivered_through, subscription.last_error = delivery.token, ""
    elif _retryable(status, error) and delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.next_attempt_at = now + timedelta(seconds=_backoff(delivery.attempts))
        logger.info("Webhook %s: %s at %s, tried again in %.1f s", subscription.name, error or f"HTTP {status}",
                    delivery.token, (delivery.next_attempt_at - now).total_seconds())
    else:
        subscription.status = Subscription.PARKED
        subscription.parked_reason = (
            f"Parked at {delivery.token} ({delivery.event_type}) after {delivery.attempts} attempt(s): "
            f"{error or f'HTTP {status}'}")
        logger.warning("Webhook %s parked: %s", subscription.name, subscription.parked_reason)
    with transaction.atomic():
        delivery.save(update_fields=["state", "attempts", "last_status_code", "last_error", "next_attempt_at",
                                     "delivered_at"])
        subscription.save(update_fields=["last_status_code", "last_error", "last_attempt_at", "delivered_through",
                                         "status", "parked_reason"])
    return delivered


def send(subscription: Subscription, delivery: Delivery) -> tuple[int | None, str]:
    """POST the delivery; (status code or None, error text or "")."""
    body = delivery.body.encode()
    headers = {"Content-Type": CONTENT_TYPE, signing.HEADER: signing.signature(subscription.secret, body),
               "User-Agent": "catalog-webhooks"}
    timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS, connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS)
    started = time.monotonic()
    try:
        addresses.check_scheme(subscription.url)  # the address is checked as the connection is made
        with client.shared().stream("POST", subscription.url, content=body, headers=headers,
                                    timeout=timeout) as response:
            answer = _read_some(response, started)
            if 200 <= response.status_code < 300:
                return response.status_code, ""
            return response.status_code, f"HTTP {response.status_code}: {answer[:300]}".strip()
    except addresses.RefusedAddress as refused:
        return None, f"refused: {refused}"
    except httpx.TimeoutException:
        return None, f"timed out after {time.monotonic() - started:.1f} s"
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"


def _read_some(response: httpx.Response, started: float) -> str:
    """At most WEBHOOK_READ_BYTES of the answer, within the request's time: a receiver that
    answers slowly, or without end, is cut off."""
    read = b""
    for chunk in response.iter_raw(1024):
        read += chunk
        if len(read) >= settings.WEBHOOK_READ_BYTES or time.monotonic() - started > settings.WEBHOOK_TIMEOUT_SECONDS:
            break
    return read[:settings.WEBHOOK_READ_BYTES].decode(errors="replace")


def _retryable(status: int | None, error: str) -> bool:
    if status is None:
        return not error.startswith("refused:")  # timeouts and connections, not a forbidden address
    return status == 429 or status >= 500


def _backoff(attempts: int) -> float:
    """Doubling from the base, with full jitter: receivers that came back are not hit together."""
    ceiling = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    return random.uniform(ceiling / 2, ceiling)


@contextmanager
def _sending(subscription_id: int):
    """One sender per subscription at a time (its order depends on it): an advisory lock on
    PostgreSQL; elsewhere (SQLite, one worker) nothing to take."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = f"webhook:{subscription_id}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
        owned = cursor.fetchone()[0]
    try:
        yield owned
    finally:
        if owned:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])


def resume(subscription: Subscription) -> None:
    """Go on from the delivery it stopped at, with a fresh set of attempts."""
    with transaction.atomic():
        subscription.deliveries.filter(state=Delivery.PENDING).update(attempts=0, next_attempt_at=None)
        Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.ACTIVE, parked_reason="")
