"""Multi-step surrogates: a spiking recurrence over a ``[T, ...]`` sequence (time first)
whose backward is the derivative of a spike *representation* (a firing rate), written once.

A :class:`RateFormula` holds the pieces that differ between such neurons, as array-API
functions of elementwise arrays: how the membrane integrates an input step, the value a
spike carries, the per-step weights of the rate, and the derivatives of the
representation with respect to the rate and the threshold.  Everything else is shared and
fixed here, once, for every binding:

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

from ._spec import Param, _param_key, is_array_param

__all__ = ["MultiStepBound", "MultiStepEntry", "RateFormula", "backward_compute",
           "effective_threshold", "forward_compute", "step", "threshold_scale",
           "time_weights"]

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
class MultiStepEntry:
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

    def __reduce__(self) -> Any:
        from . import _registry

        if _registry.multistep_entries().get(self.name) is self:
            return (_registry.entry, (self.name,))
        return (_rebuild, ({f: getattr(self, f) for f in self.__dataclass_fields__},))

    def __repr__(self) -> str:
        return f"<spikegrad multi-step surrogate {self.name!r}>"

    multistep = True
    is_alias = False
    user = False

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def bind(self, **params: Any) -> MultiStepBound:
        """Validate ``params`` and return a :class:`MultiStepBound`."""
        known = {p.name: p for p in self.params}
        unknown = [k for k in params if k not in known]
        if unknown:
            raise TypeError(f"{self.name}: unexpected parameter {unknown[0]!r}; its "
                            f"parameters are: {', '.join(known)}")
        values = tuple((p.name, p.validate(self.name, params.get(p.name, p.default)))
                       for p in self.params)
        return MultiStepBound(self, values)


def _rebuild(fields_: dict[str, Any]) -> MultiStepEntry:
    return MultiStepEntry(**fields_)


@dataclass(frozen=True, eq=False)
class MultiStepBound:
    """A multi-step surrogate with validated parameter values.

    ``v_threshold`` may be a number or an array (a learnable threshold: a tensor, a jax
    array or tracer), 0-d; the other parameters are numbers.  Equality and hashing use the
    definition's identity and the values (arrays by identity).
    """

    entry: MultiStepEntry
    param_items: tuple[tuple[str, Any], ...]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MultiStepBound):
            return NotImplemented
        return self.entry is other.entry and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((id(self.entry), self._key()))

    def _key(self) -> tuple[Any, ...]:
        return tuple((k, _param_key(v)) for k, v in self.param_items)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" if not is_array_param(v) else f"{k}=<array>"
                          for k, v in self.param_items)
        return f"<spikegrad.get({self.entry.name!r}, {shown})>"

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def formula(self) -> RateFormula:
        return self.entry.formula

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.param_items)

    @property
    def static_params(self) -> dict[str, Any]:
        """Every parameter but the threshold (all numbers or choices)."""
        return {k: v for k, v in self.param_items if k != "v_threshold"}

    def replace(self, **params: Any) -> MultiStepBound:
        return self.entry.bind(**{**self.params, **params})

    @property
    def references(self) -> tuple[str, ...]:
        from ._references import texts

        return texts(self.entry.references)

    def cite(self) -> str:
        """BibTeX entries of the papers this surrogate comes from."""
        from ._references import cite

        return cite(self.entry.references)

    def forward(self, x: Any) -> Any:
        """The output sequence ``y`` of the ``[T, ...]`` input ``x`` (any array-API
        array; the reference engine, no gradient)."""
        from ._multistep_engine import reference_forward

        return reference_forward(self, x)

    def backward(self, x: Any, grad: Any) -> tuple[Any, Any]:
        """``(dL/dx, dL/dv_threshold)`` for upstream gradient ``grad`` (reference
        engine); the threshold gradient is 0 where ``v_threshold`` is below its lower
        bound."""
        from ._multistep_engine import reference_backward

        return reference_backward(self, x, grad)

    def spike(self, x: Any) -> Any:
        """The output sequence with this surrogate's gradient in ``x``'s framework."""
        from ._dispatch import multistep

        return multistep(self, x)


# -- the shared rule, on any array-API namespace ----------------------------------------------
def effective_threshold(v: Any, lower_bound: float, xp: Any) -> Any:
    """``max(v, lower_bound)``; for arrays a select whose gradient passes where
    ``v >= lower_bound``."""
    if not is_array_param(v):
        return max(float(v), lower_bound)
    return xp.where(v < lower_bound, xp.asarray(lower_bound, dtype=v.dtype), v)


def step(bound: MultiStepBound, m: Any, x_t: Any, v: Any, xp: Any) -> tuple[Any, Any]:
    """One step of the recurrence: ``(m, x_t) -> (m_next, y_t)``; ``v`` is a 0-d array in
    the compute dtype."""
    p = bound.static_params
    f = bound.formula
    m = f.integrate(m, x_t, xp=xp, **p)
    fired = m >= p["alpha"] * v
    y = xp.where(fired, f.spike_value(v, xp=xp, **p), xp.zeros_like(m))
    return xp.where(fired, m - v, m), y


def forward_compute(bound: MultiStepBound, x: Any, v: Any, xp: Any) -> Any:
    """The output sequence of ``x`` (compute dtype) by the recurrence, step by step."""
    m = xp.zeros_like(x[0])
    ys = []
    for t in range(x.shape[0]):
        m, y = step(bound, m, x[t], v, xp)
        ys.append(y)
    return xp.stack(ys)


def time_weights(bound: MultiStepBound, steps: int) -> tuple[float, ...] | None:
    """The rate's per-step weights (Python floats, oldest first), or ``None`` (mean)."""
    fn = bound.formula.time_weights
    return None if fn is None else tuple(float(w) for w in fn(steps, **bound.static_params))


def threshold_scale(bound: MultiStepBound, steps: int) -> float:
    """The factor on ``sum(gbar * da/dV)`` that gives ``dL/dV``:
    ``v_threshold_grad_scaling * T`` (every binding and kernel applies it here)."""
    return bound.params["v_threshold_grad_scaling"] * steps


def _rate(a: Any, weights: tuple[float, ...] | None, xp: Any) -> Any:
    """``sum_t w_t a_t / sum_t w_t`` (the mean without weights): one division, correctly
    rounded (``xp.divide``: a binding whose compiler rewrites divisions supplies an exact
    one)."""
    if weights is None:
        return xp.divide(xp.sum(a, axis=0), float(a.shape[0]))
    w = xp.reshape(xp.asarray(weights, dtype=a.dtype), (len(weights),) + (1,) * (a.ndim - 1))
    return xp.divide(xp.sum(w * a, axis=0), xp.sum(w))


def backward_compute(bound: MultiStepBound, x: Any, grad: Any, v: Any, xp: Any,
                     expand: bool = True) -> tuple[Any, Any]:
    """``(dL/dx, dL/dV)`` in the compute dtype of ``x``; ``dL/dV`` is a 0-d array
    (accumulated in float64 where the namespace has it, then cast).  With
    ``expand=False`` the per-element input gradient (one step's) is returned instead of
    the ``[T, ...]`` array."""
    p = bound.static_params
    steps = x.shape[0]
    weights = time_weights(bound, steps)
    r = _rate(x, weights, xp)
    gbar = _rate(grad, weights, xp)
    da_dr, da_dv = bound.formula.rate_gradients(r, v, xp=xp, **p)
    nan = xp.isnan(r)
    gx = xp.where(nan, r, gbar * da_dr)
    contrib = xp.where(nan, r, gbar * da_dv)
    wide = getattr(xp, "float64", None)
    total = xp.sum(xp.astype(contrib, wide)) if wide is not None and _has_x64(xp) \
        else xp.sum(contrib)
    gv = xp.astype(total * threshold_scale(bound, steps), x.dtype)
    if expand:
        gx = xp.broadcast_to(xp.expand_dims(gx, axis=0), x.shape)
    return gx, gv


def _has_x64(xp: Any) -> bool:
    name = getattr(xp, "__name__", "")
    if "jax" in name:
        import jax

        return bool(jax.config.jax_enable_x64)
    return True


def check_sequence(name: str, x: Any) -> None:
    """A multi-step input has a time axis first."""
    if len(getattr(x, "shape", ())) < 1:
        raise ValueError(f"{name}: the input is a sequence [T, ...] with time first; got a "
                         "0-d array")
    if x.shape[0] < 1:
        raise ValueError(f"{name}: the sequence has no time step (x.shape[0] == 0)")
