"""Stored events of older shapes, brought to the shape the code knows. Plain Python, no I/O.

Stored events are never rewritten. Each event type has a current schema version (its class's
`schema_version`); an event stored at an older version is upgraded when it is read, one version
at a time, by the upcasters registered for its type: small pure functions from the data of
version n to the data of version n+1 (see products/domain/upcasters.py). A type that was
renamed keeps its old name as an alias. An event stored at a version newer than the code knows
(code rolled back after a deploy) is refused, never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]


class FutureSchemaVersion(Exception):
    """An event stored at a schema version this code does not know yet."""

    def __init__(self, type_name: str, version: int, known: int) -> None:
        super().__init__(
            f"{type_name} is stored at schema version {version}, newer than this code knows ({known}): "
            "deploy the code that wrote it (or a later one)."
        )
        self.type_name, self.version, self.known = type_name, version, known


class UnknownEventType(Exception):
    """An event stored under a type name this code does not know (neither current nor an alias)."""

    def __init__(self, type_name: str) -> None:
        super().__init__(
            f"{type_name} is not an event type this code knows: deploy the code that wrote it (or a later one)."
        )
        self.type_name = type_name


class MissingUpcaster(Exception):
    """A version between a stored event's and the current one has no upcaster: a gap in the code."""


@dataclass(frozen=True)
class Schemas:
    """Every event type's current version, the upcasters between versions, and old names."""

    current: Mapping[str, int]  # type name -> its current schema version
    upcasters: Mapping[tuple[str, int], Upcaster] = field(default_factory=dict)  # (type, from version) -> step
    aliases: Mapping[str, str] = field(default_factory=dict)  # an old type name -> the current one

    def current_name(self, type_name: str) -> str:
        return self.aliases.get(type_name, type_name)

    def upcast(self, type_name: str, version: int, data: Data) -> tuple[str, int, Data]:
        """The event in its current name, version and shape. Types not known here pass unchanged."""
        name = self.current_name(type_name)
        target = self.current.get(name)
        if target is None or version == target:
            return name, version, data
        if version > target:
            raise FutureSchemaVersion(name, version, target)
        while version < target:
            step = self.upcasters.get((name, version))
            if step is None:
                raise MissingUpcaster(f"No upcaster from {name} schema version {version} to {version + 1}.")
            data, version = step(dict(data)), version + 1
        return name, version, data

    def gaps(self) -> list[tuple[str, int]]:
        """The (type, version) steps with no upcaster: empty for a registry the code can rely on."""
        return [(name, version) for name, target in self.current.items() for version in range(1, target)
                if (name, version) not in self.upcasters]
