"""The projections, built from settings.PROJECTORS (name -> projector class), one screen there."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from .base import Projector


@cache
def all_projectors() -> dict[str, Projector]:
    projectors = {}
    for name, path in settings.PROJECTORS.items():
        projector = import_string(path)()
        assert projector.name == name, f"settings.PROJECTORS names {path} {name!r}, but it is {projector.name!r}"
        projectors[name] = projector
    return projectors


def get(name: str) -> Projector:
    try:
        return all_projectors()[name]
    except KeyError:
        raise LookupError(f"No projection named {name!r}; known: {', '.join(all_projectors())}") from None


def read_models() -> list[str]:
    """What a rebuild replays by default: everything but the relay, which would republish the log."""
    return [name for name in all_projectors() if name != "integration_relay"]
