"""torch front end of the multi-step surrogates: functions and neuron modules.

:class:`MultiStepNode` serves every multi-step definition; :class:`DSRIFNode` and
:class:`DSRLIFNode` take spikingjelly's constructor arguments, so they go where its
``DSRIFNode``/``DSRLIFNode`` go (``step_mode='m'``, threshold an ``nn.Parameter``).
"""

from __future__ import annotations

from typing import Any

import torch

from ._arrays import param_text
from ._frontend import resolve_multistep
from ._multistep import MultiStepBound, MultiStepEntry
from .adapters import torch_multistep as _adapter

__all__ = ["DSRIFNode", "DSRLIFNode", "MultiStepNode", "dsr_if", "dsr_lif", "multistep"]

_LOWER_BOUND_MODES = ("clamp", "project")


def _bound(name: str | MultiStepEntry | MultiStepBound, params: dict[str, Any]
           ) -> MultiStepBound:
    return resolve_multistep(name, params, "spikegrad.torch")


def multistep(x_seq: torch.Tensor, name: str | MultiStepEntry | MultiStepBound, /,
              **params: Any) -> torch.Tensor:
    """Output sequence of a multi-step surrogate for ``x_seq`` (``[T, ...]``, time first),
    differentiable in ``x_seq`` and in a tensor ``v_threshold``.

    Examples
    --------
    >>> import torch, spikegrad.torch as sgt
    >>> v = torch.nn.Parameter(torch.tensor(1.0))
    >>> y = sgt.multistep(torch.rand(8, 3), "dsr_if", v_threshold=v)
    >>> y.shape
    torch.Size([8, 3])
    """
    return _adapter.apply(_bound(name, params), x_seq)


def dsr_if(x_seq: torch.Tensor, **params: Any) -> torch.Tensor:
    """DSR-IF output sequence (``spikegrad show dsr_if`` for the formula and parameters)."""
    return multistep(x_seq, "dsr_if", **params)


def dsr_lif(x_seq: torch.Tensor, **params: Any) -> torch.Tensor:
    """DSR-LIF output sequence (``spikegrad show dsr_lif`` for the formula and parameters)."""
    return multistep(x_seq, "dsr_lif", **params)


class MultiStepNode(torch.nn.Module):
    """A multi-step surrogate neuron layer: ``[T, ...]`` in, ``[T, ...]`` out.

    Parameters
    ----------
    name : str
        A multi-step surrogate (``"dsr_if"``, ``"dsr_lif"``).
    T : int, optional
        Expected number of steps; ``x_seq.shape[0]`` is always what runs, and a given ``T``
        that disagrees with it raises ``ValueError``.
    v_threshold_training : bool
        Hold the threshold as an ``nn.Parameter`` (else a buffer).
    lower_bound : {"clamp", "project"}
        ``"clamp"`` (default, as spikingjelly 2.0): the effective threshold is
        ``max(v_threshold, lower_bound)`` inside the graph, the parameter is never changed;
        ``"project"`` (the authors' code): the parameter itself is set to
        ``max(v_threshold, lower_bound)`` in place before every forward.
    step_mode : str
        Only ``"m"`` (multi-step).
    **params
        The surrogate's parameters (``v_threshold`` its initial value).
    """

    def __init__(self, name: str, *, T: int | None = None, v_threshold_training: bool = True,
                 lower_bound: str = "clamp", step_mode: str = "m", **params: Any) -> None:
        super().__init__()
        if step_mode != "m":
            raise ValueError(f"{name}: step_mode must be 'm' (multi-step: the surrogate acts "
                             f"on the whole [T, ...] sequence), got {step_mode!r}")
        if lower_bound not in _LOWER_BOUND_MODES:
            raise ValueError(f"lower_bound must be one of {_LOWER_BOUND_MODES}, got "
                             f"{lower_bound!r}")
        if T is not None and (not isinstance(T, int) or isinstance(T, bool) or T < 1):
            raise ValueError(f"T must be None or a positive int, got {T!r}")
        bound = _bound(name, params)
        v = bound.params["v_threshold"]
        if isinstance(v, torch.Tensor):
            v = float(v.detach())
        lb = bound.params["v_threshold_lower_bound"]
        if v < lb:
            raise ValueError(f"{bound.name}: v_threshold must be >= v_threshold_lower_bound "
                             f"({lb}), got {v}")
        self._static = bound.replace(v_threshold=v)
        self._calls = 0
        self.T = T
        self.step_mode = step_mode
        self.lower_bound = lower_bound
        tensor = torch.tensor(v, dtype=torch.get_default_dtype())
        if v_threshold_training:
            self.v_threshold = torch.nn.Parameter(tensor)
        else:
            self.register_buffer("v_threshold", tensor)

    @property
    def bound(self) -> MultiStepBound:
        """The bound surrogate with the module's current threshold."""
        items = tuple((k, self.v_threshold if k == "v_threshold" else val)
                      for k, val in self._static.param_items)
        return MultiStepBound(self._static.entry, items)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if self.T is not None and x_seq.ndim >= 1 and x_seq.shape[0] != self.T:
            raise ValueError(f"{self._static.name}: the sequence has {x_seq.shape[0]} steps "
                             f"(x_seq.shape[0]) but the layer was built with T={self.T}; "
                             "pass T=None to take the steps from the input")
        if self.lower_bound == "project":
            with torch.no_grad():
                self.v_threshold.clamp_(min=self._static.params["v_threshold_lower_bound"])
        bound = self.bound
        if not torch.compiler.is_compiling():  # (a count would be guarded on there)
            self._calls += 1
            bound.check_array_values(f"{type(self).__name__} call {self._calls}")
        return _adapter.apply(bound, x_seq)

    def reset(self) -> None:
        """No state is kept between calls (for ``functional.reset_net``-style code)."""

    #: The one definition a subclass serves (its repr then leaves the name out, as its
    #: constructor does); ``None`` for this class, which takes a name.
    fixed_name: str | None = None

    def extra_repr(self) -> str:
        """The name (unless the class fixes it), ``T``, the current threshold and every
        other parameter, whether the threshold trains, and the lower-bound mode."""
        parts = [] if self.fixed_name is not None else [repr(self._static.name)]
        parts.append(f"T={self.T}")
        parts.append(f"v_threshold={param_text(self.v_threshold)}")
        parts += [f"{k}={v!r}" for k, v in self._static.static_params.items()]
        trains = isinstance(self.v_threshold, torch.nn.Parameter)
        parts += [f"v_threshold_training={trains}", f"lower_bound={self.lower_bound!r}"]
        return ", ".join(parts)


class DSRIFNode(MultiStepNode):
    """DSR-IF neuron layer with spikingjelly's ``DSRIFNode`` arguments (``T`` optional)."""

    fixed_name = "dsr_if"

    def __init__(self, T: int | None = None, v_threshold: float = 6.0, alpha: float = 0.5,
                 v_threshold_training: bool = True, v_threshold_grad_scaling: float = 1.0,
                 v_threshold_lower_bound: float = 0.01, step_mode: str = "m", *,
                 lower_bound: str = "clamp", **kwargs: Any) -> None:
        _accept_backend(kwargs)
        super().__init__("dsr_if", T=T, v_threshold_training=v_threshold_training,
                         lower_bound=lower_bound, step_mode=step_mode,
                         v_threshold=v_threshold, alpha=alpha,
                         v_threshold_grad_scaling=v_threshold_grad_scaling,
                         v_threshold_lower_bound=v_threshold_lower_bound)


class DSRLIFNode(MultiStepNode):
    """DSR-LIF neuron layer with spikingjelly's ``DSRLIFNode`` arguments (``T`` optional),
    plus ``threshold_grad_factor`` (``"dt"`` as spikingjelly, or ``"1/dt"``)."""

    fixed_name = "dsr_lif"

    def __init__(self, T: int | None = None, v_threshold: float = 1.0, tau: float = 2.0,
                 delta_t: float = 0.05, alpha: float = 0.3, v_threshold_training: bool = True,
                 v_threshold_grad_scaling: float = 1.0, v_threshold_lower_bound: float = 0.1,
                 step_mode: str = "m", *, lower_bound: str = "clamp",
                 threshold_grad_factor: str = "dt", **kwargs: Any) -> None:
        _accept_backend(kwargs)
        super().__init__("dsr_lif", T=T, v_threshold_training=v_threshold_training,
                         lower_bound=lower_bound, step_mode=step_mode,
                         v_threshold=v_threshold, tau=tau, delta_t=delta_t, alpha=alpha,
                         v_threshold_grad_scaling=v_threshold_grad_scaling,
                         v_threshold_lower_bound=v_threshold_lower_bound,
                         threshold_grad_factor=threshold_grad_factor)


def _accept_backend(kwargs: dict[str, Any]) -> None:
    """spikingjelly's ``backend="torch"`` is accepted; anything else is an error."""
    backend = kwargs.pop("backend", "torch")
    if backend != "torch":
        raise ValueError(f"backend must be 'torch' (spikegrad picks its own kernels), got "
                         f"{backend!r}")
    if kwargs:
        raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
