"""A psycopg cursor for the bulk paths: the log read by projections and their batch writes.

Django binds parameters client-side (so no binary arrays) and loads timestamptz with a Python
subclass of psycopg's loader (about 4 µs a value, most of a 500-event read). This cursor binds
server-side on Django's own connection, so it runs inside Django's transaction, and loads
timestamptz with psycopg's C loader. The values are the same: the session's time zone is UTC.
Errors still come out as Django's database errors, and the connection's health check runs.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg.types.datetime import TimestamptzLoader


@contextmanager
def binary_cursor(connection) -> Iterator[psycopg.Cursor]:
    with connection.cursor() as django_cursor, connection.wrap_database_errors:
        cursor = psycopg.Cursor(django_cursor.cursor.connection)
        # Registered by psycopg's class, the map picks its C implementation.
        cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        with cursor:
            yield cursor
