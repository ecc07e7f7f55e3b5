"""What a hub follows: the log itself, or the product changes the catalog applied.

Each source reads its items after a position in log order (items have `tx`, `position` and
`checkpoint`), names the notification that says it has more, and says how far retention has
removed its items. Reads run on the event loop's worker threads, each with its own database
connection: a handful per process, none per subscriber.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from products import eventstore
from products.eventstore import Checkpoint
from projections import changes


@dataclass(frozen=True)
class Source:
    """Plain functions, called on a request's thread or, by a hub, on a worker thread."""

    name: str
    channel: str  # notified (PostgreSQL) when a transaction that added items commits
    read: Callable[[Checkpoint, int], list]  # up to `limit` items after a position, in log order
    last: Callable[[], Checkpoint]  # where a follower that starts now starts
    # Whether items after a position may be stored but not readable yet (behind an older
    # transaction still running): the hub then looks again soon rather than at the next poll.
    unsettled: Callable[[Checkpoint], bool]
    trimmed_through: Callable[[], Checkpoint]  # items up to here are no longer kept
    resumable: Callable[[Checkpoint], bool]  # whether an item (or an event) stands at a position


def on_a_read_thread(read: Callable) -> Callable[..., Awaitable]:
    """`read` on one of the loop's worker threads; a broken connection of that thread is closed,
    so the next read there opens a new one."""

    @functools.wraps(read)
    def reading(*args):
        try:
            return read(*args)
        except (OperationalError, InterfaceError):
            connections[DEFAULT_DB_ALIAS].close()
            raise

    return sync_to_async(reading, thread_sensitive=False)


LOG = Source(
    name="log",
    channel=eventstore.APPENDED_CHANNEL,
    # The horizon reader the projections use: an event that commits late is read, never passed over.
    read=lambda after, limit: eventstore.read_all(after=after, limit=limit),
    last=lambda: eventstore.last_settled() or Checkpoint.START,
    unsettled=eventstore.stored_after,
    trimmed_through=lambda: Checkpoint.START,  # the log is kept whole
    resumable=eventstore.contains,
)

PRODUCT_CHANGES = Source(
    name="product_changes",
    channel=changes.CHANGED_CHANNEL,
    read=changes.after,
    last=changes.last,
    unsettled=lambda after: False,  # what is committed is every change up to a place (projections/changes)
    trimmed_through=changes.trimmed_through,
    resumable=changes.resumable,
)
