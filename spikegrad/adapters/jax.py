"""The jax adapter: every registered surrogate as a ``jax.custom_jvp`` function.

Binding choice: ``custom_jvp``.  The tangent rule ``ẋ ↦ g'(x) ẋ`` is linear in ``ẋ``, so
JAX derives reverse mode by transposition; one definition therefore serves ``jit``,
``grad``/``vjp``/``jacrev``, ``jvp``/``jacfwd``, ``vmap`` (both orders with ``grad``),
``lax.scan``, ``lax.cond``, ``checkpoint`` and sharded ``jit``/``shard_map``, none of which
needs a custom batching or partitioning rule because the body is ordinary ``jax.numpy``.
``custom_vjp`` would give no forward mode; a new primitive would need hand-written
batching, lowering and transpose rules for every backend.  The rule is written with
``jax.numpy`` ops, so second derivatives (``jax.hessian``) differentiate ``g'`` and give
``g''(x)``.

Parameters are Python floats baked into the function (cached per bound surrogate), never
arrays: nothing is traced, nothing leaks.  float16/bfloat16 are computed in float32 and
rounded once; the spike keeps the input dtype.

Subnormals: XLA's CPU backend flushes subnormal floats to zero (denormals-are-zero on
inputs, flush-to-zero on results).  The spike is decided on the bits of ``x`` so it stays
exact (``-1e-45`` does not fire); the derivative at a subnormal input is the derivative at
the signed zero, and results within a few multiples of the smallest normal float may be
flushed to zero.  float16 inputs are computed in float32, where their subnormals are
normal numbers, and are not affected.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import special
from .._evaluate import evaluate_formula
from .._spec import Bound

__all__ = ["check_array", "derivative", "function_for", "primitive", "spike"]

_HALF = (jnp.float16, jnp.bfloat16)


def check_array(x: Any, what: str = "x") -> jax.Array:
    """Return ``x`` as a jax array, or raise ``TypeError`` with the fix."""
    mod = type(x).__module__.split(".")[0]
    if mod not in ("jax", "jaxlib", "numpy") and not isinstance(x, jax.Array):
        raise TypeError(
            f"the jax adapter takes jax (or numpy) arrays, got {mod}.{type(x).__name__}; "
            f"convert it first, e.g. jnp.asarray(np.asarray({what})) or jax.dlpack.from_dlpack"
        )
    if isinstance(x, (bool, int, float, complex)):
        raise TypeError(f"expected an array, got {type(x).__name__}; wrap it with jnp.asarray")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{what} has dtype {x.dtype}; surrogate gradients need a real floating array "
            "(float16, bfloat16, float32 or float64): cast it first, e.g. "
            f"{what}.astype(jnp.float32)"
        )
    return x


def _compute(x: jax.Array) -> jax.Array:
    return x.astype(jnp.float32) if x.dtype in _HALF else x


def _values(fn: Any, x: jax.Array, params: dict[str, Any], scale: float) -> jax.Array:
    return evaluate_formula(fn, _compute(x), jnp, params, scale).astype(x.dtype)


def derivative(bound: Bound, x: jax.Array, key: Any = None) -> jax.Array:
    """``g'(x)`` with jax ops, in ``x``'s dtype."""
    params = bound.formula_params
    if bound.formula.stochastic_backward:
        params["noise"] = special.uniform(key, _compute(x), _compute(x).dtype, jnp)
    return _values(bound.formula.derivative, x, params, bound.scale)


def primitive(bound: Bound, x: jax.Array) -> jax.Array:
    """``g(x)`` with jax ops, in ``x``'s dtype."""
    if bound.formula.primitive is None:
        raise NotImplementedError(f"{bound.name} has no primitive g")
    return _values(bound.formula.primitive, x, bound.formula_params, bound.scale)


_UINT = {2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}


def _heaviside(x: jax.Array, strict: bool) -> jax.Array:
    """``1[x >= 0]`` (or ``1[x > 0]``) decided on the bits: XLA's CPU backend treats
    subnormal inputs as zero in comparisons, which would fire on -1e-45.  As unsigned
    integers, ``x >= 0`` is ``bits <= bits(+inf)`` (sign clear, not NaN) or ``-0.0``."""
    utype = _UINT[x.dtype.itemsize]
    u = jax.lax.bitcast_convert_type(x, utype)
    inf_bits = np.array(np.inf, dtype=x.dtype).view(utype)[()]  # typed host constants
    if strict:
        return ((u > utype(0)) & (u <= inf_bits)).astype(x.dtype)
    sign_bit = utype(1 << (8 * x.dtype.itemsize - 1))
    return ((u <= inf_bits) | (u == sign_bit)).astype(x.dtype)


def _forward(bound: Bound, x: jax.Array, key: Any) -> jax.Array:
    kind = bound.forward_kind
    if kind in ("ge", "gt"):
        return _heaviside(x, kind == "gt")
    xc = _compute(x)
    if kind == "formula":
        return bound.formula.forward(xc, xp=jnp, **bound.formula_params).astype(x.dtype)
    u = special.uniform(key, xc, xc.dtype, jnp)
    p = xc if kind == "bernoulli_input" else _values(bound.formula.primitive, xc,
                                                     bound.formula_params, bound.scale)
    return (u < p).astype(x.dtype)


@functools.lru_cache(maxsize=2048)
def function_for(bound: Bound) -> Any:
    """The ``custom_jvp`` spike function ``f(x, key)`` of ``bound`` (cached)."""

    @jax.custom_jvp
    def spike_fn(x: jax.Array, key: Any) -> jax.Array:
        return _forward(bound, x, key)

    @spike_fn.defjvp
    def _jvp(primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
        x, key = primals
        x_dot, _ = tangents
        return spike_fn(x, key), derivative(bound, x, key) * x_dot

    spike_fn.__name__ = bound.name.replace(":", "_")
    spike_fn.__doc__ = f"Spike with the {bound!r} surrogate gradient."
    return spike_fn


def spike(x: Any, bound: Bound, key: Any = None) -> jax.Array:
    """Spike of ``x`` with ``bound``'s surrogate gradient (differentiable in jax)."""
    x = check_array(x)
    if key is None:
        if bound.stochastic:
            special.uniform(None, x, x.dtype, jnp)  # raises the clear "pass key=" error
        key = jnp.zeros((), dtype=x.dtype)  # placeholder operand, never read
    return function_for(bound)(x, key)
