"""Operations endpoints: liveness, readiness and Prometheus metrics, in every SERVICE_ROLE.

They sit outside /api/ (the role middleware and DRF's authentication do not apply to them):
- GET /health/live: 200 {"status": "ok"} while the process answers; no I/O.
- GET /health/ready: 200 when the database answers, the broker is reachable (not checked on
  the embedded file broker) and every read model is under HEALTH_MAX_PROJECTION_LAG events
  behind and not stalled; otherwise 503. The outbound projections (the relay, the MQTT bridge)
  are listed, and do not count. The body lists each check's result either way, and
  under "projections" any long writing transaction holding every projection back
  ("horizon_holders"). That alone does not fail readiness: it is the cluster's, not this
  instance's, and taking every instance out of service would stop commands too, which it
  does not hold back; the lag it causes fails readiness at HEALTH_MAX_PROJECTION_LAG.
- GET /metrics: the Prometheus exposition. Open unless METRICS_TOKEN is set, then it needs
  `Authorization: Bearer <METRICS_TOKEN>`. With PROMETHEUS_MULTIPROC_DIR set (gunicorn with
  several workers) it adds up every process's metrics.
"""

from __future__ import annotations

import hmac
import logging
import os
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from project.http.errors import error_response

log = logging.getLogger(__name__)

DATABASE_TIMEOUT_MS = 2000
BROKER_TIMEOUT_SECONDS = 2.0


@never_cache
@require_safe
def live(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request):
    checks = {"database": _timed(check_database)}
    checks["broker"] = _timed(check_broker)
    if checks["database"]["ok"]:
        checks["projections"] = _timed(check_projections)
    else:
        checks["projections"] = {"ok": False, "detail": "skipped: the database is unavailable"}
    ok = all(check["ok"] for check in checks.values())
    response = JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
    if not ok:
        failed = [name for name, check in checks.items() if not check["ok"]]
        log.warning("Not ready: %s", ", ".join(failed), extra={"checks": checks})
        response._has_been_logged = True  # that warning says it all: no "ERROR Service Unavailable" per probe
    return response


def _timed(check) -> dict:
    started = time.monotonic()
    try:
        result = check()
    except Exception as error:  # a check that cannot even run is a failed check, never a 500
        result = {"ok": False, "detail": f"{type(error).__name__}: {error}"}
    result["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def check_database(using: str = DEFAULT_DB_ALIAS) -> dict:
    """SELECT 1, in bounded time (the connection's connect_timeout, a statement timeout)."""
    connection = connections[using]
    try:
        if connection.vendor == "postgresql":
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {DATABASE_TIMEOUT_MS}")
                cursor.execute("SELECT 1")
        else:  # SQLite: no transaction, which would take its write lock (transaction_mode IMMEDIATE)
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    except Exception as error:
        connection.close_if_unusable_or_obsolete()
        return {"ok": False, "detail": f"{type(error).__name__}: {error}".strip()}
    return {"ok": True}


def check_broker() -> dict:
    """Connect to the broker once, within about BROKER_TIMEOUT_SECONDS; skipped on the file broker."""
    from kombu import Connection

    url = settings.CELERY_BROKER_URL  # read now: a test or a reload may point it elsewhere
    if url.startswith("filesystem://"):
        return {"ok": True, "detail": "skipped: embedded file broker"}
    with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS, transport_options={"max_retries": 1}) as connection:
        try:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2, timeout=BROKER_TIMEOUT_SECONDS)
        except Exception as error:
            return {"ok": False, "detail": f"{type(error).__name__}: {error}"}
    return {"ok": True}


def check_projections() -> dict:
    from projections import horizon, operations, projectors

    limit = int(getattr(settings, "HEALTH_MAX_PROJECTION_LAG", 10000))
    # What the queries read. The relay and the MQTT bridge publish to other systems: their lag
    # (a bridge's first catch-up of a long log, a broker that is down) is shown, and leaves the
    # answers of this instance as fresh as they were.
    read_models = set(projectors.read_models())
    projections = {
        status.name: {"status": status.status, "lag": status.lag, **({} if status.name in read_models else {"outbound": True})}
        for status in operations.statuses()
    }
    holders = horizon.horizon_holders()
    behind = [name for name, p in projections.items() if p["lag"] >= limit]
    stalled = [name for name, p in projections.items() if p["status"] == "stalled"]
    failing = [name for name in behind + stalled if name in read_models]
    result: dict = {
        "ok": not failing, "max_lag": limit, "projections": projections,
        "horizon_holders": [holder.as_dict() for holder in holders],
    }
    if behind or stalled or holders:
        result["detail"] = "; ".join(
            part for part in (
                f"stalled: {', '.join(stalled)}" if stalled else "",
                f"lag of {limit} or more: {', '.join(behind)}" if behind else "",
                f"held back by {holders[0]}" if holders else "",
                "outbound, not counted: " + ", ".join(sorted(set(behind + stalled) - read_models))
                if set(behind + stalled) - read_models else "",
            ) if part
        )
    return result


@never_cache
@require_safe
def metrics(request):
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

    import products.metrics  # noqa: F401  (their metrics are registered on import: list them even at zero)
    from projections.metrics import ProjectionCollector

    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return error_response(
                401,
                "A valid bearer token is required.",
                "not_authenticated",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    # Counters and histograms: this process's, or every process's through the multiprocess files.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    # Gauges read from the database now, whichever process applied the events.
    scraped = CollectorRegistry()
    scraped.register(ProjectionCollector())
    return HttpResponse(generate_latest(counted) + generate_latest(scraped), content_type=CONTENT_TYPE_LATEST)
