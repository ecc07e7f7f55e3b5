"""Scenario 7: 50 writers on 50 products and a few on shared ones, with live projections."""

import os
import random
import threading
import time

from tests.api.helpers import register_body
from tests.faults.conftest import command_client, converge, service_stack
from tests.support import oracle

SECONDS = float(os.environ.get("FAULT_SOAK_SECONDS", "30"))


def test_fifty_writers_for_thirty_seconds_lose_nothing_and_duplicate_nothing(make_user, token_for, subscriber):
    connection, queue = subscriber
    ledger = oracle.Ledger()
    lock = threading.Lock()
    client = command_client(token_for(make_user()))
    with service_stack(workers=1) as base_url:
        shared = [client.post(f"{base_url}/api/products/", json=register_body(initial_stock=100), timeout=10)
                  for _ in range(3)]
        for response in shared:
            ledger.record(response)
        shared_ids = [r.json()["product_id"] for r in shared]
        deadline = time.monotonic() + SECONDS

        def writer(own: bool) -> None:
            session = command_client(client.headers["Authorization"].split()[1])
            rng = random.Random()
            if own:
                response = session.post(f"{base_url}/api/products/", json=register_body(initial_stock=100), timeout=30)
                with lock:
                    ledger.record(response)
                product_ids = [response.json()["product_id"]]
            else:
                product_ids = shared_ids
            while time.monotonic() < deadline:
                command, body = rng.choice(
                    [("receive-stock", {"quantity": rng.randint(1, 5)}), ("ship-stock", {"quantity": rng.randint(1, 5)}),
                     ("change-price", {"price": f"{rng.randint(100, 9999) / 100:.2f}"})]
                )
                response = session.post(f"{base_url}/api/products/{rng.choice(product_ids)}/{command}/", json=body, timeout=30)
                with lock:
                    ledger.record(response)

        threads = [threading.Thread(target=writer, args=(own,)) for own in [True] * 50 + [False] * 5]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SECONDS + 60)
        convergence = converge(timeout=120)
    verdict = oracle.check(ledger, oracle.drain_relay(connection, queue))

    print(f"{len(ledger.accepted)} accepted, {len(ledger.refused)} refused, converged {convergence:.1f} s, {verdict}")
    assert set(ledger.refused) <= {409}, sorted(set(ledger.refused))  # only insufficient stock
    assert len(ledger.accepted) > 500
    assert verdict.passed, verdict
