"""A reader advancing a checkpoint through `read_all` never skips an event that commits late.

16 writer processes append one event per transaction and pause 0-5 ms between the INSERT and
the COMMIT, so positions commit out of order all the time. A reader polls while they write and
after they stop; what it saw is compared with what is stored under this run's marker.

The control, the naive `position > checkpoint` reader, polls beside it under the same writers
and must see it skip events: proof that the load reproduces the gap problem, so the first test
can fail.
Events stay in the store (it refuses DELETE and TRUNCATE); each run has its own stream_type.
"""

import pytest

from tests.integration import gap_harness
from tests.support.processes import test_database_url as run_database_url

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def outcomes(django_db_setup, django_db_blocker) -> dict[str, gap_harness.Outcome]:
    """Both readers under the same writers, in one run: what each saw, by reader name."""
    from django.conf import settings

    name = settings.DATABASES["default"]["NAME"]
    assert name.startswith("test_catalog_"), "the children must write to the run's own database"
    with django_db_blocker.unblock():
        found = gap_harness.run_gap_experiments([reader() for reader in gap_harness.READERS.values()],
                                                run_database_url())
    for outcome in found:
        print(outcome.summary())
    return {outcome.reader: outcome for outcome in found}


def test_horizon_reader_sees_every_event_exactly_once_in_stream_order(outcomes):
    outcome = outcomes["horizon"]

    assert outcome.written == len(outcome.stored), outcome.summary()
    assert len(outcome.stored) > 500, f"too little load to show anything: {outcome.summary()}"
    assert outcome.skipped == [], f"skipped {len(outcome.skipped)}: {outcome.skipped[:20]} ({outcome.summary()})"
    assert outcome.read_twice == [], f"read twice: {outcome.read_twice[:20]} ({outcome.summary()})"
    assert outcome.unknown == [], outcome.summary()
    assert len(outcome.seen) > 500, outcome.summary()
    assert len(outcome.seen_versions) == outcome.writers, outcome.summary()
    assert outcome.streams_out_of_order == {}, outcome.summary()


def test_control_naive_position_reader_skips_late_commits(outcomes):
    outcome = outcomes["naive"]

    assert outcome.written == len(outcome.stored), outcome.summary()
    assert len(outcome.stored) > 500, f"too little load to show anything: {outcome.summary()}"
    assert outcome.unknown == [], outcome.summary()
    assert len(outcome.skipped) > 0, f"the naive reader skipped nothing: the harness cannot fail ({outcome.summary()})"
