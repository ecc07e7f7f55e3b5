"""A psycopg cursor for the hot paths: appends, and the projections' reads and batch writes.

Django binds parameters client-side (so no binary arrays, and no prepared statements) and
loads timestamptz with a Python subclass of psycopg's loader (about 4 µs a value, most of a
500-event read). This cursor binds server-side on Django's own connection, so it runs inside
Django's transaction, and loads timestamptz with psycopg's C loader; the values are the same,
as the session's time zone is UTC. Errors still come out as Django's database errors, and the
connection's health check runs as it does for Django's cursors.

One such cursor is kept per connection: making one, with its own adapters, cost more than
the short statements it runs.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator
from weakref import WeakKeyDictionary

import psycopg
from psycopg.types.datetime import TimestamptzLoader

_cursors: WeakKeyDictionary[psycopg.Connection, psycopg.Cursor] = WeakKeyDictionary()


@contextmanager
def binary_cursor(connection) -> Iterator[psycopg.Cursor]:
    with connection.wrap_database_errors:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        raw = connection.connection
        cursor = _cursors.get(raw)
        if cursor is None or cursor.closed:
            cursor = _cursors[raw] = psycopg.Cursor(raw)
            # Registered by psycopg's class, the map picks its C implementation.
            cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        yield cursor
