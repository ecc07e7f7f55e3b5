"""When a hub looks at its source again: when PostgreSQL says items were stored, and on a poll.

The event store's trigger notifies `eventstore.APPENDED_CHANNEL` when a transaction that
appended events commits (products/eventstore/schema.py); the catalog's product changes notify
`changes.CHANGED_CHANNEL` the same way (projections/changes.py). Each hub listens on one connection of its
own, for the whole process. A notification only says "look": the hub then reads the log with
the horizon reader, so a notification that arrives early (its event is behind one still being
written) or is lost (the listening connection broke) costs a delay, never an event. The poll
covers both: the hub looks every FEED_POLL_SECONDS whatever it heard. On SQLite (the embedded
default) there is nothing to listen to, and the poll is all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections

from products import eventstore

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0
# The connection settings a listening connection takes from the service's own (the rest, such
# as prepare_threshold or the statement timeouts, are for the service's statements).
_CONNECTION_KEYS = ("dbname", "user", "password", "host", "port", "sslmode", "connect_timeout", "keepalives",
                    "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout")


async def new_events(poll: float, channel: str = eventstore.APPENDED_CHANNEL) -> AsyncIterator[None]:
    """Yields at once, then each time events may have been stored: on a notification, or after
    `poll` seconds without one."""
    yield
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        while True:
            await asyncio.sleep(poll)
            yield
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(**_connection_settings(), autocommit=True) as listening:
                await listening.execute(f"LISTEN {channel}")
                yield  # what was stored while nobody listened
                while True:
                    async for _ in listening.notifies(timeout=poll, stop_after=1):
                        pass
                    async for _ in listening.notifies(timeout=0):  # a burst's others: one look for all
                        pass
                    yield
        except psycopg.Error:
            log.warning("The change feed lost its listening connection; it polls until it is back.", exc_info=True)
            await asyncio.sleep(RECONNECT_SECONDS)
            yield


def _connection_settings() -> dict:
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    return {key: value for key, value in params.items() if key in _CONNECTION_KEYS and value not in (None, "")}
