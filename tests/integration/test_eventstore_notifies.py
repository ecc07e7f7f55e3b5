"""The event store announces appends: one notification on APPENDED_CHANNEL per committed
transaction that appended events, none for one rolled back (products/eventstore/schema.py)."""

import uuid

import psycopg
import pytest
from django.db import transaction

from products.eventstore import APPENDED_CHANNEL, NewEvent, append
from tests.support.processes import test_database_url as run_database_url

pytestmark = pytest.mark.integration


class RolledBack(Exception):
    pass


def _append(events: int = 1) -> None:
    append("notify-probe", uuid.uuid4(), 0, [NewEvent(uuid.uuid4(), "NotifyProbed", {"n": n}) for n in range(events)])


def test_a_committed_append_notifies_once_and_a_rolled_back_one_never(committed_db):
    with psycopg.connect(run_database_url(), autocommit=True) as listening:
        listening.execute(f"LISTEN {APPENDED_CHANNEL}")

        with transaction.atomic():
            _append(events=3)
        assert [n.channel for n in listening.notifies(timeout=5, stop_after=1)] == [APPENDED_CHANNEL]
        assert list(listening.notifies(timeout=0.5)) == []  # three events, one statement: one notification

        with pytest.raises(RolledBack), transaction.atomic():
            _append()
            raise RolledBack
        assert list(listening.notifies(timeout=0.5)) == []
