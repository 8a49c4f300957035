"""Multi-step surrogates: a spiking recurrence over a ``[T, ...]`` sequence (time first)
whose backward is the derivative of a spike *representation* (a firing rate), written once.

A :class:`RateFormula` holds the pieces that differ between such neurons, as array-API
functions of elementwise arrays: how the membrane integrates an input step, the value a
spike carries, the per-step weights of the rate, and the derivatives of the
representation with respect to the rate and the threshold.  Everything else is shared and
fixed once, for every binding, in :mod:`spikegrad._multistep_engine` (the recurrence and the
rate rule live there, with the reference engine; this module holds the values):

Divisions in these functions are written ``xp.divide`` (correctly rounded IEEE division;
the jax binding passes a namespace that restores it where XLA would multiply by a
reciprocal).

* forward: ``m_0 = 0``; for each step ``m = integrate(m, x_t)``; a spike where
  ``m >= alpha * V`` (``alpha * V`` one product in the compute dtype), ``y_t = spike_value(V)``
  there and 0 elsewhere; soft reset ``m = m - V`` where it spiked.  Fixed arithmetic in a
  fixed order, so every adapter and kernel gives the same bits.
* backward: the rate ``r = sum_t w_t x_t / sum_t w_t`` and likewise the mean upstream
  gradient ``gbar``; ``dL/dx_t = gbar * da/dr(r, V)`` (the same for every step) and
  ``dL/dV = v_threshold_grad_scaling * T * sum(gbar * da/dV(r, V))``, a sum over every
  element, accumulated in float64.  No collective: reducing over devices or processes is
  the framework's job (DDP averages it like any other parameter's gradient).
* the effective threshold is ``V = max(v_threshold, v_threshold_lower_bound)``, applied by
  the bindings in the framework's graph (the gradient passes where
  ``v_threshold >= v_threshold_lower_bound``).

NaN in an input step makes that element's rate NaN, and its gradients NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import _dispatch
from ._arrays import is_array_param
from ._multistep_engine import reference_backward, reference_forward
from ._spec import BoundValue, Definition, Param

__all__ = ["COMMON", "MultiStepBound", "MultiStepEntry", "RateFormula"]

ArrayFn = Callable[..., Any]

#: Parameters every multi-step entry declares (their defaults differ per entry).
COMMON = ("v_threshold", "alpha", "v_threshold_grad_scaling", "v_threshold_lower_bound")


@dataclass(frozen=True, eq=False)
class RateFormula:
    """The mathematics of one multi-step surrogate of the spike-representation kind.

    Parameters
    ----------
    name : str
        Identifier of the formula.
    integrate : callable
        ``integrate(m, x_t, /, *, xp, **params)``: the membrane potential after step input
        ``x_t`` (before the spike test).
    spike_value : callable
        ``spike_value(v, /, *, xp, **params)``: the value a spike emits, given the
        threshold ``v`` (a 0-d array in the compute dtype).
    rate_gradients : callable
        ``rate_gradients(r, v, /, *, xp, **params) -> (da_dr, da_dv)``: derivatives of the
        representation with respect to the rate and the threshold, elementwise.
    time_weights : callable or None
        ``time_weights(T, **params)``: per-step weights of the rate as Python floats
        (oldest first); ``None`` for the plain mean.
    version : int
        Bumped whenever the math changes.
    """

    name: str
    integrate: ArrayFn
    spike_value: ArrayFn
    rate_gradients: ArrayFn
    time_weights: Callable[..., tuple[float, ...]] | None = None
    version: int = 1


@dataclass(frozen=True, eq=False)
class MultiStepEntry(Definition):
    """A multi-step surrogate definition (formula, parameters, metadata)."""

    name: str
    params: tuple[Param, ...]
    formula: RateFormula
    summary: str
    latex: dict[str, str] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [n for n in COMMON if n not in {p.name for p in self.params}]
        if missing:
            raise ValueError(f"{self.name}: a multi-step entry declares {missing}")

    def __repr__(self) -> str:
        return f"<spikegrad multi-step surrogate {self.name!r}>"

    multistep = True
    is_alias = False
    user = False


@dataclass(frozen=True, eq=False)
class MultiStepBound(BoundValue):
    """A multi-step surrogate with validated parameter values.

    ``v_threshold`` may be a number or an array (a learnable threshold: a tensor, a jax
    array or tracer), 0-d; the other parameters are numbers.  Equality and hashing use the
    definition's identity and the values (arrays by identity).
    """

    entry: MultiStepEntry
    param_items: tuple[tuple[str, Any], ...]

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" if not is_array_param(v) else f"{k}=<array>"
                          for k, v in self.param_items)
        return f"<spikegrad.get({self.entry.name!r}, {shown})>"

    @property
    def formula(self) -> RateFormula:
        return self.entry.formula

    @property
    def static_params(self) -> dict[str, Any]:
        """Every parameter but the threshold (all numbers or choices)."""
        return {k: v for k, v in self.param_items if k != "v_threshold"}

    def forward(self, x: Any) -> Any:
        """The output sequence ``y`` of the ``[T, ...]`` input ``x`` (any array-API
        array; the reference engine, no gradient)."""
        return reference_forward(self, x)

    def backward(self, x: Any, grad: Any) -> tuple[Any, Any]:
        """``(dL/dx, dL/dv_threshold)`` for upstream gradient ``grad`` (reference
        engine); the threshold gradient is 0 where ``v_threshold`` is below its lower
        bound."""
        return reference_backward(self, x, grad)

    def spike(self, x: Any) -> Any:
        """The output sequence with this surrogate's gradient in ``x``'s framework."""
        return _dispatch.multistep(self, x)


MultiStepEntry.bound_type = MultiStepBound
