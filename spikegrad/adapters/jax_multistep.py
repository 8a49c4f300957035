"""jax binding of the multi-step surrogates (DSR-IF, DSR-LIF, ...).

The recurrence of :mod:`spikegrad._multistep` runs as ``lax.scan`` over the time axis; a
``jax.custom_vjp`` gives the rule's gradients for the input and the (traced) threshold.
The threshold gradient is a plain sum over the elements: under a sharded batch, XLA
inserts the cross-device reduction itself; there is no collective in the rule.  Works
under ``jit``, ``grad``, ``vjp`` and ``vmap``; float16/bfloat16 are computed in float32.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from .._arrays import is_array_param
from .._multistep import MultiStepBound
from .._multistep_engine import backward_compute, check_sequence, step
from .._multistep_engine import effective_threshold as _effective
from .jax_arrays import check_array, exact_namespace
from .jax_arrays import compute as _compute

__all__ = ["apply", "effective_threshold", "exact_namespace"]




class _Static:
    """The hashable static part of a bound (its definition and number parameters)."""

    def __init__(self, bound: MultiStepBound) -> None:
        self.entry = bound.entry
        self.items = tuple((k, None if k == "v_threshold" else v)
                           for k, v in bound.param_items)

    def bound(self) -> MultiStepBound:
        return MultiStepBound(self.entry, self.items)

    def __hash__(self) -> int:
        return hash((id(self.entry), self.items))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and other.entry is self.entry \
            and other.items == self.items


def _forward(bound: MultiStepBound, x: jax.Array, v: jax.Array) -> jax.Array:
    def body(m: jax.Array, x_t: jax.Array) -> tuple[jax.Array, jax.Array]:
        return step(bound, m, x_t, v, exact_namespace)

    _, ys = jax.lax.scan(body, jnp.zeros_like(x[0]), x)
    return ys


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _multistep(static: _Static, x: jax.Array, v: jax.Array) -> jax.Array:
    return _forward(static.bound(), x, v)


def _fwd(static: _Static, x: jax.Array, v: jax.Array) -> tuple[jax.Array, Any]:
    return _forward(static.bound(), x, v), (x, v)


def _bwd(static: _Static, res: Any, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, v = res
    gx, gv = backward_compute(static.bound(), x, g.astype(x.dtype), v, exact_namespace)
    return gx, jnp.reshape(gv, v.shape).astype(v.dtype)


_multistep.defvjp(_fwd, _bwd)


def effective_threshold(bound: MultiStepBound, dtype: Any) -> jax.Array:
    """``max(v_threshold, lower_bound)`` as a 0-d array of ``dtype`` (differentiable in
    an array threshold where ``v_threshold >= lower_bound``)."""
    v = bound.params["v_threshold"]
    lb = bound.params["v_threshold_lower_bound"]
    if is_array_param(v):
        v = jnp.asarray(v)
        if v.ndim != 0:
            raise ValueError(f"{bound.name}: v_threshold must be 0-d (one threshold per "
                             f"layer), got shape {v.shape}")
        return _effective(v, lb, jnp).astype(dtype)
    return jnp.asarray(max(float(v), lb), dtype=dtype)


def apply(bound: MultiStepBound, x: Any) -> jax.Array:
    """The output sequence of ``x`` (``[T, ...]``, time first) in ``x``'s dtype."""
    x = check_array(x)
    check_sequence(bound.name, x)
    xc = _compute(x)
    y = _multistep(_Static(bound), xc, effective_threshold(bound, xc.dtype))
    return y.astype(x.dtype)
