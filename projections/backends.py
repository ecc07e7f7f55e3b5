"""What differs between PostgreSQL and SQLite on the read side, decided here and nowhere else.

The event store's own differences (how the log is read, the horizon) are in
`products.eventstore.dialects`; this is the rest the engine and the projectors need. The backend
is picked from the connection (`of`), once per runner, and then asked about capabilities,
never about its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

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
    # Puts a generation's table in the place of the live one (projections/generation_tables.py):
    # (cursor, live model, generation model, table name for the live one's rows) -> None.
    swap_tables: Callable[[Any, Any, Any, str], None]
    # How long a swap may wait for the readers in flight before it gives up and is tried again,
    # so that readers queued behind it never wait longer: a statement, or None.
    swap_lock_timeout_sql: str | None
    # The collation that orders text by code point, as Python compares strings.
    binary_collation: str
    # Several processes can write at once (a rebuild's fold over ranges of streams); SQLite
    # would only make them wait for its single writer.
    concurrent_writers: bool

    def cursor(self, connection):
        return binary_cursor(connection) if self.binds_server_side else connection.cursor()


def _swap_by_renaming(cursor, model, generation, retired: str) -> None:
    """PostgreSQL: rename the live table (and its indexes) away, and the generation's into place.

    Each of the generation's indexes takes the name of the live index with the same definition
    (PostgreSQL renames a constraint with its index), so migrations find the names they made.
    """
    live, new = model._meta.db_table, generation._meta.db_table
    live_indexes, new_indexes = _indexes(cursor, live), _indexes(cursor, new)
    cursor.execute(f'ALTER TABLE "{live}" RENAME TO "{retired}"')
    for names in live_indexes.values():
        for name in names:
            cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{name[:50]}__retired"')
    cursor.execute(f'ALTER TABLE "{new}" RENAME TO "{live}"')
    for definition, names in new_indexes.items():
        for name, live_name in zip(names, live_indexes.get(definition, [])):
            cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{live_name}"')


def _indexes(cursor, table: str) -> dict[str, list[str]]:
    """The table's index names by definition (method, columns or expressions, predicate, kind)."""
    cursor.execute(
        "SELECT i.relname, x.indisprimary, x.indisunique,"
        " substring(pg_get_indexdef(x.indexrelid) FROM ' USING .*$')"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass ORDER BY i.relname",
        [table],
    )
    found: dict[str, list[str]] = {}
    for name, primary, unique, definition in cursor.fetchall():
        found.setdefault(f"{primary} {unique} {definition}", []).append(name)
    return found


def _swap_by_copying(cursor, model, generation, retired: str) -> None:
    """SQLite: the live table's rows replaced by the generation's, and the generation dropped.

    SQLite cannot rename an index; readers see the old rows until the transaction commits.
    """
    columns = ", ".join(f'"{field.column}"' for field in model._meta.concrete_fields)
    live, new = model._meta.db_table, generation._meta.db_table
    cursor.execute(f'DELETE FROM "{live}"')
    cursor.execute(f'INSERT INTO "{live}" ({columns}) SELECT {columns} FROM "{new}"')
    cursor.execute(f'DROP TABLE "{new}"')


POSTGRES = Backend(
    dialects.Postgres, runner_lock=True, binds_server_side=True, has_horizon_holders=True,
    swap_tables=_swap_by_renaming, swap_lock_timeout_sql="SET LOCAL lock_timeout = '2s'", binary_collation="C",
    concurrent_writers=True,
)
SQLITE = Backend(
    dialects.Sqlite, runner_lock=False, binds_server_side=False, has_horizon_holders=False,
    swap_tables=_swap_by_copying, swap_lock_timeout_sql=None, binary_collation="BINARY",
    concurrent_writers=False,
)
_BY_VENDOR = {"postgresql": POSTGRES, "sqlite": SQLITE}


def of(connection) -> Backend:
    """The backend of a connection (or of a database alias)."""
    if isinstance(connection, str):
        connection = connections[connection]
    try:
        return _BY_VENDOR[connection.vendor]
    except KeyError:
        raise NotImplementedError(f"The projections support PostgreSQL and SQLite, not {connection.vendor}.") from None
