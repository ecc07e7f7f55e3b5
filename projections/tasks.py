"""Celery tasks: thin interfaces over the engine. They carry no events, only names.

Each projection has its own queue, so a slow one (the relay waiting on broker confirms, a
long catch-up) never delays another's nudges; one worker consumes them all by default, and
a deployment can give a queue its own workers (`celery -A project worker -Q projection.<name>`).
Lost, repeated or reordered messages can only delay a read model: the engine reads the log.
"""

from celery import shared_task
from kombu import Queue

from products.nudge import projection_queue

from project import logformat

from . import engine, metrics, projectors

# Worker log lines name the task, its projection and the ids of the request that nudged it
# (carried in the message headers, passed on to the fan-out's tasks); WORKER_METRICS_PORT
# serves the worker's metrics.
logformat.connect_celery_signals()
metrics.connect_worker_signals()


def queue_for(name: str) -> Queue:
    return projection_queue(name)


@shared_task(name="projections.catch_up", ignore_result=True)
def catch_up(name: str | None = None) -> dict | None:
    """Catch one projection up (the nudge a command sends each); without a name, all of them."""
    if name is None:
        fan_out()
        return None
    result = engine.catch_up(projectors.get(name))
    if result.outcome == "out_of_time":
        catch_up.apply_async(args=[name], queue=queue_for(name))  # continue in a fresh task
    return {"projection": name, "applied": result.applied, "outcome": result.outcome}


@shared_task(name="projections.sweep", ignore_result=True)
def sweep() -> None:
    """Beat runs this every few seconds, so a lost nudge only delays a read model."""
    fan_out()


@shared_task(name="projections.rebuild", ignore_result=True)
def rebuild(name: str) -> None:
    """Empty the projection and let catch-up replay the log, one time-boxed task after another."""
    engine.reset(projectors.get(name))
    catch_up.apply_async(args=[name], queue=queue_for(name))


def fan_out() -> None:
    for name in projectors.all_projectors():
        catch_up.apply_async(args=[name], queue=queue_for(name))
