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

Number parameters are static (host constants); array parameters (jax arrays, tracers under
``jit``/``grad``/``vmap``) are traced arguments of the custom derivative, and receive
``Σ G ∂g(x; θ)/∂θ``, the tangent of the spec's primitive in θ (JAX transposes it and sums
over broadcast dimensions).  float16/bfloat16 are computed in float32 and
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
from .._arrays import framework_of
from .._evaluate import (
    check_param_shapes,
    derivative_compute,
    differentiable_derivative,
    forward_compute,
    primitive_compute,
)
from .._spec import Bound
from .jax_arrays import check_array, exact_namespace
from .jax_arrays import compute as _compute
from .jax_multistep import apply as _multistep_apply

__all__ = ["check_array", "derivative", "exact_namespace", "function_for", "multistep",
           "primitive", "spike"]


def _overrides(bound: Bound, params: tuple[Any, ...]) -> dict[str, Any] | None:
    names = bound.array_param_names
    return dict(zip(names, params, strict=False)) if names else None


def _array_values(bound: Bound) -> tuple[Any, ...]:
    return tuple(jnp.asarray(v) for v in bound.array_values)


def derivative(bound: Bound, x: jax.Array, key: Any = None,
               params: tuple[Any, ...] | None = None) -> jax.Array:
    """``g'(x)`` with jax ops, in ``x``'s dtype (differentiable in ``x`` and in array
    parameters; its own derivative is finite at ±inf)."""
    params = _array_values(bound) if params is None else params
    if key is None:
        key = jnp.zeros((), dtype=x.dtype)  # placeholder operand, never read
    return _dprime(_Static(bound), x, key, params)


def primitive(bound: Bound, x: jax.Array, params: tuple[Any, ...] | None = None) -> jax.Array:
    """``g(x)`` with jax ops, in ``x``'s dtype (differentiable in array parameters)."""
    params = _array_values(bound) if params is None else params
    return primitive_compute(bound, _compute(x), jnp, _overrides(bound, params)
                             ).astype(x.dtype)


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


def _forward(bound: Bound, x: jax.Array, key: Any, params: tuple[Any, ...]) -> jax.Array:
    kind = bound.forward_kind
    if kind in ("ge", "gt"):
        return _heaviside(x, kind == "gt")
    return forward_compute(bound, _compute(x), jnp, key, _overrides(bound, params)
                           ).astype(x.dtype)


class _Static:
    """The hashable, static part of a bound surrogate: its definition and its number
    parameters (array parameters are traced arguments)."""

    __slots__ = ("entry", "items", "names")

    def __init__(self, bound: Bound) -> None:
        self.entry = bound.entry
        self.names = bound.array_param_names
        self.items = bound.static_items

    def bound(self, params: tuple[Any, ...]) -> Bound:
        values = dict(zip(self.names, params, strict=False))
        return Bound(self.entry, tuple((k, values.get(k, v)) for k, v in self.items))

    def __hash__(self) -> int:
        return hash((id(self.entry), self.items, self.names))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Static) and other.entry is self.entry
                and other.items == self.items and other.names == self.names)




def _is_zero(t: Any) -> bool:
    return isinstance(t, jax.custom_derivatives.SymbolicZero)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _dprime(static: _Static, x: jax.Array, key: Any, params: tuple[Any, ...]) -> jax.Array:
    """``g'(x)``: the plain formula (first order costs nothing more), whose own tangent
    comes from :func:`differentiable_derivative`, finite at ±inf (Hessians, g'')."""
    bound = static.bound(params)
    return derivative_compute(bound, _compute(x), exact_namespace, key,
                              _overrides(bound, params)).astype(x.dtype)


@_dprime.defjvp
def _dprime_jvp(static: _Static, primals: tuple[Any, ...], tangents: tuple[Any, ...]
                ) -> tuple[Any, Any]:
    x, key, params = primals
    x_dot, _, p_dots = tangents

    def safe(x_: jax.Array, *ps: Any) -> jax.Array:
        b = static.bound(ps)
        return differentiable_derivative(b, _compute(x_), jnp, key, _overrides(b, ps),
                                         jax.lax.stop_gradient).astype(x_.dtype)

    return jax.jvp(safe, (x, *params), (x_dot, *p_dots))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _spike(static: _Static, x: jax.Array, key: Any, params: tuple[Any, ...]) -> jax.Array:
    return _forward(static.bound(params), x, key, params)


def _spike_jvp(static: _Static, primals: tuple[Any, ...], tangents: tuple[Any, ...]
               ) -> tuple[Any, Any]:
    x, key, params = primals
    x_dot, _, p_dots = tangents
    bound = static.bound(params)
    out = _spike(static, x, key, params)
    live = [not _is_zero(t) for t in p_dots]
    if any(live) and not bound.has_primitive:
        raise NotImplementedError(
            f"{bound.name} has no primitive g, so its parameters "
            f"({', '.join(bound.array_param_names)}) have no gradient")
    # ∂g/∂θ_j, one forward-mode pass per live parameter (a unit tangent in θ_j), computed
    # with g'(x) and kept apart from the products below (an optimization barrier): XLA
    # then evaluates them in one elementwise loop and the transposed sums read finished
    # arrays, instead of re-evaluating the formula inside a reduction (several times
    # slower on CPU).
    partials = []
    for j, ok in enumerate(live):
        if ok:
            unit = tuple(jnp.ones_like(p) if i == j else jnp.zeros_like(p)
                         for i, p in enumerate(params))
            partials.append((j, jax.jvp(lambda *ps: primitive(bound, x, ps), params, unit)[1]))
    dprime = derivative(bound, x, key, params) if not _is_zero(x_dot) else None
    if partials:
        dprime, kept = jax.lax.optimization_barrier((dprime, [d for _, d in partials]))
        partials = list(zip([j for j, _ in partials], kept, strict=True))
    tangent = None if dprime is None else dprime * x_dot
    for j, d in partials:
        dp = d * p_dots[j]
        tangent = dp if tangent is None else tangent + dp
    if tangent is None:
        tangent = jnp.zeros_like(out)
    return out, tangent.astype(out.dtype)


_spike.defjvp(_spike_jvp, symbolic_zeros=True)


def function_for(bound: Bound) -> Any:
    """The spike function ``f(x, key)`` of ``bound`` (a ``custom_jvp`` in ``x`` and in its
    array parameters)."""
    static = _Static(bound)
    params = _array_values(bound)

    def spike_fn(x: jax.Array, key: Any = None) -> jax.Array:
        if key is None:
            key = jnp.zeros((), dtype=x.dtype)  # placeholder operand, never read
        return _spike(static, x, key, params)

    spike_fn.__name__ = bound.name.replace(":", "_")
    spike_fn.__doc__ = f"Spike with the {bound!r} surrogate gradient."
    return spike_fn


def spike(bound: Bound, x: Any, key: Any = None) -> jax.Array:
    """Spike of ``x`` with ``bound``'s surrogate gradient (differentiable in jax, in ``x``
    and in array parameters)."""
    x = check_array(x)
    for name, p in zip(bound.array_param_names, bound.array_values, strict=False):
        mod = framework_of(p)
        if mod not in ("jax", "numpy"):
            raise TypeError(f"{bound.name}: parameter {name} is a {mod} array; give jax "
                            "arrays (or numbers) with jax input")
    check_param_shapes(bound, x.shape)
    if key is None:
        if bound.stochastic:
            special.uniform(None, x, x.dtype, jnp)  # raises the clear "pass key=" error
        key = jnp.zeros((), dtype=x.dtype)  # placeholder operand, never read
    return _spike(_Static(bound), x, key, _array_values(bound))



def multistep(bound: Any, x: Any) -> jax.Array:
    """The output sequence of multi-step surrogate ``bound`` over ``x`` (``[T, ...]``),
    differentiable in ``x`` and in a traced threshold."""
    return _multistep_apply(bound, x)
