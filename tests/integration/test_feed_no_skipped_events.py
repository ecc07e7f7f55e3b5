"""The change feed hands every event exactly once and in order, whatever order writers commit in.

The gap harness's 16 writer processes commit out of position order all the time (see
tests/integration/gap_harness.py). Read through the change feed:

- the hub of feed/hub.py, in this process, with a tail small enough to be trimmed many times;
- the SSE route of a real uvicorn, whose reader drops its connection every 300 events and
  resumes with Last-Event-ID, in the middle of the burst.

The control gives the same hub a reader of `position > last`, as a feed that polls the table
would read: under the same writers it skips events, so the first two tests can fail.
"""

import uuid

import pytest
from asgiref.sync import sync_to_async

from products.eventstore import Checkpoint, RecordedEvent
from tests.integration import gap_harness
from tests.integration.feed_readers import HubReader, SseReader
from tests.support.processes import feed_server
from tests.support.processes import test_database_url as run_database_url

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]


class PositionAfterLast:
    """The control's reader of the log: `position > last ORDER BY position`, the bug the horizon
    reader exists to avoid. Its events carry the transaction id of the first checkpoint it is
    asked after, so the hub orders them by position alone, as such a feed would."""

    def __init__(self) -> None:
        self.tx: int | None = None

    async def __call__(self, after: Checkpoint, limit: int) -> list[RecordedEvent]:
        if self.tx is None:
            self.tx = after.tx
        return await sync_to_async(self._read, thread_sensitive=False)(after.position, limit)

    def _read(self, position: int, limit: int) -> list[RecordedEvent]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT position, stream_type, stream_id, version, event_id, type, schema_version, data, metadata,"
                " recorded_at FROM event_store WHERE position > %s ORDER BY position LIMIT %s", [position, limit])
            return [RecordedEvent(row[0], self.tx, *row[1:]) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def outcomes(django_db_setup, django_db_blocker) -> dict[str, gap_harness.Outcome]:
    """The hub, the SSE route and the control under the same writers, in one run, by reader name."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    assert settings.DATABASES["default"]["NAME"].startswith("test_catalog_")
    with django_db_blocker.unblock():
        staff = User.objects.create_user(username=f"gap-{uuid.uuid4().hex[:8]}", is_staff=True)
        token = Token.objects.create(user=staff).key
        with feed_server(FEED_HEARTBEAT_SECONDS="1") as base_url:  # a reader told to stop sees it within 1 s
            readers = [HubReader(tail_size=200), SseReader(base_url, token, reconnect_every=300),
                       HubReader("position-after-last", read=PositionAfterLast())]
            try:
                found = gap_harness.run_gap_experiments(readers, run_database_url())
            finally:
                for reader in readers:
                    reader.close()
    for outcome in found:
        print(outcome.summary())
    return {outcome.reader: outcome for outcome in found} | {"sse_reconnects": readers[1].reconnects}


def assert_every_event_once_in_order(outcome: gap_harness.Outcome) -> None:
    assert outcome.written == len(outcome.stored), outcome.summary()
    assert len(outcome.stored) > 300, f"too little load to show anything: {outcome.summary()}"
    assert outcome.skipped == [], f"skipped {len(outcome.skipped)}: {outcome.skipped[:20]} ({outcome.summary()})"
    assert outcome.read_twice == [], f"read twice: {outcome.read_twice[:20]} ({outcome.summary()})"
    assert outcome.unknown == [], outcome.summary()
    assert outcome.streams_out_of_order == {}, outcome.summary()


def test_the_hub_hands_every_event_once_in_order(outcomes):
    assert_every_event_once_in_order(outcomes["hub"])


def test_the_sse_route_hands_every_event_once_in_order_across_reconnects(outcomes):
    outcome = outcomes["sse"]
    assert_every_event_once_in_order(outcome)
    assert outcomes["sse_reconnects"] >= 2, f"the reader never reconnected mid-burst: {outcome.summary()}"


def test_control_a_hub_reading_position_after_last_skips_late_commits(outcomes):
    outcome = outcomes["position-after-last"]

    assert outcome.written == len(outcome.stored), outcome.summary()
    assert len(outcome.stored) > 300, outcome.summary()
    assert len(outcome.skipped) > 0, f"the control skipped nothing: the tests above cannot fail ({outcome.summary()})"
