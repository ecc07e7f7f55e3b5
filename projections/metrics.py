"""The read side's Prometheus metrics: batches applied by the engine, and each projection's state.

Batch durations and events applied are observed in the process that runs the engine (a Celery
worker: it serves them on WORKER_METRICS_PORT when that is set, see `serve_worker_metrics`).
Lag, status and the age of a transaction holding the projections back (projections/horizon.py)
are read from the database when /metrics is scraped (`ProjectionCollector`), so any web
process reports them, whichever worker applied the events.
"""

from __future__ import annotations

import logging
import os
from typing import Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if _multiproc_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_multiproc_dir, exist_ok=True)  # prometheus_client opens its files there as metrics are made

log = logging.getLogger(__name__)

BATCH_SECONDS = Histogram(
    "catalog_projection_batch_duration_seconds", "Time to apply one batch of events and advance the checkpoint.",
    ["projection"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
EVENTS_APPLIED = Counter("catalog_projection_events_applied", "Events applied to a projection.", ["projection"])


def observe_batch(projection: str, applied: list, seconds: float) -> None:
    BATCH_SECONDS.labels(projection).observe(seconds)
    EVENTS_APPLIED.labels(projection).inc(len(applied))


def correlation_ids(events: Iterable) -> list[str]:
    """The distinct correlation ids in the events' metadata, in the order they first appear."""
    return list(dict.fromkeys(e.metadata.get("correlation_id") for e in events if e.metadata.get("correlation_id")))


def batch_log_fields(projection: str, applied: list, seconds: float) -> dict:
    """`extra` for the engine's one log line per batch: grep a command's correlation id to find it."""
    return {
        "projection": projection,
        "events_applied": len(applied),
        "first_position": applied[0].position if applied else None,
        "last_position": applied[-1].position if applied else None,
        "correlation_ids": correlation_ids(applied),
        "duration_ms": round(seconds * 1000, 1),
    }


class ProjectionCollector(Collector):
    """Each projection's lag and status, and what holds them all back, read when the metrics are scraped."""

    def collect(self):
        from . import horizon, operations  # the ORM, only when scraped
        from .models import ProjectionState

        lag = GaugeMetricFamily("catalog_projection_lag_events", "Stored events the projection has not applied.", labels=["projection"])
        status = GaugeMetricFamily(
            "catalog_projection_status", "1 for the projection's current status, 0 for the others.", labels=["projection", "status"]
        )
        version = GaugeMetricFamily("catalog_projection_version", "The projector version that built the live tables.", labels=["projection"])
        rebuild_lag = GaugeMetricFamily(
            "catalog_projection_rebuild_lag_events",
            "Events a new generation under construction has still to apply (absent when none is).",
            labels=["projection", "version"],
        )
        up = GaugeMetricFamily("catalog_projection_status_up", "1 if the projections' state could be read.")
        held = GaugeMetricFamily(
            "catalog_projection_horizon_holder_age_seconds",
            "How long the oldest writing transaction holding every projection back has been open; "
            "0 while none has been open HORIZON_HOLDER_SECONDS.",
        )
        try:
            current = operations.statuses()
            holders = horizon.horizon_holders()
        except Exception as error:  # the database is down: say so, do not fail the whole scrape
            log.warning("Could not read the projections' state for the metrics: %s: %s", type(error).__name__, error)
            up.add_metric([], 0)
            yield up
            return
        for projection in current:
            lag.add_metric([projection.name], projection.lag)
            version.add_metric([projection.name], projection.version)
            if projection.next is not None:
                rebuild_lag.add_metric([projection.name, str(projection.next.version)], projection.next.lag)
            for name, _ in ProjectionState.STATUSES:
                status.add_metric([projection.name, name], 1 if projection.status == name else 0)
        held.add_metric([], holders[0].age_seconds if holders else 0)
        up.add_metric([], 1)
        yield from (lag, status, version, rebuild_lag, held, up)


def serve_worker_metrics(port: int, address: str = "0.0.0.0") -> None:
    """Serve this worker's metrics over HTTP (prefork: every child's, through PROMETHEUS_MULTIPROC_DIR)."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server, multiprocess

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, address, registry=registry)
    log.info("Serving worker metrics on %s:%s", address, port)


def serve_worker_metrics_if_configured(**_) -> None:
    """worker_init: serve the worker's metrics when WORKER_METRICS_PORT is set."""
    port = os.environ.get("WORKER_METRICS_PORT")
    if port:
        serve_worker_metrics(int(port), os.environ.get("WORKER_METRICS_ADDRESS", "0.0.0.0"))
