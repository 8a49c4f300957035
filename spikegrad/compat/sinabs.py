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

from dataclasses import asdict, dataclass
from typing import Any

import torch

from .. import _registry
from . import _torch as _t

__all__ = ["Gaussian", "Heaviside", "MultiGaussian", "PeriodicExponential",
           "SingleExponential"]


@dataclass
class _SurrogateGradient:
    """Base: ``obj(v_mem, spike_threshold)`` is ``dspike/dv`` of the alias ``_alias`` at
    ``x = v_mem - spike_threshold`` (its fields are the alias's parameters)."""

    def __call__(self, v_mem: torch.Tensor, spike_threshold: Any) -> torch.Tensor:
        alias = f"sinabs:{type(self).__name__}"
        values = asdict(self)
        if "threshold" in {p.name for p in _registry.entry(alias).params}:
            values["threshold"] = spike_threshold
        return _t.derivative(alias, v_mem - spike_threshold, values)


@dataclass
class Heaviside(_SurrogateGradient):
    """sinabs' ``Heaviside(window=1.0)`` over ``sinabs:Heaviside``."""

    window: float = 1.0


@dataclass
class Gaussian(_SurrogateGradient):
    """sinabs' ``Gaussian(mu=0.0, sigma=0.5, grad_scale=1.0)`` over ``sinabs:Gaussian``."""

    mu: float = 0.0
    sigma: float = 0.5
    grad_scale: float = 1.0


@dataclass
class MultiGaussian(_SurrogateGradient):
    """sinabs' ``MultiGaussian(mu=0.0, sigma=0.5, h=0.15, s=6, grad_scale=1.0)`` over
    ``sinabs:MultiGaussian``."""

    mu: float = 0.0
    sigma: float = 0.5
    h: float = 0.15
    s: float = 6
    grad_scale: float = 1.0


@dataclass
class SingleExponential(_SurrogateGradient):
    """sinabs' ``SingleExponential(grad_width=0.5, grad_scale=1.0)`` over
    ``sinabs:SingleExponential``."""

    grad_width: float = 0.5
    grad_scale: float = 1.0


@dataclass
class PeriodicExponential(_SurrogateGradient):
    """sinabs' ``PeriodicExponential(grad_width=0.5, grad_scale=1.0)`` over
    ``sinabs:PeriodicExponential``."""

    grad_width: float = 0.5
    grad_scale: float = 1.0
