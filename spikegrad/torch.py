"""spikegrad for PyTorch: spike functions with surrogate gradients.

>>> import torch, spikegrad.torch as sgt
>>> x = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
>>> y = sgt.atan(x, alpha=2.0)          # one function per canonical surrogate
>>> y = sgt.spike(x, "snntorch:atan")   # any name or alias, or a spikegrad.get(...) bound
>>> layer = sgt.Surrogate("spikingjelly:ATan")   # nn.Module for snntorch / spikingjelly

Requires the ``torch`` extra (``pip install "spikegrad[torch]"``).
"""

from __future__ import annotations

from typing import Any

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised without torch installed
    raise ImportError(
        "spikegrad.torch needs PyTorch: pip install 'spikegrad[torch]' "
        "(or pip install torch)"
    ) from exc

from . import _registry
from ._frontend import named_functions, resolve
from ._spec import Bound
from .adapters import torch as _adapter

__all__ = ["spike", "Surrogate", "function", *_registry.names()]


def function(name_or_bound: str | Bound, **params: Any) -> type[torch.autograd.Function]:
    """The ``torch.autograd.Function`` of a surrogate (``.apply(x)`` gives the spike)."""
    return _adapter.function_for(resolve(name_or_bound, params))


def spike(x: torch.Tensor, name_or_bound: str | Bound, /, *, key: torch.Generator | None = None,
          **params: Any) -> torch.Tensor:
    """Spike of ``x`` (in ``x``'s dtype) whose gradient is the surrogate's ``g'(x)``.

    Parameters
    ----------
    x : torch.Tensor
        Membrane potential minus threshold; real floating dtype.
    name_or_bound : str or Bound
        Canonical name, ``"library:Name"`` alias, or ``spikegrad.get(...)``.
    key : torch.Generator, optional
        Random source for stochastic surrogates.
    **params
        Surrogate parameters (Python numbers).
    """
    return _adapter.spike(x, resolve(name_or_bound, params), key)


class Surrogate(torch.nn.Module):
    """A surrogate spike as an ``nn.Module``.

    Usable as snntorch's ``spike_grad=`` and spikingjelly's ``surrogate_function=``: its
    call takes the already-shifted membrane input.  With ``spiking=False`` (spikingjelly's
    mode) the forward returns the primitive ``g(x)`` instead, differentiable by autograd.

    Parameters
    ----------
    name : str
        Canonical name or ``"library:Name"`` alias (the alias's forward convention is kept:
        ``Surrogate("snntorch:atan")`` spikes at ``x > 0``).
    spiking : bool
        Spike (default) or primitive forward.
    **params
        Surrogate parameters.
    """

    def __init__(self, name: str | Bound, spiking: bool = True, **params: Any) -> None:
        super().__init__()
        self.bound = resolve(name, params)
        self.spiking = spiking
        _adapter.function_for(self.bound)  # build the Functions now, outside any compile
        if not spiking and not self.bound.has_primitive:
            raise ValueError(f"{self.bound.name} has no primitive: spiking=False is not "
                             "available for it")

    def forward(self, x: torch.Tensor, key: torch.Generator | None = None) -> torch.Tensor:
        if self.spiking:
            return _adapter.spike(x, self.bound, key)
        _adapter.check_tensor(x)
        return _adapter.primitive(self.bound, x)

    def extra_repr(self) -> str:
        return f"{self.bound!r}, spiking={self.spiking}"


globals().update(named_functions(_adapter.spike))
