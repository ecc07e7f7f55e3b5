"""Read-model rows as plain objects, written with one statement per table per batch.

The projectors' hot path. Building a model instance per row and letting bulk_create prepare
every field took more time than PostgreSQL's own work on the batch (profiled: about 40 % of a
catch-up's CPU). Here a row is an object with one slot per column, and a batch is written
with one statement whose parameters are column arrays, unnest()ed by the server and sent in
binary. That is the same statement a hand-written psycopg projection sends (bench/rawproj.py).

SQLite (the zero-setup run) has no arrays; there the rows go through the ORM, which prepares
each value the way that backend stores it.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Iterable

from django.db import connections

from products.eventstore.pgcursor import binary_cursor

from .. import backends


class RowTable:
    """One read-model table: its row class, and batch load, upsert and insert for its rows."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.table = model._meta.db_table
        self.key = model._meta.pk
        # An auto-increment key is the database's to assign; every other column is the projector's.
        self.fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.get_internal_type().endswith("AutoField"))]
        self.attnames = [f.attname for f in self.fields]
        self.Row = _row_class(f"{model.__name__}Row", self.attnames)
        self._sql: dict[tuple[str, str], str] = {}

    def row(self, **values: Any) -> Any:
        return self.Row(**values)

    def load(self, using: str, keys: Iterable[Any]) -> dict[Any, Any]:
        """The stored rows with these primary keys, by key."""
        keys = list(keys)
        connection = connections[using]
        if backends.of(connection).binds_server_side:  # column arrays, bound in binary
            select = self._statement(connection, "load")
            with binary_cursor(connection) as cursor:
                found = cursor.execute(select, [keys]).fetchall()
        else:
            found = self.model.objects.using(using).filter(pk__in=keys).values_list(*self.attnames)
        index = self.attnames.index(self.key.attname)
        return {values[index]: self.Row(*values) for values in found}

    def upsert(self, using: str, rows: list[Any]) -> None:
        """Insert the rows, or overwrite every column of those whose key is already stored."""
        self._write(using, rows, "upsert")

    def insert_new(self, using: str, rows: list[Any]) -> None:
        """Insert the rows; one that collides with a stored row on a unique key is left out."""
        self._write(using, rows, "insert_new")

    def copy(self, using: str, values: list[tuple]) -> None:
        """Insert rows, given as their values() tuples, into a table nobody else writes (a
        rebuild's generation): PostgreSQL's COPY; the ORM's bulk insert elsewhere."""
        if not values:
            return
        connection = connections[using]
        if not backends.of(connection).binds_server_side:
            self.model.objects.using(using).bulk_create(
                [self.model(**dict(zip(self.attnames, row))) for row in values], batch_size=500
            )
            return
        quote = connection.ops.quote_name
        names = ", ".join(quote(f.column) for f in self.fields)
        with binary_cursor(connection) as cursor:
            with cursor.copy(f"COPY {quote(self.table)} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)

    def _write(self, using: str, rows: list[Any], kind: str) -> None:
        if not rows:
            return
        connection = connections[using]
        if not backends.of(connection).binds_server_side:
            instances = [self.model(**dict(zip(self.attnames, row.values()))) for row in rows]
            if kind == "upsert":
                update = [f.name for f in self.fields if not f.primary_key]
                self.model.objects.using(using).bulk_create(
                    instances, update_conflicts=True, unique_fields=[self.key.name], update_fields=update
                )
            else:
                self.model.objects.using(using).bulk_create(instances, ignore_conflicts=True)
            return
        columns = [list(column) for column in zip(*(row.values() for row in rows))]
        with binary_cursor(connection) as cursor:
            cursor.execute(self._statement(connection, kind), columns)

    def _statement(self, connection, kind: str) -> str:
        cached = self._sql.get((connection.alias, kind))
        if cached:
            return cached
        quote = connection.ops.quote_name
        names = ", ".join(quote(f.column) for f in self.fields)
        if kind == "load":
            sql = f"SELECT {names} FROM {quote(self.table)} WHERE {quote(self.key.column)} = ANY(%s)"
        else:
            arrays = ", ".join(f"%b::{f.db_type(connection)}[]" for f in self.fields)  # %b: binary, dumped in C
            sql = f"INSERT INTO {quote(self.table)} ({names}) SELECT * FROM unnest({arrays})"
            if kind == "upsert":
                updates = ", ".join(f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in self.fields if not f.primary_key)
                sql += f" ON CONFLICT ({quote(self.key.column)}) DO UPDATE SET {updates}"
            else:
                sql += " ON CONFLICT DO NOTHING"
        self._sql[(connection.alias, kind)] = sql
        return sql


def _row_class(name: str, attnames: list[str]) -> type:
    """A small mutable record: attribute access for the handlers, values() in column order.

    Its __init__ is generated, as namedtuple's and dataclass's are: a rebuild makes a row per
    product and per price, and a loop over keyword arguments cost a third of its fold.
    """
    arguments = ", ".join(attnames)
    body = "".join(f"\n    self.{attname} = {attname}" for attname in attnames)
    namespace: dict[str, Any] = {}
    exec(f"def __init__(self, {arguments}):{body}", namespace)  # noqa: S102 - names are model fields

    in_column_order = attrgetter(*attnames)

    def values(self) -> tuple:
        return in_column_order(self)

    def __repr__(self) -> str:
        return f"{name}({', '.join(f'{a}={getattr(self, a, None)!r}' for a in attnames)})"

    return type(name, (), {"__slots__": tuple(attnames), "__init__": namespace["__init__"], "values": values, "__repr__": __repr__})
