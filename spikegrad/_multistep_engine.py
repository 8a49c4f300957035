"""The reference engine for multi-step surrogates, on any array-API namespace.

The forward runs the recurrence in the compute dtype (the input's; float32 for
float16/bfloat16), the arithmetic every binding uses, so its spikes are the bits every
adapter must reproduce.  The backward is computed in float64 (where the namespace has it)
and rounded once, so its only error is the rule's own.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from ._arrays import is_array_param
from ._evaluate import _astype, check_real_float, compute_dtype_for, namespace_of, quiet

if TYPE_CHECKING:
    from ._multistep import MultiStepBound

__all__ = ["backward_compute", "check_sequence", "effective_threshold",
           "forward_compute", "reference_backward", "reference_forward", "step",
           "threshold_scale", "time_weights"]


def _threshold(bound: MultiStepBound, xp: Any, dtype: Any) -> tuple[Any, bool]:
    """(effective threshold as a 0-d array of ``dtype``, whether it is clamped)."""
    v = bound.params["v_threshold"]
    lb = bound.params["v_threshold_lower_bound"]
    if is_array_param(v):
        # the reference engine reads the value on the host
        v = float(v.detach().cpu()) if hasattr(v, "detach") else float(np.asarray(v))
    return xp.asarray(effective_threshold(v, lb, xp), dtype=dtype), v < lb


def _prepare(bound: MultiStepBound, x: Any) -> tuple[Any, Any]:
    xp = namespace_of(x)
    check_real_float(x, xp)
    check_sequence(bound.name, x)
    return xp, compute_dtype_for(xp, x.dtype)


def reference_forward(bound: MultiStepBound, x: Any) -> Any:
    """The output sequence of ``x`` in ``x``'s dtype."""
    xp, dt = _prepare(bound, x)
    v, _ = _threshold(bound, xp, dt)
    with quiet(xp):
        y = forward_compute(bound, _astype(x, dt, xp), v, xp)
    return _astype(y, x.dtype, xp)


def reference_backward(bound: MultiStepBound, x: Any, grad: Any) -> tuple[Any, Any]:
    """``(dL/dx in x's dtype, dL/dv_threshold as a 0-d float64 array)``."""
    xp, _ = _prepare(bound, x)
    if tuple(grad.shape) != tuple(x.shape):
        raise ValueError(f"{bound.name}: grad has shape {tuple(grad.shape)}, x has "
                         f"{tuple(x.shape)}")
    wide = getattr(xp, "float64", None) or xp.float32
    v, clamped = _threshold(bound, xp, wide)
    with quiet(xp):
        gx, gv = backward_compute(bound, _astype(x, wide, xp), _astype(grad, wide, xp), v, xp)
    if clamped:
        gv = gv * 0.0
    return _astype(gx, x.dtype, xp), gv


# -- the recurrence and the rate rule, on any array-API namespace ------------------------
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
    """Whether float64 computes as float64 in ``xp`` (jax without x64 has no float64;
    a jax namespace means jax is already imported)."""
    if "jax" in getattr(xp, "__name__", ""):
        return bool(sys.modules["jax"].config.jax_enable_x64)
    return True


def check_sequence(name: str, x: Any) -> None:
    """A multi-step input has a time axis first."""
    if len(getattr(x, "shape", ())) < 1:
        raise ValueError(f"{name}: the input is a sequence [T, ...] with time first; got a "
                         "0-d array")
    if x.shape[0] < 1:
        raise ValueError(f"{name}: the sequence has no time step (x.shape[0] == 0)")
