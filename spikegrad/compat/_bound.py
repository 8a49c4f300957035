"""A peer alias bound once per parameter set (framework-free)."""

from __future__ import annotations

from typing import Any

from .. import _registry
from .._frontend import BoundCache
from .._spec import Bound

__all__ = ["bound"]

_CACHES: dict[str, BoundCache] = {}


def bound(alias: str, values: dict[str, Any]) -> Bound:
    """``spikegrad.get(alias, **values)``, cached per number-parameter set."""
    cache = _CACHES.get(alias)
    if cache is None:
        cache = _CACHES[alias] = BoundCache(_registry.entry(alias))
    return cache.get(values)
