"""Scenario 1: kill -9 a worker's pool process, then its main process, in the middle of a batch."""

import os
import signal

import pytest

from projections.models import ProjectionState
from tests.api.helpers import register_body
from tests.faults.conftest import applied_once, command_client, converge
from tests.support import oracle
from tests.support.polling import wait_until
from tests.support.processes import celery_worker, web_server


def kill_mid_batch(flag, client, base_url, ledger) -> int:
    """Post a command, wait until the slow probe's batch is paused inside it, kill that process."""
    flag.touch()
    inside = flag.with_suffix(".inside")
    inside.unlink(missing_ok=True)
    before = ProjectionState.objects.get(name="slow_probe")
    ledger.record(client.post(f"{base_url}/api/products/", json=register_body(), timeout=10))
    pid = int(wait_until(lambda: inside.exists() and inside.read_text(), timeout=30, what="the paused batch"))
    os.kill(pid, signal.SIGKILL)
    flag.unlink()
    return before.attempts


@pytest.mark.parametrize("victim", ["pool process", "main process"])
def test_a_batch_killed_midway_rolls_back_counts_an_attempt_and_is_applied_once_later(
    victim, make_user, token_for, slow_probe
):
    env, flag = slow_probe
    ledger = oracle.Ledger()
    client = command_client(token_for(make_user()))
    with web_server(**env) as base_url:
        with celery_worker("first", concurrency=1, **env) as worker:
            converge(timeout=60)
            if victim == "main process":
                # The pool process is the one paused; take down the main process instead.
                flag.touch()
                ledger.record(client.post(f"{base_url}/api/products/", json=register_body(), timeout=10))
                wait_until(flag.with_suffix(".inside").exists, timeout=30, what="the paused batch")
                os.killpg(worker.pid, signal.SIGKILL)  # main and pool together, as an OOM kill of the container
                flag.unlink()
                worker.wait(10)
            else:
                kill_mid_batch(flag, client, base_url, ledger)
            state = wait_until(
                lambda: (s := ProjectionState.objects.get(name="slow_probe")).attempts >= 1 and s,
                timeout=30, what="the attempt to be counted",
            )
            assert state.suspect_until is not None  # the batch never committed: the engine knows a runner died there
        # Redelivered (unacknowledged with acks_late) to a worker that is up: applied once.
        with celery_worker("second", concurrency=1, **env):
            converge(timeout=60)
    verdict = oracle.check(ledger)

    assert applied_once(), "an event was applied twice"
    final = ProjectionState.objects.get(name="slow_probe")
    assert (final.status, final.attempts, final.suspect_until) == ("running", 0, None)
    assert verdict.passed, verdict
