"""The projections, built from settings.PROJECTORS (name -> projector class), one screen there."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import Projector


@cache
def all_projectors() -> dict[str, Projector]:
    """settings.PROJECTORS, then the consumers the installed apps registered (projections/consumers.py)."""
    from ..consumers import registered

    projectors = {}
    for name, path in settings.PROJECTORS.items():
        projector = import_string(path)()
        assert projector.name == name, f"settings.PROJECTORS names {path} {name!r}, but it is {projector.name!r}"
        projectors[name] = projector
    for name, consumer in registered().items():
        if name in projectors:
            raise ImproperlyConfigured(f"The consumer {name!r} has the name of a projection; give it another name=.")
        projectors[name] = consumer
    return projectors


def get(name: str) -> Projector:
    try:
        return all_projectors()[name]
    except KeyError:
        raise LookupError(f"No projection named {name!r}; known: {', '.join(all_projectors())}") from None


def read_models() -> list[str]:
    """What a rebuild replays by default: not the relay or the MQTT bridge, which would publish the
    whole log again (those say so in their `rebuild_refusal`)."""
    return [name for name, projector in all_projectors().items() if not getattr(projector, "rebuild_refusal", None)]
