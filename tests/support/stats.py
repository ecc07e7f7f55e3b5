"""Latency percentiles, computed one way for the tests and the benchmarks alike."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by nearest rank: the smallest value that at least q % of the
    values do not exceed, so always a value that was observed (as wrk reports them). None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(Decimal(str(q)) * len(ordered) / 100)  # exact: 99.9 % of 1000 is rank 999
    return float(ordered[max(rank, 1) - 1])
