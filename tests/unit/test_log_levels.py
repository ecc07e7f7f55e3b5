"""The log filters of project/logformat.py: routine task lines at DEBUG, a 503 at WARNING, a 500 at ERROR."""

import logging

import pytest

from project.logformat import RoutineTasksAtDebug, UnavailableAtWarning, logging_config


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logger(request):
    """A logger of its own at INFO, with a filter and a handler that keeps what it gets."""
    logger = logging.getLogger(f"tests.log_levels.{request.node.name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.collected = Collected()
    logger.addHandler(logger.collected)
    yield logger
    logger.handlers.clear()
    logger.filters.clear()


def received(logger, task: str, args: str = "()") -> None:
    """As celery.worker.strategy logs a task it received: the task's context in `data`."""
    context = {"id": "1", "name": task, "args": args, "kwargs": "{}", "eta": None}
    logger.info("Task %(name)s[%(id)s] received", context, extra={"data": context})


def test_the_sweeps_lines_are_dropped_at_info_and_others_kept(logger):
    logger.addFilter(RoutineTasksAtDebug())

    received(logger, "projections.sweep")
    received(logger, "projections.catch_up", "['product_catalog']")  # sent by the sweep
    logger.info("Scheduler: Sending due task %s (%s)", "sweep-projections", "projections.sweep")
    received(logger, "projections.catch_up")  # a command's nudge: every projection, none named
    received(logger, "projections.rebuild", "['product_catalog']")  # an operator's rebuild
    logger.info("Scheduler: Sending due task %s (%s)", "nightly", "reports.nightly")
    context = {"id": "2", "name": "projections.sweep", "exc": "boom"}
    logger.error("Task %(name)s[%(id)s] raised unexpected: %(exc)s", context, extra={"data": context})

    kept = [(record.levelname, record.getMessage()) for record in logger.collected.records]
    assert kept == [
        ("INFO", "Task projections.catch_up[1] received"),
        ("INFO", "Task projections.rebuild[1] received"),
        ("INFO", "Scheduler: Sending due task nightly (reports.nightly)"),
        ("ERROR", "Task projections.sweep[2] raised unexpected: boom"),
    ]


def test_routine_task_lines_show_at_debug_when_the_logger_is_at_debug(logger):
    logger.setLevel(logging.DEBUG)
    logger.addFilter(RoutineTasksAtDebug())

    received(logger, "projections.sweep")

    assert [(r.levelname, r.getMessage()) for r in logger.collected.records] == [
        ("DEBUG", "Task projections.sweep[1] received")
    ]


def test_a_503_is_a_warning_and_a_500_stays_an_error(logger):
    logger.addFilter(UnavailableAtWarning())

    logger.error("Service Unavailable: %s", "/api/products/", extra={"status_code": 503})
    logger.error("Internal Server Error: %s", "/api/products/", extra={"status_code": 500})
    logger.warning("Not Found: %s", "/nowhere", extra={"status_code": 404})

    assert [(r.levelname, r.status_code) for r in logger.collected.records] == [
        ("WARNING", 503), ("ERROR", 500), ("WARNING", 404),
    ]


def test_the_logging_settings_put_the_filters_on_celery_and_django_request():
    loggers = logging_config("json")["loggers"]

    for name in ("celery.worker.strategy", "celery.app.trace", "celery.beat"):
        assert loggers[name]["filters"] == ["routine_tasks"]
    assert loggers["django.request"]["filters"] == ["unavailable"]
