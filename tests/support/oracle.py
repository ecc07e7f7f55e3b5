"""The oracle every fault scenario ends with, after rabbitmq/jepsen's total-queue checker.

Commands are recorded with their HTTP outcome. Against the event log:
- lost: events a 2xx answer reported that are not stored;
- unexpected: stored events of the scenario's products that no 2xx answer reported (an
  ambiguous outcome, a timeout, must be resolved by retrying with its Idempotency-Key first);
- duplicated: read-model rows that differ from what a fresh rebuild produces (an effect
  applied twice or not at all), plus relay messages missing or repeated under another id.
Pass means all three are zero.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from products import eventstore
from projections import engine, projectors
from tests.integration.test_projections import snapshot


@dataclass
class Ledger:
    """Every command a scenario sent and what it was told."""

    accepted: list[dict] = field(default_factory=list)  # 2xx bodies
    refused: list[int] = field(default_factory=list)  # 4xx/5xx statuses
    products: set[uuid.UUID] = field(default_factory=set)

    def record(self, response) -> None:
        if 200 <= response.status_code < 300:
            body = response.json()
            self.accepted.append(body)
            self.products.add(uuid.UUID(body["product_id"]))
        else:
            self.refused.append(response.status_code)


@dataclass
class Verdict:
    lost: list[str]
    unexpected: list[str]
    duplicated: list[str]

    @property
    def passed(self) -> bool:
        return not (self.lost or self.unexpected or self.duplicated)

    def __str__(self) -> str:
        return f"lost={len(self.lost)} duplicated={len(self.duplicated)} unexpected={len(self.unexpected)}"


def check(ledger: Ledger, relay_messages: list[dict] | None = None) -> Verdict:
    reported = {event["id"] for body in ledger.accepted for event in body["events"]}
    stored = {str(e.event_id) for product_id in ledger.products for e in eventstore.load(product_id)}
    lost = sorted(reported - stored)
    unexpected = sorted(stored - reported)

    live = snapshot()
    for name in projectors.read_models():
        engine.replay_in_place(projectors.get(name))
    rebuilt = snapshot()
    duplicated = [
        f"{table}: live has {len(live[table])} rows, a rebuild {len(rebuilt[table])}; they differ"
        for table in live
        if live[table] != rebuilt[table]
    ]
    if relay_messages is not None:
        delivered = [m["event_id"] for m in relay_messages if uuid.UUID(m["stream_id"]) in ledger.products]
        duplicated += [f"relay never delivered {event_id}" for event_id in sorted(stored - set(delivered))]
    return Verdict(lost, unexpected, duplicated)


def drain_relay(connection, queue) -> list[dict]:
    messages = []
    while message := queue(connection.default_channel).get(no_ack=True):
        messages.append(json.loads(message.body))
    return messages
