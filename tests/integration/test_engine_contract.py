"""One contract for the engine, run on both backends (projections/backends.py).

PostgreSQL (a runner lock, the horizon reader, statements bound server-side) and SQLite, the
zero-setup run's database (no runner lock, one writer at a time, the checkpoint read again
inside each batch's transaction) must give the same outcomes and leave the same state row
through retries, stalls, a dying worker, an operator's retry and skip, and a reset.
"""

import uuid

import pytest

from products import eventstore
from products.eventstore import NewEvent
from projections import engine, operations
from projections.models import ProjectionState
from tests.support.projectors import KILLERS, POISONED, WorkerDied

pytestmark = pytest.mark.integration

POISON = "test_poison"


@pytest.fixture(params=["default", "sqlite"], ids=["postgresql", "sqlite"])
def db(request) -> str:
    """The database alias of the backend under test."""
    return request.param


def state(db: str) -> ProjectionState:
    return ProjectionState.objects.using(db).get(name=POISON)


def append(db: str, stream: uuid.UUID, count: int, after_version: int = 0) -> list:
    events = [NewEvent(event_id=uuid.uuid4(), type="Happened", data={}) for _ in range(count)]
    return eventstore.append("thing", stream, after_version, events, using=db)


@pytest.fixture
def poison(db, settings, committed_db, extra_projector):
    """The test-only projection on the backend under test, rebuilt from the start of its log."""
    settings.PROJECTION_MAX_ATTEMPTS = 3
    settings.PROJECTION_RETRY_BASE_SECONDS = 0
    POISONED.clear()
    KILLERS.clear()
    projector = extra_projector(POISON, "tests.support.projectors.PoisonProjector")
    engine.replay_in_place(projector, using=db)
    yield projector
    POISONED.clear()
    KILLERS.clear()


def test_a_poisoned_event_is_retried_stalls_and_is_skipped_by_an_operator(poison, db):
    good, bad = uuid.uuid4(), uuid.uuid4()
    append(db, good, 2)
    assert (engine.catch_up(poison, using=db).outcome, state(db).status) == ("caught_up", "running")
    POISONED.add(bad)
    [poisoned] = append(db, bad, 1)
    append(db, good, 1, after_version=2)
    assert engine.unread([POISON], db) == [POISON]

    outcomes = [engine.catch_up(poison, using=db).outcome for _ in range(5)]

    assert outcomes == ["failed", "failed", "failed", "blocked", "blocked"]
    stalled = state(db)
    assert (stalled.status, stalled.failed_position) == ("stalled", poisoned.position)
    assert "poisoned stream" in stalled.last_error

    engine.retry(POISON, db)  # a fresh set of attempts; the error stays on show
    retried = state(db)
    assert (retried.status, retried.attempts, retried.next_retry_at, retried.suspect_until) == ("running", 0, None, None)
    assert retried.last_error == stalled.last_error

    operations.skip(POISON, poisoned.checkpoint, "a bad test event", using=db)
    skipped = state(db)
    assert (skipped.status, skipped.attempts, skipped.last_error, skipped.failed_position) == ("running", 0, "", None)
    assert (skipped.last_tx, skipped.last_position) == (poisoned.tx, poisoned.position)
    result = engine.catch_up(poison, using=db)
    assert (result.outcome, result.applied) == ("caught_up", 1)
    assert engine.lag(state(db), db) == 0 and engine.unread([POISON], db) == []


def test_a_worker_that_dies_is_found_one_event_at_a_time_and_stalls_there(poison, db):
    killer = uuid.uuid4()
    append(db, uuid.uuid4(), 2)
    KILLERS.add(killer)
    [killing] = append(db, killer, 1)

    for _ in range(3):
        with pytest.raises(WorkerDied):
            engine.catch_up(poison, using=db)
    # The healthy events before it went through one at a time and did not count as attempts.
    died = state(db)
    assert (died.attempts, died.suspect_until, died.last_position) == (3, killing.position, killing.position - 1)

    assert engine.catch_up(poison, using=db).outcome == "blocked"
    stalled = state(db)
    assert (stalled.status, stalled.failed_position) == ("stalled", killing.position)
    assert "The worker died" in stalled.last_error and engine.lag(stalled, db) == 1


def test_a_reset_replays_the_log_and_leaves_no_failure_behind(poison, db):
    POISONED.add(bad := uuid.uuid4())
    append(db, bad, 1)
    assert engine.catch_up(poison, using=db).outcome == "failed"
    POISONED.clear()

    engine.reset(poison, using=db)
    reset = state(db)
    assert (reset.status, reset.last_position, reset.events_applied, reset.attempts, reset.last_error) == (
        "rebuilding", 0, 0, 0, "")

    result = engine.catch_up(poison, using=db)
    replayed = state(db)
    assert (result.outcome, replayed.status, replayed.events_applied) == ("caught_up", "running", result.applied)
    assert engine.lag(replayed, db) == 0
    assert engine.replay_in_place(poison, using=db) == result.applied
