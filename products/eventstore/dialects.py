"""What differs between PostgreSQL and SQLite, kept in one place.

PostgreSQL lets writers run in parallel, so positions (taken at INSERT) are not commit-ordered:
a reader that polled `position > checkpoint` would silently skip a row whose transaction
commits after a later one. The log is therefore read in (tx, position) order and only below
the horizon `pg_snapshot_xmin(pg_current_snapshot())`, under which every transaction has
settled. SQLite serializes writers itself, so position order is commit order there.
"""

from __future__ import annotations

from uuid import UUID

COLUMNS = "position, {tx}, stream_type, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at"


class Postgres:
    # Aliased: an output column named `tx` would make ORDER BY tx sort the *text* ("1000" < "999").
    columns = COLUMNS.format(tx="tx::text AS tx_text")
    appended_columns = "position, tx::text AS tx_text, version, recorded_at"
    row = "(%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)"
    # The read horizon: the oldest transaction still running; every one below it has ended.
    horizon = "pg_snapshot_xmin(pg_current_snapshot())"
    after_checkpoint = (
        f"(tx, position) > (%s::text::xid8, %s) AND tx < {horizon} ORDER BY event_store.tx, event_store.position"
    )

    # Everything stored after the checkpoint, settled or not: what a projection still has to do.
    stored_after = "(tx, position) > (%s::text::xid8, %s)"
    # The event at a checkpoint.
    at_checkpoint = "tx = %s::text::xid8 AND position = %s"
    # Below the horizon: no transaction still running can add a row before these.
    settled = f"tx < {horizon}"
    # The last settled event: every event before it in the log has committed.
    last_settled = (f"SELECT tx::text AS tx_text, position FROM event_store WHERE tx < {horizon}"
                    " ORDER BY event_store.tx DESC, event_store.position DESC LIMIT 1")
    # Everything up to a checkpoint, by stream: a whole-log fold holds one stream at a time.
    up_to_by_stream = "(tx, position) <= (%s::text::xid8, %s){streams} ORDER BY stream_id, version"
    # The same columns with the JSON as text: a million rows decode in half the time with the C
    # json module than with psycopg's jsonb loader.
    columns_json_as_text = COLUMNS.format(tx="tx::text AS tx_text").replace(
        "data, metadata", "data::text AS data_text, metadata::text AS metadata_text")

    @staticmethod
    def checkpoint_params(tx: int, position: int) -> list:
        return [str(tx), position]

    @staticmethod
    def uuid(value: UUID) -> UUID:
        return value

    @staticmethod
    def is_stream_version_violation(error: Exception) -> bool:
        diag = getattr(error.__cause__, "diag", None)
        return getattr(diag, "constraint_name", None) == "event_store_stream_version_uq"


class Sqlite:
    columns = COLUMNS.format(tx="tx")
    appended_columns = "position, tx, version, recorded_at"
    row = "(%s, %s, %s, %s, %s, %s, %s, %s)"
    after_checkpoint = "position > %s ORDER BY position"
    stored_after = "position > %s"
    at_checkpoint = "position = %s"
    settled = "1 = 1"  # writers are serialized: every committed row is settled
    last_settled = "SELECT tx, position FROM event_store ORDER BY position DESC LIMIT 1"
    up_to_by_stream = "position <= %s{streams} ORDER BY stream_id, version"
    columns_json_as_text = columns
    horizon = None  # nothing below it is ever still running: there is no horizon to wait for

    @staticmethod
    def checkpoint_params(tx: int, position: int) -> list:
        return [position]

    @staticmethod
    def uuid(value: UUID) -> str:
        return value.hex  # how Django's UUIDField stores uuids on SQLite

    @staticmethod
    def is_stream_version_violation(error: Exception) -> bool:
        return "event_store.stream_id, event_store.version" in str(error)


def for_vendor(vendor: str) -> type[Postgres] | type[Sqlite]:
    if vendor == "postgresql":
        return Postgres
    if vendor == "sqlite":
        return Sqlite
    raise NotImplementedError(f"The event store supports PostgreSQL and SQLite, not {vendor}.")
