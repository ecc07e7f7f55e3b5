"""What a runner knows about one projection between batches, and how a catch-up ended."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How a catch-up ended. A str, so logs, task results and comparisons see the plain word."""

    CAUGHT_UP = "caught_up"  # nothing settled is left after the checkpoint
    BUSY = "busy"  # another runner holds the projection; it drains what this one was sent for
    BLOCKED = "blocked"  # stalled, or waiting for its next retry
    FAILED = "failed"  # this attempt failed; the state row says when the next one is due
    OUT_OF_TIME = "out_of_time"  # the time budget ran out with events still to apply
    NUDGED_AGAIN = "nudged_again"  # a nudge round asked for another round (projections.tasks)
