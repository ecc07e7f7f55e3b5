"""Scenario 6: a long writing transaction held open elsewhere holds projections back, never past.

Commands keep being accepted through the HTTP service while the transaction is open. The read
models and the relay apply none of them until it ends, then every one of them, once.
"""

import psycopg

from projections import engine, operations, projectors
from projections.models import CatalogProduct
from tests import settings as test_settings
from tests.api.helpers import register_body
from tests.faults.conftest import command_client
from tests.support import oracle
from tests.support.polling import wait_until
from tests.support.processes import web_server
from tests.support.progress import applied_everything

PRODUCTS = 4


def catch_up_everything() -> None:
    """Every projection, the relay included, run here rather than by a worker: the test says when."""
    for name in projectors.all_projectors():
        engine.catch_up(projectors.get(name))


def relayed(connection, queue, ledger: oracle.Ledger) -> list[dict]:
    return [m for m in oracle.drain_relay(connection, queue) if m["stream_id"] in {str(p) for p in ledger.products}]


def test_commands_accepted_behind_an_open_transaction_reach_the_read_models_and_the_relay_once_it_ends(
    make_user, token_for, subscriber, rabbitmq_vhost
):
    connection, queue = subscriber
    client = command_client(token_for(make_user()))
    ledger = oracle.Ledger()
    catch_up_everything()
    oracle.drain_relay(connection, queue)  # what earlier tests stored
    with web_server() as base_url, psycopg.connect(test_settings.POSTGRES_URL) as elsewhere:
        elsewhere.execute("SELECT pg_current_xact_id()")  # takes a transaction id, as any write does
        for _ in range(PRODUCTS):
            registered = client.post(f"{base_url}/api/products/", json=register_body(), timeout=10)
            ledger.record(registered)
            assert registered.status_code == 202, registered.text
            product_url = f"{base_url}/api/products/{registered.json()['product_id']}"
            ledger.record(client.post(f"{product_url}/change-price/", json={"price": "11.50"}, timeout=10))
            ledger.record(client.post(f"{product_url}/ship-stock/", json={"quantity": 2}, timeout=10))
        catch_up_everything()
        lag_while_open = {status.name: status.lag for status in operations.statuses()}
        shown_while_open = CatalogProduct.objects.filter(id__in=ledger.products).count()
        relayed_while_open = relayed(connection, queue, ledger)
        elsewhere.rollback()
    # Other transactions on the cluster may hold the horizon a moment longer.
    wait_until(lambda: catch_up_everything() or applied_everything(), timeout=30, what="every projection to catch up")
    verdict = oracle.check(ledger, relayed(connection, queue, ledger))

    print(f"accepted {len(ledger.accepted)} commands; lag while open {lag_while_open}; {verdict}")
    accepted_events = sum(len(body["events"]) for body in ledger.accepted)
    assert ledger.refused == [] and accepted_events == 3 * PRODUCTS, ledger
    assert all(lag >= accepted_events for lag in lag_while_open.values()), lag_while_open  # held back, visibly
    assert (shown_while_open, relayed_while_open) == (0, [])  # and never past
    assert verdict.passed, verdict  # every accepted event stored, shown once, relayed
    last_versions = {body["product_id"]: body["version"] for body in ledger.accepted}
    shown = {str(row.id): row.version for row in CatalogProduct.objects.filter(id__in=ledger.products)}
    assert shown == last_versions

    # The control: the same check with one accepted command left out of the ledger fails, naming
    # that command's event as stored but never reported.
    forgotten = ledger.accepted[-1]
    without_it = oracle.Ledger(accepted=ledger.accepted[:-1], products=ledger.products)
    assert oracle.check(without_it).unexpected == [event["id"] for event in forgotten["events"]]
