"""Django's PostgreSQL backend, with connections that never wait past a deadline (deadline.py)."""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base

from . import deadline

# psycopg (like libpq) waits at least this long for a connection, whatever connect_timeout says.
_SHORTEST_CONNECT_SECONDS = 2


class _BoundedPsycopg:
    """The psycopg module as Django's backend uses it, except that connect() makes BoundedConnections."""

    connect = staticmethod(deadline.BoundedConnection.connect)

    def __getattr__(self, name):
        return getattr(psycopg, name)


class DatabaseWrapper(base.DatabaseWrapper):
    Database = _BoundedPsycopg()

    def get_new_connection(self, conn_params):
        left = deadline.remaining()
        if left is not None:
            if left < _SHORTEST_CONNECT_SECONDS:
                raise deadline.DeadlineExceeded("Too little of the request's time is left to connect to the database.")
            configured = int(conn_params.get("connect_timeout") or left)
            conn_params = {**conn_params, "connect_timeout": max(_SHORTEST_CONNECT_SECONDS, min(configured, int(left)))}
        connection = super().get_new_connection(conn_params)
        connection.stall_timeout = settings.DATABASE_STALL_TIMEOUT
        return connection
