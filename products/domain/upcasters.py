"""The upcasters and renamed types of the product events (see products/domain/upcasting.py).

To change an event: raise its class's `schema_version`, change its fields, and add here the
function that turns the data of the version before into the new shape, keyed by (type, the
version it upgrades from). To rename a type: give the class its new name in EVENT_TYPES and
add the old name to ALIASES. docs/EVENTS.md walks through an example.
"""

from __future__ import annotations

from .upcasting import Upcaster

UPCASTERS: dict[tuple[str, int], Upcaster] = {}

ALIASES: dict[str, str] = {}
