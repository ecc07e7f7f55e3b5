"""How far the projections have come, for a test that waits for them."""

from __future__ import annotations

from projections import engine, projectors
from projections.models import ProjectionState


def applied_everything(*names: str) -> bool:
    """These projections (without names, every one) have applied every event stored so far."""
    names = names or tuple(projectors.all_projectors())
    engine.ensure_states(names)
    return all(engine.lag(state) == 0 for state in ProjectionState.objects.filter(name__in=names))
