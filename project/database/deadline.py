"""Bounded database waits: a deadline per request, and a cap on every round trip.

A PostgreSQL that stops answering while its connections stay open (a frozen server, a
partition behind a pooler or a proxy) is seen by none of the usual guards: connect_timeout
only covers new connections, the server's statement_timeout needs a server that runs, and
TCP keepalives are answered by whatever holds the other end of the socket. So the client
bounds its own waits: psycopg waits for every answer in `Connection.wait`, which takes a
timeout, and `BoundedConnection` gives it one.

- In a request, every wait ends by the request's deadline (REQUEST_TIMEOUT after it began).
- Everywhere (workers, beat, management commands), a single round trip ends after
  DATABASE_STALL_TIMEOUT, longer than any statement the server's own statement_timeout lets run.

A wait that times out leaves the connection in an unknown state, so the connection is closed
(the server rolls back whatever transaction it had open) and an OperationalError subclass says
which of two things happened:

- `DeadlineExceeded`: nothing was committed. Either the deadline had passed before the
  statement was sent, or the statement was not one that commits.
- `OutcomeUnknown`: a COMMIT (or a statement marked with `commit_point()`, which commits by
  itself in autocommit mode) was sent and never answered. It may have been applied.
"""

from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg import errors

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("database_deadline", default=None)
_at_commit_point: contextvars.ContextVar[bool] = contextvars.ContextVar("database_commit_point", default=False)
# psycopg's own poll interval between checks for interrupts (its default too).
_WAIT_INTERVAL = 0.1


class DeadlineExceeded(psycopg.OperationalError):
    """The database did not answer in time, and nothing this wait was for was committed."""


class OutcomeUnknown(psycopg.OperationalError):
    """A commit was sent and not acknowledged in time: it may or may not have been applied."""


def remaining() -> float | None:
    """Seconds left before the current request's deadline; None outside a request (or with none)."""
    at = _deadline.get()
    return None if at is None else at - time.monotonic()


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Every database wait inside ends within `seconds` from now (None or 0: no deadline)."""
    token = _deadline.set(time.monotonic() + seconds if seconds else None)
    try:
        yield
    finally:
        _deadline.reset(token)


@contextmanager
def commit_point() -> Iterator[None]:
    """Statements inside may commit by themselves (autocommit): a timeout there is OutcomeUnknown."""
    token = _at_commit_point.set(True)
    try:
        yield
    finally:
        _at_commit_point.reset(token)


def is_outcome_unknown(error: BaseException | None) -> bool:
    """Whether `error` comes of an OutcomeUnknown: Django raises its own error from psycopg's,
    and a failed commit's cleanup (reconnecting to leave the transaction) raises another."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OutcomeUnknown):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server ends by the deadline or the stall cap."""

    stall_timeout: float | None = None

    def commit(self) -> None:
        with commit_point():
            super().commit()

    def wait(self, gen, interval: float = _WAIT_INTERVAL, timeout: float | None = None):
        bound = self._bound(timeout)
        if bound is None:
            return super().wait(gen, interval, timeout)
        if bound <= 0:
            # Not even sent: the request is out of time, and the statement (a commit too) is
            # dropped with the connection, so the server rolls its transaction back.
            gen.close()
            self.close()
            raise DeadlineExceeded("The request's deadline passed before the database was asked.")
        try:
            return super().wait(gen, interval, bound)
        except errors._WaitTimeout:  # psycopg's own: Connection.wait documents it
            self.close()
            if _at_commit_point.get():
                raise OutcomeUnknown(
                    f"The database did not acknowledge a commit within {bound:.1f} s; it may have been applied."
                ) from None
            raise DeadlineExceeded(f"The database did not answer within {bound:.1f} s.") from None

    def _bound(self, timeout: float | None) -> float | None:
        bounds = [b for b in (timeout, self.stall_timeout, remaining()) if b is not None]
        return min(bounds) if bounds else None
