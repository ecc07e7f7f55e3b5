"""docker-compose.yml without Docker: each service of ours runs its exact command, here.

Each service's command line and environment come from the compose file (interpolated with
.env.example). Only what a container would provide differently is replaced: DATABASE_URL and
CELERY_BROKER_URL point at this test run's database and RabbitMQ vhost, the ports are free
ones on 127.0.0.1 (PORT, FLOWER_PORT, WORKER_METRICS_PORT), and the paths the image provides
(CATALOG_VAR_DIR, the PROMETHEUS_MULTIPROC_DIR tmpfs) are temporary directories.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests import settings as test_settings
from tests.api.helpers import register_body
from tests.deploy import compose
from tests.support import processes
from tests.support.history import random_history
from tests.support.mqtt import Subscriber, mosquitto
from tests.support.polling import wait_until
from tests.support.processes import ARTIFACTS, ROOT, free_port, started

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Service:
    """One compose service started here: its definition, environment, process and log."""

    def __init__(self, name: str, definition: dict, environment: dict[str, str]) -> None:
        self.name, self.definition, self.environment = name, definition, environment
        self.argv = compose.local_argv(compose.command_line(definition))
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None

    @property
    def url(self) -> str:
        port = self.environment.get("UVICORN_PORT") or self.environment.get("PORT") or self.environment.get("FLOWER_PORT")
        return f"http://127.0.0.1:{port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def alive(self) -> bool:
        assert self.process is not None and self.process.poll() is None, (
            f"{self.name} exited with {self.process.returncode}; see {self.log}"
        )
        return True


@pytest.fixture(scope="module")
def definitions():
    return compose.load_compose()


@pytest.fixture(scope="module")
def mqtt_broker():
    """Where the stack's MQTT_URL points instead of the compose file's `mosquitto` service."""
    with mosquitto() as broker:
        yield broker


@pytest.fixture(scope="module")
def make_service(definitions, tmp_path_factory, django_db_setup, rabbitmq_vhost, mqtt_broker):
    def make(name: str) -> Service:
        definition = definitions["services"][name]
        state = tmp_path_factory.mktemp(f"compose-{name}")
        environment = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            **compose.image_environment(),
            **compose.service_environment(definition),
        }
        assert environment["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["CELERY_BROKER_URL"].startswith("amqp://") and "@rabbitmq:5672/" in environment["CELERY_BROKER_URL"]
        assert environment["MQTT_URL"] == "mqtt://mosquitto:1883"
        environment.update(
            DATABASE_URL=processes.test_database_url(),
            CELERY_BROKER_URL=f"{test_settings.RABBITMQ_URL}/{test_settings.TEST_VHOST}",
            CATALOG_VAR_DIR=str(state / "var"),
            MQTT_URL=mqtt_broker.url,
        )
        if "PROMETHEUS_MULTIPROC_DIR" in environment:
            environment["PROMETHEUS_MULTIPROC_DIR"] = str(state / "prometheus")
            (state / "prometheus").mkdir()
        if "UVICORN_PORT" in environment:  # the feed: uvicorn's port, which its health check reads as PORT
            port = str(free_port())
            environment.update(UVICORN_PORT=port, UVICORN_HOST="127.0.0.1", PORT=port)
        elif "PORT" in environment:
            environment.update(PORT=str(free_port()), GUNICORN_HOST="127.0.0.1")
        if "FLOWER_PORT" in environment:
            environment.update(FLOWER_PORT=str(free_port()), FLOWER_ADDRESS="127.0.0.1")
        if "WORKER_METRICS_PORT" in environment:
            environment.update(WORKER_METRICS_PORT=str(free_port()), WORKER_METRICS_ADDRESS="127.0.0.1")
        return Service(name, definition, environment)

    return make


def test_every_service_of_ours_runs_the_image_built_here(definitions):
    services = definitions["services"]
    for name in compose.OUR_SERVICES:
        assert services[name]["build"] == "." and services[name]["image"] == "event-catalog:local", name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("command", "query", "feed", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert services["postgres"]["image"] == "postgres:15" and "pg_isready" in str(services["postgres"]["healthcheck"])
    assert services["rabbitmq"]["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert compose.service_environment(services["command"])["SERVICE_ROLE"] == "command"
    assert compose.service_environment(services["query"])["SERVICE_ROLE"] == "query"
    assert compose.service_environment(services["feed"])["SERVICE_ROLE"] == "query"


def test_compose_refuses_to_start_without_the_secrets():
    with pytest.raises(compose.InterpolationError, match="DJANGO_SECRET_KEY|POSTGRES_PASSWORD|RABBITMQ_DEFAULT_PASS"):
        compose.load_compose({})


def test_migrate_runs_to_completion(make_service):
    migrate = make_service("migrate")
    with started(migrate.argv, migrate.environment, "compose-migrate") as process:
        returncode = process.wait(timeout=120)
    assert returncode == 0, (ARTIFACTS / "compose-migrate.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def stack(make_service):
    """command, query, feed, worker, beat and flower, each started as the compose file says."""
    services = {name: make_service(name) for name in ("command", "query", "feed", "worker", "beat", "flower")}
    for name in ("command", "query"):  # what the image's build did (Dockerfile): collect static files
        collect = [*compose.local_argv(["python"]), "manage.py", "collectstatic", "--noinput"]
        subprocess.run(collect, cwd=ROOT, env=services[name].environment, check=True, capture_output=True, timeout=120)
    with ExitStack() as stop_all:
        for service in services.values():
            log_name = f"compose-{service.name}-{free_port()}"
            service.process = stop_all.enter_context(started(service.argv, service.environment, log_name))
            service.log = ARTIFACTS / f"{log_name}.log"
        for name in ("command", "query", "feed"):
            service = services[name]
            wait_until(lambda: service.alive() and _answers(f"{service.url}/health/live"), timeout=60, what=f"{name} to answer")
        wait_until(lambda: services["worker"].alive() and " ready." in services["worker"].log_text(), timeout=60, what="the worker")
        yield services


def _answers(url: str, **kwargs) -> bool:
    try:
        return requests.get(url, timeout=5, **kwargs).status_code < 500
    except requests.RequestException:
        return False


def test_the_query_service_answers_queries_and_refuses_commands(stack):
    query = stack["query"]
    listed = requests.get(f"{query.url}/api/products/", timeout=10)
    posted = requests.post(f"{query.url}/api/products/", json=register_body(), timeout=10)

    assert listed.status_code == 200 and "results" in listed.json()
    assert posted.status_code == 405 and posted.json()["code"] == "method_not_allowed"


def test_the_command_service_accepts_commands_and_refuses_queries(stack, make_user, token_for):
    command = stack["command"]
    token = {"Authorization": f"Token {token_for(make_user())}"}
    posted = requests.post(f"{command.url}/api/products/", json=register_body(), headers=token, timeout=10)
    listed = requests.get(f"{command.url}/api/products/", headers=token, timeout=10)

    assert posted.status_code == 202, posted.text
    assert listed.status_code == 405 and listed.json()["code"] == "method_not_allowed"


def test_the_feed_service_streams_the_log(stack, make_user, token_for):
    feed = stack["feed"]
    headers = {"Authorization": f"Token {token_for(make_user(is_staff=True))}", "Accept": "text/event-stream"}
    with requests.get(f"{feed.url}/api/events/stream/", params={"after": "0-0"}, headers=headers, stream=True,
                      timeout=(5, 30)) as stream:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["X-Accel-Buffering"] == "no"  # what the gateway needs to pass messages on at once
        first = next(line for line in stream.iter_lines(chunk_size=None, decode_unicode=True) if line.startswith("id: "))
    assert first.startswith("id: ")
    argv, shell = compose.healthcheck_argv(feed.definition)
    check = subprocess.run(compose.local_argv(argv), cwd=ROOT, env=feed.environment, capture_output=True, timeout=30)
    assert not shell and check.returncode == 0, check.stderr.decode()


def test_the_worker_bridges_the_catalog_to_mqtt(stack, mqtt_broker, make_user, token_for):
    token = {"Authorization": f"Token {token_for(make_user())}"}
    product_id = requests.post(f"{stack['command'].url}/api/products/", json=register_body(), headers=token,
                               timeout=10).json()["product_id"]
    subscriber = Subscriber(mqtt_broker, f"catalog/products/{product_id}")
    try:
        wait_until(lambda: subscriber.messages(), timeout=60, what="the product's retained state")
        (_, state, _), *_ = subscriber.messages()
    finally:
        subscriber.close()
    assert state == requests.get(f"{stack['query'].url}/api/products/{product_id}/", timeout=10).json()


@pytest.mark.parametrize("name", ["command", "query"])
def test_each_web_service_is_ready_and_passes_its_compose_healthcheck(stack, name):
    service = stack[name]
    # Ready once the worker has brought every projection within HEALTH_MAX_PROJECTION_LAG.
    wait_until(lambda: requests.get(f"{service.url}/health/ready", timeout=10).status_code == 200, timeout=90,
               interval=0.5, what=f"{name} to be ready")
    argv, shell = compose.healthcheck_argv(service.definition)
    assert not shell and argv[0] == "python"
    check = subprocess.run(compose.local_argv(argv), cwd=ROOT, env=service.environment, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stderr.decode()
    metrics = requests.get(f"{service.url}/metrics", timeout=10)
    assert metrics.status_code == 200 and "catalog_projection_status_up 1.0" in metrics.text
    # JSON logs (LOG_FORMAT=json) and gunicorn's JSON access log, both with the request ids.
    lines = [json.loads(line) for line in service.log_text().splitlines() if line.startswith("{")]
    assert any(line.get("logger") == "gunicorn.access" and line.get("request_id") for line in lines)


def test_the_admin_works_without_debug_with_its_static_files_from_whitenoise(stack):
    command, query = stack["command"], stack["query"]
    login = requests.get(f"{command.url}/admin/login/", timeout=10)
    css = requests.get(f"{query.url}/static/admin/css/base.css", timeout=10)

    assert login.status_code == 200 and "csrfmiddlewaretoken" in login.text
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_the_worker_applies_a_command_and_passes_its_healthcheck(stack, make_user, token_for):
    command, query, worker = stack["command"], stack["query"], stack["worker"]
    correlation_id = f"compose-{uuid.uuid4().hex}"
    posted = requests.post(
        f"{command.url}/api/products/", json=register_body(),
        headers={"Authorization": f"Token {token_for(make_user())}", "X-Correlation-ID": correlation_id}, timeout=10,
    )
    assert posted.status_code == 202, posted.text
    product = posted.json()

    def read():  # waits up to 5 s per request for the position (503 projection_lagging after that)
        return requests.get(
            f"{query.url}/api/products/{product['product_id']}/", params={"min_position": product["position"]}, timeout=20
        )

    # The nudge reached the worker, which projected the event.
    found = wait_until(lambda: (response := read()).status_code == 200 and response, timeout=60, what="the read model")
    assert found.json()["version"] == 1

    wait_until(lambda: correlation_id in worker.log_text(), timeout=30, what="the worker's log line for the batch")
    argv, shell = compose.healthcheck_argv(worker.definition)
    assert shell
    env = {**worker.environment, "HOSTNAME": socket.gethostname()}  # what a container sets
    check = subprocess.run(
        argv[0].replace("celery ", f"{compose.local_argv(['celery'])[0]} -m celery ", 1), shell=True, cwd=ROOT,
        env=env, capture_output=True, timeout=60,
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    metrics = requests.get(f"http://127.0.0.1:{worker.environment['WORKER_METRICS_PORT']}/metrics", timeout=10)
    assert 'catalog_projection_events_applied_total{projection="product_catalog"}' in metrics.text


def test_beat_starts_and_its_sweep_applies_an_event_whose_nudge_was_lost(stack, committed_db, monkeypatch):
    """Beat says nothing per sweep at INFO (an idle service is quiet): the sweep shows in what it does."""
    beat, query = stack["beat"], stack["query"]
    wait_until(lambda: beat.alive() and "beat: Starting" in beat.log_text(), timeout=60, what="beat to start")
    monkeypatch.setattr("products.handlers.nudge_projections", lambda: None)
    [product_id] = random_history(1, products=1)

    wait_until(lambda: beat.alive() and requests.get(f"{query.url}/api/products/{product_id}/", timeout=10).status_code == 200,
               timeout=60, interval=0.5, what="a sweep to project the event")


def test_flower_answers_on_its_port_behind_its_login(stack):
    flower = stack["flower"]
    user, _, password = flower.environment["FLOWER_BASIC_AUTH"].partition(":")
    wait_until(lambda: flower.alive() and _answers(flower.url, auth=(user, password)), timeout=60, what="flower to answer")

    assert requests.get(flower.url, timeout=10).status_code == 401
    assert requests.get(f"{flower.url}/workers", auth=(user, password), timeout=10).status_code == 200
