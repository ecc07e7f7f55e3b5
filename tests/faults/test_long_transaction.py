"""Scenario 6: a long writing transaction held open elsewhere holds projections back, never past."""

import psycopg

from projections import engine, operations, projectors
from tests import settings as test_settings
from tests.support import oracle
from tests.support.history import random_history


def catch_up_read_models() -> None:
    for name in projectors.read_models():
        engine.catch_up(projectors.get(name))


def test_projections_lag_behind_an_open_transaction_skip_nothing_and_catch_up_when_it_ends(committed_db):
    catch_up_read_models()
    with psycopg.connect(test_settings.POSTGRES_URL) as elsewhere:
        elsewhere.execute("SELECT pg_current_xact_id()")  # takes a transaction id, as any write does
        products_ = random_history(commands=30, products=5, seed=41)
        catch_up_read_models()
        while_open = {status.name: status.lag for status in operations.statuses()}
        elsewhere.rollback()
    catch_up_read_models()
    after = {status.name: status.lag for status in operations.statuses()}

    ledger = oracle.Ledger(products=set(products_))
    verdict = oracle.check(ledger)
    assert all(while_open[name] >= 30 - 5 for name in projectors.read_models()), while_open  # held back, visibly
    assert all(after[name] == 0 for name in projectors.read_models()), after
    assert verdict.duplicated == [] and verdict.lost == [], verdict  # caught up exactly
