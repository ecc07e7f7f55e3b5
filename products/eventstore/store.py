"""append, load, read_all and read_streams over Django's database connections, in plain SQL."""

from __future__ import annotations

import json
import queue
import threading
from contextlib import nullcontext
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime
from psycopg.types.datetime import TimestamptzLoader

from project.database.deadline import commit_point

from . import dialects
from .pgcursor import binary_cursor
from .records import Checkpoint, EventsAlreadyStored, NewEvent, RecordedEvent, StreamVersionConflict


def append(
    stream_type: str,
    stream_id: UUID,
    expected_version: int,
    events: Sequence[NewEvent],
    metadata: dict[str, Any] | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> list[RecordedEvent]:
    """Store `events` as versions expected_version+1, +2, … of the stream, in one INSERT.

    Call it inside the command's transaction, before anything else is written there.
    """
    if not events:
        return []
    connection = connections[using]
    dialect = dialects.for_vendor(connection.vendor)
    meta = json.dumps(metadata or {})
    params: list[Any] = []
    for offset, event in enumerate(events, start=1):
        params += [
            stream_type,
            dialect.uuid(stream_id),
            expected_version + offset,
            dialect.uuid(event.event_id),
            event.type,
            event.schema_version,
            json.dumps(event.data),
            meta,
        ]
    sql = (
        "INSERT INTO event_store (stream_type, stream_id, version, event_id, type, schema_version, data, metadata)"
        f" VALUES {', '.join([dialect.row] * len(events))}"
        # Only what the database adds: the payloads it would send back are the ones just sent.
        f" ON CONFLICT (event_id) DO NOTHING RETURNING {dialect.appended_columns}"
    )
    # Outside a transaction the INSERT commits by itself: a timeout waiting for its answer leaves
    # the append's outcome unknown, not failed (project/database/deadline.py).
    commits_itself = connection.get_autocommit()
    try:
        # On PostgreSQL, bound server-side: the statement is then prepared once per connection
        # (psycopg prepares a query it has seen a few times) instead of parsed and planned per command.
        with (binary_cursor(connection) if connection.vendor == "postgresql" else connection.cursor()) as cursor, \
                (commit_point() if commits_itself else nullcontext()):
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    except IntegrityError as error:
        if dialect.is_stream_version_violation(error):
            raise StreamVersionConflict(stream_id, expected_version) from error
        raise
    if len(rows) < len(events):
        # Some ids were stored already (ON CONFLICT skipped them): a retry of an earlier append.
        # Raising lets the caller's transaction roll back whatever part did go in.
        raise EventsAlreadyStored([event.event_id for event in events])
    by_version = {event_version: (position, tx, recorded_at) for position, tx, event_version, recorded_at in rows}
    recorded = []
    for offset, event in enumerate(events, start=1):
        position, tx, recorded_at = by_version[expected_version + offset]
        recorded.append(RecordedEvent(
            position=position, tx=int(tx), stream_type=stream_type, stream_id=stream_id,
            version=expected_version + offset, event_id=event.event_id, type=event.type,
            schema_version=event.schema_version, data=event.data, metadata=metadata or {},
            recorded_at=_datetime(recorded_at),
        ))
    return recorded


def load(stream_id: UUID, after_version: int = 0, using: str = DEFAULT_DB_ALIAS) -> list[RecordedEvent]:
    """The stream's events after `after_version` (all of them by default), in version order."""
    connection = connections[using]
    dialect = dialects.for_vendor(connection.vendor)
    return _select(
        using,
        f"SELECT {dialect.columns} FROM event_store WHERE stream_id = %s AND version > %s ORDER BY version",
        [dialect.uuid(stream_id), after_version],
    )


def load_events(event_ids: Iterable[UUID], using: str = DEFAULT_DB_ALIAS) -> list[RecordedEvent]:
    """The stored events with these ids, in stream order (for replaying an idempotent command)."""
    connection = connections[using]
    dialect = dialects.for_vendor(connection.vendor)
    ids = [dialect.uuid(event_id) for event_id in event_ids]
    if not ids:
        return []
    placeholders = ", ".join(["%s"] * len(ids))
    return _select(
        using,
        f"SELECT {dialect.columns} FROM event_store WHERE event_id IN ({placeholders}) ORDER BY stream_id, version",
        ids,
    )


def read_all(after: Checkpoint = Checkpoint.START, limit: int = 500, using: str = DEFAULT_DB_ALIAS) -> list[RecordedEvent]:
    """Up to `limit` events after `after`, in log order; a late-committing event is never passed over."""
    connection = connections[using]
    dialect = dialects.for_vendor(connection.vendor)
    sql = f"SELECT {dialect.columns} FROM event_store WHERE {dialect.after_checkpoint} LIMIT %s"
    params = [*dialect.checkpoint_params(after.tx, after.position), limit]
    if connection.vendor != "postgresql":
        return _select(using, sql, params)
    with binary_cursor(connection) as cursor:  # the projections' bulk read: see pgcursor
        return [_recorded(row) for row in cursor.execute(sql, params).fetchall()]


def contains(checkpoint: Checkpoint, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether an event of the log stands at `checkpoint` (a position a reader may resume after)."""
    dialect = dialects.for_vendor(connections[using].vendor)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM event_store WHERE {dialect.at_checkpoint}",
                       dialect.checkpoint_params(checkpoint.tx, checkpoint.position))
        return cursor.fetchone() is not None


def last_settled(using: str = DEFAULT_DB_ALIAS) -> Checkpoint | None:
    """The last event read_all can return now: all before it in the log have committed."""
    dialect = dialects.for_vendor(connections[using].vendor)
    with connections[using].cursor() as cursor:
        cursor.execute(dialect.last_settled)
        row = cursor.fetchone()
    return Checkpoint(int(row[0]), row[1]) if row else None


def read_streams(upto: Checkpoint, using: str = DEFAULT_DB_ALIAS, first: UUID | None = None,
                 before: UUID | None = None, fetch: int = 5000) -> Iterator[list[RecordedEvent]]:
    """The log up to `upto` (a settled checkpoint, see last_settled), one stream at a time.

    Each list is one stream's events in version order, so a fold of the whole log holds one
    stream, not every stream; `first` and `before` limit it to a range of stream ids. On
    PostgreSQL the rows come through a server-side cursor in `fetch`-row steps, on a connection
    of its own in one read-only snapshot: the caller's connection stays free to write and
    commit meanwhile, and nothing is held in memory.
    """
    connection = connections[using]
    dialect = dialects.for_vendor(connection.vendor)
    streams, params = "", dialect.checkpoint_params(upto.tx, upto.position)
    if first is not None:
        streams, params = streams + " AND stream_id >= %s", [*params, dialect.uuid(first)]
    if before is not None:
        streams, params = streams + " AND stream_id < %s", [*params, dialect.uuid(before)]
    sql = f"SELECT {dialect.columns_json_as_text} FROM event_store WHERE {dialect.up_to_by_stream.format(streams=streams)}"
    if connection.vendor != "postgresql":
        yield from _by_stream(_select(using, sql, params))
        return
    connection.ensure_connection()
    with connection.get_new_connection(connection.get_connection_params()) as reader:
        reader.read_only = True
        with reader.transaction(), reader.cursor(name="read_streams", binary=True) as cursor:
            reader.execute("SET LOCAL TIME ZONE 'UTC'")  # recorded_at as Django's own sessions load it
            cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
            cursor.execute(sql, params)
            # _recorded, without its checks: the binary cursor hands over uuids and aware datetimes.
            loads = json.loads
            yield from _by_stream(
                RecordedEvent(position, int(tx), stream_type, stream_id, version, event_id, type_, schema_version,
                              loads(data), loads(metadata) if metadata else {}, recorded_at)
                for rows in _fetched_ahead(cursor, fetch)
                for position, tx, stream_type, stream_id, version, event_id, type_, schema_version, data, metadata, recorded_at
                in rows
            )


def _fetched_ahead(cursor, size: int) -> Iterator[list]:
    """The cursor's rows, `size` at a time, the next step fetched by a thread while the caller
    works on this one: the database's share of a fold then runs beside the caller's."""
    ahead: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fetch() -> None:
        try:
            while not stop.is_set():
                rows = cursor.fetchmany(size)
                ahead.put(rows)
                if not rows:
                    return
        except BaseException as error:
            ahead.put(error)

    fetcher = threading.Thread(target=fetch, name="read_streams", daemon=True)
    fetcher.start()
    try:
        while True:
            rows = ahead.get()
            if isinstance(rows, BaseException):
                raise rows
            if not rows:
                return
            yield rows
    finally:
        stop.set()
        while fetcher.is_alive():  # let it end its step, so the cursor is free to close
            try:
                ahead.get(timeout=0.1)
            except queue.Empty:
                pass


def _by_stream(events: Iterable[RecordedEvent]) -> Iterator[list[RecordedEvent]]:
    stream: list[RecordedEvent] = []
    current = None
    for event in events:
        if event.stream_id.int != current:  # an int compares in C; UUID.__eq__ is Python
            if stream:
                yield stream
            stream, current = [], event.stream_id.int
        stream.append(event)
    if stream:
        yield stream


def stored_after(after: Checkpoint, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether any event is stored after `after`, settled or not: read_all returning nothing while
    this is true means one is waiting for an older transaction to end."""
    dialect = dialects.for_vendor(connections[using].vendor)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM event_store WHERE {dialect.stored_after})",
                       dialect.checkpoint_params(after.tx, after.position))
        return bool(cursor.fetchone()[0])


def count_after(after: Checkpoint, using: str = DEFAULT_DB_ALIAS) -> int:
    """How many stored events come after `after` (including any not yet below the horizon)."""
    dialect = dialects.for_vendor(connections[using].vendor)
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM event_store WHERE {dialect.stored_after}",
            dialect.checkpoint_params(after.tx, after.position),
        )
        return cursor.fetchone()[0]


def settled_filter(using: str = DEFAULT_DB_ALIAS) -> RawSQL:
    """A StoredEvent queryset filter: the events read_all may return now (below the horizon)."""
    return RawSQL(dialects.for_vendor(connections[using].vendor).settled, [], output_field=BooleanField())


def after_filter(after: Checkpoint, using: str = DEFAULT_DB_ALIAS) -> RawSQL:
    """A StoredEvent queryset filter: the events after `after` in log order."""
    dialect = dialects.for_vendor(connections[using].vendor)
    params = dialect.checkpoint_params(after.tx, after.position)
    return RawSQL(dialect.stored_after, params, output_field=BooleanField())


def _select(using: str, sql: str, params: list[Any]) -> list[RecordedEvent]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return [_recorded(row) for row in cursor.fetchall()]


def _recorded(row: Sequence[Any]) -> RecordedEvent:
    position, tx, stream_type, stream_id, version, event_id, type_, schema_version, data, metadata, recorded_at = row
    return RecordedEvent(
        position=position,
        tx=int(tx),
        stream_type=stream_type,
        stream_id=_uuid(stream_id),
        version=version,
        event_id=_uuid(event_id),
        type=type_,
        schema_version=schema_version,
        data=_json(data),
        metadata=_json(metadata),
        recorded_at=_datetime(recorded_at),
    )


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _json(value: Any) -> dict[str, Any]:
    # Django has psycopg hand jsonb over as text, and SQLite stores text.
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
