"""What differs between PostgreSQL and SQLite on the read side, decided here and nowhere else.

The event store's own differences (how the log is read, the horizon) are in
`products.eventstore.dialects`; this is the rest the engine and the projectors need. The backend
is picked from the connection (`of`), once per runner, and then asked about capabilities,
never about its name.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections

from products.eventstore import dialects
from products.eventstore.pgcursor import binary_cursor


@dataclass(frozen=True)
class Backend:
    dialect: type[dialects.Postgres] | type[dialects.Sqlite]
    # Session advisory locks: one runner per projection across processes, released by the
    # database if the process dies. Without them (SQLite) every write transaction takes the
    # database's single write lock instead, and the checkpoint is read again inside it.
    runner_lock: bool
    # psycopg's server-bound binary cursor (products/eventstore/pgcursor.py): statements are
    # prepared per connection, and column arrays go in binary. Otherwise Django's cursor and ORM.
    binds_server_side: bool
    # Other transactions can hold the read horizon back (see projections/horizon.py).
    has_horizon_holders: bool

    def cursor(self, connection):
        return binary_cursor(connection) if self.binds_server_side else connection.cursor()


POSTGRES = Backend(dialects.Postgres, runner_lock=True, binds_server_side=True, has_horizon_holders=True)
SQLITE = Backend(dialects.Sqlite, runner_lock=False, binds_server_side=False, has_horizon_holders=False)
_BY_VENDOR = {"postgresql": POSTGRES, "sqlite": SQLITE}


def of(connection) -> Backend:
    """The backend of a connection (or of a database alias)."""
    if isinstance(connection, str):
        connection = connections[connection]
    try:
        return _BY_VENDOR[connection.vendor]
    except KeyError:
        raise NotImplementedError(f"The projections support PostgreSQL and SQLite, not {connection.vendor}.") from None
