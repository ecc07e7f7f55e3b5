"""Read-your-writes: a query with `min_position` waits until its projections have applied that position."""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError

from products.eventstore import Checkpoint
from project.database.deadline import remaining

from ..models import ProjectionState

FIRST_DELAY, MAX_DELAY = 0.002, 0.05
# A query that waited for its projections still needs a moment to read and answer.
ANSWER_MARGIN = 0.5


class ProjectionLagging(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The read models have not reached that position yet; retry shortly."
    default_code = "projection_lagging"
    wait = 1  # DRF's exception handler turns this into Retry-After


def applied(names: tuple[str, ...], target: Checkpoint) -> bool:
    """Whether every named projection has applied the log up to `target` (one query)."""
    reached = {
        name: Checkpoint(tx, position)
        for name, tx, position in ProjectionState.objects.filter(name__in=names).values_list(
            "name", "last_tx", "last_position"
        )
    }
    return all(reached.get(name, Checkpoint.START) >= target for name in names)


def wait_until_applied(names: tuple[str, ...], target: Checkpoint, timeout: float) -> None:
    """Poll with a short, growing sleep (2 ms to 50 ms); ProjectionLagging after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = FIRST_DELAY
    while not applied(names, target):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProjectionLagging()
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, MAX_DELAY)


class ReadYourWritesMixin:
    """A GET with `min_position=<token>` answers only once `read_models` have applied that position."""

    read_models: tuple[str, ...] = ()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and permissions first: no waiting for strangers
        token = request.query_params.get("min_position", "")
        if request.method not in ("GET", "HEAD") or not token:
            return
        try:
            target = Checkpoint.parse(token)
        except ValueError:
            raise ValidationError({"min_position": ['Give a position token from a command, such as "812-5".']})
        if self.read_models:
            wait_until_applied(self.read_models, target, _longest_wait())


def _longest_wait() -> float:
    """READ_YOUR_WRITES_TIMEOUT, but never so long that the request would pass its deadline."""
    left = remaining()
    if left is None:
        return settings.READ_YOUR_WRITES_TIMEOUT
    return max(0.0, min(settings.READ_YOUR_WRITES_TIMEOUT, left - ANSWER_MARGIN))
