"""The independent oracle of parameter gradients: ``Σ G ∂g/∂θ`` by central differences of
the float64 primitive (reference engine), shared by the torch and cupy kernel tests."""

from __future__ import annotations

import numpy as np

import spikegrad


def fd_param_grads(name: str, values: dict[str, np.ndarray], x: np.ndarray, G: np.ndarray,
                   h: float = 1e-6) -> dict[str, np.ndarray]:
    """``Σ G ∂g/∂θ`` per element of each parameter in ``values`` (the others held; a
    parameter not given takes its default), by central differences of the float64
    primitive with step ``h * max(1, |θ|)``."""
    out = {}
    for pname, theta in values.items():
        theta = np.asarray(theta, dtype=np.float64)
        grad = np.zeros_like(theta)
        for idx in np.ndindex(theta.shape or (1,)):
            idx = idx if theta.shape else ()
            up, down = theta.copy(), theta.copy()
            step = h * max(1.0, abs(float(theta[idx])))
            up[idx] += step
            down[idx] -= step
            gu = spikegrad.get(name, **{**values, pname: up}).primitive(x)
            gd = spikegrad.get(name, **{**values, pname: down}).primitive(x)
            grad[idx] = (G * (gu - gd) / (2 * step)).sum()
        out[pname] = grad
    return out
