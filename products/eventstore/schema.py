"""The event store's DDL, per database. The invariants live in the schema, not in Python."""

from project.database.announce import InsertAnnouncement

# Notified by every transaction that appends events, when it commits (PostgreSQL only).
APPENDED_CHANNEL = "event_store_appended"

POSTGRESQL = r"""
CREATE TABLE event_store (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- unique, NOT commit-ordered
    tx             xid8 NOT NULL DEFAULT pg_current_xact_id(),        -- the ordering key of the log
    stream_type    varchar(50) NOT NULL,
    stream_id      uuid NOT NULL,
    version        integer NOT NULL CONSTRAINT event_store_version_positive CHECK (version >= 1),
    event_id       uuid NOT NULL CONSTRAINT event_store_event_id_key UNIQUE,
    type           varchar(100) NOT NULL,
    schema_version smallint NOT NULL DEFAULT 1,
    data           jsonb NOT NULL CONSTRAINT event_store_data_size CHECK (pg_column_size(data) <= 262144),
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT event_store_stream_version_uq UNIQUE (stream_id, version)
);
CREATE INDEX event_store_tx_position ON event_store (tx, position);
CREATE INDEX event_store_type_position ON event_store (type, position);

-- Append-only, enforced by the database itself (the admin and the API are not the only clients).
CREATE FUNCTION event_store_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_store is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER event_store_no_update_delete BEFORE UPDATE OR DELETE ON event_store
    FOR EACH ROW EXECUTE FUNCTION event_store_refuse_change();
-- Row triggers do not fire on TRUNCATE, hence a statement trigger too.
CREATE TRIGGER event_store_no_truncate BEFORE TRUNCATE ON event_store
    FOR EACH STATEMENT EXECUTE FUNCTION event_store_refuse_change();

-- Readers order the log by the writing transaction's id, which is assigned at the transaction's
-- first write. If something else were written first, a command that read version 1 could get a
-- smaller id than the transaction that appended version 1, and per-stream order would invert.
CREATE FUNCTION event_store_require_first_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'events must be appended by the first write of a transaction'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER event_store_first_write BEFORE INSERT ON event_store
    FOR EACH STATEMENT EXECUTE FUNCTION event_store_require_first_write();
"""

# Followers of the log (the change feed) LISTEN to APPENDED_CHANNEL to know when to read again.
APPENDED = InsertAnnouncement("event_store", APPENDED_CHANNEL, trigger="event_store_appended",
                              function="event_store_announce_append")

POSTGRESQL_DROP = r"""
DROP TABLE event_store;
DROP FUNCTION event_store_refuse_change();
DROP FUNCTION event_store_require_first_write();
"""

# SQLite serializes writers itself, so position order is commit order there and tx stays 0.
SQLITE = [
    """CREATE TABLE event_store (
    position       integer PRIMARY KEY AUTOINCREMENT,
    tx             bigint NOT NULL DEFAULT 0,
    stream_type    varchar(50) NOT NULL,
    stream_id      char(32) NOT NULL,
    version        integer NOT NULL CONSTRAINT event_store_version_positive CHECK (version >= 1),
    event_id       char(32) NOT NULL CONSTRAINT event_store_event_id_key UNIQUE,
    type           varchar(100) NOT NULL,
    schema_version smallint NOT NULL DEFAULT 1,
    data           text NOT NULL CHECK (json_valid(data)),
    metadata       text NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    recorded_at    datetime NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT event_store_stream_version_uq UNIQUE (stream_id, version)
)""",
    "CREATE INDEX event_store_tx_position ON event_store (tx, position)",
    "CREATE INDEX event_store_type_position ON event_store (type, position)",
    """CREATE TRIGGER event_store_no_update BEFORE UPDATE ON event_store
    BEGIN SELECT RAISE(ABORT, 'event_store is append-only: UPDATE is not allowed'); END""",
    """CREATE TRIGGER event_store_no_delete BEFORE DELETE ON event_store
    BEGIN SELECT RAISE(ABORT, 'event_store is append-only: DELETE is not allowed'); END""",
]

SQLITE_DROP = ["DROP TABLE event_store"]


def create(schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)
    else:
        for statement in SQLITE:
            schema_editor.execute(statement, params=None)


def drop(schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP, params=None)
    else:
        for statement in SQLITE_DROP:
            schema_editor.execute(statement, params=None)


def announce_appends(schema_editor) -> None:
    APPENDED.install(schema_editor)


def stop_announcing_appends(schema_editor) -> None:
    APPENDED.remove(schema_editor)
