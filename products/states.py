"""Recently decided products, kept per process so a command reads only its stream's new events.

Without it every command folds its product's whole history: fine for a few dozen events, not
for a product whose price changed ten thousand times. An entry is never trusted as current:
the handler always reads the events after the entry's version from the store, so an entry
that another process has overtaken costs only a longer read, never a wrong decision.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

from .domain.product import Product
from .eventstore import Checkpoint


@dataclass(frozen=True)
class Known:
    state: Product | None
    version: int
    position: Checkpoint | None


NOTHING = Known(state=None, version=0, position=None)


class RecentStates:
    """A bounded, thread-safe LRU of product states by id."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: OrderedDict[UUID, Known] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, product_id: UUID) -> Known:
        with self._lock:
            known = self._entries.get(product_id)
            if known is not None:
                self._entries.move_to_end(product_id)
            return known or NOTHING

    def put(self, product_id: UUID, known: Known) -> None:
        with self._lock:
            current = self._entries.get(product_id)
            if current is None or current.version < known.version:  # never step back
                self._entries[product_id] = known
                self._entries.move_to_end(product_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
