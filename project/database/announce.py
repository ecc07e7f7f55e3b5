"""Tables that announce their inserts: PostgreSQL notifies a channel when a transaction that
inserted rows commits.

A statement trigger: one notification per INSERT, delivered at COMMIT (never for a rollback),
and a transaction's repeats fold into one. A follower LISTENs to know when to read again,
instead of polling the table; the notification says only "look", so one that is lost costs a
delay, and the follower's own poll covers it. SQLite has no notifications: nothing is installed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InsertAnnouncement:
    table: str
    channel: str
    trigger: str
    function: str

    def install(self, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"CREATE FUNCTION {self.function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN\n    PERFORM pg_notify('{self.channel}', '');\n    RETURN NULL;\nEND $$;\n"
                f"CREATE TRIGGER {self.trigger} AFTER INSERT ON {self.table}\n"
                f"    FOR EACH STATEMENT EXECUTE FUNCTION {self.function}();",
                params=None,
            )

    def remove(self, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER {self.trigger} ON {self.table}; DROP FUNCTION {self.function}();",
                                  params=None)
