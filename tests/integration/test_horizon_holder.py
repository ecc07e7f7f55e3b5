"""A long writing transaction anywhere on the cluster is named wherever the projections' lag is shown.

The transactions are real ones, held open on connections of their own to the cluster's
`postgres` database (not the test database: the horizon is the whole cluster's). The cluster is
shared with other test runs, which may hold transactions of their own, so each test looks for
its own session by pid and query rather than for "no holder at all".
"""

from __future__ import annotations

import json
import re
import uuid
from contextlib import contextmanager
from io import StringIO
from typing import Iterator

import psycopg
import pytest
from django.core.management import call_command
from django.test import Client

from projections import horizon
from tests import settings as test_settings
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

HELD_FOR = 0.5  # HORIZON_HOLDER_SECONDS in these tests: a holder shows without a long wait


@pytest.fixture(autouse=True)
def quick_to_report(settings):
    settings.HORIZON_HOLDER_SECONDS = HELD_FOR


@contextmanager
def open_transaction(writing: bool) -> Iterator[tuple[int, str]]:
    """A transaction left open in another database of the cluster: yields (pid, a marker in its query)."""
    marker = f"held_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(test_settings.POSTGRES_URL) as elsewhere:
        if writing:
            elsewhere.execute(f"SELECT pg_current_xact_id() AS {marker}")  # takes a transaction id, as any write does
        else:
            elsewhere.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # a snapshot held, no id
            elsewhere.execute(f"SELECT 1 AS {marker}")
        try:
            yield elsewhere.info.backend_pid, marker
        finally:
            elsewhere.rollback()


def named(pid: int) -> horizon.HorizonHolder | None:
    return next((holder for holder in horizon.horizon_holders() if holder.pid == pid), None)


@pytest.fixture
def holder(committed_db) -> Iterator[tuple[int, str]]:
    """A writing transaction open elsewhere, once it is old enough to be reported."""
    with open_transaction(writing=True) as (pid, marker):
        wait_until(lambda: named(pid), timeout=10, what=f"pid {pid} to be named as a holder")
        yield pid, marker


def test_a_writing_transaction_open_in_another_database_is_named_with_its_pid_database_age_and_query(holder):
    pid, marker = holder
    found = named(pid)
    assert (found.database, found.user, found.state) == ("postgres", "postgres", "idle in transaction")
    assert found.age_seconds >= HELD_FOR and marker in found.query
    assert str(found).startswith(f"pid {pid} (database postgres, user postgres), open ")


def test_no_holder_is_named_for_a_reading_or_a_young_or_an_ended_transaction(committed_db, settings):
    with open_transaction(writing=False) as (reader, _):
        with open_transaction(writing=True) as (writer, _):
            settings.HORIZON_HOLDER_SECONDS = 60
            assert named(writer) is None  # young: a command's own transaction lasts milliseconds
            settings.HORIZON_HOLDER_SECONDS = HELD_FOR
            wait_until(lambda: named(writer), timeout=10, what="the writer to be named")  # the control
            assert named(reader) is None  # a snapshot without a transaction id holds back VACUUM, not the projections
    assert named(writer) is None and named(reader) is None


def test_projection_status_names_the_holder_under_its_table_and_in_its_json(holder):
    pid, marker = holder
    table = StringIO()
    call_command("projection_status", stdout=table)
    assert re.search(rf"^  held back by pid {pid} \(database postgres, user postgres\), open \d+ s, "
                     rf"idle in transaction: SELECT pg_current_xact_id\(\) AS {marker}$", table.getvalue(), re.M)

    out = StringIO()
    call_command("projection_status", "--json", stdout=out)
    report = json.loads(out.getvalue())
    [mine] = [h for h in report["horizon_holders"] if h["pid"] == pid]
    assert mine["database"] == "postgres" and marker in mine["query"] and mine["age_seconds"] >= HELD_FOR
    assert {"name", "status", "position", "lag", "failed_position"} <= set(report["projections"][0])


def test_projection_status_names_no_holder_once_the_transaction_ended(committed_db):
    with open_transaction(writing=True) as (pid, _):
        wait_until(lambda: named(pid), timeout=10, what="the writer to be named")
    out = StringIO()
    call_command("projection_status", stdout=out)
    assert f"held back by pid {pid} " not in out.getvalue()


def test_the_admin_warns_of_the_holder_on_the_projection_list_and_pages(holder, make_user):
    pid, marker = holder
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    for url in ("/admin/projections/projectionstate/", "/admin/projections/projectionstate/product_catalog/change/"):
        page = client.get(url).content.decode()
        assert f"Held back by a long writing transaction: pid {pid} (database postgres" in page, url
        assert marker in page


def test_ready_names_the_holder_without_failing_for_it(holder, client):
    pid, marker = holder
    check = client.get("/health/ready").json()["checks"]["projections"]

    [mine] = [h for h in check["horizon_holders"] if h["pid"] == pid]
    assert mine["database"] == "postgres" and marker in mine["query"]
    # Readiness still turns on stalls and lag alone: the holder is the cluster's, not this instance's.
    healthy = all(p["status"] != "stalled" and p["lag"] < check["max_lag"]
                  for p in check["projections"].values() if not p.get("outbound"))
    assert check["ok"] is healthy
    assert "held back by pid" in check["detail"]


def scraped_age(client) -> float:
    text = client.get("/metrics").content.decode()
    return float(re.search(r"^catalog_projection_horizon_holder_age_seconds (\S+)$", text, re.M)[1])


def test_metrics_give_the_age_of_the_oldest_holder_and_zero_without_one(committed_db, client):
    with open_transaction(writing=True) as (pid, _):
        ours = wait_until(lambda: named(pid), timeout=10, what="the writer to be named").age_seconds
        assert scraped_age(client) >= ours  # ours, or an older one of another run on the shared cluster
    others = horizon.horizon_holders()
    assert scraped_age(client) == pytest.approx(others[0].age_seconds if others else 0, abs=1)


def test_sqlite_has_no_holder(committed_db):
    assert horizon.horizon_holders(using="sqlite") == []
