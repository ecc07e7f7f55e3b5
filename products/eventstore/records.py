"""The envelopes the event store takes and gives back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID


@dataclass(frozen=True, order=True)
class Checkpoint:
    """A place in the global log: the writing transaction's id, then the row's position.

    Positions are unique but not commit-ordered; (tx, position) is the order readers use.
    Everyone outside the store sees it as one token, `<tx>-<position>` such as "812-5": the
    API's positions, the operators' commands and the admin all format and parse it here.
    """

    tx: int
    position: int

    START: ClassVar["Checkpoint"]
    _TOKEN: ClassVar[re.Pattern[str]] = re.compile(r"(\d{1,20})-(\d{1,20})")
    # No real transaction id or position reaches this; larger numbers overflow the database's types.
    _LIMIT: ClassVar[int] = 2**63

    def __str__(self) -> str:
        return f"{self.tx}-{self.position}"

    @classmethod
    def parse(cls, token: str) -> "Checkpoint":
        """The checkpoint a token names; ValueError if it is not a token or out of range."""
        match = cls._TOKEN.fullmatch(token.strip())
        if not match:
            raise ValueError(f"Not a position token (such as 812-5): {token!r}")
        tx, position = int(match[1]), int(match[2])
        if tx >= cls._LIMIT or position >= cls._LIMIT:
            raise ValueError(f"Position token out of range: {token!r}")
        return cls(tx, position)


Checkpoint.START = Checkpoint(0, 0)


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended: its id (which makes the append idempotent), type and payload."""

    event_id: UUID
    type: str
    data: dict[str, Any]
    schema_version: int = 1


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored, with its place in its stream and in the global log."""

    position: int
    tx: int
    stream_type: str
    stream_id: UUID
    version: int
    event_id: UUID
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.tx, self.position)


class StreamVersionConflict(Exception):
    """Another writer appended to the stream at the version this append wanted."""

    def __init__(self, stream_id: UUID, expected_version: int) -> None:
        super().__init__(f"Stream {stream_id} is no longer at version {expected_version}.")
        self.stream_id = stream_id
        self.expected_version = expected_version


class EventsAlreadyStored(Exception):
    """Events with these ids are in the store already: the append is a retry of an earlier one."""

    def __init__(self, event_ids: list[UUID]) -> None:
        super().__init__(f"{len(event_ids)} event(s) already stored.")
        self.event_ids = event_ids
