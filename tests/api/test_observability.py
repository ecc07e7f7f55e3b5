"""Health endpoints, Prometheus metrics and JSON logs that follow a command to the read model."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

import pytest
import requests
from celery import current_app
from prometheus_client import REGISTRY

from project import logformat
from projections import engine, projectors
from projections.models import ProjectionState
from tests.api.helpers import command_path, post_json, register_body
from tests.support.polling import wait_until
from tests.support.processes import ARTIFACTS, celery_worker, free_port, web_server

pytestmark = pytest.mark.integration

ROLES = ["all", "command", "query"]


def catch_up_everything() -> None:
    """Bring this process's view of every projection up to the log (other tests leave a lag)."""
    for projector in projectors.all_projectors().values():
        engine.retry(projector.name)
        engine.catch_up(projector)


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def json_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


# --- /health/live and /health/ready, in process ---------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_live_answers_ok_in_every_role_without_touching_anything(client, settings, role):
    settings.SERVICE_ROLE = role
    response = client.get("/health/live")  # no database fixture: any query would fail the test
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("role", ROLES)
def test_ready_is_200_when_the_database_broker_and_projections_are_fine(committed_db, client, settings, role):
    settings.SERVICE_ROLE = role
    catch_up_everything()

    response = client.get("/health/ready")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "broker": True, "projections": True,
    }
    assert set(body["checks"]["projections"]["projections"]) == set(projectors.all_projectors())
    assert body["checks"]["projections"]["max_lag"] == 10000


def test_ready_is_503_naming_the_broker_when_it_is_unreachable(committed_db, client, settings):
    catch_up_everything()
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{free_port()}//"

    response = client.get("/health/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False and checks["broker"]["detail"]
    assert checks["database"]["ok"] is True and checks["projections"]["ok"] is True
    assert checks["broker"]["duration_ms"] < 5000


def test_ready_skips_the_broker_check_on_the_embedded_file_broker(committed_db, client, settings):
    catch_up_everything()
    settings.CELERY_BROKER_URL = "filesystem://"

    response = client.get("/health/ready")

    assert response.status_code == 200
    broker = response.json()["checks"]["broker"]
    assert broker["ok"] is True and broker["detail"] == "skipped: embedded file broker"


def ready_while_stalled(client, name: str):
    """/health/ready's answer while projection `name` is stalled (its status put back after)."""
    catch_up_everything()
    state = ProjectionState.objects.get(name=name)
    try:
        ProjectionState.objects.filter(name=name).update(status=ProjectionState.STALLED)
        return client.get("/health/ready")
    finally:
        ProjectionState.objects.filter(name=name).update(status=state.status)


def test_ready_is_503_while_a_projection_is_stalled(committed_db, client):
    response = ready_while_stalled(client, "product_catalog")

    assert response.status_code == 503
    projections_check = response.json()["checks"]["projections"]
    assert projections_check["ok"] is False
    assert projections_check["projections"]["product_catalog"]["status"] == "stalled"
    assert "stalled: product_catalog" in projections_check["detail"]
    assert client.get("/health/ready").status_code == 200  # restored


def test_an_outbound_projection_stalled_is_shown_and_leaves_the_service_ready(committed_db, client):
    """The relay publishes to other systems: the queries' answers do not depend on it."""
    response = ready_while_stalled(client, "integration_relay")

    assert response.status_code == 200
    check = response.json()["checks"]["projections"]
    assert check["projections"]["integration_relay"] == {**check["projections"]["integration_relay"],
                                                         "status": "stalled", "outbound": True}
    assert "outbound, not counted: integration_relay" in check["detail"]
    assert "outbound" not in check["projections"]["product_catalog"]


def test_ready_is_503_when_a_projection_lags_by_the_limit_or_more(committed_db, client, settings, api):
    catch_up_everything()
    api.post("/api/products/", register_body(), format="json")  # one event nobody has applied yet
    settings.HEALTH_MAX_PROJECTION_LAG = 1

    response = client.get("/health/ready")

    assert response.status_code == 503
    check = response.json()["checks"]["projections"]
    assert check["max_lag"] == 1 and "lag of 1 or more" in check["detail"]
    settings.HEALTH_MAX_PROJECTION_LAG = 10000
    assert client.get("/health/ready").status_code == 200


def test_health_endpoints_need_no_authentication_and_refuse_writes(committed_db, client, settings):
    settings.QUERIES_REQUIRE_AUTHENTICATION = True
    assert client.get("/health/live").status_code == 200
    assert client.post("/health/live").status_code == 405
    assert client.post("/health/ready").status_code == 405


# --- /metrics -------------------------------------------------------------------------------


def test_metrics_count_commands_events_and_batches(committed_db, api, client):
    accepted = sample("catalog_commands_accepted_total", command="register", status="202")
    refused = sample("catalog_commands_refused_total", command="change_price", code="product_not_found")
    appended = sample("catalog_events_appended_total", type="ProductRegistered")
    applied = sample("catalog_projection_events_applied_total", projection="product_catalog")

    registered = api.post("/api/products/", register_body(), format="json")
    assert registered.status_code == 202
    missing = post_json(api, command_path(uuid.uuid4(), "change-price"), {"price": "1.00"})
    assert missing.status_code == 404
    engine.catch_up(projectors.get("product_catalog"))

    assert sample("catalog_commands_accepted_total", command="register", status="202") == accepted + 1
    assert sample("catalog_commands_refused_total", command="change_price", code="product_not_found") == refused + 1
    assert sample("catalog_events_appended_total", type="ProductRegistered") == appended + 1
    assert sample("catalog_projection_events_applied_total", projection="product_catalog") >= applied + 1

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in (
        'catalog_commands_accepted_total{command="register",status="202"}',
        'catalog_commands_refused_total{code="product_not_found",command="change_price"}',
        'catalog_events_appended_total{type="ProductRegistered"}',
        "catalog_nudge_publish_failures_total",
        'catalog_projection_batch_duration_seconds_bucket{le="0.005",projection="product_catalog"}',
        'catalog_projection_events_applied_total{projection="product_catalog"}',
        'catalog_projection_lag_events{projection="product_catalog"}',
        'catalog_projection_version{projection="product_catalog"} 1.0',
        'catalog_projection_status{projection="product_catalog",status="running"} 1.0',
        'catalog_projection_status{projection="product_catalog",status="stalled"} 0.0',
        "catalog_projection_status_up 1.0",
    ):
        assert name in text, f"{name} not in /metrics"


def test_metrics_are_open_unless_a_token_is_set(committed_db, client, settings):
    assert client.get("/metrics").status_code == 200

    settings.METRICS_TOKEN = "scrape-secret"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token scrape-secret").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


# --- Log format -----------------------------------------------------------------------------


def _record(message: str, **extra) -> logging.LogRecord:
    record = logging.LogRecord("catalog.test", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_the_json_format_carries_the_bound_ids_and_extras():
    with logformat.bound(request_id="req-1", correlation_id="corr-1"):
        line = logformat.JsonFormatter().format(_record("hello", command="register"))
    entry = json.loads(line)
    assert entry["message"] == "hello" and entry["level"] == "INFO" and entry["logger"] == "catalog.test"
    assert (entry["request_id"], entry["correlation_id"], entry["command"]) == ("req-1", "corr-1", "register")
    assert "request_id" not in json.loads(logformat.JsonFormatter().format(_record("outside")))


def test_the_plain_format_appends_the_bound_ids():
    with logformat.bound(request_id="req-2", task_id="t-9"):
        line = logformat.PlainFormatter().format(_record("hello"))
    assert line.endswith("hello [request_id=req-2 task_id=t-9]")


def test_the_log_format_follows_debug_unless_log_format_says(monkeypatch):
    assert logformat.logging_config("json")["handlers"]["console"]["formatter"] == "json"
    assert logformat.logging_config("plain")["handlers"]["console"]["formatter"] == "plain"
    with pytest.raises(ValueError):
        logformat.logging_config("xml")


# --- Through gunicorn, in each role, and from the request to the read model -----------------


@pytest.mark.slow
@pytest.mark.parametrize("role", ["command", "query"])
def test_health_and_metrics_are_served_by_gunicorn_in_each_role(committed_db, role):
    catch_up_everything()
    with web_server(workers=1, threads=4, SERVICE_ROLE=role) as base_url:
        live = requests.get(f"{base_url}/health/live", timeout=10)
        ready = requests.get(f"{base_url}/health/ready", timeout=10)
        metrics = requests.get(f"{base_url}/metrics", timeout=10)
        head = requests.head(f"{base_url}/health/ready", timeout=10)

    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200, ready.text
    assert head.status_code == 200
    assert metrics.status_code == 200 and "catalog_projection_lag_events" in metrics.text


@pytest.mark.slow
def test_ready_through_gunicorn_is_503_with_a_dead_broker(committed_db):
    catch_up_everything()
    dead_broker = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    with web_server(workers=1, threads=4, CELERY_BROKER_URL=dead_broker) as base_url:
        live = requests.get(f"{base_url}/health/live", timeout=10)
        ready = requests.get(f"{base_url}/health/ready", timeout=10)

    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"]["ok"] is False


@pytest.mark.slow
def test_with_the_database_down_live_is_200_ready_is_503_and_metrics_still_answer(django_db_setup):
    dead_database = f"postgres://postgres@127.0.0.1:{free_port()}/catalog"
    with web_server(workers=1, threads=4, DATABASE_URL=dead_database) as base_url:
        live = requests.get(f"{base_url}/health/live", timeout=10)
        ready = requests.get(f"{base_url}/health/ready", timeout=20)
        metrics = requests.get(f"{base_url}/metrics", timeout=20)

    assert live.status_code == 200
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] is False and checks["projections"]["ok"] is False
    assert checks["broker"]["ok"] is True
    assert metrics.status_code == 200 and "catalog_projection_status_up 0.0" in metrics.text


@pytest.mark.slow
def test_gunicorn_metrics_add_up_every_worker_process_with_a_multiprocess_dir(committed_db, make_user, token_for, tmp_path):
    with web_server(workers=2, threads=2, PROMETHEUS_MULTIPROC_DIR=str(tmp_path)) as base_url:
        client = requests.Session()
        client.headers["Authorization"] = f"Token {token_for(make_user())}"
        for _ in range(6):  # new connections: both worker processes get some
            assert requests.post(
                f"{base_url}/api/products/", json=register_body(), headers=dict(client.headers), timeout=10
            ).status_code == 202
        text = requests.get(f"{base_url}/metrics", timeout=10).text

    line = next(l for l in text.splitlines() if l.startswith('catalog_commands_accepted_total{command="register",status="202"}'))
    assert float(line.split()[-1]) == 6.0
    assert "catalog_projection_status_up 1.0" in text
    assert list(tmp_path.glob("counter_*.db")), "no multiprocess files were written"


@pytest.mark.slow
def test_one_command_can_be_followed_by_its_ids_from_the_request_to_the_read_model(
    committed_db, make_user, token_for, rabbitmq_vhost
):
    request_id, correlation_id = f"req-{uuid.uuid4().hex}", f"corr-{uuid.uuid4().hex}"
    current_app.control.purge()  # nudges earlier tests left queued: ours is the one the worker runs
    with web_server(workers=1, threads=4) as base_url, celery_worker("observer") as worker:
        response = requests.post(
            f"{base_url}/api/products/",
            json=register_body(),
            headers={
                "Authorization": f"Token {token_for(make_user())}",
                "X-Request-ID": request_id,
                "X-Correlation-ID": correlation_id,
            },
            timeout=10,
        )
        assert response.status_code == 202, response.text
        assert response.headers["X-Request-ID"] == request_id
        web_log = ARTIFACTS / f"gunicorn-{base_url.rsplit(':', 1)[1]}.log"
        worker_log = _log_of(worker)

        def batches_of_the_command():
            return [
                line for line in json_lines(worker_log)
                if line.get("message", "").startswith("Applied") and correlation_id in line.get("correlation_ids", [])
                and line.get("correlation_id") == correlation_id  # carried by the nudge and its fan-out
            ]

        wait_until(
            lambda: {line["projection"] for line in batches_of_the_command()} >= {"product_catalog", "category_summary"},
            # Generous: on a shared machine, another test run's long transaction holds back the
            # horizon below which the engine reads (transaction ids are cluster-wide).
            timeout=90, interval=0.2, what="the worker to apply the command's event in each read model",
        )
        batches = batches_of_the_command()

    command_lines = [line for line in json_lines(web_log) if line.get("request_id") == request_id]
    assert any(
        line["message"] == "Command register answered 202" and line["correlation_id"] == correlation_id
        and line["product_id"] == response.json()["product_id"] and line["events"] == ["ProductRegistered"]
        for line in command_lines
    ), command_lines
    for line in batches:
        assert line["request_id"] == request_id and line["task_id"] and line["projection"] in projectors.all_projectors()
        assert line["first_position"] <= line["last_position"] and line["events_applied"] >= 1


def _log_of(process) -> Path:
    """The test-artifacts log file a process started by tests.support.processes writes to."""
    return Path(os.readlink(f"/proc/{process.pid}/fd/1"))
