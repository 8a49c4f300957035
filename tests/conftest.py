"""Shared fixtures: parametrisation helpers over the registry."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad

CANONICAL = spikegrad.names()
ALIASES = spikegrad.aliases()
DETERMINISTIC = [n for n in CANONICAL if not spikegrad.entry(n).formula.stochastic_backward]


#: Canonical surrogates with a primitive, a spike forward and at least one real parameter.
LEARNABLE = [n for n in CANONICAL if spikegrad.entry(n).formula.primitive is not None
             and spikegrad.entry(n).forward in ("ge", "gt")
             and any(not p.static for p in spikegrad.entry(n).params)]


def theta_derivative(bound: spikegrad.Bound, param: spikegrad.Param, fn) -> np.ndarray | None:
    """``d fn(bound with param = θ) / dθ`` at the bound's value, by Richardson-extrapolated
    central differences in float64; ``None`` at the edge of the domain or where not finite
    (the independent oracle of the parameter-gradient tests)."""
    theta = float(bound.params[param.name])
    h = 1e-3 * max(abs(theta), 1e-3)
    if not all(param.domain.check(theta + k * h) for k in (-2, 2)):
        return None

    def at(t: float) -> np.ndarray:
        return np.asarray(fn(bound.replace(**{param.name: t})), dtype=np.float64)

    fd = (8 * (at(theta + h) - at(theta - h)) - (at(theta + 2 * h) - at(theta - 2 * h))) / (
        12 * h)
    return fd if np.all(np.isfinite(fd)) else None


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
