"""Watching a rebuild from outside: the moments to interrupt it at, and what it may leave behind."""

from __future__ import annotations

from typing import Callable

from django.db import ProgrammingError, connection

from projections import generations

# What `rebuild_projections product_catalog category_summary` goes through, in order.
STAGES = ("mid_fill", "after_fill", "between_two_projections")


def moment(stage: str) -> Callable[[], bool]:
    """A probe that is true once a rebuild of product_catalog, then category_summary, is at `stage`."""
    seen = set()

    def reached() -> bool:
        catalog, summary = generations.next_state("product_catalog"), generations.next_state("category_summary")
        if catalog is not None:
            seen.add("catalog started")
        if stage == "mid_fill":  # the catalog's rows are being folded and copied, in chunks
            return catalog is not None and catalog.last_position == 0 and rows_in("read_product_catalog__next") > 0
        if stage == "after_fill":  # the catalog's generation is filled, catching up or being swapped
            return catalog is not None and catalog.last_position > 0
        return "catalog started" in seen and catalog is None and summary is not None

    return reached


def rows_in(table: str) -> int:
    """Rows in the table, or 0 while it does not exist (a rebuild drops and makes it again)."""
    with connection.cursor() as cursor:
        try:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
        except ProgrammingError:  # autocommit: the connection stays usable
            return 0
        return cursor.fetchone()[0]


def leftover_tables() -> list[str]:
    """Tables of a next, retired or verification generation left in the database."""
    return [t for t in connection.introspection.table_names() if t.endswith(("__next", "__retired", "__verify"))]
