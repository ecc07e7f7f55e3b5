"""Rebuilds in a new generation: the live tables answer, whole and current, until one swap.

The contract is docs/OPERATIONS.md's "Rebuilds without downtime": readers see the old rows or the new
rows, never a partial or mixed table; a build killed at any moment resumes to exactly the rows
a clean one gives; a second build at once is refused; a raised projector version is noticed by
a worker and rebuilt without anyone asking.
"""

import os
import signal
import sys
import threading
import uuid
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.forms.models import model_to_dict
from django.test import Client

from products.eventstore import Checkpoint
from projections import engine, folding, generations, operations, projectors, verification
from projections.models import CatalogProduct, CategorySummary, PriceHistoryEntry, ProjectionState
from projections.progress import Outcome
from projections.state_row import StateRow
from tests.integration.test_projections import catch_up_all, snapshot
from tests.support.generations import STAGES, leftover_tables, moment
from tests.support.history import random_history, stored_history
from tests.support.projectors import POISONED
from tests.support.polling import wait_until
from tests.support import processes
from tests.support.processes import celery_beat, celery_worker, service_environment, started

pytestmark = pytest.mark.integration

# What a reader of each read model is shown, each in ONE statement (one snapshot of the table).
ANSWERS = {
    "product_catalog": "SELECT count(*), coalesce(sum(version), 0), coalesce(sum(stock), 0) FROM read_product_catalog",
    "category_summary": "SELECT name, active_products, discontinued_products, total_stock FROM read_category_summary ORDER BY name",
    "price_history": "SELECT count(*), coalesce(sum(version), 0) FROM read_price_history",
}


def answer(name: str, using: str = "default"):
    with connections[using].cursor() as cursor:
        cursor.execute(ANSWERS[name])
        return cursor.fetchall()


def live_checkpoint(name: str, using: str = "default") -> Checkpoint:
    state = ProjectionState.objects.using(using).get(name=name)
    return Checkpoint(state.last_tx, state.last_position)


def rebuild(name: str, using: str = "default", **build) -> generations.Built:
    generations.start(name, using)
    return generations.build(name, using, **build)


def index_names(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture(params=["default", "sqlite"], ids=["postgresql", "sqlite"])
def db(request, committed_db) -> str:
    return request.param


def test_a_generation_gives_exactly_the_rows_live_catch_up_gave_and_takes_their_place(db):
    stored_history(commands=500, products=40, seed=5, using=db)
    for name in projectors.read_models():
        assert engine.catch_up(projectors.get(name), using=db).outcome == Outcome.CAUGHT_UP
    live = snapshot(db)
    indexes = {table: index_names(table) for table in live} if db == "default" else {}
    before = {name: live_checkpoint(name, db) for name in projectors.read_models()}

    for name in projectors.read_models():
        built = rebuild(name, db)
        assert built.swapped and built.applied > 0, (name, built)

    assert snapshot(db) == live
    for name in projectors.read_models():
        state = ProjectionState.objects.using(db).get(name=name)
        assert (state.status, state.version) == (ProjectionState.RUNNING, 1)
        assert Checkpoint(state.last_tx, state.last_position) >= before[name]  # never back in the log
    assert not ProjectionState.objects.using(db).filter(name__endswith=".next").exists()
    for name in projectors.read_models():  # and the drift check agrees, row by row
        assert not verification.verify(name, db).drifted
    if db == "default":
        # The migrations' index and constraint names are the live tables' again; nothing is left over.
        assert {table: index_names(table) for table in live} == indexes
        assert leftover_tables() == []


def test_a_fold_over_two_processes_gives_the_rows_of_one(caught_up_log):
    expected = snapshot()
    out = StringIO()
    call_command("rebuild_projections", "--workers", "2", stdout=out)  # two ranges of streams, combined
    assert "with 2 process(es)" in out.getvalue()
    assert snapshot() == expected


def test_the_ranges_of_streams_cover_every_id_once():
    ranges = folding.stream_ranges(3)
    assert ranges[0][0] is None and ranges[-1][1] is None
    assert [before for _, before in ranges[:-1]] == [first for first, _ in ranges[1:]]  # no gap, no overlap
    assert folding.stream_ranges(1) == [(None, None)]


def test_category_counts_of_parts_add_up():
    parts = [{CategorySummary: [("Garden", 2, 0, 10), ("Tools", 1, 1, 3)]}, {CategorySummary: [("Garden", 1, 2, 5)]}, {}]
    combined = projectors.get("category_summary").combine_ends(parts)
    assert combined == {CategorySummary: [("Garden", 3, 2, 15), ("Tools", 1, 1, 3)]}


# --- readers during a rebuild -----------------------------------------------------------------


class Reader(threading.Thread):
    """Asks one read model its question again and again, on its own connection, until stopped."""

    def __init__(self, name: str, expected) -> None:
        super().__init__(daemon=True)
        self.name_, self.expected = name, expected
        self.answers, self.wrong, self.error = 0, [], None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                got = answer(self.name_)
                self.answers += 1
                if got != self.expected:
                    self.wrong.append(got)
        except Exception as error:  # reported by the test, never swallowed
            self.error = error
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


@pytest.fixture
def caught_up_log(committed_db):
    random_history(commands=900, products=120, seed=21)
    catch_up_all()


@pytest.mark.parametrize("name", list(ANSWERS))
@pytest.mark.parametrize("how", ["generation", "in_place"], ids=["generation", "control_in_place"])
def test_readers_see_the_whole_read_model_throughout_a_rebuild(caught_up_log, settings, monkeypatch, name, how):
    settings.PROJECTION_REBUILD_BATCH_SIZE = settings.PROJECTION_REBUILD_COPY_ROWS = 50  # many moments to look at
    monkeypatch.setattr(generations, "REPORT_EVERY", 0.005)
    expected = answer(name)
    seen_between_batches = []
    reader = Reader(name, expected)
    reader.start()
    wait_until(lambda: reader.answers > 0, what="the reader's first answer")
    try:
        if how == "generation":
            built = rebuild(name, progress=lambda state: seen_between_batches.append(answer(name)))
            assert built.swapped
        else:  # today's in-place replay: the test must fail on it
            engine.replay_in_place(projectors.get(name), progress=lambda applied: seen_between_batches.append(answer(name)))
        after = reader.answers
        wait_until(lambda: reader.answers > after + 5, what="the reader's answers after the swap")
    finally:
        reader.stop()

    assert reader.error is None, reader.error
    partial = [got for got in [*seen_between_batches, *reader.wrong] if got != expected]
    if how == "generation":
        assert len(seen_between_batches) > 5 and partial == [], partial[:3]
    else:
        assert partial, "the in-place replay was never seen partial: the test could not fail"
    assert answer(name) == expected


# --- killed, resumed, refused ------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_a_rebuild_killed_at_any_moment_resumes_to_the_rows_of_a_clean_one(caught_up_log, stage):
    expected = snapshot()
    env = service_environment(PROJECTION_REBUILD_COPY_ROWS="10")  # a fill in many chunks, each committed
    args = [sys.executable, "manage.py", "rebuild_projections", "product_catalog", "category_summary"]
    with started(args, env, f"rebuild-killed-{stage}") as process:
        reached = moment(stage)
        wait_until(lambda: process.poll() is not None or reached(), timeout=60, interval=0.001, what=stage)
        assert process.poll() is None, f"the rebuild ended before the moment {stage}"
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
        assert snapshot() == expected  # the live generation was untouched

    call_command("rebuild_projections", "product_catalog", "category_summary", stdout=StringIO())

    assert snapshot() == expected
    assert not ProjectionState.objects.filter(name__endswith=".next").exists()
    assert leftover_tables() == []


def test_a_second_rebuild_while_one_runs_is_refused_with_what_is_under_way(committed_db):
    generations.start("price_history")
    holder = psycopg.connect(processes.test_database_url(), autocommit=True)  # another process's build, holding its lock
    try:
        holder.execute("SELECT pg_advisory_lock(hashtext(%s))", ["projection:price_history.next"])
        with pytest.raises(CommandError, match=r"rebuild of price_history \(v1\) is already running, started at .*position"):
            call_command("rebuild_projections", "price_history", stdout=StringIO())
        with pytest.raises(generations.CannotRebuild, match="already running"):
            generations.refuse_if_unable("price_history")
    finally:
        holder.execute("SELECT pg_advisory_unlock_all()")  # freed at once, not when the server ends the session
        holder.close()

    out = StringIO()
    call_command("rebuild_projections", "price_history", stdout=out)  # the control: once it is free
    assert "Resuming the rebuild of price_history in generation v1" in out.getvalue()
    assert "generation v1 is live" in out.getvalue()


def test_the_relay_and_projections_without_tables_are_refused_with_the_way_to_replay_them(committed_db, extra_projector):
    with pytest.raises(CommandError, match=r"publish the whole log again.*--in-place integration_relay"):
        call_command("rebuild_projections", "integration_relay", stdout=StringIO())
    extra_projector("test_poison", "tests.support.projectors.PoisonProjector")
    with pytest.raises(CommandError, match=r"test_poison has no read-model tables.*--in-place test_poison"):
        call_command("rebuild_projections", "test_poison", stdout=StringIO())
    assert not ProjectionState.objects.filter(name__in=["integration_relay.next", "test_poison.next"]).exists()


def test_a_generation_that_fails_waits_for_its_retry_while_the_live_one_serves(committed_db, settings, fresh_projectors):
    settings.PROJECTION_MAX_ATTEMPTS = 2
    settings.PROJECTORS = {**settings.PROJECTORS, "product_catalog": "tests.support.projectors.BrokenCatalogProjector"}
    poisoned = random_history(commands=3, products=1, seed=4)[0]
    catch_up_all()
    expected = snapshot()
    POISONED.add(poisoned)
    try:
        built = rebuild("product_catalog")
        assert (built.swapped, built.outcome) == (False, Outcome.FAILED)
        assert snapshot() == expected  # the live generation answers, untouched
        building = {s.name: s for s in operations.statuses()}["product_catalog"].next
        assert building.status == ProjectionState.RETRYING and f"a bug meets stream {poisoned}" in building.last_error

        POISONED.discard(poisoned)  # the cause is fixed; an operator retries the new generation now
        call_command("projection_retry", "product_catalog.next", stdout=StringIO())
        assert generations.build("product_catalog").swapped
    finally:
        POISONED.discard(poisoned)
        ProjectionState.objects.filter(name="product_catalog").update(version=1)
    assert snapshot() == expected


def test_cancel_drops_the_generation_under_way_and_leaves_the_live_one(caught_up_log):
    expected = snapshot()
    generations.start("category_summary")
    out = StringIO()
    call_command("rebuild_projections", "--cancel", "category_summary", stdout=out)
    assert "category_summary: new generation dropped" in out.getvalue()
    assert generations.next_state("category_summary") is None and leftover_tables() == []
    assert snapshot() == expected


# --- drift ------------------------------------------------------------------------------------


def verify_output(name: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("projection_verify", name, stdout=out)
    except SystemExit as exit_:
        return exit_.code, out.getvalue()
    return 0, out.getvalue()


@pytest.mark.parametrize("name", ["product_catalog", "category_summary", "price_history"])
def test_a_healthy_projection_verifies_clean(caught_up_log, name):
    code, out = verify_output(name)
    assert code == 0, out
    assert f"{name} matches the log at position" in out and " 0 missing, 0 extra, 0 different" in out
    assert leftover_tables() == []


@pytest.mark.parametrize("tampering", ["changed", "deleted", "added"])
def test_verify_finds_a_row_changed_deleted_or_added_behind_the_engines_back(caught_up_log, tampering):
    row = CatalogProduct.objects.order_by("id").first()
    added_id = uuid.uuid4()
    if tampering == "changed":
        CatalogProduct.objects.filter(id=row.id).update(name="edited by hand")
    elif tampering == "deleted":
        CatalogProduct.objects.filter(id=row.id).delete()
    else:
        CatalogProduct.objects.create(**{**model_to_dict(row), "id": added_id, "sku": "NOT-IN-THE-LOG"})
    try:
        code, out = verify_output("product_catalog")
    finally:  # put the table back as the log has it
        CatalogProduct.objects.filter(id__in=[row.id, added_id]).delete()
        CatalogProduct.objects.create(**model_to_dict(row))
    assert code == 1 and "product_catalog drifted from the log" in out
    counts = {"changed": "0 missing, 0 extra, 1 different", "deleted": "1 missing, 0 extra, 0 different",
              "added": "0 missing, 1 extra, 0 different"}
    assert "read_product_catalog: " in out and counts[tampering] in out, out
    shown = {
        "changed": f"different  (id) = {row.id}: name: 'edited by hand' in the table, {row.name!r} from the log",
        "deleted": f"missing    (id) = {row.id}: the log gives this row, the table lacks it",
        "added": f"extra      (id) = {added_id}: the table has this row, the log does not give it",
    }
    assert shown[tampering] in out, out
    assert verify_output("product_catalog")[0] == 0  # repaired: the same check passes again


def test_verify_compares_tables_without_a_natural_key_by_their_unique_fields(caught_up_log):
    entry = PriceHistoryEntry.objects.order_by("product_id", "version").first()
    PriceHistoryEntry.objects.filter(id=entry.id).update(price=entry.price + 1)
    try:
        code, out = verify_output("price_history")
    finally:
        PriceHistoryEntry.objects.filter(id=entry.id).update(price=entry.price)
    assert code == 1 and f"different  (product_id, version) = {entry.product_id}, {entry.version}: price" in out


# --- what operators see ----------------------------------------------------------------------


def test_a_generation_under_way_shows_in_the_status_with_its_progress(caught_up_log):
    generations.start("product_catalog")
    try:
        generation = projectors.get("product_catalog").writing_to(
            generations.tables_of(projectors.get("product_catalog")).models, "product_catalog.next")
        assert engine.catch_up(generation, batch_size=100).outcome == Outcome.CAUGHT_UP
        random_history(commands=30, products=5, seed=2)  # the log moves on: the generation has a lag

        status = {s.name: s for s in operations.statuses()}["product_catalog"]
        assert status.version == 1 and status.next is not None
        assert (status.next.version, status.next.status) == (1, "running") and status.next.lag > 0
        assert status.next.events_per_second > 0 and status.next.eta_seconds >= 0
        out = StringIO()
        call_command("projection_status", stdout=out)
        assert "Rebuilding in a new generation" in out.getvalue()
        assert f"product_catalog: v1 running at {status.next.position}, lag " in out.getvalue()
        assert {s.name: s for s in operations.statuses()}["price_history"].next is None
        metrics = Client().get("/metrics").content.decode()
        assert f'catalog_projection_rebuild_lag_events{{projection="product_catalog",version="1"}} {status.next.lag}' in metrics
    finally:
        generations.cancel("product_catalog")
    assert {s.name: s for s in operations.statuses()}["product_catalog"].next is None
    assert leftover_tables() == []


# --- a deploy that raises a version ------------------------------------------------------------

V2 = "tests.support.projectors.CatalogProjectorV2"


@pytest.fixture
def catalog_v2(committed_db, settings, fresh_projectors):
    """The catalog's projector at version 2, in this process (and in the processes given V2_ENV)."""
    settings.PROJECTORS = {**settings.PROJECTORS, "product_catalog": V2}
    yield
    # Back to version 1 for the tests that follow: the tables are the same rows either way.
    settings.PROJECTORS = {**settings.PROJECTORS, "product_catalog": "projections.projectors.catalog.CatalogProjector"}
    projectors.all_projectors.cache_clear()
    generations.cancel("product_catalog")
    ProjectionState.objects.filter(name="product_catalog").update(version=1)


def test_only_a_version_that_differs_from_the_live_tables_starts_a_generation(committed_db):
    assert generations.start_due() == []  # the control: every projector at its tables' version


def test_a_build_of_an_older_version_is_never_swapped_in_and_is_started_again(caught_up_log, catalog_v2):
    expected = snapshot()
    generations.tables_of(projectors.get("product_catalog")).create("default", indexes=False)
    StateRow("product_catalog.next").start_generation(1)  # a v1 build cut short by the deploy of v2

    with pytest.raises(generations.CannotRebuild, match=r"builds v1, but its projector is now v2"):
        generations.build("product_catalog")
    assert generations.start_due() == ["product_catalog"]  # the sweep starts v2 in its place
    assert generations.next_state("product_catalog").version == 2
    assert generations.build("product_catalog").swapped
    assert ProjectionState.objects.get(name="product_catalog").version == 2 and snapshot() == expected


def test_a_raised_version_is_rebuilt_by_a_worker_without_anyone_asking(caught_up_log, catalog_v2, rabbitmq_vhost):
    expected = snapshot()
    env = {"EXTRA_PROJECTORS": f"product_catalog={V2}", "PROJECTION_SWEEP_SECONDS": "0.5"}
    with celery_worker("deploy", **env), celery_beat(**env):
        wait_until(lambda: ProjectionState.objects.get(name="product_catalog").version == 2, timeout=60,
                   what="the worker to make generation v2 live")
    assert snapshot() == expected
    assert not ProjectionState.objects.filter(name="product_catalog.next").exists()
