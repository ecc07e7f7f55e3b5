"""feed/hub.py: a subscriber that falls behind the shared tail is let go with where to resume,
and resuming from there loses nothing; the hub answers heartbeats when the log is quiet."""

import asyncio
import concurrent.futures
import uuid

import pytest
from django.db import connections, transaction

from feed.hub import Heartbeat, Hub, TooSlow, follow
from products.eventstore import NewEvent, append

pytestmark = pytest.mark.integration


def _append(marker: str, count: int, first: int = 0) -> None:
    """`count` events on a stream of the marker's, one per transaction, from data n = `first`."""
    try:
        for n in range(first, first + count):
            with transaction.atomic():
                append(marker, uuid.uuid4(), 0, [NewEvent(uuid.uuid4(), "FeedProbed", {"n": n})])
    finally:
        connections.close_all()  # on a thread of its own: its connection goes with it


def _run(scenario) -> None:
    """`scenario(hub, marker)` on an event loop whose reads use one thread, closed at the end."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
        hub = Hub(tail_size=40)
        ready = loop.create_future()
        running = loop.create_task(hub.run(ready))
        try:
            await ready
            await scenario(hub, f"feed-{uuid.uuid4().hex[:12]}")
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await loop.run_in_executor(None, connections.close_all)

    asyncio.run(main())


def _last_position(marker: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(position) FROM event_store WHERE stream_type = %s", [marker])
        return cursor.fetchone()[0]


def _mine(marker: str):
    return lambda event: event.stream_type == marker


async def _events(follower, count: int) -> list:
    """The next `count` events the follower gives (it gives them as many at a time as there are)."""
    got = []
    while len(got) < count:
        item = await anext(follower)
        assert isinstance(item, list), f"not events: {item!r}"
        got += item
    assert len(got) == count, got
    return got


async def _append_async(marker: str, count: int, first: int = 0) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as writer:  # beside the hub's reads, not before them
        await asyncio.get_running_loop().run_in_executor(writer, _append, marker, count, first)


async def _until(condition, seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the hub never got there"
        await asyncio.sleep(0.01)


def test_a_subscriber_behind_the_tail_is_told_where_to_resume_and_loses_nothing_when_it_does(committed_db):
    async def scenario(hub: Hub, marker: str) -> None:
        follower = follow(hub, hub.base, _mine(marker), heartbeat=60)
        await _append_async(marker, 1)
        [first] = await _events(follower, 1)
        assert first.data == {"n": 0}
        for step in range(5):  # the follower reads nothing meanwhile: 200 > the tail's 40
            await _append_async(marker, 40, first=1 + 40 * step)
            last = await asyncio.get_running_loop().run_in_executor(None, _last_position, marker)
            await _until(lambda: hub.head.position >= last)
        assert hub.base > first.checkpoint

        told = await anext(follower)
        assert told == TooSlow(first.checkpoint)
        with pytest.raises(StopAsyncIteration):
            await anext(follower)

        resumed = follow(hub, told.after, _mine(marker), heartbeat=60)
        got = await _events(resumed, 200)
        assert [(event.stream_type, event.data["n"]) for event in got] == [(marker, n) for n in range(1, 201)]
        assert [event.checkpoint for event in got] == sorted(event.checkpoint for event in got)

    _run(scenario)


def test_a_follower_that_keeps_up_is_never_told_to_resume(committed_db):
    async def scenario(hub: Hub, marker: str) -> None:
        follower = follow(hub, hub.base, _mine(marker), heartbeat=60)
        writing = asyncio.create_task(_append_async(marker, 200))
        got = await _events(follower, 200)  # never TooSlow: it would fail there
        await writing
        assert [event.data["n"] for event in got] == list(range(200))

    _run(scenario)


def test_a_quiet_log_gives_heartbeats(committed_db):
    async def scenario(hub: Hub, marker: str) -> None:
        follower = follow(hub, hub.head, _mine(marker), heartbeat=0.2)
        assert await asyncio.wait_for(anext(follower), 5) == Heartbeat()
        assert await asyncio.wait_for(anext(follower), 5) == Heartbeat()

    _run(scenario)


@pytest.mark.parametrize("looks_again", [True, False], ids=["as_shipped", "control"])
def test_an_event_held_behind_an_older_transaction_comes_once_that_ends_not_at_the_next_poll(
    committed_db, settings, monkeypatch, looks_again
):
    """Its notification comes while it is not below the horizon, and the older transaction's end
    notifies nobody. The control takes the second look away: the event then waits for the poll."""
    import psycopg

    from feed import hub as hub_module
    from tests.support.processes import test_database_url as run_database_url

    settings.FEED_POLL_SECONDS = 30
    if not looks_again:
        monkeypatch.setattr(hub_module, "UNSETTLED_FIRST_WAIT", 60)

    async def scenario(hub: Hub, marker: str) -> None:
        follower = follow(hub, hub.head, _mine(marker), heartbeat=60)
        with psycopg.connect(run_database_url()) as older:
            older.execute("SELECT pg_current_xact_id()")  # a writing transaction, open, older than the event
            await _append_async(marker, 1)
            waiting = asyncio.ensure_future(_events(follower, 1))
            await asyncio.sleep(0.5)
            assert not waiting.done()  # behind the horizon: not sent yet, never passed over
            older.rollback()
        if looks_again:
            [event] = await asyncio.wait_for(waiting, 5)
            assert event.data == {"n": 0}
        else:
            await asyncio.sleep(3)
            assert not waiting.done()
            waiting.cancel()

    _run(scenario)
