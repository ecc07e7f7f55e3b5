"""The engine on SQLite, the zero-setup run's database: no runner lock, one writer at a time.

The PostgreSQL side of the same contract is tested throughout tests/integration; these run the
failure paths that differ underneath (the state row read through the ORM, the checkpoint read
again inside each batch's transaction) on the `sqlite` database of the test settings.
"""

import uuid

import pytest

from products import eventstore
from products.eventstore import NewEvent
from projections import engine, operations
from projections.models import ProjectionState
from tests.support.projectors import KILLERS, POISONED, WorkerDied

pytestmark = pytest.mark.integration

DB = "sqlite"
POISON = "test_poison"


def state() -> ProjectionState:
    return ProjectionState.objects.using(DB).get(name=POISON)


def append(stream: uuid.UUID, count: int, after_version: int = 0) -> list:
    events = [NewEvent(event_id=uuid.uuid4(), type="Happened", data={}) for _ in range(count)]
    return eventstore.append("thing", stream, after_version, events, using=DB)


@pytest.fixture
def poison(settings, committed_db, extra_projector):
    """The test-only projection on SQLite, rebuilt from the start of its log."""
    settings.PROJECTION_MAX_ATTEMPTS = 3
    settings.PROJECTION_RETRY_BASE_SECONDS = 0
    POISONED.clear()
    KILLERS.clear()
    projector = extra_projector(POISON, "tests.support.projectors.PoisonProjector")
    engine.rebuild(projector, using=DB)
    yield projector
    POISONED.clear()
    KILLERS.clear()


def test_a_poisoned_event_is_retried_stalls_and_is_skipped_by_an_operator(poison):
    good, bad = uuid.uuid4(), uuid.uuid4()
    append(good, 2)
    assert (engine.catch_up(poison, using=DB).outcome, state().status) == ("caught_up", "running")
    POISONED.add(bad)
    [poisoned] = append(bad, 1)
    append(good, 1, after_version=2)
    assert engine.unread([POISON], DB) == [POISON]

    outcomes = [engine.catch_up(poison, using=DB).outcome for _ in range(5)]

    assert outcomes == ["failed", "failed", "failed", "blocked", "blocked"]
    stalled = state()
    assert (stalled.status, stalled.failed_position) == ("stalled", poisoned.position)
    assert "poisoned stream" in stalled.last_error

    engine.retry(POISON, DB)  # a fresh set of attempts; the error stays on show
    retried = state()
    assert (retried.status, retried.attempts, retried.next_retry_at, retried.suspect_until) == ("running", 0, None, None)
    assert retried.last_error == stalled.last_error

    operations.skip(POISON, poisoned.checkpoint, "a bad test event", using=DB)
    skipped = state()
    assert (skipped.status, skipped.attempts, skipped.last_error, skipped.failed_position) == ("running", 0, "", None)
    assert (skipped.last_tx, skipped.last_position) == (poisoned.tx, poisoned.position)
    result = engine.catch_up(poison, using=DB)
    assert (result.outcome, result.applied) == ("caught_up", 1)
    assert engine.lag(state(), DB) == 0 and engine.unread([POISON], DB) == []


def test_a_worker_that_dies_is_found_one_event_at_a_time_and_stalls_there(poison):
    killer = uuid.uuid4()
    append(uuid.uuid4(), 2)
    KILLERS.add(killer)
    [killing] = append(killer, 1)

    for _ in range(3):
        with pytest.raises(WorkerDied):
            engine.catch_up(poison, using=DB)
    # The healthy events before it went through one at a time and did not count as attempts.
    died = state()
    assert (died.attempts, died.suspect_until, died.last_position) == (3, killing.position, killing.position - 1)

    assert engine.catch_up(poison, using=DB).outcome == "blocked"
    stalled = state()
    assert (stalled.status, stalled.failed_position) == ("stalled", killing.position)
    assert "The worker died" in stalled.last_error and engine.lag(stalled, DB) == 1


def test_a_reset_replays_the_log_and_leaves_no_failure_behind(poison):
    POISONED.add(bad := uuid.uuid4())
    append(bad, 1)
    assert engine.catch_up(poison, using=DB).outcome == "failed"
    POISONED.clear()

    engine.reset(poison, using=DB)
    reset = state()
    assert (reset.status, reset.last_position, reset.events_applied, reset.attempts, reset.last_error) == (
        "rebuilding", 0, 0, 0, "")

    result = engine.catch_up(poison, using=DB)
    replayed = state()
    assert (result.outcome, replayed.status, replayed.events_applied) == ("caught_up", "running", result.applied)
    assert engine.lag(replayed, DB) == 0
    assert engine.rebuild(poison, using=DB) == result.applied
