"""A harness for the "gap" problem: concurrent writers that commit out of position order, and a reader.

`run_gap_experiment` starts writer PROCESSES (multiprocessing, "spawn") that append to the real
event store through `products.eventstore.append` inside `transaction.atomic()`, pausing 0-5 ms
between the INSERT and the COMMIT, so that positions are often committed out of order. Meanwhile
the calling process advances a reader's checkpoint in a loop and records every event of this run
it is handed. At the end it compares what the reader saw with what is stored.

The reader is a parameter: `HorizonReader` goes through `read_all` (the store's contract),
`NaivePositionReader` polls `position > checkpoint` (the bug the contract exists to avoid).

The writer's entry point lives here, not in the test module, so that spawned children can import it.
Nothing at module level touches Django: a child sets its environment before `django.setup()`.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import random
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote, urlsplit

WRITERS = 16
WRITE_SECONDS = 3.0
MAX_PAUSE_SECONDS = 0.005  # between the INSERT and the COMMIT
READ_LIMIT = 200
EMPTY_POLL_SLEEP = 0.001
STARTUP_TIMEOUT = 60.0  # spawning 16 interpreters that each set Django up, on a small machine
SETTLE_SECONDS = 2.0  # after the writers: how long a reader may see nothing new before we stop waiting
CATCH_UP_TIMEOUT = 20.0


# --- The writers (child processes) ------------------------------------------------------------


def writer_main(
    index: int,
    db_url: str,
    marker: str,
    seconds: float,
    max_pause: float,
    messages,
    go,
    stop,
) -> None:
    """Append versions 1, 2, 3, ... to a fresh stream, one event per transaction, until the deadline.

    Reports ("ready", index) once connected, waits for `go`, and ends with exactly one
    ("done", index, stream_id_hex, committed, error_or_None) message.
    """
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    os.environ["DJANGO_SECRET_KEY"] = "x"
    stream_id = uuid.uuid4()
    committed = 0
    error = None
    connections = None
    try:
        import django

        django.setup()
        from django.db import connection, connections, transaction

        from products.eventstore import NewEvent, append

        wanted = unquote(urlsplit(db_url).path.lstrip("/"))
        if connection.settings_dict["NAME"] != wanted:  # Django was set up before db_url could apply
            raise RuntimeError(f"writer connected to {connection.settings_dict['NAME']!r}, not {wanted!r}")
        connection.ensure_connection()
        messages.put(("ready", index))
        if not go.wait(timeout=STARTUP_TIMEOUT * 2):
            raise TimeoutError("never told to start")
        rng = random.Random()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not stop.is_set():
            version = committed + 1
            with transaction.atomic():
                append(
                    marker,
                    stream_id,
                    committed,
                    [NewEvent(uuid.uuid4(), "GapProbed", {"writer": index, "version": version})],
                )
                time.sleep(rng.uniform(0.0, max_pause))  # the INSERT is done; COMMIT comes later
            committed = version
    except BaseException:  # report everything, even KeyboardInterrupt, then end normally
        error = traceback.format_exc()
    finally:
        if connections is not None:
            connections.close_all()
        messages.put(("done", index, stream_id.hex, committed, error))


# --- The readers (in the calling process) -----------------------------------------------------


@dataclass(frozen=True)
class Seen:
    position: int
    stream_type: str
    stream_id: uuid.UUID
    version: int


class Reader(Protocol):
    name: str

    def poll(self) -> list[Seen]:
        """The next batch after the reader's checkpoint; advances the checkpoint past it."""


class HorizonReader:
    """The store's own contract: `read_all(after=checkpoint)`, checkpoint = last event's (tx, position)."""

    name = "horizon"

    def __init__(self, limit: int = READ_LIMIT) -> None:
        from products.eventstore import Checkpoint

        self.limit = limit
        self.checkpoint = Checkpoint.START

    def poll(self) -> list[Seen]:
        from products.eventstore import read_all

        events = read_all(after=self.checkpoint, limit=self.limit)
        if events:
            self.checkpoint = events[-1].checkpoint
        return [Seen(e.position, e.stream_type, e.stream_id, e.version) for e in events]


class NaivePositionReader:
    """The classic bug: `position > checkpoint ORDER BY position`, checkpoint = max position seen."""

    name = "naive"

    def __init__(self, limit: int = READ_LIMIT) -> None:
        self.limit = limit
        self.checkpoint = 0

    def poll(self) -> list[Seen]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT position, stream_type, stream_id, version FROM event_store"
                " WHERE position > %s ORDER BY position LIMIT %s",
                [self.checkpoint, self.limit],
            )
            rows = cursor.fetchall()
        if rows:
            self.checkpoint = max(row[0] for row in rows)
        return [Seen(position, stream_type, _uuid(stream_id), version) for position, stream_type, stream_id, version in rows]


READERS = {reader.name: reader for reader in (HorizonReader, NaivePositionReader)}


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --- The experiment ---------------------------------------------------------------------------


@dataclass
class Outcome:
    reader: str
    marker: str
    writers: int
    written: int  # commits the writers reported
    stored: list[int]  # ground truth: positions stored under this run's marker
    seen: list[int]  # positions of this run's events, in the order the reader was handed them
    seen_versions: dict[uuid.UUID, list[int]] = field(default_factory=dict)  # per stream, in order seen
    startup_seconds: float = 0.0
    write_seconds: float = 0.0
    catch_up_seconds: float = 0.0
    polls: int = 0

    @property
    def skipped(self) -> list[int]:
        return sorted(set(self.stored) - set(self.seen))

    @property
    def read_twice(self) -> list[int]:
        return sorted(position for position, count in Counter(self.seen).items() if count > 1)

    @property
    def unknown(self) -> list[int]:
        """Seen but not stored under the marker: would mean the ground truth query is wrong."""
        return sorted(set(self.seen) - set(self.stored))

    @property
    def streams_out_of_order(self) -> dict[uuid.UUID, list[int]]:
        return {
            stream: versions
            for stream, versions in self.seen_versions.items()
            if any(later <= earlier for earlier, later in zip(versions, versions[1:]))
        }

    def summary(self) -> str:
        skipped = len(self.skipped)
        share = skipped / len(self.stored) if self.stored else 0.0
        return (
            f"reader={self.reader} writers={self.writers} written={self.written} stored={len(self.stored)}"
            f" seen={len(self.seen)} skipped={skipped} ({share:.1%}) read_twice={len(self.read_twice)}"
            f" streams_out_of_order={len(self.streams_out_of_order)} polls={self.polls}"
            f" startup={self.startup_seconds:.2f}s write={self.write_seconds:.2f}s catch_up={self.catch_up_seconds:.2f}s"
        )


class _Recorder:
    def __init__(self, reader: Reader, marker: str) -> None:
        self.reader = reader
        self.marker = marker
        self.seen: list[int] = []
        self.seen_versions: dict[uuid.UUID, list[int]] = {}
        self.polls = 0

    def poll(self) -> int:
        """One poll; records this run's events and returns how many events (of any run) it got."""
        batch = self.reader.poll()
        self.polls += 1
        for event in batch:
            if event.stream_type == self.marker:
                self.seen.append(event.position)
                self.seen_versions.setdefault(event.stream_id, []).append(event.version)
        return len(batch)


def _drain(reader: Reader, timeout: float = CATCH_UP_TIMEOUT) -> None:
    """Advance the reader to the current end of the log (events of earlier tests), with a deadline."""
    deadline = time.monotonic() + timeout
    while reader.poll():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{reader.name} reader could not reach the end of the log in {timeout}s")


def _receive(messages, timeout: float) -> list[tuple]:
    """Whatever the writers have sent: waits up to `timeout` for a first message, then takes the rest."""
    received = []
    try:
        received.append(messages.get(block=timeout > 0, timeout=timeout or None))
        while True:
            received.append(messages.get_nowait())
    except queue_module.Empty:
        pass
    return received


def _stored_positions(marker: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT position FROM event_store WHERE stream_type = %s ORDER BY position", [marker])
        return [row[0] for row in cursor.fetchall()]


def _horizon_passed(marker: str) -> bool:
    """Every transaction that wrote these events is older than the oldest one still open."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_snapshot_xmin(pg_current_snapshot()) > max(tx) FROM event_store WHERE stream_type = %s",
            [marker],
        )
        return bool(cursor.fetchone()[0])


def run_gap_experiment(reader: Reader, db_url: str, **load) -> Outcome:
    """Writers in child processes, `reader` polling in this one; returns what was stored and seen."""
    return run_gap_experiments([reader], db_url, **load)[0]


def run_gap_experiments(
    readers: list[Reader],
    db_url: str,
    *,
    writers: int = WRITERS,
    seconds: float = WRITE_SECONDS,
    max_pause: float = MAX_PAUSE_SECONDS,
) -> list[Outcome]:
    """Writers in child processes, every reader polling in this one, in turn, under the same
    writes (one spawn of the writers for them all); what was stored and what each one saw.

    Needs committed (autocommit) database access in this process. Every process it starts is
    joined, or terminated and joined, before it returns or raises.
    """
    marker = f"gap-{uuid.uuid4().hex}"  # 36 characters: stream_type is varchar(50)
    for reader in readers:
        _drain(reader)
    recorders = [_Recorder(reader, marker) for reader in readers]

    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    go = context.Event()
    stop = context.Event()
    processes = [
        context.Process(
            target=writer_main,
            args=(index, db_url, marker, seconds, max_pause, messages, go, stop),
            name=f"gap-writer-{index}",
            daemon=True,
        )
        for index in range(writers)
    ]
    reports: dict[int, tuple] = {}
    spawned = time.monotonic()
    try:
        for process in processes:
            process.start()

        # 1. Wait until every writer is connected, so that they all start writing together.
        ready: set[int] = set()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len(ready) < writers:
            for message in _receive(messages, timeout=0.1):
                if message[0] == "ready":
                    ready.add(message[1])
                else:
                    reports[message[1]] = message
            if reports:
                _, index, _, _, error = next(iter(reports.values()))
                raise RuntimeError(f"writer {index} ended before starting:\n{error}")
            dead = [p.name for p in processes if p.exitcode is not None]
            if dead:
                raise RuntimeError(f"writer process(es) died during startup: {dead}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(ready)} of {writers} writers were ready after {STARTUP_TIMEOUT}s")

        # 2. Let them write; the reader polls as fast as it can meanwhile.
        go.set()
        started = time.monotonic()
        startup_seconds = started - spawned
        deadline = started + seconds + 30.0
        while len(reports) < writers:
            if not sum(recorder.poll() for recorder in recorders):
                time.sleep(EMPTY_POLL_SLEEP)
            reports.update((message[1], message) for message in _receive(messages, timeout=0))
            if any(p.exitcode is not None and i not in reports for i, p in enumerate(processes)):
                # A child exits only after its "done" message is in the pipe; allow for the race once.
                reports.update((message[1], message) for message in _receive(messages, timeout=2.0))
                silent = [p.name for i, p in enumerate(processes) if p.exitcode is not None and i not in reports]
                if silent:
                    raise RuntimeError(f"writer process(es) exited without reporting: {silent}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"writers did not stop by themselves ({len(reports)}/{writers} done)")
        write_seconds = time.monotonic() - started
        errors = {index: report[4] for index, report in reports.items() if report[4]}
        if errors:
            raise RuntimeError("writer(s) failed:\n" + "\n".join(f"[{i}] {e}" for i, e in sorted(errors.items())))
        join_deadline = time.monotonic() + 10.0
        for process in processes:
            process.join(timeout=max(0.0, join_deadline - time.monotonic()))
        # Every writer has reported and closed its connection: nothing of this run is in flight.
        stored = _stored_positions(marker)

        # 3. Let each reader catch up.
        catch_up_seconds = [_catch_up(recorder, stored, marker) for recorder in recorders]
    finally:
        stop.set()
        go.set()  # a writer still waiting to start returns at once (it sees `stop`)
        join_deadline = time.monotonic() + 10.0
        for process in processes:
            if process.pid is not None:
                process.join(timeout=max(0.0, join_deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        messages.close()
        messages.cancel_join_thread()

    return [
        Outcome(
            reader=recorder.reader.name,
            marker=marker,
            writers=writers,
            written=sum(report[3] for report in reports.values()),
            stored=stored,
            seen=recorder.seen,
            seen_versions=recorder.seen_versions,
            startup_seconds=startup_seconds,
            write_seconds=write_seconds,
            catch_up_seconds=seconds_,
            polls=recorder.polls,
        )
        for recorder, seconds_ in zip(recorders, catch_up_seconds)
    ]


def _catch_up(recorder: _Recorder, stored: list[int], marker: str) -> float:
    """Let the reader catch up: until it has everything (confirmed by an empty poll), or it has
    been handed nothing new for SETTLE_SECONDS although everything is settled (a reader that
    skipped never gets "everything"), bounded by a hard deadline. Returns the seconds it took."""
    caught_up_from = time.monotonic()
    deadline = caught_up_from + CATCH_UP_TIMEOUT
    last_progress = caught_up_from
    expected = set(stored)
    while time.monotonic() < deadline:
        got = recorder.poll()
        now = time.monotonic()
        if got:
            last_progress = now
            continue
        if expected <= set(recorder.seen):
            break
        # Give up on the rest only once every writer's transaction is below the horizon:
        # before that, a lagging (not skipping) reader could be miscounted as skipping.
        if now - last_progress >= SETTLE_SECONDS and _horizon_passed(marker):
            break
        time.sleep(EMPTY_POLL_SLEEP)
    return time.monotonic() - caught_up_from
