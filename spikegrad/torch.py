"""spikegrad for PyTorch: spike functions with surrogate gradients.

>>> import torch, spikegrad.torch as sgt
>>> x = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
>>> y = sgt.atan(x, alpha=2.0)          # one function per canonical surrogate
>>> y = sgt.spike(x, "snntorch:atan")   # any name or alias, or a spikegrad.get(...) bound
>>> layer = sgt.Surrogate("spikingjelly:ATan")   # nn.Module for snntorch / spikingjelly
>>> learn = sgt.Surrogate("atan", alpha=2.0, learnable=True)   # alpha an nn.Parameter
>>> node = sgt.DSRIFNode(v_threshold=6.0)   # multi-step: [T, ...] in and out

Requires the ``torch`` extra (``pip install "spikegrad[torch]"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised without torch installed
    raise ImportError(
        "spikegrad.torch needs PyTorch: pip install 'spikegrad[torch]' (on a CPU-only "
        "machine install the CPU build first, e.g. pip install torch==2.13.0 --index-url "
        "https://download.pytorch.org/whl/cpu)"
    ) from exc

from . import _registry
from ._frontend import named_functions, resolve
from ._spec import Bound, Entry, is_array_param
from ._torch_nodes import DSRIFNode, DSRLIFNode, MultiStepNode, dsr_if, dsr_lif, multistep
from .adapters import torch as _adapter

__all__ = ["DSRIFNode", "DSRLIFNode", "MultiStepNode", "Surrogate", "dsr_if", "dsr_lif",
           "function", "multistep", "spike", *_registry.names(user=False)]


def function(name_or_bound: str | Bound | Entry | None = None,
             **params: Any) -> type[torch.autograd.Function]:
    """The ``torch.autograd.Function`` that serves every surrogate:
    ``function().apply(x, bound, key, *tensor_params)`` gives the spike.  (Arguments are
    accepted for compatibility and ignored: one Function serves all definitions.)"""
    if name_or_bound is not None:
        resolve(name_or_bound, params)  # validates
    return _adapter.function_for()


def spike(x: torch.Tensor, name_or_bound: str | Bound | Entry, /, *,
          key: torch.Generator | None = None, **params: Any) -> torch.Tensor:
    """Spike of ``x`` (in ``x``'s dtype) whose gradient is the surrogate's ``g'(x)``.

    Parameters
    ----------
    x : torch.Tensor
        Membrane potential minus threshold; real floating dtype.
    name_or_bound : str, Bound or Entry
        Canonical name, ``"library:Name"`` alias, a registered user name,
        ``spikegrad.get(...)`` or a definition.
    key : torch.Generator, optional
        Random source for stochastic surrogates.
    **params
        Surrogate parameters: Python numbers, or tensors (0-d or broadcasting against
        ``x``) that receive ``Σ G ∂g/∂θ`` when they require grad.
    """
    return _adapter.spike(x, resolve(name_or_bound, params), key)


class Surrogate(torch.nn.Module):
    """A surrogate spike as an ``nn.Module``.

    Usable as snntorch's ``spike_grad=`` and spikingjelly's ``surrogate_function=``: its
    call takes the already-shifted membrane input.  With ``spiking=False`` (spikingjelly's
    mode) the forward returns the primitive ``g(x)`` instead, differentiable by autograd.

    Parameters
    ----------
    name : str, Bound or Entry
        Canonical name, ``"library:Name"`` alias (the alias's forward convention is kept:
        ``Surrogate("snntorch:atan")`` spikes at ``x > 0``), user name or definition.
    spiking : bool
        Spike (default) or primitive forward.
    learnable : bool or iterable of str
        Real parameters to hold as ``nn.Parameter`` (``True``: all of them).  An
        ``nn.Parameter`` given as a value is learnable anyway; a plain tensor is held as a
        buffer.  Either way they show in ``parameters()``/``state_dict()`` and follow
        ``.to(device)``.
    key : torch.Generator, optional
        Random source of a stochastic surrogate (required for those).
    **params
        Surrogate parameters (numbers or tensors).
    """

    def __init__(self, name: str | Bound | Entry, spiking: bool = True, *,
                 learnable: bool | Iterable[str] = False, key: torch.Generator | None = None,
                 **params: Any) -> None:
        super().__init__()
        bound = resolve(name, params)
        self.entry = bound.entry
        self.spiking = spiking
        self.key = key
        if not spiking and not bound.has_primitive:
            raise ValueError(f"{bound.name} has no primitive: spiking=False is not "
                             "available for it")
        if bound.stochastic and key is None and spiking:
            raise TypeError(f"{bound.name} is stochastic: give it a random source, "
                            f"Surrogate({bound.name!r}, key=torch.Generator().manual_seed(0))"
                            "; spikegrad never uses hidden global random state")
        real = [p.name for p in bound.entry.params if not p.static]
        wanted = set(real) if learnable is True else set(learnable or ())
        unknown = wanted - set(real)
        if unknown:
            raise ValueError(f"{bound.name}: learnable names unknown or structural "
                             f"parameters {sorted(unknown)}; real parameters: {real}")
        self._static: dict[str, Any] = {}
        self._tensor_names: list[str] = []
        for pname, value in bound.param_items:
            if pname in wanted or isinstance(value, torch.nn.Parameter):
                t = value if isinstance(value, torch.nn.Parameter) else torch.nn.Parameter(
                    torch.as_tensor(value, dtype=torch.get_default_dtype()).clone()
                    if not isinstance(value, torch.Tensor) else value.detach().clone())
                self.register_parameter(pname, t)
                self._tensor_names.append(pname)
            elif isinstance(value, torch.Tensor):
                self.register_buffer(pname, value)
                self._tensor_names.append(pname)
            elif is_array_param(value):
                raise TypeError(f"{bound.name}: parameter {pname} must be a number or a "
                                f"torch tensor, got {type(value).__name__}")
            else:
                self._static[pname] = value
        self._number_bound = bound if not self._tensor_names else None

    @property
    def bound(self) -> Bound:
        """The bound surrogate with the module's current parameter values."""
        if self._number_bound is not None:
            return self._number_bound
        items = tuple((p.name, self._static[p.name] if p.name in self._static
                       else getattr(self, p.name)) for p in self.entry.params)
        return Bound(self.entry, items)

    def forward(self, x: torch.Tensor, key: torch.Generator | None = None) -> torch.Tensor:
        bound = self.bound
        if self.spiking:
            return _adapter.spike(x, bound, key if key is not None else self.key)
        _adapter.check_tensor(x)
        params = tuple(dict(bound.param_items)[k] for k in bound.array_param_names)
        return _adapter.primitive(bound, x, params)

    def extra_repr(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._static.items())
        return f"{self.entry.name!r}{', ' if shown else ''}{shown}, spiking={self.spiking}"


globals().update(named_functions(_adapter.spike))
