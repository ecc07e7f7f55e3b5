"""Scenario 12: PostgreSQL goes away in the middle of a rebuild, as in a restart, then returns."""

import subprocess
import sys

from projections.models import ProjectionState
from tests.integration.test_projections import catch_up_all, snapshot
from tests.support.generations import leftover_tables, moment
from tests.support.history import random_history
from tests.support.polling import wait_until
from tests.support.processes import ROOT, database_url_via_proxy, service_environment, started
from tests.support.proxy import TcpProxy

REBUILD = [sys.executable, "manage.py", "rebuild_projections", "product_catalog", "category_summary"]


def test_a_rebuild_whose_database_goes_away_fails_in_bounded_time_and_resumes_to_the_rows_of_a_clean_one(committed_db):
    random_history(commands=900, products=120, seed=33)
    catch_up_all()
    expected = snapshot()  # this test's own connection does not go through the proxy
    with TcpProxy(5432) as database:
        # A fold in many COPYs, each committed: the cut lands in the middle of them.
        env = service_environment(DATABASE_URL=database_url_via_proxy(database.port), PROJECTION_REBUILD_COPY_ROWS="10")
        with started(REBUILD, env, "rebuild-database-lost") as process:
            reached = moment("mid_fill")
            wait_until(lambda: process.poll() is not None or reached(), timeout=60, interval=0.001, what="the fold")
            assert process.poll() is None, "the rebuild ended before the cut"
            database.cut()  # every connection reset, new ones refused: the server is gone
            assert process.wait(60) != 0  # it fails, and says so, rather than hangs
        assert snapshot() == expected  # the live generation is untouched

        database.restore()
        again = subprocess.run(REBUILD, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "Resuming the rebuild of product_catalog" in again.stdout
    assert snapshot() == expected
    assert not ProjectionState.objects.filter(name__endswith=".next").exists()
    assert leftover_tables() == []
