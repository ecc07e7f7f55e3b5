"""A projector that records when each batch ran and what it applied, to catch two runners at once.

It writes to its own tables in the batch's transaction, so what it records commits exactly
when the batch does: an event recorded twice was applied twice.
"""

from __future__ import annotations

import os
import time

from django.db import connections

CREATE_TABLES = """
CREATE TABLE IF NOT EXISTS test_probe_batch (started timestamptz, finished timestamptz, pid int, events int,
                                             synchronous_commit text);
CREATE TABLE IF NOT EXISTS test_probe_applied (position bigint, event_id uuid);
"""


class OverlapProbe:
    """Applies nothing anyone reads; remembers every batch's time span and every event."""

    name = "overlap_probe"

    def apply(self, events, using):
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            started = cursor.fetchone()[0]
            time.sleep(0.005)  # widen the window in which a second runner would overlap
            cursor.executemany(
                "INSERT INTO test_probe_applied (position, event_id) VALUES (%s, %s)",
                [(event.position, event.event_id) for event in events],
            )
            cursor.execute(
                "INSERT INTO test_probe_batch VALUES (%s, clock_timestamp(), pg_backend_pid(), %s,"
                " current_setting('synchronous_commit'))",
                [started, len(events)],
            )

    def reset(self, using):
        with connections[using].cursor() as cursor:
            cursor.execute("DELETE FROM test_probe_batch; DELETE FROM test_probe_applied")


def from_the_start(probe: OverlapProbe) -> OverlapProbe:
    """The probe's tables empty and its projection state gone: it applies the log from its start."""
    from projections.models import ProjectionState

    create_tables()
    probe.reset("default")
    ProjectionState.objects.filter(name=probe.name).delete()
    return probe


def from_now(probe: OverlapProbe):
    """The probe's tables empty and its checkpoint at the log's end: it applies what comes next.
    Returns that checkpoint."""
    from products import eventstore
    from projections import engine
    from projections.models import ProjectionState

    from_the_start(probe)
    engine.ensure_states([probe.name])
    end = eventstore.last_settled() or eventstore.Checkpoint.START
    ProjectionState.objects.filter(name=probe.name).update(last_tx=end.tx, last_position=end.position)
    return end


def create_tables(using: str = "default") -> None:
    with connections[using].cursor() as cursor:
        cursor.execute(CREATE_TABLES)


def overlapping_batches(using: str = "default") -> list[tuple]:
    """Pairs of batches whose time spans intersect."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT a.pid, a.started, b.pid, b.started FROM test_probe_batch a JOIN test_probe_batch b"
            " ON a.ctid < b.ctid AND a.started < b.finished AND b.started < a.finished"
        )
        return cursor.fetchall()


def batch_commit_settings(using: str = "default") -> set[str]:
    """The synchronous_commit of the sessions that applied the batches."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT DISTINCT synchronous_commit FROM test_probe_batch")
        return {row[0] for row in cursor.fetchall()}


def applied_positions(using: str = "default") -> list[int]:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT position FROM test_probe_applied ORDER BY position")
        return [row[0] for row in cursor.fetchall()]


class KillerProjector(OverlapProbe):
    """Kills its own process on events of products named KILL-ME, as a segfault or OOM would."""

    name = "killer"

    def apply(self, events, using):
        if any("KILL-ME" in str(event.data.get("name", "")) for event in events):
            os._exit(1)
        super().apply(events, using)


class SlowProbe(OverlapProbe):
    """Pauses inside its batch while the file named by SLOW_PROBE_FLAG exists, to be hit mid-batch.

    On entering such a paused batch it writes its process id to the flag file's `.inside` twin.
    """

    name = "slow_probe"

    def apply(self, events, using):
        from pathlib import Path

        flag = Path(os.environ.get("SLOW_PROBE_FLAG", "/nonexistent"))
        if flag.exists():
            flag.with_suffix(".inside").write_text(str(os.getpid()))
            deadline = time.monotonic() + 30
            while flag.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        super().apply(events, using)
