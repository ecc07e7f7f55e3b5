"""Celery tasks: thin interfaces over the engine. They carry no events, only names.

A command's nudge is one task on `projections.nudge` that catches every projection up in turn,
each for a short time budget. Each projection also has its own queue, for beat's sweep and for
a catch-up that needs longer, so a backlog in one (the relay waiting on broker confirms, a
long replay) never holds up the others; one worker consumes every queue by default, and a
deployment can give a queue its own workers (`celery -A project worker -Q projection.<name>`).
Lost, repeated or reordered messages can only delay a read model: the engine reads the log.
"""

import time

from celery import shared_task
from django.conf import settings

from products.nudge import projection_queue

from project import logformat

from . import engine, metrics, projectors

# Worker log lines name the task, its projection and the ids of the request that nudged it
# (carried in the message headers, passed on to the tasks a task publishes); WORKER_METRICS_PORT
# serves the worker's metrics.
logformat.connect_celery_signals()
metrics.connect_worker_signals()


@shared_task(name="projections.catch_up", ignore_result=True)
def catch_up(name: str | None = None) -> dict | list[dict]:
    """Catch one projection up; without a name (a command's nudge), every projection in turn.

    In turn, here: one task per command rather than one per projection. Each projection has its
    own runner lock, so a second worker process that takes the next nudge while this one is
    still on a slow projection skips that one at once ("busy") and serves the others. A
    projection with more than PROJECTION_NUDGE_TIME_BUDGET of work goes on in its own queue.
    """
    if name is not None:
        return _catch_up(name, time_budget=None)
    _pace_nudges()
    names = list(projectors.all_projectors())
    budget = settings.PROJECTION_NUDGE_TIME_BUDGET
    # Each catch-up leaves its look after releasing its lock to one look for them all at the end.
    results = [_catch_up(name, time_budget=budget, look_again=False) for name in names]
    results += [_catch_up(name, time_budget=budget) for name in engine.unread(names)]
    return results


_last_nudge_started = 0.0


def _pace_nudges() -> None:
    """Start a nudge's round at least PROJECTION_NUDGE_INTERVAL after this process's last one.

    A command that comes after a quiet spell is projected at once. Under a stream of commands,
    the events of the interval are applied together, in one round per process, instead of one
    round per command that finds one event to apply: the round's fixed cost (a few statements
    per projection) is what took the worker's CPU from the command side on a small machine.
    """
    global _last_nudge_started
    wait = _last_nudge_started + settings.PROJECTION_NUDGE_INTERVAL - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    _last_nudge_started = time.monotonic()


def _catch_up(name: str, time_budget: float | None, look_again: bool = True) -> dict:
    result = engine.catch_up(projectors.get(name), time_budget=time_budget, look_again=look_again)
    if result.outcome == "out_of_time":
        catch_up.apply_async(args=[name], queue=projection_queue(name))  # continue in a fresh task
    return {"projection": name, "applied": result.applied, "outcome": result.outcome}


@shared_task(name="projections.sweep", ignore_result=True)
def sweep() -> None:
    """Beat runs this every few seconds, so a lost nudge only delays a read model."""
    fan_out()


@shared_task(name="projections.rebuild", ignore_result=True)
def rebuild(name: str) -> None:
    """Empty the projection and let catch-up replay the log, one time-boxed task after another."""
    engine.reset(projectors.get(name))
    catch_up.apply_async(args=[name], queue=projection_queue(name))


def fan_out() -> None:
    for name in projectors.all_projectors():
        catch_up.apply_async(args=[name], queue=projection_queue(name))
