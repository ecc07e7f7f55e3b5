"""A generation's tables: a read model's tables built under other names, beside the live ones.

A rebuild fills `<table>__next`, a drift check `<table>__verify`. They are made from the models
themselves (Django's schema editor, with the models' index and constraint names suffixed), so
they are what the migrations made of the live tables. Their secondary indexes can be built
after a bulk load (`create(indexes=False)`, then `build_indexes`), which is far cheaper than
keeping them up to date row by row.

`swap_in` makes a generation live, inside the caller's transaction (see `backends`):
- PostgreSQL renames each live table away and the generation's into its place, indexes
  included. The renames wait for the queries in flight and new queries wait for the renames,
  which take milliseconds; then every query reads the new table. Never a mix, never partial.
- SQLite (the zero-setup run) replaces the live rows by the generation's in one transaction,
  which readers do not see until it commits: it cannot rename an index.
The live tables renamed away are dropped after the commit (`drop_retired`).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Iterable

from django.apps.registry import Apps
from django.db import connections
from django.db.migrations.state import ModelState

from . import backends

RETIRED = "retired"


class GenerationTables:
    """The tables of one generation (`tag`: "next", "verify") of some read-model models."""

    def __init__(self, models: Iterable[Any], tag: str) -> None:
        self.tag = tag
        self.models = {model: _generation_model(model, tag) for model in models}

    def tables(self) -> list[str]:
        return [model._meta.db_table for model in self.models.values()]

    def exist(self, using: str) -> bool:
        connection = connections[using]
        with connection.cursor() as cursor:
            present = set(connection.introspection.table_names(cursor))
        return all(table in present for table in self.tables())

    def create(self, using: str, indexes: bool = True) -> None:
        """Create the tables afresh (dropping any left by an earlier attempt)."""
        self.drop(using)
        tables_sql, indexes_sql = self._schema(using)
        _execute(using, tables_sql + (indexes_sql if indexes else []))

    def build_indexes(self, using: str) -> None:
        """Build the secondary indexes; those built already are left as they are."""
        _execute(using, [
            statement.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1).replace(
                "CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ", 1)
            for statement in self._schema(using)[1]
        ])

    def drop(self, using: str) -> None:
        _execute(using, [f"DROP TABLE IF EXISTS {_quote(using, table)}" for table in self.tables()])

    def swap_in(self, using: str) -> None:
        """Make these tables the live ones, in the caller's transaction."""
        connection = connections[using]
        with connection.cursor() as cursor:
            for model, generation in self.models.items():
                backends.of(connection).swap_tables(cursor, model, generation, retired_table(model))

    def drop_retired(self, using: str) -> None:
        _execute(using, [f"DROP TABLE IF EXISTS {_quote(using, retired_table(model))}" for model in self.models])

    def _schema(self, using: str) -> tuple[list[str], list[str]]:
        """The statements that create the tables, and those that create their secondary indexes."""
        tables_sql, indexes_sql = [], []
        with connections[using].schema_editor(collect_sql=True, atomic=False) as editor:
            for model in self.models.values():
                editor.create_model(model)
            tables_sql = list(editor.collected_sql)
            indexes_sql = [str(statement) for statement in editor.deferred_sql]
            editor.deferred_sql = []
        return tables_sql, indexes_sql


def retired_table(model: Any) -> str:
    return f"{model._meta.db_table}__{RETIRED}"


@cache
def _generation_model(model: Any, tag: str) -> Any:
    """A copy of `model` on the table `<table>__<tag>`, its index and constraint names suffixed
    alike (they are unique per schema), kept out of the project's app registry."""
    state = ModelState.from_model(model)
    state.name = f"{model.__name__}_{tag}"
    state.options["db_table"] = f"{model._meta.db_table}__{tag}"
    for named in (*state.options.get("indexes", []), *state.options.get("constraints", [])):
        named.name = f"{named.name}__{tag}"
    return state.render(Apps())


def _quote(using: str, name: str) -> str:
    return connections[using].ops.quote_name(name)


def _execute(using: str, statements: list[str]) -> None:
    with connections[using].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
