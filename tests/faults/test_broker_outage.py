"""Scenarios 2 and 3: RabbitMQ unreachable during a burst, and lost while a task runs."""

import concurrent.futures
import time

from projections.models import ProjectionState
from tests.api.helpers import register_body
from tests.faults.conftest import applied_once, command_client, converge, service_stack
from tests.support import oracle, probes
from tests.support.polling import wait_until
from tests.support.proxy import TcpProxy
from tests.support.stats import percentile


def test_commands_keep_being_accepted_while_rabbitmq_is_unreachable(make_user, token_for, subscriber, rabbitmq_vhost):
    connection, queue = subscriber
    ledger = oracle.Ledger()
    client = command_client(token_for(make_user()))
    with TcpProxy(5672) as broker:
        url = f"amqp://guest:guest@127.0.0.1:{broker.port}/{rabbitmq_vhost}"
        with service_stack(CELERY_BROKER_URL=url, INTEGRATION_RELAY_URL=url) as base_url:
            ledger.record(client.post(f"{base_url}/api/products/", json=register_body(), timeout=10))

            broker.cut()
            latencies = []

            def command(_):
                started = time.monotonic()
                response = client.post(f"{base_url}/api/products/", json=register_body(), timeout=10)
                latencies.append(time.monotonic() - started)
                return response

            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                for response in pool.map(command, range(60)):
                    ledger.record(response)

            broker.restore()
            convergence = converge(timeout=60, nudge=False)  # beat's sweep and the next nudges only
    verdict = oracle.check(ledger, oracle.drain_relay(connection, queue))

    print(f"p99 {percentile(latencies, 99) * 1000:.0f} ms, converged {convergence:.1f} s after restore, {verdict}")
    assert ledger.refused == [] and len(ledger.accepted) == 61
    assert percentile(latencies, 99) < 1.0
    assert convergence < 2 + 10, "beyond the sweep interval plus catch-up"
    assert verdict.passed, verdict


def test_rabbitmq_lost_while_a_batch_runs_duplicates_no_effect_and_the_worker_reconnects(
    make_user, token_for, subscriber, slow_probe, rabbitmq_vhost
):
    env, flag = slow_probe
    connection, queue = subscriber
    ledger = oracle.Ledger()
    client = command_client(token_for(make_user()))
    with TcpProxy(5672) as broker:
        url = f"amqp://guest:guest@127.0.0.1:{broker.port}/{rabbitmq_vhost}"
        with service_stack(CELERY_BROKER_URL=url, INTEGRATION_RELAY_URL=url, **env) as base_url:
            converge(timeout=60)
            flag.touch()
            ledger.record(client.post(f"{base_url}/api/products/", json=register_body(), timeout=10))
            wait_until(flag.with_suffix(".inside").exists, timeout=30, what="the slow batch to start")

            broker.cut()  # the task's delivery is unacknowledged (acks_late) when the connection dies
            time.sleep(1)
            broker.restore()
            flag.unlink()  # the paused batch finishes; the redelivered task finds nothing left to do
            convergence = converge(timeout=60, nudge=False)
            # The same worker, reconnected by itself, still serves nudges.
            ledger.record(client.post(f"{base_url}/api/products/", json=register_body(), timeout=10))
            converge(timeout=30)
    verdict = oracle.check(ledger, oracle.drain_relay(connection, queue))

    print(f"converged {convergence:.1f} s after the broker came back, {verdict}")
    assert probes.applied_positions() and applied_once()
    assert ProjectionState.objects.get(name="slow_probe").status == "running"
    assert verdict.passed, verdict

