"""Operating projections: the management commands and the admin, over the real database.

The database is shared and never emptied, so each test makes its own products and looks only
at them; stalls, skips and retries happen to a test-only projector (tests/support/projectors.py).
"""

import json
import re
import uuid
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.core.management.base import OutputWrapper
from django.test import Client

from products import eventstore
from products.domain.commands import ChangePrice, RegisterProduct, ShipStock
from products.eventstore import Checkpoint
from products.handlers import handle
from products.models import StoredEvent
from projections import engine, generations, projectors
from projections.management.progress import ProgressBar
from projections.models import (
    CatalogProduct, CategoryMember, CategorySummary, PriceHistoryEntry, ProjectionState, SkippedEvent,
)
from tests.support.polling import wait_until
from tests.support.progress import applied_everything
from tests.support.projectors import APPLIED, BATCHES, KILLERS, POISONED, WorkerDied

pytestmark = pytest.mark.integration

POISON = "test_poison"


def register(product_id: uuid.UUID | None = None, **fields):
    product_id = product_id or uuid.uuid4()
    command = RegisterProduct(
        product_id=product_id, sku=f"OPS-{product_id.hex[:16]}", name=fields.pop("name", "Ops widget"),
        category=f"ops-{product_id.hex[:8]}", price=Decimal("9.99"), currency="EUR", initial_stock=10, **fields,
    )
    return handle(command)


def settled(event):
    """Wait until `event`, and so everything committed before it, is readable by the projections."""
    just_before = Checkpoint(event.tx, event.position - 1)
    wait_until(
        lambda: [e.event_id for e in eventstore.read_all(after=just_before, limit=1)] == [event.event_id],
        timeout=20, what=f"event {event.position} to settle",
    )
    return event


def state_of(name: str) -> ProjectionState:
    return ProjectionState.objects.get(name=name)


def catch_up_fully(name: str) -> ProjectionState:
    """Run catch-up until the projection has applied every stored event (the horizon may lag a moment)."""
    projector = projectors.get(name)

    def probe():
        engine.catch_up(projector)
        state = state_of(name)
        return state.status == ProjectionState.RUNNING and applied_everything(name) and state

    return wait_until(probe, timeout=20, what=f"{name} to catch up")


def stall(projector) -> tuple[ProjectionState, list[str]]:
    """Run catch-up until the projection stalls; returns its state and each run's outcome."""
    outcomes = []

    def probe():
        outcomes.append(engine.catch_up(projector).outcome)
        return state_of(projector.name).status == ProjectionState.STALLED

    wait_until(probe, timeout=20, what=f"{projector.name} to stall")
    return state_of(projector.name), [o for o in outcomes if o != "caught_up"]


@pytest.fixture
def poison(settings, committed_db, extra_projector):
    """A test-only projection, caught up and healthy, that refuses the streams in POISONED."""
    settings.PROJECTION_MAX_ATTEMPTS = 3
    settings.PROJECTION_RETRY_BASE_SECONDS = 0
    extra_projector(POISON, "tests.support.projectors.PoisonProjector")
    POISONED.clear()
    KILLERS.clear()
    engine.ensure_states([POISON])
    engine.retry(POISON)  # an earlier test may have left it stalled
    catch_up_fully(POISON)
    yield projectors.get(POISON)
    POISONED.clear()
    KILLERS.clear()


@pytest.fixture
def stalled(poison):
    """The test projection stalled on a fresh product's registration; yields that event."""
    product_id = uuid.uuid4()
    POISONED.add(product_id)
    event = register(product_id).events[0]
    stall(poison)
    return event


@pytest.fixture
def superuser_client(make_user):
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


# --- rebuild_projections ----------------------------------------------------------------------


def test_rebuild_replays_the_log_into_the_same_rows_and_repairs_a_tampered_one(committed_db, fresh_projectors):
    ids = [register().product_id for _ in range(3)]
    handle(ChangePrice(product_id=ids[0], price=Decimal("12.50")))
    handle(ShipStock(product_id=ids[1], quantity=4))
    catch_up_fully("product_catalog")
    before = list(CatalogProduct.objects.filter(id__in=ids).order_by("id").values())
    assert len(before) == 3 and {row["version"] for row in before} == {1, 2}
    CatalogProduct.objects.filter(id=ids[2]).update(stock=999_999, name="tampered")  # the control

    out = StringIO()
    call_command("rebuild_projections", "product_catalog", stdout=out)

    assert list(CatalogProduct.objects.filter(id__in=ids).order_by("id").values()) == before
    assert re.search(r"product_catalog  \[#{30}\]  [\d,]+/[\d,]+ events", out.getvalue()), out.getvalue()
    assert re.search(r"product_catalog: rebuilt from [\d,]+ events in [\d.]+ s", out.getvalue())
    assert state_of("product_catalog").status == ProjectionState.RUNNING


def test_rebuild_of_an_unknown_projection_is_refused_and_names_the_known_ones(committed_db, fresh_projectors):
    with mock.patch("projections.generations.start") as start:
        with pytest.raises(CommandError, match=r"nonsense.*known: .*product_catalog"):
            call_command("rebuild_projections", "product_catalog", "nonsense", stdout=StringIO())
    start.assert_not_called()  # nothing is rebuilt when any name is wrong


def test_rebuild_without_names_rebuilds_every_read_model_but_not_the_relay(committed_db, fresh_projectors):
    with mock.patch("projections.generations.build", wraps=generations.build) as build:
        call_command("rebuild_projections", stdout=StringIO())
    rebuilt = [call.args[0] for call in build.call_args_list]
    assert rebuilt == projectors.read_models()
    assert {"product_catalog", "category_summary", "price_history"} <= set(rebuilt)
    assert "integration_relay" not in rebuilt


def test_a_rebuild_that_meets_a_failing_event_stops_there_and_catch_up_takes_over(poison, settings):
    settings.PROJECTION_BATCH_SIZE = 5  # few healthy events share the failing batch
    product_id = uuid.uuid4()
    POISONED.add(product_id)
    event = settled(register(product_id).events[0])

    with pytest.raises(CommandError, match=f"stopped at event {event.checkpoint} \\(ProductRegistered"):
        call_command("rebuild_projections", "--in-place", POISON, stdout=StringIO())

    state = state_of(POISON)
    assert state.status == ProjectionState.REBUILDING and state.last_position < event.position
    state, _ = stall(poison)  # the engine's retries, then it waits for an operator
    assert state.failed_position == event.position
    upcoming = eventstore.read_all(after=Checkpoint(state.last_tx, state.last_position), limit=1)
    assert [e.event_id for e in upcoming] == [event.event_id]  # everything before it is applied


def test_progress_bar_shows_the_share_of_the_log_replayed():
    bar = ProgressBar(OutputWrapper(StringIO()), "product_catalog", total=24_000)
    assert bar.render(12_000, elapsed=0) == f"product_catalog  [{'#' * 15}{'.' * 15}]  12,000/24,000 events"
    assert bar.render(25_000, elapsed=0).endswith(f"[{'#' * 30}]  25,000/25,000 events")  # the log grew meanwhile


def test_progress_bar_shows_the_rate_since_it_started_and_the_time_left_at_that_rate():
    bar = ProgressBar(OutputWrapper(StringIO()), "product_catalog", total=24_000, initial=4_000)  # a resumed rebuild
    assert bar.render(12_000, elapsed=2.0).endswith("12,000/24,000 events  4,000 events/s  ETA 3 s")


# --- projection_status ------------------------------------------------------------------------


def status_table() -> dict[str, dict[str, str]]:
    """projection_status's table, as {name: {column: cell}} (the cells hold no spaces but the last two)."""
    out = StringIO()
    call_command("projection_status", stdout=out)
    header, *lines = out.getvalue().splitlines()
    assert header.split() == ["name", "status", "version", "position", "lag", "attempts", "failed_position", "last", "error", "updated"]
    rows = {}
    for line in lines:
        if not line.strip():
            break  # what follows the table is not a projection
        name, status, version, position, lag, attempts, failed, rest = line.split(maxsplit=7)
        rows[name] = {"status": status, "version": version, "position": position, "failed_position": failed, "rest": rest}
    return rows


def test_status_lists_every_projection_with_the_event_it_failed_at_and_its_last_error(stalled):
    rows = status_table()

    assert sorted(rows) == sorted(projectors.all_projectors())
    poison_row = rows[POISON]
    assert poison_row["status"] == "stalled" and "ValueError: poisoned stream" in poison_row["rest"]
    assert poison_row["failed_position"] == str(stalled.checkpoint)  # the token, as the API writes positions
    assert Checkpoint.parse(poison_row["position"]) < stalled.checkpoint
    assert rows["product_catalog"]["failed_position"] == "-"  # the control: a healthy projection failed nowhere


def test_status_as_json_parses_and_lists_every_projection(committed_db, fresh_projectors):
    out = StringIO()
    call_command("projection_status", "--json", stdout=out)
    statuses = json.loads(out.getvalue())["projections"]
    assert sorted(s["name"] for s in statuses) == sorted(projectors.all_projectors())
    assert {"status", "position", "lag", "attempts", "last_error", "failed_position", "updated_at"} <= set(statuses[0])
    assert all(Checkpoint.parse(s["position"]) for s in statuses)


def test_status_as_json_gives_the_failed_event_as_a_token(stalled):
    out = StringIO()
    call_command("projection_status", "--json", stdout=out)
    by_name = {s["name"]: s for s in json.loads(out.getvalue())["projections"]}
    assert by_name[POISON]["failed_position"] == str(stalled.checkpoint)
    assert by_name["product_catalog"]["failed_position"] is None


def test_the_api_gives_the_failed_event_as_the_token_skip_takes(stalled, make_user):
    from rest_framework.test import APIClient

    staff = APIClient()
    staff.force_authenticate(make_user(is_staff=True))
    rows = {row["name"]: row for row in staff.get("/api/projections/", {"page_size": 200}).json()["results"]}
    assert rows[POISON]["failed_position"] == str(stalled.checkpoint)
    assert rows["product_catalog"]["failed_position"] is None  # the control: a healthy projection failed nowhere
    call_command("projection_skip", POISON, "--event", rows[POISON]["failed_position"], "--reason", "from the API")
    assert ProjectionState.objects.get(name=POISON).status != "stalled"


# --- stalls, skip and retry -------------------------------------------------------------------


def test_a_failing_event_stalls_its_projection_after_the_allowed_attempts(poison):
    product_id = uuid.uuid4()
    POISONED.add(product_id)
    event = register(product_id).events[0]

    state, failures = stall(poison)

    assert failures == ["failed"] * 3
    assert state.attempts == 3 and state.failed_position == event.position
    assert "ValueError: poisoned stream" in state.last_error and str(event.event_id) in state.last_error
    assert engine.catch_up(poison).outcome == "blocked"  # stays put until an operator acts
    assert catch_up_fully("product_catalog")  # the other projections keep going
    assert CatalogProduct.objects.filter(id=product_id).exists()


def test_healthy_events_ahead_of_a_failing_one_cost_no_extra_attempts(poison):
    healthy = [register().events[0] for _ in range(3)]
    product_id = uuid.uuid4()
    POISONED.add(product_id)
    event = settled(register(product_id).events[0])  # all four in the first batch

    state, failures = stall(poison)

    assert state.failed_position == event.position
    assert {e.position for e in healthy} <= set(APPLIED[POISON])
    assert failures == ["failed"] * 3, f"{len(failures)} failed attempts for 3 allowed"


def test_skip_refuses_any_event_but_the_one_the_projection_is_stuck_on(stalled):
    tx, position = stalled.tx, stalled.position
    for other in (Checkpoint(tx, position - 1), Checkpoint(tx, position + 10**9), Checkpoint(tx + 1, position)):
        with pytest.raises(CommandError, match=f"Event {other} is not the next event .*the next is {stalled.checkpoint}"):
            call_command("projection_skip", POISON, "--event", str(other), "--reason", "bad data", stdout=StringIO())
    with pytest.raises(CommandError, match="reason"):
        call_command("projection_skip", POISON, "--event", str(stalled.checkpoint), "--reason", "  ", stdout=StringIO())
    with pytest.raises(CommandError, match="No projection named 'nonsense'"):
        call_command("projection_skip", "nonsense", "--event", "1-1", "--reason", "x", stdout=StringIO())
    assert not SkippedEvent.objects.filter(projection=POISON, position=stalled.position).exists()
    assert state_of(POISON).status == ProjectionState.STALLED


def test_skip_takes_the_token_projection_status_prints(stalled):
    printed = status_table()[POISON]["failed_position"]

    out = StringIO()
    call_command("projection_skip", POISON, "--event", printed, "--reason", "copied from the status", stdout=out)

    assert f"{POISON}: skipped event {printed} " in out.getvalue()
    assert SkippedEvent.objects.filter(projection=POISON, event_id=stalled.event_id).exists()
    assert status_table()[POISON]["status"] == "running"


@pytest.mark.parametrize("given", ["", "abc", "12-", "1-2-3", f"{2**63}-1"])
def test_skip_refuses_what_is_not_a_position_token_and_says_what_to_give(stalled, given):
    with pytest.raises(CommandError, match="not a position token: give the failed_position projection_status shows"):
        call_command("projection_skip", POISON, "--event", given, "--reason", "x", stdout=StringIO())
    assert state_of(POISON).status == ProjectionState.STALLED


def test_skip_records_who_skipped_which_event_and_why_and_the_projection_moves_on(stalled):
    out = StringIO()
    call_command("projection_skip", POISON, "--event", str(stalled.checkpoint), "--reason", "bad import", stdout=out)

    assert f"skipped event {stalled.checkpoint} (ProductRegistered {stalled.event_id})" in out.getvalue()
    skipped = SkippedEvent.objects.get(projection=POISON, position=stalled.position)
    assert (skipped.event_id, skipped.event_type) == (stalled.event_id, "ProductRegistered")
    assert skipped.reason == "bad import"
    assert skipped.skipped_by.startswith("manage.py:") and "poisoned stream" in skipped.error
    later = register().events[0]
    catch_up_fully(POISON)
    assert later.position in APPLIED[POISON] and stalled.position not in APPLIED[POISON]


def test_skipping_an_event_that_killed_the_worker_lets_the_projection_batch_again(poison):
    product_id = uuid.uuid4()
    KILLERS.add(product_id)
    killer = settled(register(product_id).events[0])
    for _ in range(3):  # PROJECTION_MAX_ATTEMPTS deaths, each counted before its batch ran
        with pytest.raises(WorkerDied):
            engine.catch_up(poison)
    assert engine.catch_up(poison).outcome == "blocked"
    assert (state_of(POISON).status, state_of(POISON).failed_position) == (ProjectionState.STALLED, killer.position)

    call_command("projection_skip", POISON, "--event", str(killer.checkpoint), "--reason", "kills", stdout=StringIO())
    healthy = [register().events[0] for _ in range(3)]
    settled(healthy[-1])
    BATCHES[POISON].clear()
    engine.catch_up(poison)

    assert {e.position for e in healthy} <= set(APPLIED[POISON])
    assert BATCHES[POISON] == [3], "after the skip, catch-up should read whole batches again"


def test_retry_gives_a_stalled_projection_fresh_attempts(stalled, poison):
    POISONED.clear()  # the cause is fixed, yet a stalled projection waits for an operator
    assert engine.catch_up(poison).outcome == "blocked"

    out = StringIO()
    call_command("projection_retry", POISON, stdout=out)

    assert f"{POISON}: running" in out.getvalue()
    assert (state_of(POISON).status, state_of(POISON).attempts) == (ProjectionState.RUNNING, 0)
    catch_up_fully(POISON)
    assert stalled.position in APPLIED[POISON]


def test_retry_of_an_unknown_projection_is_refused(committed_db, fresh_projectors):
    with pytest.raises(CommandError, match="No projection named 'nonsense'"):
        call_command("projection_retry", "nonsense", stdout=StringIO())


# --- the admin --------------------------------------------------------------------------------

EVENTS = "/admin/products/storedevent/"
STATUS = "/admin/projections/projectionstate/"


def test_events_can_be_viewed_with_readable_json_but_never_added_changed_or_deleted(superuser_client):
    outcome = register(name="Admin <b>view</b>")
    event = StoredEvent.objects.get(event_id=outcome.events[0].event_id)
    page = f"{EVENTS}{event.position}/change/"

    assert superuser_client.get(EVENTS).status_code == 200
    response = superuser_client.get(page)
    assert response.status_code == 200
    assert '<pre>{\n  &quot;category&quot;' in response.content.decode()  # indented, escaped JSON
    assert "Admin &lt;b&gt;view&lt;/b&gt;" in response.content.decode()
    assert superuser_client.post(page, {"type": "Forged"}).status_code == 403
    assert superuser_client.post(f"{EVENTS}{event.position}/delete/", {"post": "yes"}).status_code == 403
    assert superuser_client.get(f"{EVENTS}add/").status_code == 403
    event.refresh_from_db()
    assert event.type == "ProductRegistered"


def test_event_search_finds_by_token_stream_or_event_id_and_shrugs_off_garbage(superuser_client):
    mine = register().events[0]
    other = register().events[0]

    for term in (str(mine.checkpoint), str(mine.stream_id), str(mine.event_id), str(mine.position)):
        page = superuser_client.get(EVENTS, {"q": term}).content.decode()
        assert f"{EVENTS}{mine.position}/change/" in page and f"{EVENTS}{other.position}/change/" not in page
        assert f">{mine.checkpoint}</a>" in page  # listed by its token
    wrong_tx = str(Checkpoint(mine.tx + 1, mine.position))  # the control: a token names a tx and a position
    for garbage in ("not-a-uuid", "' OR 1=1 --", "9" * 40, str(mine.stream_id)[:-1], wrong_tx, f"{2**64}-1"):
        response = superuser_client.get(EVENTS, {"q": garbage})
        assert response.status_code == 200
        assert f"{EVENTS}{mine.position}/change/" not in response.content.decode()


@pytest.mark.parametrize("model, projection", [
    (CatalogProduct, "product_catalog"),
    (CategorySummary, "category_summary"),
    (CategoryMember, "category_summary"),
    (PriceHistoryEntry, "price_history"),
])
def test_read_models_can_be_viewed_but_not_added_changed_or_deleted(superuser_client, model, projection):
    register()
    catch_up_fully(projection)
    row = model.objects.first()
    url = f"/admin/projections/{model._meta.model_name}/"

    assert superuser_client.get(url).status_code == 200
    assert superuser_client.get(f"{url}{quote(row.pk)}/change/").status_code == 200
    assert superuser_client.get(f"{url}add/").status_code == 403
    assert superuser_client.post(f"{url}{quote(row.pk)}/change/", {}).status_code == 403
    assert superuser_client.post(f"{url}{quote(row.pk)}/delete/", {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_skipped_events_are_listed_read_only(superuser_client):
    assert superuser_client.get("/admin/projections/skippedevent/").status_code == 200
    assert superuser_client.get("/admin/projections/skippedevent/add/").status_code == 403


def test_projection_status_page_lists_every_projection_with_its_actions(superuser_client, poison):
    page = superuser_client.get(STATUS).content.decode()
    for name in projectors.all_projectors():
        assert f'">{name}</a></th>' in page
    # Shown although nobody has change permission: the actions declare their own permission.
    assert 'value="rebuild_selected"' in page and 'value="retry_selected"' in page
    assert superuser_client.get(f"{STATUS}add/").status_code == 403
    assert superuser_client.get(f"{STATUS}{POISON}/change/").status_code == 200  # view only
    assert superuser_client.post(f"{STATUS}{POISON}/change/", {"status": "running"}).status_code == 403
    assert superuser_client.post(f"{STATUS}{POISON}/delete/", {"post": "yes"}).status_code == 403


def test_projection_list_shows_the_token_of_the_event_a_projection_failed_at(superuser_client, stalled):
    page = superuser_client.get(STATUS).content.decode()
    row = page[page.index(f'">{POISON}</a></th>'):].split("</tr>", 1)[0]
    assert f'<td class="field-failed_at">{stalled.checkpoint}</td>' in row
    healthy = page[page.index('">product_catalog</a></th>'):].split("</tr>", 1)[0]
    assert '<td class="field-failed_at">-</td>' in healthy


def test_skipped_events_are_listed_by_token(superuser_client, stalled):
    call_command("projection_skip", POISON, "--event", str(stalled.checkpoint), "--reason", "listed", stdout=StringIO())
    page = superuser_client.get("/admin/projections/skippedevent/", {"projection__exact": POISON}).content.decode()
    assert f'<td class="field-position_token">{stalled.checkpoint}</td>' in page


def test_only_operators_get_the_projection_actions(make_user, stalled):
    viewer = make_user(is_staff=True, can_command=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_projectionstate"))
    client = Client()
    client.force_login(viewer)

    page = client.get(STATUS).content.decode()
    assert f'">{POISON}</a></th>' in page and "retry_selected" not in page
    client.post(STATUS, {"action": "retry_selected", "_selected_action": [POISON]})
    assert state_of(POISON).status == ProjectionState.STALLED

    viewer.user_permissions.add(Permission.objects.get(codename="operate_projections"))
    client.post(STATUS, {"action": "retry_selected", "_selected_action": [POISON]})
    assert (state_of(POISON).status, state_of(POISON).attempts) == (ProjectionState.RUNNING, 0)


def test_the_retry_action_resets_a_stalled_projection(superuser_client, stalled):
    response = superuser_client.post(STATUS, {"action": "retry_selected", "_selected_action": [POISON]}, follow=True)
    assert response.status_code == 200 and f"Retrying {POISON}" in response.content.decode()
    assert (state_of(POISON).status, state_of(POISON).attempts) == (ProjectionState.RUNNING, 0)


def test_the_rebuild_action_enqueues_the_rebuild_and_reports_a_broker_failure(superuser_client):
    selected = {"action": "rebuild_selected", "_selected_action": ["product_catalog", "price_history"]}
    with mock.patch("projections.tasks.rebuild.delay") as delay:
        response = superuser_client.post(STATUS, selected, follow=True)
    assert sorted(call.args for call in delay.call_args_list) == [("price_history",), ("product_catalog",)]
    assert "Rebuild of product_catalog enqueued" in response.content.decode()

    with mock.patch("projections.tasks.rebuild.delay", side_effect=OSError("broker down")) as delay:
        response = superuser_client.post(STATUS, selected, follow=True)
    assert response.status_code == 200
    assert "Could not enqueue the rebuild of product_catalog: broker down" in response.content.decode()


def test_the_rebuild_action_refuses_the_relay_with_the_reason_and_enqueues_nothing(superuser_client):
    selected = {"action": "rebuild_selected", "_selected_action": ["integration_relay"]}
    with mock.patch("projections.tasks.rebuild.delay") as delay:
        response = superuser_client.post(STATUS, selected, follow=True)
    delay.assert_not_called()
    assert "would publish the whole log again" in response.content.decode()


def test_the_admin_shows_a_generation_under_way_in_the_list_and_on_the_row(superuser_client):
    assert ">v1</td>" in superuser_client.get(STATUS).content.decode()  # the control: nothing under way
    generations.start("price_history")
    try:
        listing = superuser_client.get(STATUS).content.decode()
        row = superuser_client.get(f"{STATUS}price_history/change/").content.decode()
    finally:
        generations.cancel("price_history")
    assert re.search(r"v1 → v1 0%", listing), listing
    assert re.search(r"v1 running, lag [\d,]+", row)
