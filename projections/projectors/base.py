"""The projector protocol: what the engine needs from a read model, and a base for the usual kind.

A projector has a name and a version, owns its tables, turns a batch of recorded events into
writes (inside the engine's transaction, so they commit with the checkpoint), and can empty its
tables for a rebuild. It never reads checkpoints, takes locks or commits: the engine does that.

A table projector can also write to another set of tables than its models' own: that is how a
rebuild fills the next generation of a read model while the live one serves the queries
(projections/generations.py).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence

from django.db import connections

from products.domain import events as domain_events
from products.eventstore import RecordedEvent

from .rows import RowTable


class Projector(Protocol):
    name: str
    # Raised when what the projector writes changes; a worker then rebuilds it in a new generation.
    version: int

    def apply(self, events: Sequence[RecordedEvent], using: str) -> None: ...

    def reset(self, using: str) -> None: ...


class ProjectionFailed(Exception):
    """A handler raised on one event; the engine records which one."""

    def __init__(self, event: RecordedEvent, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.event = event
        self.cause = cause


def decode(event: RecordedEvent) -> Any:
    """The stored event as the domain event the code knows (upcast from an older schema version)."""
    return domain_events.decode(event.type, event.schema_version, event.data)


def current_name(type_name: str) -> str:
    """The type's name now (a renamed type's events are stored under its old name)."""
    return domain_events.SCHEMAS.current_name(type_name)


def retryable(cause: BaseException) -> bool:
    """Whether trying the event again can succeed. An event newer than the code never will,
    until the code that wrote it is deployed: the projection stalls at once, saying so."""
    return not isinstance(cause, domain_events.FutureSchemaVersion)


class OutOfOrderEvent(Exception):
    """An event arrived that does not follow the row's version: a bug upstream, never skipped."""


class TableProjector:
    """A projector of read-model tables, with one method per event type it handles.

    `handlers` maps stored event types to method names; types not listed are ignored. Each
    method receives the decoded domain event and its envelope. Subclasses collect their
    writes while the batch is applied and flush them in `flush`, so a batch costs a few
    statements rather than one per event.
    """

    name: str
    version: ClassVar[int] = 1
    models: ClassVar[tuple[Any, ...]]
    handlers: ClassVar[dict[str, str]]
    # Whether it writes a row per event it applies, outside its `models` (the catalog's product
    # changes): those are written as events are applied, never by a fold, so a rebuild folds
    # only what the live generation has applied and applies the rest event by event.
    records_changes: bool = False
    recording = False  # true while applying a batch (not folding) of a projector that records

    def __init__(self, tables: Mapping[Any, Any] | None = None) -> None:
        # Each of `models` mapped to the model whose table this instance writes: itself, or
        # the model of a generation's table (see projections/generation_tables.py).
        self.tables = {model: (tables or {}).get(model, model) for model in self.models}

    def writing_to(self, tables: Mapping[Any, Any], name: str) -> TableProjector:
        """The same projector, writing to `tables` instead of its models' own, under `name`."""
        other = type(self)(tables)
        other.name = name
        return other

    def table_name(self, model: Any) -> str:
        return self.tables[model]._meta.db_table

    def apply(self, events: Sequence[RecordedEvent], using: str) -> None:
        relevant = [e for e in events if current_name(e.type) in self.handlers]
        if not relevant:
            return
        self.begin(relevant, using)
        self._handle(relevant)
        self.flush(using)

    def _handle(self, events: Sequence[RecordedEvent], decoded: Sequence[Any] | None = None) -> None:
        """Each event to its handler; `decoded`, if given, holds the domain events (None: decode here)."""
        for index, event in enumerate(events):
            handler: Callable[[Any, RecordedEvent], None] = getattr(self, self.handlers[current_name(event.type)])
            try:
                domain_event = decoded[index] if decoded is not None else None
                handler(domain_event or decode(event), event)
                if self.recording:
                    self.record(event)
            except Exception as error:
                raise ProjectionFailed(event, error) from error

    def record(self, event: RecordedEvent) -> None:
        """After `event` was handled in a batch, by a projector that records changes."""

    # --- a fold of the whole log, for a new generation that nobody reads yet ------------------
    # The same handlers, without reading or upserting rows: the log comes one stream at a time
    # (products.eventstore.read_streams), and each stream's rows are final when it ends, so a
    # rebuild writes each row once, in bulk, into tables whose indexes are built afterwards.

    @classmethod
    def folds(cls) -> bool:
        """Whether it can fold (a subclass that writes its own way is caught up batch by batch)."""
        return cls.begin_stream is not TableProjector.begin_stream

    def begin_fold(self) -> None:
        """Before the first stream of a fold."""

    def fold(self, stream: Sequence[RecordedEvent], decoded: Sequence[Any]) -> dict[Any, list]:
        """One whole stream's events, in version order, from nothing: its rows, by model.

        `decoded` holds each event's domain event, decoded once for every projection folded
        (None where it could not be: the handler's own decoding then says why).
        """
        relevant = [index for index, event in enumerate(stream) if current_name(event.type) in self.handlers]
        if not relevant:
            return {}
        self.begin_stream()
        self._handle([stream[index] for index in relevant], [decoded[index] for index in relevant])
        return self.folded()

    def end_fold(self) -> dict[Any, list]:
        """After the last stream: the rows that depend on every stream, by model."""
        return {}

    def combine_ends(self, parts: list[dict[Any, list[tuple]]]) -> dict[Any, list[tuple]]:
        """end_fold's rows (as values() tuples) of folds over parts of the streams, made one."""
        combined: dict[Any, list[tuple]] = {}
        for part in parts:
            for model, rows in part.items():
                combined.setdefault(model, []).extend(rows)
        return combined

    def begin_stream(self) -> None:
        raise NotImplementedError

    def folded(self) -> dict[Any, list]:
        raise NotImplementedError

    def begin(self, events: Sequence[RecordedEvent], using: str) -> None:
        """Load what the handlers need for this batch (one query, not one per event)."""
        self.recording = self.records_changes

    def flush(self, using: str) -> None:
        raise NotImplementedError

    def reset(self, using: str) -> None:
        with connections[using].cursor() as cursor:
            for model in self.models:
                cursor.execute(f"DELETE FROM {self.table_name(model)}")


class StreamRowProjector(TableProjector):
    """A TableProjector whose main table has one row per stream, guarded by the stream version.

    The guard makes a replayed event a no-op and turns a missing event into an error instead
    of a silently wrong row. Rows are loaded once per batch and written back in one upsert.
    """

    row_model: ClassVar[Any]

    def __init__(self, tables: Mapping[Any, Any] | None = None) -> None:
        super().__init__(tables)
        self.row_table = RowTable(self.tables[self.row_model])
        self.key_attname = self.row_table.key.attname

    def begin(self, events, using):
        super().begin(events, using)
        self.rows = self.row_table.load(using, {event.stream_id for event in events})
        self.changed: set = set()

    def flush(self, using):
        self.row_table.upsert(using, [self.rows[key] for key in self.changed])

    def begin_stream(self):
        self.recording = False  # a fold writes final rows only; see records_changes
        self.rows, self.changed = {}, set()

    def folded(self):
        return {self.row_model: list(self.rows.values())}

    def new_row(self, meta: RecordedEvent, **fields: Any) -> Any | None:
        """The stream's first row, or None if this event was applied before."""
        if meta.stream_id in self.rows:
            return None
        fields[self.key_attname] = meta.stream_id
        row = self.rows[meta.stream_id] = self.row_table.row(version=meta.version, **fields)
        self.changed.add(meta.stream_id)
        return row

    def next_version(self, meta: RecordedEvent) -> Any | None:
        """The row this event changes, moved to its version; None if it was applied before."""
        row = self.rows.get(meta.stream_id)
        if row is None:
            raise OutOfOrderEvent(f"{meta.type} v{meta.version} for stream {meta.stream_id}, which has no row")
        if meta.version <= row.version:
            return None
        if meta.version != row.version + 1:
            raise OutOfOrderEvent(f"{meta.type} v{meta.version} follows v{row.version} of {meta.stream_id}")
        row.version = meta.version
        self.changed.add(meta.stream_id)
        return row

    def touched(self, event: Any, meta: RecordedEvent) -> None:
        """For event types that change nothing here: the row still moves to their version."""
        self.next_version(meta)
