"""Webhooks (webhooks/) against an HTTP receiver of the test's own that fails in every way a
real one does; the receiver deduplicates by the CloudEvent id, as docs/CONSUMERS.md asks."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from products import eventstore
from products.domain.commands import RegisterProduct, ShipStock
from products.handlers import handle
from projections import engine, projectors
from projections.models import ProjectionState
from projections.progress import Outcome
from tests.api.test_asyncapi import payload_validator
from tests.support.polling import wait_until
from tests.support.spawning import free_port
from webhooks import addresses, outbox, signing, tasks
from webhooks.admin import SubscriptionForm
from webhooks.delivery import deliver_pending, resume
from webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.integration

SECRET = "a-secret-of-the-receiver-1234"


class Receiver:
    """Answers each POST as its script says ("ok", "500", "410", "timeout"; "ok" once it runs out)."""

    def __init__(self, script: list[str], port: int = 0) -> None:
        self.script, self.received, self.lock = list(script), [], threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    step = receiver.script.pop(0) if receiver.script else "ok"
                    receiver.received.append((body, dict(self.headers), step))
                if step == "timeout":
                    time.sleep(1.5)  # past WEBHOOK_TIMEOUT_SECONDS: the sender gives up first
                code = 204 if step in ("ok", "timeout") else int(step)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted_ids(self) -> list[str]:
        """What the receiver kept: each CloudEvent id once, in the order first accepted."""
        kept = []
        for body, _, step in self.received:
            event_id = json.loads(body)["id"]
            if step == "ok" and event_id not in kept:
                kept.append(event_id)
        return kept

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_settings(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver is on this machine
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.02
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    return settings


@pytest.fixture
def from_now(committed_db):
    """The webhooks consumer at the end of the log: the run's earlier events are not this test's."""
    engine.ensure_states(["webhooks"])
    end = eventstore.last_settled() or eventstore.Checkpoint.START
    ProjectionState.objects.filter(name="webhooks").update(last_tx=end.tx, last_position=end.position)


def subscribe(url: str, types=("ProductRegistered", "StockShipped")) -> Subscription:
    return Subscription.objects.create(name=f"hook-{uuid.uuid4().hex[:8]}", url=url, event_types=list(types),
                                       secret=SECRET)


def register(count: int) -> list[uuid.UUID]:
    ids = []
    for _ in range(count):
        product_id = uuid.uuid4()
        handle(RegisterProduct(product_id=product_id, sku=f"WH-{product_id.hex[:8]}", name="Kettle", category="Hooks",
                               price=Decimal("9.00"), currency="EUR", initial_stock=3))
        ids.append(product_id)
    return ids


def queued() -> None:
    assert engine.catch_up(projectors.get("webhooks")).outcome == Outcome.CAUGHT_UP


def drain(subscription: Subscription, until, timeout: float = 20) -> None:
    """Run its sender, as the worker's task and beat's sweep would, until `until()` holds."""
    def step():
        deliver_pending(subscription.pk, time_budget=2)
        return until()
    wait_until(step, timeout=timeout, interval=0.02, what="the deliveries")


def event_ids(product_ids) -> list[str]:
    return [str(eventstore.load(product_id)[0].event_id) for product_id in product_ids]


def test_every_event_reaches_the_receiver_in_order_through_500s_timeouts_and_a_410(webhook_settings, from_now):
    flaky, steady = Receiver(["500", "timeout", "ok", "ok", "410"]), Receiver([])
    try:
        hook, other = subscribe(flaky.url), subscribe(steady.url)
        ids = register(5)
        queued()

        drain(hook, lambda: Subscription.objects.get(pk=hook.pk).status == Subscription.PARKED)
        drain(other, lambda: len(steady.accepted_ids()) == 5)
        parked = Subscription.objects.get(pk=hook.pk)
        assert parked.last_status_code == 410 and "410" in parked.parked_reason
        assert flaky.accepted_ids() == event_ids(ids[:2])  # it holds its place at the third
        assert parked.delivered_through == str(eventstore.load(ids[1])[0].checkpoint)
        assert steady.accepted_ids() == event_ids(ids)  # the other went on meanwhile

        resume(parked)
        drain(hook, lambda: len(flaky.accepted_ids()) == 5)
        assert flaky.accepted_ids() == event_ids(ids)  # in order, each once in effect
        assert [step for _, _, step in flaky.received[:3]] == ["500", "timeout", "ok"]  # the first, three times
        assert not Delivery.objects.filter(subscription=hook, state=Delivery.PENDING).exists()
    finally:
        flaky.close()
        steady.close()


def test_a_receiver_that_refuses_connections_is_retried_parked_and_given_everything_once_it_listens(
        webhook_settings, from_now):
    port = free_port()
    hook = subscribe(f"http://127.0.0.1:{port}/hook")
    ids = register(2)
    queued()
    drain(hook, lambda: Subscription.objects.get(pk=hook.pk).status == Subscription.PARKED)
    first = Delivery.objects.filter(subscription=hook).order_by("tx", "position").first()
    assert first.attempts == webhook_settings.WEBHOOK_MAX_ATTEMPTS and "Connect" in first.last_error
    assert Delivery.objects.filter(subscription=hook, state=Delivery.PENDING).count() == 2
    assert Subscription.objects.get(pk=hook.pk).delivered_through == ""

    receiver = Receiver([], port=port)  # the receiver is back, where it was
    try:
        resume(Subscription.objects.get(pk=hook.pk))
        drain(hook, lambda: len(receiver.accepted_ids()) == 2)
    finally:
        receiver.close()
    assert receiver.accepted_ids() == event_ids(ids)
    assert Subscription.objects.get(pk=hook.pk).delivered_through == str(eventstore.load(ids[1])[0].checkpoint)


def test_each_delivery_is_a_signed_cloudevent_and_a_tampered_body_does_not_verify(webhook_settings, from_now):
    receiver = Receiver([])
    try:
        hook = subscribe(receiver.url)
        (product_id,) = register(1)
        queued()
        drain(hook, lambda: receiver.accepted_ids())
        body, headers, _ = receiver.received[0]
    finally:
        receiver.close()
    event = eventstore.load(product_id)[0]
    document = json.loads(body)
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert (document["specversion"], document["id"], document["type"], document["subject"]) == (
        "1.0", str(event.event_id), "ProductRegistered", str(product_id))
    assert document["source"] and document["time"] and document["datacontenttype"] == "application/json"
    assert document["data"]["sku"] == f"WH-{product_id.hex[:8]}"
    catalog = Client().get("/api/asyncapi/").json()  # as the event catalog describes it
    payload_validator(catalog, "#/components/schemas/CloudEvent.ProductRegistered").validate(document)
    assert signing.verify(SECRET, body, headers[signing.HEADER])
    assert not signing.verify(SECRET, body.replace(b"Kettle", b"Kettlf"), headers[signing.HEADER])
    assert not signing.verify("another-secret-entirely", body, headers[signing.HEADER])
    assert not signing.verify(SECRET, body, headers[signing.HEADER], now=int(time.time()) + 3600)  # a replay


def test_a_batch_sends_one_delivery_task_per_subscription_once_it_commits(webhook_settings, from_now, monkeypatch):
    sent: list[list[int]] = []
    monkeypatch.setattr(outbox, "_send_soon", sent.append)
    hook, other = subscribe("http://127.0.0.1:9/a"), subscribe("http://127.0.0.1:9/b")
    events = [event for product_id in register(3) for event in eventstore.load(product_id)]
    with transaction.atomic():
        projectors.get("webhooks").apply(events, "default")
        assert sent == []  # not before the commit
    (once,) = sent  # one send for the batch's 3 events (earlier tests' subscriptions are active too)
    assert {hook.pk, other.pk} <= set(once) and len(once) == len(set(once))
    assert Delivery.objects.filter(subscription__in=[hook, other]).count() == 6

    with pytest.raises(RuntimeError):
        with transaction.atomic():  # a round whose transaction fails: nothing is sent
            projectors.get("webhooks").apply(eventstore.load(register(1)[0]), "default")
            raise RuntimeError("the round's transaction fails")
    assert len(sent) == 1


def test_an_event_given_twice_is_queued_once_and_only_for_the_types_asked(webhook_settings, from_now):
    hook = subscribe("http://127.0.0.1:9/unused", types=["StockShipped"])
    (product_id,) = register(1)
    handle(ShipStock(product_id=product_id, quantity=1))
    queued()
    with transaction.atomic():  # as after a worker died before the consumer's commit
        projectors.get("webhooks").apply(eventstore.load(product_id), "default")
    assert list(Delivery.objects.filter(subscription=hook).values_list("event_type", flat=True)) == ["StockShipped"]


def test_a_private_address_is_refused_by_default(settings, from_now):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    for url in ("http://127.0.0.1:8000/hook", "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/",
                "ftp://example.com/"):
        form = SubscriptionForm(data={"name": f"x-{uuid.uuid4().hex[:6]}", "url": url, "event_types": ["StockShipped"],
                                      "secret": SECRET, "active": True})
        assert not form.is_valid() and "url" in form.errors, url
    hook = subscribe("http://127.0.0.1:9/hook")  # made before the setting changed, say
    register(1)
    queued()
    drain(hook, lambda: Subscription.objects.get(pk=hook.pk).status == Subscription.PARKED)
    assert "refused" in Subscription.objects.get(pk=hook.pk).parked_reason


class RebindingName:
    """A name whose first answer is a public address and every later one this machine (DNS
    rebinding): it passes a check, then points inside when resolved again."""

    NAME = "hooks.rebinding.example"

    def __init__(self, monkeypatch) -> None:
        self.answers, real = 0, socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host != self.NAME:
                return real(host, port, *args, **kwargs)
            self.answers += 1
            address = "8.8.8.8" if self.answers == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_delivery_goes_to_the_address_it_checked_not_to_a_later_answer_of_the_name(settings, from_now,
                                                                                    monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 0.3
    receiver = Receiver([])
    try:
        url = receiver.url.replace("127.0.0.1", RebindingName.NAME)
        # The control: checked, then resolved again by a client of its own, the name reaches the receiver.
        RebindingName(monkeypatch)
        addresses.check(url)
        httpx.post(url, content=b'{"id": "control"}', timeout=2)
        assert len(receiver.received) == 1

        rebinding = RebindingName(monkeypatch)
        hook = subscribe(url)
        register(1)
        queued()
        deliver_pending(hook.pk, time_budget=2)
        delivery = Delivery.objects.get(subscription=hook)
        assert rebinding.answers == 1  # resolved once, as the connection was made to what was checked
        assert delivery.state == Delivery.PENDING and delivery.attempts == 1, delivery.last_error
        assert len(receiver.received) == 1  # the control's alone
    finally:
        receiver.close()


def test_the_admin_keeps_the_secret_out_of_every_page_and_resumes_a_parked_subscription(webhook_settings, make_user):
    admin = Client()
    admin.force_login(make_user(is_staff=True, is_superuser=True))
    name = f"admin-hook-{uuid.uuid4().hex[:6]}"
    created = admin.post("/admin/webhooks/subscription/add/", {
        "name": name, "url": "http://127.0.0.1:9/hook", "event_types": ["StockShipped", "catalog.stock.low"],
        "secret": SECRET, "active": "on", "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"})
    assert created.status_code == 302, created.content[:2000]
    hook = Subscription.objects.get(name=name)
    assert hook.secret == SECRET and hook.event_types == ["StockShipped", "catalog.stock.low"]
    for page in ("/admin/webhooks/subscription/", f"/admin/webhooks/subscription/{hook.pk}/change/"):
        shown = admin.get(page)
        assert shown.status_code == 200 and SECRET.encode() not in shown.content, page
    kept = admin.post(f"/admin/webhooks/subscription/{hook.pk}/change/", {
        "name": name, "url": "http://127.0.0.1:9/hook", "event_types": ["StockShipped"], "secret": "", "active": "on",
        "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"})
    assert kept.status_code == 302 and Subscription.objects.get(pk=hook.pk).secret == SECRET  # empty keeps it

    Subscription.objects.filter(pk=hook.pk).update(status=Subscription.PARKED, parked_reason="HTTP 410")
    admin.post("/admin/webhooks/subscription/", {"action": "resume_parked", "_selected_action": [hook.pk]})
    assert Subscription.objects.get(pk=hook.pk).status == Subscription.ACTIVE


def test_a_test_delivery_from_the_admin_reaches_the_receiver_signed_and_leaves_the_outbox_alone(webhook_settings,
                                                                                              make_user):
    receiver = Receiver([])
    admin = Client()
    admin.force_login(make_user(is_staff=True, is_superuser=True))
    try:
        hook, unreachable = subscribe(receiver.url), subscribe("http://127.0.0.1:9/hook")
        answer = admin.post("/admin/webhooks/subscription/", {"action": "send_test_delivery",
                                                              "_selected_action": [hook.pk, unreachable.pk]},
                            follow=True)
        shown = [str(message) for message in answer.context["messages"]]
    finally:
        receiver.close()
    assert f"{hook.name}: the test delivery was answered HTTP 204." in shown
    assert any(text.startswith(f"{unreachable.name}: the test delivery failed: ConnectError") for text in shown), shown
    (body, headers, _), = receiver.received
    assert signing.verify(SECRET, body, headers[signing.HEADER])
    document = json.loads(body)
    assert (document["type"], document["data"]["subscription"]) == ("catalog.ping", hook.name)
    catalog = Client().get("/api/asyncapi/").json()
    payload_validator(catalog, "#/components/schemas/CloudEvent.catalog.ping").validate(document)
    assert not Delivery.objects.filter(subscription__in=[hook, unreachable]).exists()
    assert Subscription.objects.get(pk=hook.pk).delivered_through == ""


def test_the_trim_removes_deliveries_made_long_ago_and_keeps_what_waits(webhook_settings, committed_db):
    hook = subscribe("http://127.0.0.1:9/hook")
    now = timezone.now()

    def queued_row(n: int, state: str, delivered_days_ago: float | None) -> Delivery:
        return Delivery.objects.create(
            subscription=hook, event_id=uuid.uuid4(), event_type="StockShipped", tx=1, position=n, body="{}",
            state=state, queued_at=now,
            delivered_at=None if delivered_days_ago is None else now - timedelta(days=delivered_days_ago))

    old, recent = queued_row(1, Delivery.DELIVERED, 8), queued_row(2, Delivery.DELIVERED, 6)
    waiting = queued_row(3, Delivery.PENDING, None)
    Delivery.objects.filter(pk=waiting.pk).update(queued_at=now - timedelta(days=30))

    assert tasks.trim() == 1
    assert set(Delivery.objects.filter(subscription=hook).values_list("pk", flat=True)) == {recent.pk, waiting.pk}
    assert not Delivery.objects.filter(pk=old.pk).exists()


def test_webhook_resume_resumes_every_named_parked_subscription_or_none(webhook_settings, committed_db):
    first, second, running = (subscribe(f"http://127.0.0.1:9/{n}") for n in range(3))
    Subscription.objects.filter(pk__in=[first.pk, second.pk]).update(status=Subscription.PARKED,
                                                                     parked_reason="HTTP 410")
    with pytest.raises(CommandError, match=f"Not parked: {running.name}"):
        call_command("webhook_resume", first.name, running.name, stdout=io.StringIO())
    with pytest.raises(CommandError, match="No webhook subscription named 'nobody'"):
        call_command("webhook_resume", "nobody", stdout=io.StringIO())
    assert Subscription.objects.get(pk=first.pk).status == Subscription.PARKED  # nothing was resumed

    out = io.StringIO()
    call_command("webhook_resume", first.name, second.name, stdout=out)
    assert {s.status for s in Subscription.objects.filter(pk__in=[first.pk, second.pk])} == {Subscription.ACTIVE}
    assert f"{second.name} resumed" in out.getvalue()


def test_a_low_stock_alert_is_posted_to_the_webhooks_subscribed_to_catalog_stock_low(webhook_settings, from_now):
    webhook_settings.LOW_STOCK_THRESHOLD = 2
    engine.ensure_states(["low_stock_alert"])
    end = eventstore.last_settled()
    ProjectionState.objects.filter(name="low_stock_alert").update(last_tx=end.tx, last_position=end.position)
    receiver = Receiver([])
    try:
        hook = subscribe(receiver.url, types=["catalog.stock.low"])
        (product_id,) = register(1)  # a stock of 3
        handle(ShipStock(product_id=product_id, quantity=2))  # 1, below 2
        assert engine.catch_up(projectors.get("low_stock_alert")).outcome == Outcome.CAUGHT_UP
        drain(hook, lambda: receiver.accepted_ids())
        body, headers, _ = receiver.received[0]
    finally:
        receiver.close()
    document = json.loads(body)
    shipped = eventstore.load(product_id)[-1]
    assert (document["type"], document["id"], document["subject"]) == ("catalog.stock.low", str(shipped.event_id),
                                                                       str(product_id))
    assert (document["data"]["stock"], document["data"]["threshold"]) == (1, 2)
    catalog = Client().get("/api/asyncapi/").json()
    payload_validator(catalog, "#/components/schemas/CloudEvent.catalog.stock.low").validate(document)
    assert signing.verify(SECRET, body, headers[signing.HEADER])
