"""sinabs' surrogate-gradient API (``sinabs.activation`` surrogate gradients) over
spikegrad's definitions.

sinabs' spike functions call a surrogate-gradient object with the membrane potential and
the threshold and take the returned values as ``dspike/dv``:
``SingleExponential(grad_width=0.5, grad_scale=1.0)(v_mem, spike_threshold)``, likewise
``Gaussian``, ``MultiGaussian``, ``Heaviside`` and ``PeriodicExponential``, each computed
by the alias ``sinabs:<Name>`` at ``x = v_mem - spike_threshold`` (``spikegrad show
sinabs:SingleExponential``).  They are dataclasses, as sinabs' are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from . import _torch as _t

__all__ = ["Gaussian", "Heaviside", "MultiGaussian", "PeriodicExponential",
           "SingleExponential"]


def _grad(alias: str, values: dict[str, Any], v_mem: torch.Tensor,
          spike_threshold: Any) -> torch.Tensor:
    from .. import _registry

    names = {p.name for p in _registry.entry(alias).params}
    if "threshold" in names:
        values = {**values, "threshold": spike_threshold}
    return _t.derivative(alias, v_mem - spike_threshold, values)


@dataclass
class Heaviside:
    """sinabs' ``Heaviside(window=1.0)`` over ``sinabs:Heaviside``."""

    window: float = 1.0

    def __call__(self, v_mem: torch.Tensor, spike_threshold: Any) -> torch.Tensor:
        return _grad("sinabs:Heaviside", {"window": self.window}, v_mem, spike_threshold)


@dataclass
class Gaussian:
    """sinabs' ``Gaussian(mu=0.0, sigma=0.5, grad_scale=1.0)`` over ``sinabs:Gaussian``."""

    mu: float = 0.0
    sigma: float = 0.5
    grad_scale: float = 1.0

    def __call__(self, v_mem: torch.Tensor, spike_threshold: Any) -> torch.Tensor:
        return _grad("sinabs:Gaussian", {"mu": self.mu, "sigma": self.sigma,
                                         "grad_scale": self.grad_scale}, v_mem,
                     spike_threshold)


@dataclass
class MultiGaussian:
    """sinabs' ``MultiGaussian(mu=0.0, sigma=0.5, h=0.15, s=6, grad_scale=1.0)`` over
    ``sinabs:MultiGaussian``."""

    mu: float = 0.0
    sigma: float = 0.5
    h: float = 0.15
    s: float = 6
    grad_scale: float = 1.0

    def __call__(self, v_mem: torch.Tensor, spike_threshold: Any) -> torch.Tensor:
        return _grad("sinabs:MultiGaussian", {"mu": self.mu, "sigma": self.sigma,
                                              "h": self.h, "s": self.s,
                                              "grad_scale": self.grad_scale}, v_mem,
                     spike_threshold)


@dataclass
class SingleExponential:
    """sinabs' ``SingleExponential(grad_width=0.5, grad_scale=1.0)`` over
    ``sinabs:SingleExponential``."""

    grad_width: float = 0.5
    grad_scale: float = 1.0

    def __call__(self, v_mem: torch.Tensor, spike_threshold: Any) -> torch.Tensor:
        return _grad("sinabs:SingleExponential", {"grad_width": self.grad_width,
                                                  "grad_scale": self.grad_scale}, v_mem,
                     spike_threshold)


@dataclass
class PeriodicExponential:
    """sinabs' ``PeriodicExponential(grad_width=0.5, grad_scale=1.0)`` over
    ``sinabs:PeriodicExponential``."""

    grad_width: float = 0.5
    grad_scale: float = 1.0

    def __call__(self, v_mem: torch.Tensor, spike_threshold: Any) -> torch.Tensor:
        return _grad("sinabs:PeriodicExponential", {"grad_width": self.grad_width,
                                                    "grad_scale": self.grad_scale}, v_mem,
                     spike_threshold)
