"""The event store: an append-only log of product events, in PostgreSQL (or SQLite for local runs).

Contract:
- `append` adds events to one stream after `expected_version`, in one INSERT that must be the
  first write of its transaction. A taken version raises StreamVersionConflict; event ids that
  are stored already raise EventsAlreadyStored, so a retried command stores its events once.
- `load` returns a stream's events in version order.
- `read_all` returns the global log after a Checkpoint, in the order every reader must use
  (see dialects), never skipping an event that commits late.
- `last_settled` and `read_streams` read the whole settled log one stream at a time, for a
  fold of all of it (a rebuild).
- `contains` says whether an event stands at a checkpoint (a position a reader resumes after);
  `stored_after` whether anything is stored after one, settled or not.
- On PostgreSQL, a transaction that appends events notifies APPENDED_CHANNEL when it commits
  (LISTEN to it to know when to read again; a notification carries nothing and can be missed).
- `settled_filter` and `after_filter` are read_all's horizon and (tx, position) comparison as
  StoredEvent queryset filters, for listings of the log (order those by tx, position).
The schema refuses UPDATE, DELETE and TRUNCATE of stored events.
"""

from .records import Checkpoint, EventsAlreadyStored, NewEvent, RecordedEvent, StreamVersionConflict
from .schema import APPENDED_CHANNEL
from .store import (
    after_filter, append, contains, count_after, last_settled, load, load_events, read_all, read_streams, settled_filter,
    stored_after,
)

__all__ = [
    "APPENDED_CHANNEL",
    "Checkpoint",
    "EventsAlreadyStored",
    "NewEvent",
    "RecordedEvent",
    "StreamVersionConflict",
    "after_filter",
    "append",
    "contains",
    "count_after",
    "last_settled",
    "load",
    "load_events",
    "read_all",
    "read_streams",
    "settled_filter",
    "stored_after",
]
