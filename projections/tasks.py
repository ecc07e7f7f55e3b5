"""Celery tasks: thin interfaces over the engine. They carry no events, only names.

A command's nudge is one task on `projections.nudge` that catches every projection up in
shared rounds (projections/rounds.py), for a short time budget. Each projection also has its own queue, for beat's sweep and for
a catch-up that needs longer, so a backlog in one (the relay waiting on broker confirms, a
long replay) never holds up the others; one worker consumes every queue by default, and a
deployment can give a queue its own workers (`celery -A project worker -Q projection.<name>`).
Lost, repeated or reordered messages can only delay a read model: the engine reads the log.
"""

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from products.nudge import publish_nudge

from . import changes, engine, generations, projectors, rounds
from .progress import Outcome
from .queues import projection_queue

log = logging.getLogger(__name__)


@shared_task(name="projections.catch_up", ignore_result=True)
def catch_up(name: str | None = None) -> dict | list[dict]:
    """Catch one projection up; without a name (a command's nudge), every projection, in shared rounds.

    One task per command rather than one per projection. Each projection has its own runner
    lock, so a second worker process that takes the next nudge while this one is still on a
    slow projection skips that one at once ("busy") and serves the others. A projection with
    more than PROJECTION_NUDGE_TIME_BUDGET of work goes on in its own queue.
    """
    if name is not None:
        return _catch_up(name, time_budget=None)
    _pace_nudges()
    configured = projectors.all_projectors()
    budget = settings.PROJECTION_NUDGE_TIME_BUDGET
    # In shared rounds (projections/rounds.py), leaving the look after releasing the locks to one
    # look for them all at the end.
    caught_up = rounds.catch_up_together(list(configured.values()), budget)
    results = [_result(name, outcome) for name, outcome in caught_up.items()]
    # The look is owed for what this round caught up. Not for a projection that is blocked (its
    # retry comes when due, from the sweep), out of time (continued in its own queue) or busy
    # (its runner looks).
    unread = engine.unread([result["projection"] for result in results if result["outcome"] == Outcome.CAUGHT_UP])
    global _in_a_stream
    _in_a_stream = bool(unread) or any(result["applied"] > 1 for result in results)
    if unread:
        results += _round_again(unread, budget)
    return results


def _round_again(unread: list[str], budget: float) -> list[dict]:
    """Events came in during the round. A nudge of theirs that found a projection busy left them
    to this round, so they must be applied: by another round, not by this one chasing them.

    Chasing a stream of commands went one or two events at a time, each time at a round's fixed
    cost; the next round is paced (see _pace_nudges), so it applies the interval's events
    together. If the broker does not take the nudge, this round applies them after all.
    """
    try:
        publish_nudge()
    except Exception:
        log.warning("Could not ask for another nudge round; applying the new events in this one.", exc_info=True)
        return [_catch_up(name, time_budget=budget) for name in unread]
    return [{"projection": None, "applied": 0, "outcome": Outcome.NUDGED_AGAIN, "unread": unread}]


_last_nudge_started = 0.0
_in_a_stream = False  # as this process's last round found the log (see _pace_nudges)


def _pace_nudges() -> None:
    """Under a stream of commands, start a round PROJECTION_NUDGE_INTERVAL after the last one.

    The events of the interval are then applied together, in one round per process, instead of
    one round per command that finds one event to apply: the round's fixed cost (a few
    statements per projection) is what took the worker's CPU from the command side on a small
    machine. A stream shows in the last round: it found more than one event to apply to some
    projection, or new events when it was done. Otherwise the rounds keep up one command at a
    time, and the next starts at once, as does any round after a quiet spell longer than the
    interval.
    """
    global _last_nudge_started
    wait = _last_nudge_started + settings.PROJECTION_NUDGE_INTERVAL - time.monotonic()
    if wait > 0 and _in_a_stream:
        time.sleep(wait)
    _last_nudge_started = time.monotonic()


def _catch_up(name: str, time_budget: float | None, look_again: bool = True) -> dict:
    return _result(name, engine.catch_up(projectors.get(name), time_budget=time_budget, look_again=look_again))


def _result(name: str, result: engine.CatchUp) -> dict:
    if result.outcome == Outcome.OUT_OF_TIME:
        catch_up.apply_async(args=[name], queue=projection_queue(name))  # continue in a fresh task
    return {"projection": name, "applied": result.applied, "outcome": result.outcome}


@shared_task(name="projections.sweep", ignore_result=True)
def sweep() -> None:
    """Beat runs this every few seconds, so a lost nudge only delays a read model.

    Quiet at INFO: what a catch-up it sends does is logged by the engine (events applied at INFO,
    failures at ERROR), so an idle service logs nothing here (see project/logformat.py).
    """
    fan_out()
    # A deploy that raised a projector's version, and builds cut short: a generation to build.
    for name in generations.start_due():
        build_generation.apply_async(args=[name], queue=projection_queue(name))
    log.debug("Sweep: each projection asked to catch up")


@shared_task(name="projections.rebuild", ignore_result=True)
def rebuild(name: str) -> None:
    """An operator's rebuild: a new generation of the projection, built beside the live one."""
    try:
        generations.start(name)
    except generations.CannotRebuild as refusal:
        log.warning("Rebuild of %s refused: %s", name, refusal)
        return
    build_generation.apply_async(args=[name], queue=projection_queue(name))


@shared_task(name="projections.build_generation", ignore_result=True)
def build_generation(name: str) -> None:
    """Build the next generation for one time budget, then go on in a fresh task until it is live.

    A build that fails waits for the engine's retry (beat's sweep sends it again when due);
    one that another process is running is left to it.
    """
    try:
        built = generations.build(name, time_budget=settings.PROJECTION_TIME_BUDGET)
    except generations.CannotRebuild as refusal:
        log.debug("%s", refusal)
        return
    if built.outcome == Outcome.OUT_OF_TIME:
        build_generation.apply_async(args=[name], queue=projection_queue(name))


def fan_out() -> None:
    for name in projectors.all_projectors():
        catch_up.apply_async(args=[name], queue=projection_queue(name))


@shared_task(name="projections.trim_product_changes", ignore_result=True)
def trim_product_changes() -> int:
    """Beat, hourly: the catalog's product changes older than their retention go."""
    removed = changes.trim(timedelta(days=settings.PRODUCT_CHANGES_RETENTION_DAYS))
    if removed:
        log.info("Removed %s product changes older than %s days", removed, settings.PRODUCT_CHANGES_RETENTION_DAYS)
    return removed
