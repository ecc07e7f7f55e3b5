"""Schemathesis fuzzes the live API, as deployed (gunicorn, the run's PostgreSQL), from its own schema.

Loaded from /api/schema/ of the running server, every operation gets the schema's examples,
its coverage cases (boundaries, missing and wrong-typed fields) and up to MAX_EXAMPLES generated
cases, valid and invalid, sent with a superuser's token so that commands and staff views run too.
Each answer must be:

- no server error (a 503 `projection_lagging` to a query that asked for a `min_position` the
  read models have not reached is the contract, not an error: no worker runs here);
- documented: its status, content type, headers and body conform to the schema;
- for a command (POST), if it is not a 2xx, without a trace in the log: the number of rows in
  event_store, read over a connection of our own, is what it was before the request.

A third of the command and product-query cases are pointed at real, active products (and a
third of the category reads at a real category), so that the success paths are fuzzed as
well as the 404s. Generation is deterministic (the same cases each run) unless FUZZ_SEED is
set, which picks another reproducible set.
"""

from __future__ import annotations

import itertools
import os
import uuid

import psycopg
import pytest
import requests
import schemathesis
from schemathesis import checks as builtin
from schemathesis.config import SchemathesisConfig

from products.eventstore import Checkpoint
from projections import engine, projectors
from projections.models import ProjectionState
from tests.support.polling import wait_until
from tests.support.processes import test_database_url as database_url
from tests.support.processes import web_server

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fuzz]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "40"))
READ_MODELS = ("product_catalog", "category_summary", "price_history")
SUCCESS = range(200, 300)


# --- The server, a superuser and products to aim at ----------------------------------------------


@pytest.fixture(scope="module")
def server(django_db_setup):
    # No worker runs, so a min_position ahead of the read models waits for nothing: keep it short.
    with web_server(workers=2, threads=4, READ_YOUR_WRITES_TIMEOUT="0.2") as base_url:
        yield base_url


@pytest.fixture(scope="module")
def token(django_db_setup, django_db_blocker) -> str:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    with django_db_blocker.unblock():
        user = User.objects.create_superuser(username=f"fuzz-{uuid.uuid4().hex[:12]}", password=uuid.uuid4().hex)
        return Token.objects.create(user=user).key


@pytest.fixture(scope="module")
def log_rows():
    """The number of rows in event_store, read over a connection of our own (autocommit)."""
    with psycopg.connect(database_url(), autocommit=True) as connection:

        def count() -> int:
            return connection.execute("SELECT count(*) FROM event_store").fetchone()[0]

        yield count


class Targets:
    """Real products and a real category to aim a share of the cases at; a discontinued product is replaced."""

    def __init__(self, server: str, token: str, django_db_blocker):
        self.server, self.token, self.blocker = server, token, django_db_blocker
        self.category = f"fuzz-{uuid.uuid4().hex[:8]}"
        self.products = [self.register() for _ in range(3)]
        self.turn = itertools.count()
        self.connection = psycopg.connect(database_url(), autocommit=True)
        self.project()

    def register(self) -> str:
        body = {
            "sku": f"FUZZ-{uuid.uuid4().hex[:12]}", "name": "Fuzz target", "category": self.category,
            "price": "10.00", "currency": "EUR", "initial_stock": 1000,
        }
        response = requests.post(
            f"{self.server}/api/products/", json=body, headers={"Authorization": f"Token {self.token}"}, timeout=30
        )
        assert response.status_code == 202, response.text
        self.position = response.json()["position"]
        return response.json()["product_id"]

    def project(self) -> None:
        """Bring the read models up to the last registration, in this process (no worker runs)."""
        target = Checkpoint.parse(self.position)

        def applied() -> bool:
            for name in READ_MODELS:
                engine.catch_up(projectors.get(name))
            states = ProjectionState.objects.filter(name__in=READ_MODELS)
            return len(states) == len(READ_MODELS) and all(
                Checkpoint(s.last_tx, s.last_position) >= target for s in states
            )

        with self.blocker.unblock():
            wait_until(applied, timeout=30, what="the read models to apply the fuzz targets")

    def aim(self) -> bool:
        return next(self.turn) % 3 == 0

    def product(self) -> str:
        """One of the products, replaced first if the fuzzing discontinued it."""
        index = next(self.turn) % len(self.products)
        row = self.connection.execute(
            "SELECT type FROM event_store WHERE stream_id = %s ORDER BY version DESC LIMIT 1",
            (self.products[index],),
        ).fetchone()
        if row and row[0] == "ProductDiscontinued":
            self.products[index] = self.register()
        return self.products[index]

    def close(self) -> None:
        self.connection.close()


@pytest.fixture(scope="module")
def targets(server, token, django_db_blocker):
    aimed = Targets(server, token, django_db_blocker)
    yield aimed
    aimed.close()


@pytest.fixture(scope="module")
def api_schema(server, token, targets):
    config = SchemathesisConfig.from_dict(
        {
            "base-url": server,
            "headers": {"Authorization": f"Token {token}"},
            "request-timeout": 10,  # a request that hangs fails the test instead of stalling it
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
            "generation": {
                "mode": "all",  # valid and invalid data
                "max-examples": MAX_EXAMPLES,
                "deterministic": "FUZZ_SEED" not in os.environ,
                "database": "none",  # no .hypothesis/ folder in the work tree
            },
            **({"seed": int(os.environ["FUZZ_SEED"])} if "FUZZ_SEED" in os.environ else {}),
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True, "unexpected-methods": []},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    )
    return schemathesis.openapi.from_url(f"{server}/api/schema/?format=json", config=config, timeout=30)


# --- The checks -----------------------------------------------------------------------------------


def not_a_server_error(ctx, response, case):
    """Schemathesis's own check, but for the documented 503 of a query waiting on `min_position`."""
    if response.status_code == 503 and case.method.upper() == "GET" and (case.query or {}).get("min_position"):
        try:
            lagging = response.json().get("code") == "projection_lagging"
        except ValueError:
            lagging = False
        if lagging:
            return None
    return builtin.not_a_server_error(ctx, response, case)


CHECKS = [
    not_a_server_error,
    builtin.status_code_conformance,
    builtin.content_type_conformance,
    builtin.response_headers_conformance,
    builtin.response_schema_conformance,
]


def stores_nothing_when_refused(rows_before: int, count):
    def rejected_commands_store_nothing(ctx, response, case):
        if response.status_code not in SUCCESS:
            after = count()
            assert after == rows_before, (
                f"{case.method} {case.formatted_path} answered {response.status_code} "
                f"but event_store went from {rows_before} to {after} rows"
            )

    return rejected_commands_store_nothing


# --- The test -------------------------------------------------------------------------------------

schema = schemathesis.pytest.from_fixture("api_schema")


# The whole run (server start, ~1,500 requests) takes about 40 s here; a hang fails it in 3 minutes
# (scaled up when FUZZ_MAX_EXAMPLES asks for a longer exploration).
@pytest.mark.timeout(max(180, MAX_EXAMPLES * 5))
@schema.parametrize()
def test_the_live_api_answers_every_generated_request_as_documented(case, targets, log_rows):
    path_parameters = case.path_parameters if case.path_parameters is not None else {}
    if "product_id" in path_parameters and targets.aim():
        path_parameters["product_id"] = targets.product()
    if "name" in path_parameters and targets.aim():
        path_parameters["name"] = targets.category

    is_command = case.method.upper() == "POST"
    before = log_rows() if is_command else None
    response = case.call()
    extra = [stores_nothing_when_refused(before, log_rows)] if is_command else []
    case.validate_response(response, checks=CHECKS + extra)
