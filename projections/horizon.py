"""Who holds the projections' read horizon back: the long writing transactions on the cluster.

The projections read the log only below `pg_snapshot_xmin(pg_current_snapshot())`, the oldest
transaction id still running anywhere on the PostgreSQL cluster (any database, any client).
A writing transaction left open there stops every projection at its id, and nothing in the
projections' own state says why. This is the one query that names it, for projection_status,
the admin, /health/ready and /metrics.

Only transactions that hold an id count: a read-only one (a `backend_xmin` without a
`backend_xid`) holds back VACUUM, not the snapshot's xmin. Another role's sessions show their
start and query only to a role with pg_read_all_stats; without it they are not seen here.
On SQLite writers are serialized and nothing is ever held back: there is no holder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from . import backends

QUERY_CHARS = 200  # enough to recognise the statement, short enough for a table or a log line
LISTED = 3  # the oldest is the one that matters; the next ones hold on once it is gone


@dataclass(frozen=True)
class HorizonHolder:
    """A writing transaction open long enough to hold the projections back."""

    pid: int
    database: str
    user: str
    state: str
    age_seconds: float
    query: str  # the start of its current statement, or of its last one when idle in transaction

    def __str__(self) -> str:
        return (f"pid {self.pid} (database {self.database}, user {self.user}), open {self.age_seconds:.0f} s, "
                f"{self.state}: {' '.join(self.query.split())}")

    def as_dict(self) -> dict:
        return asdict(self)


def horizon_holders(using: str = DEFAULT_DB_ALIAS) -> list[HorizonHolder]:
    """The writing transactions open for HORIZON_HOLDER_SECONDS or more, oldest transaction id first.

    The first one is where the projections stop now.
    """
    connection = connections[using]
    if not backends.of(connection).has_horizon_holders:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, coalesce(datname, ''), coalesce(usename, ''), coalesce(state, ''),"
            " extract(epoch FROM clock_timestamp() - xact_start)::float8, left(coalesce(query, ''), %s)"
            " FROM pg_stat_activity"
            " WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
            " AND xact_start <= clock_timestamp() - %s * interval '1 second'"
            " ORDER BY age(backend_xid) DESC LIMIT %s",
            [QUERY_CHARS, settings.HORIZON_HOLDER_SECONDS, LISTED],
        )
        return [HorizonHolder(*row) for row in cursor.fetchall()]
