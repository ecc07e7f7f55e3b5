"""The event store's contract, run against PostgreSQL and against the SQLite variant."""

import uuid

import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, connections, transaction

from products import eventstore
from products.eventstore import Checkpoint, EventsAlreadyStored, NewEvent, StreamVersionConflict, dialects
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

BACKENDS = ["default", "sqlite"]


def new_events(count: int, kind: str = "Happened") -> list[NewEvent]:
    return [NewEvent(event_id=uuid.uuid4(), type=kind, data={"n": n}) for n in range(count)]


def end_of_log(using: str) -> Checkpoint:
    checkpoint = Checkpoint.START
    while batch := eventstore.read_all(after=checkpoint, limit=1000, using=using):
        checkpoint = batch[-1].checkpoint
    return checkpoint


def readable(after: Checkpoint, streams: list, using: str = "default") -> list:
    """The events of `streams` that read_all gives after `after` (events of other tests left out)."""
    events = eventstore.read_all(after=after, limit=1000, using=using)
    return [e for e in events if e.stream_id in streams]


def settled(after: Checkpoint, streams: list, count: int, using: str = "default") -> list:
    """Wait until `count` events of `streams` are readable after `after`.

    The horizon is cluster-wide: any transaction open anywhere on the server (another test
    run's, say) delays the reader for a moment. It lags; it never skips.
    """
    return wait_until(
        lambda: len(events := readable(after, streams, using)) >= count and events,
        timeout=15,
        what=f"{count} events to settle",
    )


@pytest.fixture(params=BACKENDS)
def using(request, committed_db):
    return request.param


def test_append_then_load_gives_the_stream_in_version_order(using):
    stream = uuid.uuid4()
    first = eventstore.append("thing", stream, 0, new_events(2), {"user_id": 7}, using=using)
    second = eventstore.append("thing", stream, 2, new_events(1), using=using)

    loaded = eventstore.load(stream, using=using)

    assert [e.version for e in loaded] == [1, 2, 3]
    assert loaded == first + second
    assert [e.data for e in loaded] == [{"n": 0}, {"n": 1}, {"n": 0}]
    assert loaded[0].metadata == {"user_id": 7} and loaded[2].metadata == {}
    assert all(e.stream_id == stream and e.stream_type == "thing" for e in loaded)
    assert loaded[0].position < loaded[1].position < loaded[2].position


def test_appending_at_a_taken_version_is_a_conflict_and_stores_nothing(using):
    stream = uuid.uuid4()
    eventstore.append("thing", stream, 0, new_events(1), using=using)

    with pytest.raises(StreamVersionConflict):
        eventstore.append("thing", stream, 0, new_events(1), using=using)

    assert [e.version for e in eventstore.load(stream, using=using)] == [1]


def test_appending_events_already_stored_is_refused_and_keeps_one_copy(using):
    stream = uuid.uuid4()
    events = new_events(2)
    eventstore.append("thing", stream, 0, events, using=using)

    with pytest.raises(EventsAlreadyStored) as refused:
        eventstore.append("thing", stream, 0, events, using=using)
    with pytest.raises(EventsAlreadyStored):  # even at the next version, an id is stored once
        eventstore.append("thing", stream, 2, events[1:], using=using)

    assert refused.value.event_ids == [e.event_id for e in events]
    assert [e.event_id for e in eventstore.load(stream, using=using)] == [e.event_id for e in events]


def test_load_events_finds_stored_events_by_id(using):
    stream = uuid.uuid4()
    stored = eventstore.append("thing", stream, 0, new_events(2), using=using)

    found = eventstore.load_events([stored[1].event_id, uuid.uuid4(), stored[0].event_id], using=using)

    assert found == stored


def test_read_all_continues_after_a_checkpoint_in_log_order(using):
    start = end_of_log(using)
    streams = [uuid.uuid4(), uuid.uuid4()]
    for stream in streams:
        eventstore.append("thing", stream, 0, new_events(3), using=using)
    first = settled(start, streams, 6, using)[0]
    # Start the page right before this test's first event, whatever else is in the log.
    start = max([start] + [e.checkpoint for e in eventstore.read_all(after=start, limit=1000, using=using) if e.checkpoint < first.checkpoint])

    page = eventstore.read_all(after=start, limit=4, using=using)
    rest = readable(page[-1].checkpoint, streams, using)

    assert len(page) == 4 and all(e.stream_id in streams for e in page)
    assert [(e.stream_id, e.version) for e in page + rest] == [(s, v) for s in streams for v in (1, 2, 3)]
    assert [e.checkpoint for e in page + rest] == sorted(e.checkpoint for e in page + rest)


def test_checkpoint_tokens_round_trip_and_refuse_garbage():
    checkpoint = Checkpoint(tx=1234, position=99)
    assert Checkpoint.parse(str(checkpoint)) == checkpoint
    for token in ["", "12", "a-b", "1-2-3", "-1-2", "1 -2", "1-" + "9" * 30]:
        with pytest.raises(ValueError):
            Checkpoint.parse(token)


@pytest.mark.parametrize("statement", ["UPDATE event_store SET type = 'Forged'", "DELETE FROM event_store"])
def test_the_database_refuses_to_change_or_delete_stored_events(using, statement):
    stream = uuid.uuid4()
    eventstore.append("thing", stream, 0, new_events(1), using=using)

    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute(statement)

    assert [e.type for e in eventstore.load(stream, using=using)] == ["Happened"]


# --- PostgreSQL only -----------------------------------------------------------------------


def raw_connection() -> psycopg.Connection:
    """A second connection to this run's database, outside Django."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432, password=db["PASSWORD"]
    )


def test_postgres_refuses_truncate(committed_db):
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE"):
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute("TRUNCATE event_store")


def test_postgres_refuses_an_append_that_is_not_the_first_write_of_its_transaction(committed_db):
    stream = uuid.uuid4()
    with raw_connection() as connection:
        connection.execute("CREATE TEMP TABLE scratch (x int)")
        connection.commit()
        connection.execute("INSERT INTO scratch VALUES (1)")  # takes the transaction id first
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="first write"):
            connection.execute(
                "INSERT INTO event_store (stream_type, stream_id, version, event_id, type, data)"
                " VALUES ('thing', %s, 1, %s, 'Happened', '{}')",
                (stream, uuid.uuid4()),
            )
    assert eventstore.load(stream) == []


def test_postgres_allows_other_writes_after_the_append(committed_db):
    """The control for the test above: the same two writes in the other order commit."""
    stream = uuid.uuid4()
    with transaction.atomic():
        eventstore.append("thing", stream, 0, new_events(1))
        with connections["default"].cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS scratch (x int)")
            cursor.execute("INSERT INTO scratch VALUES (1)")
    assert len(eventstore.load(stream)) == 1


def test_read_all_waits_for_an_open_transaction_instead_of_skipping_it(committed_db):
    start = end_of_log("default")
    slow_stream, fast_stream = uuid.uuid4(), uuid.uuid4()
    with raw_connection() as slow:
        slow.execute(
            "INSERT INTO event_store (stream_type, stream_id, version, event_id, type, data)"
            " VALUES ('thing', %s, 1, %s, 'Slow', '{}')",
            (slow_stream, uuid.uuid4()),
        )
        eventstore.append("thing", fast_stream, 0, new_events(1, kind="Fast"))  # commits first

        while_open = readable(start, [slow_stream, fast_stream])
        slow.commit()
    after_commit = settled(start, [slow_stream, fast_stream], 2)

    # Neither is readable while the earlier transaction is open: the reader lags, it never skips.
    assert [e.type for e in while_open] == []
    assert [e.type for e in after_commit] == ["Slow", "Fast"]


def test_postgres_reads_the_log_in_transaction_id_order_not_text_order(committed_db):
    """Sorting the xid8 as text would put tx 1000 before tx 999 and skip events past a power of ten."""
    from products.eventstore import dialects

    sql = (
        f"EXPLAIN (VERBOSE, FORMAT JSON) SELECT {dialects.Postgres.columns} FROM event_store"
        f" WHERE {dialects.Postgres.after_checkpoint} LIMIT 500"
    )
    with connections["default"].cursor() as cursor:
        cursor.execute(sql, ["0", 0])
        plan = cursor.fetchone()[0]

    def sort_keys(node):
        if isinstance(node, dict):
            yield from node.get("Sort Key", [])
            for child in node.values():
                yield from sort_keys(child)
        elif isinstance(node, list):
            for child in node:
                yield from sort_keys(child)

    # The broken query's plan sorted on "((event_store.tx)::text)".
    keys = list(sort_keys(plan))
    assert not [key for key in keys if "::text" in key], keys


# The statement as it was: its output column `tx` (text) is what ORDER BY tx sorted.
LAST_SETTLED_BY_TEXT = ("SELECT tx::text, position FROM event_store WHERE tx < pg_snapshot_xmin(pg_current_snapshot())"
                        " ORDER BY tx DESC, position DESC LIMIT 1")


@pytest.mark.parametrize("statement, found_last", [(dialects.Postgres.last_settled, "after"),
                                                   (LAST_SETTLED_BY_TEXT, "before")], ids=["dialect", "control_by_text"])
def test_the_last_settled_event_is_the_last_by_transaction_id_not_by_its_text(committed_db, statement, found_last):
    """Transaction ids pass a power of ten on every long-lived cluster: 100000 must come after
    99999, as numbers (read as text, "99999" sorts last, and the log seemed to end long ago).
    The statement runs against a table of the same name, in a schema of the test's own, holding
    ids it chose on both sides of the highest power of ten the cluster has passed (they must be
    settled: below its horizon); the control, sorting the text, finds the one before it."""
    schema = f"last_settled_{uuid.uuid4().hex[:8]}"
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        horizon = cursor.fetchone()[0]
        boundary = 10 ** (len(str(horizon - 2)) - 1)  # boundary + 1 < horizon
        last = {"after": (boundary + 1, 3), "before": (boundary - 1, 7)}[found_last]
        try:
            cursor.execute(f"CREATE SCHEMA {schema}")
            cursor.execute(f"CREATE TABLE {schema}.event_store (tx xid8 NOT NULL, position bigint NOT NULL)")
            cursor.execute(f"INSERT INTO {schema}.event_store VALUES (%s::text::xid8, 7), (%s::text::xid8, 8),"
                           " (%s::text::xid8, 3)", [boundary - 1, boundary, boundary + 1])
            cursor.execute(f"SET search_path TO {schema}")
            cursor.execute(statement)
            found = cursor.fetchone()
        finally:
            cursor.execute("RESET search_path")
            cursor.execute(f"DROP SCHEMA {schema} CASCADE")
    assert (int(found[0]), found[1]) == last
