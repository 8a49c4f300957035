"""An out-of-tree spikegrad adapter: surrogate spikes on array-api-strict arrays.

It implements the adapter protocol of :mod:`spikegrad.conformance.harness` with a manual
forward/backward pair evaluated through spikegrad's array-API formulas (array-api-strict
has no autograd of its own).  Certify it with::

    pip install -e adapters/spikegrad-array-api-strict
    spikegrad conformance strict
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikegrad import Bound
from spikegrad.conformance.harness import Harness

__all__ = ["StrictHarness", "spike", "spike_vjp"]


def spike(s: Bound, x: Any, key: Any = None) -> Any:
    """Forward: the spike of ``x`` in its dtype (an array-api-strict array)."""
    return s.spike(x, key=key)


def spike_vjp(s: Bound, x: Any, g: Any, key: Any = None) -> Any:
    """Backward: ``g * g'(x)``, computed in float64 and rounded once to ``x``'s dtype."""
    import array_api_strict as xp

    d = s.derivative(x, compute_dtype=xp.float64, key=key)
    return xp.astype(xp.astype(g, xp.float64) * xp.astype(d, xp.float64), x.dtype)


class StrictHarness(Harness):
    """array-api-strict: float32 and float64 (the standard has no float16)."""

    name = "strict"
    dtypes = ("float32", "float64")
    tolerance_ulp = {"float64": 16.0, "float32": 4.0}  # noqa: RUF012

    def load(self) -> None:
        try:
            import array_api_strict
        except ImportError as exc:
            raise ImportError("pip install array-api-strict") from exc
        self.xp = array_api_strict

    def from_numpy(self, a: np.ndarray) -> Any:
        return self.xp.asarray(a)

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.from_dlpack(a)

    def forward(self, s: Bound, x: Any) -> Any:
        return spike(s, x, key=np.random.default_rng(0))

    def vjp(self, s: Bound, x: Any, g: Any) -> Any:
        return spike_vjp(s, x, g, key=np.random.default_rng(0))
