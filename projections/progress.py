"""What a runner knows about one projection between batches, and how a catch-up ended."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from django.conf import settings

from products.eventstore import Checkpoint, RecordedEvent

from .models import ProjectionState


class Outcome(StrEnum):
    """How a catch-up ended. A str, so logs, task results and comparisons see the plain word."""

    CAUGHT_UP = "caught_up"  # nothing settled is left after the checkpoint
    BUSY = "busy"  # another runner holds the projection; it drains what this one was sent for
    BLOCKED = "blocked"  # stalled, or waiting for its next retry
    FAILED = "failed"  # this attempt failed; the state row says when the next one is due
    OUT_OF_TIME = "out_of_time"  # the time budget ran out with events still to apply
    NUDGED_AGAIN = "nudged_again"  # a nudge round asked for another round (projections.tasks)


# The statuses a runner may apply batches in; a stalled projection waits for an operator.
ACTIVE = (ProjectionState.RUNNING, ProjectionState.RETRYING, ProjectionState.REBUILDING)


@dataclass(frozen=True)
class Progress:
    """One projection's progress as its state row holds it, carried by the runner from step to step.

    A value, not the row: each step returns a new one. It names no projection, so one runner can
    carry several (one per projection in a round, or one per partition of a projection).
    """

    checkpoint: Checkpoint
    status: str
    attempts: int  # batches started since the last success
    # A runner died in the batch that ended at this position: go one event at a time up to it.
    suspect_until: int | None = None
    next_retry_at: datetime | None = None

    @classmethod
    def of(cls, state: ProjectionState) -> Progress:
        return cls(Checkpoint(state.last_tx, state.last_position), state.status, state.attempts,
                   state.suspect_until, state.next_retry_at)

    @property
    def suspect(self) -> bool:
        return self.suspect_until is not None

    def may_run(self, now: datetime) -> bool:
        """Not stalled, and not waiting for its next retry."""
        return self.status in ACTIVE and not (self.next_retry_at and self.next_retry_at > now)

    def batch_size(self, usual: int | None = None) -> int:
        # Through the range where a runner died, one event at a time: the event that kills is
        # then found, and each death counts against that event alone.
        return 1 if self.suspect else usual or settings.PROJECTION_BATCH_SIZE

    def after_batch(self, counted: Progress, applied: list[RecordedEvent]) -> Progress:
        """The progress once `applied`, a batch that did not fail, is committed.

        `self` is the progress the batch was read at, `counted` the one its attempt count left.
        """
        checkpoint = applied[-1].checkpoint if applied else self.checkpoint
        if self.still_suspect(counted, applied):
            # A healthy event inside the range where a runner died: this attempt does not count.
            return replace(counted, checkpoint=checkpoint, attempts=counted.attempts - 1)
        # The failure is cleared; a rebuild ends only when the log is replayed.
        status = ProjectionState.REBUILDING if counted.status == ProjectionState.REBUILDING else ProjectionState.RUNNING
        return Progress(checkpoint, status, attempts=0)

    def still_suspect(self, counted: Progress, applied: list[RecordedEvent]) -> bool:
        return self.suspect and not any(event.position == counted.suspect_until for event in applied)
