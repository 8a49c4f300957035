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
over broadcast dimensions).  The one exception to "no primitive of its own": where array
parameters learn (float32/float64, one value or one per element, one CPU device), the
tangent is bound as a primitive whose transpose is the generated CPU kernel of the torch
binding, called as an XLA custom call (:mod:`spikegrad.adapters.jax_kernels`): XLA's CPU
backend computed ``grad_x``, the per-element ``G ∂g/∂θ`` and their sum in three passes.  Its
jvp, batching and non-CPU lowering rules are the same ``jax.numpy`` as everywhere else
(derived from :func:`_tangent`), so forward mode, ``vmap``, meta-gradients and other
backends are unchanged.  float16/bfloat16 are computed in float32 and
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
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

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
from ..codegen import cpu
from . import jax_kernels
from .jax_arrays import check_array, exact_namespace
from .jax_arrays import compute as _compute
from .jax_multistep import apply as _multistep_apply

__all__ = ["check_array", "derivative", "exact_namespace", "function_for", "multistep",
           "primitive", "spike"]


def _key(x: jax.Array) -> jax.Array:
    return jnp.zeros((), dtype=x.dtype)  # placeholder operand, never read


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
        key = _key(x)
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


def _tangent(static: _Static, x: jax.Array, key: Any, params: tuple[Any, ...],
             x_dot: Any, p_dots: tuple[Any, ...], dtype: Any) -> jax.Array:
    """The spike's tangent ``g'(x) ẋ + Σ_j ∂g/∂θ_j θ̇_j`` in ``jax.numpy`` (a symbolic zero
    or ``None`` among the tangents contributes nothing)."""
    bound = static.bound(params)
    live = [t is not None and not _is_zero(t) for t in p_dots]
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
        tangent = jnp.zeros(x.shape, dtype)
    return tangent.astype(dtype)


# -- the fused CPU parameter gradient ---------------------------------------------------
# Where array parameters learn, the tangent is one primitive, linear in (ẋ, θ̇), whose
# transpose is a second primitive: on CPU the generated kernel through an XLA custom call
# (spikegrad.adapters.jax_kernels: grad_x and every Σ G ∂g/∂θ in one pass), elsewhere (and
# under vmap, and for every derivative of it) the same jax.numpy as _tangent.  Both are
# derived from _tangent: the transpose's jax.numpy form is its vjp in the tangents.

def _split(args: tuple[Any, ...], n: int) -> tuple[Any, tuple[Any, ...], tuple[Any, ...]]:
    return args[0], tuple(args[1:1 + n]), tuple(args[1 + n:])


def _tangent_impl(*args: Any, static: _Static, live: tuple[bool, ...]) -> jax.Array:
    """``_tangent`` of ``(x, *params, ẋ, *θ̇ of the live parameters)``."""
    x, params, dots = _split(args, len(live))
    it = iter(dots[1:])
    p_dots = tuple(next(it) if ok else None for ok in live)
    return _tangent(static, x, _key(x), params, dots[0], p_dots, x.dtype)


def _cotangent_jnp(*args: Any, static: _Static) -> list[jax.Array]:
    """``(G g'(x), *Σ G ∂g/∂θ_j)`` of ``(x, *params, G)``: the transpose of
    :func:`_tangent` in its tangents, in ``jax.numpy``."""
    x, params, (ct,) = _split(args, len(args) - 2)
    ct = jnp.broadcast_to(ct, x.shape)  # a one-value cotangent stands for its broadcast
    live = (True,) * len(params)

    def lin(xd: jax.Array, *pds: jax.Array) -> jax.Array:
        return _tangent_impl(x, *params, xd, *pds, static=static, live=live)

    zeros = (jnp.zeros_like(x), *(jnp.zeros_like(p) for p in params))
    return list(jax.vjp(lin, *zeros)[1](ct))


def _cotangent_ffi(*args: Any, static: _Static) -> list[jax.Array]:
    """:func:`_cotangent_jnp` by the generated kernel (the CPU lowering)."""
    x, params, (ct,) = _split(args, len(args) - 2)
    one = ct.shape != x.shape  # a one-value cotangent (see _broadcast_source)
    layouts = tuple(_layout(p, x) for p in params)
    try:
        key, consts = jax_kernels.kernel_key(static.entry, static.items, str(x.dtype),
                                             layouts, one)
    except cpu.KERNEL_BUILD_ERRORS as exc:  # (what the torch binding falls back on too)
        jax_kernels.no_kernel(static.entry.name, exc)
        return _cotangent_jnp(*args, static=static)
    out = [jax.ShapeDtypeStruct(x.shape, x.dtype)] + [
        jax.ShapeDtypeStruct(x.shape if lay == "e" else (), x.dtype) for lay in layouts]
    gx, *gps = jax.ffi.ffi_call(jax_kernels.TARGET, out)(
        x, ct.astype(x.dtype), *(p if lay == "e" else p.reshape(())
                                 for p, lay in zip(params, layouts, strict=True)),
        key=np.int64(key), consts=np.asarray(consts, np.float64))
    return [gx, *(g.reshape(p.shape) for g, p in zip(gps, params, strict=True))]


_tangent_p = Primitive("spikegrad_spike_tangent")
_cotangent_p = Primitive("spikegrad_spike_cotangent")
_cotangent_p.multiple_results = True


def _tangent_aval(*avals: Any, static: _Static, live: tuple[bool, ...]) -> Any:
    return jax.core.ShapedArray(avals[0].shape, avals[0].dtype)


def _cotangent_aval(*avals: Any, static: _Static) -> list[Any]:
    return [jax.core.ShapedArray(a.shape, a.dtype) for a in avals[:-1]]


def _jvp_of(impl: Any) -> Any:
    def rule(primals: Any, tangents: Any, **kw: Any) -> Any:
        tangents = [ad.instantiate_zeros(t) for t in tangents]
        return jax.jvp(functools.partial(impl, **kw), tuple(primals), tuple(tangents))
    return rule


def _batch_of(impl: Any, multiple: bool) -> Any:
    def rule(args: Any, dims: Any, **kw: Any) -> Any:
        out = jax.vmap(functools.partial(impl, **kw), in_axes=tuple(dims))(*args)
        return out, ([0] * len(out) if multiple else 0)
    return rule


def _broadcast_source(ct: Any, x: Any) -> Any:
    """The one value ``ct`` is a broadcast of, where the trace shows it (``grad`` of a
    ``sum`` or ``mean`` under ``jit``: the custom call then reads that value, not an array
    XLA would first write out), else ``ct``."""
    eqn = getattr(ct, "parent", None)  # the traced equation that produced ct, if any
    if (getattr(eqn, "primitive", None) is not jax.lax.broadcast_in_dim_p
            or len(getattr(eqn, "in_tracers", ())) != 1 or ct.shape != x.shape):
        return ct
    (src,) = eqn.in_tracers
    same_trace = getattr(src, "_trace", None) is getattr(ct, "_trace", False)
    return src if same_trace and src.shape == () and src.dtype == ct.dtype else ct


def _tangent_transpose(ct: Any, *args: Any, static: _Static, live: tuple[bool, ...]
                       ) -> list[Any]:
    x, params, dots = _split(args, len(live))
    if ad.is_undefined_primal(x) or any(ad.is_undefined_primal(p) for p in params):
        raise NotImplementedError("spikegrad: the spike's tangent is linear in the tangents "
                                  "only, not in x or the parameters")
    res: list[Any] = [None] * (1 + len(params))
    if type(ct) is ad.Zero:
        return res + [None] * len(dots)
    gx, *gps = _cotangent_p.bind(x, *params, _broadcast_source(ct, x), static=static)
    live_g = [g for g, ok in zip(gps, live, strict=True) if ok]
    return res + [g if ad.is_undefined_primal(d) else None
                  for g, d in zip([gx, *live_g], dots, strict=True)]


@functools.lru_cache(maxsize=256)
def _eager_cotangent(static: _Static) -> Any:
    return jax.jit(functools.partial(_cotangent_p.bind, static=static))


def _cotangent_eager(*args: Any, static: _Static) -> list[jax.Array]:
    """The primitive outside ``jit``: compiled (the custom call on CPU), or, under
    ``jax.disable_jit()`` (where ``jax.jit`` would bind it again, forever), jax.numpy."""
    if jax.config.jax_disable_jit:
        return _cotangent_jnp(*args, static=static)
    return _eager_cotangent(static)(*args)


_tangent_p.def_impl(_tangent_impl)
_tangent_p.def_abstract_eval(_tangent_aval)
mlir.register_lowering(_tangent_p, mlir.lower_fun(_tangent_impl, multiple_results=False))
ad.primitive_jvps[_tangent_p] = _jvp_of(_tangent_impl)
ad.primitive_transposes[_tangent_p] = _tangent_transpose
batching.primitive_batchers[_tangent_p] = _batch_of(_tangent_impl, False)

_cotangent_p.def_impl(_cotangent_eager)
_cotangent_p.def_abstract_eval(_cotangent_aval)
_cotangent_jnp_rule = mlir.lower_fun(_cotangent_jnp, multiple_results=True)
_cotangent_ffi_rule = mlir.lower_fun(_cotangent_ffi, multiple_results=True)


def _cotangent_cpu_rule(ctx: Any, *args: Any, **kw: Any) -> Any:
    """The custom call, except in a module lowered for ``jax.export`` (a serialized
    artifact may only call targets with compatibility guarantees: jax.numpy there)."""
    params = getattr(ctx.module_context, "lowering_parameters", None)
    exporting = bool(getattr(params, "for_export", False))
    return (_cotangent_jnp_rule if exporting else _cotangent_ffi_rule)(ctx, *args, **kw)


mlir.register_lowering(_cotangent_p, _cotangent_jnp_rule)
mlir.register_lowering(_cotangent_p, _cotangent_cpu_rule, platform="cpu")
ad.primitive_jvps[_cotangent_p] = _jvp_of(_cotangent_jnp)
batching.primitive_batchers[_cotangent_p] = _batch_of(_cotangent_jnp, True)


def _layout(p: Any, x: Any) -> str:
    """A parameter's layout in the fused kernel: ``"s"`` (one value), ``"e"`` (``x``'s
    shape, one value per element) or ``""`` (another shape: per channel)."""
    if p.size == 1:
        return "s"
    return "e" if p.shape == x.shape else ""


def _fused(bound: Bound, x: jax.Array, params: tuple[Any, ...]) -> bool:
    """Whether the parameter gradient takes the fused CPU kernel: float32/float64 ``x``;
    parameters of its dtype with one value each or one per element of ``x`` (per neuron:
    XLA computes their gradient in a loop of its own beside ``grad_x``'s, 2.7x the
    number-parameter path at 2^18; a per-channel parameter keeps ``jax.numpy``); a
    deterministic formula with a primitive; one CPU device (a custom call is not
    partitioned: on several devices the sharded jax.numpy serves); the custom call
    built."""
    return (jax_kernels.enabled() and x.dtype in (jnp.float32, jnp.float64)
            and 0 < len(params) <= jax_kernels.MAX_PARAMS
            and all(p.dtype == x.dtype and _layout(p, x) for p in params)
            and not bound.formula.stochastic_backward and bound.has_primitive
            and len(jax.devices("cpu")) == 1 and jax_kernels.available())


def _spike_jvp(static: _Static, primals: tuple[Any, ...], tangents: tuple[Any, ...]
               ) -> tuple[Any, Any]:
    x, key, params = primals
    x_dot, _, p_dots = tangents
    bound = static.bound(params)
    out = _spike(static, x, key, params)
    live = tuple(not _is_zero(t) for t in p_dots)
    if any(live) and not bound.has_primitive:
        raise NotImplementedError(
            f"{bound.name} has no primitive g, so its parameters "
            f"({', '.join(bound.array_param_names)}) have no gradient")
    if any(live) and _fused(bound, x, params):
        xd = jnp.zeros_like(x) if _is_zero(x_dot) else x_dot
        pds = [t for t, ok in zip(p_dots, live, strict=True) if ok]
        tangent = _tangent_p.bind(x, *params, xd, *pds, static=static, live=live)
        return out, tangent.astype(out.dtype)
    return out, _tangent(static, x, key, params, x_dot, p_dots, out.dtype)


_spike.defjvp(_spike_jvp, symbolic_zeros=True)


def function_for(bound: Bound) -> Any:
    """The spike function ``f(x, key)`` of ``bound`` (a ``custom_jvp`` in ``x`` and in its
    array parameters)."""
    static = _Static(bound)
    params = _array_values(bound)

    def spike_fn(x: jax.Array, key: Any = None) -> jax.Array:
        if key is None:
            key = _key(x)
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
        key = _key(x)
    return _spike(_Static(bound), x, key, _array_values(bound))



def multistep(bound: Any, x: Any) -> jax.Array:
    """The output sequence of multi-step surrogate ``bound`` over ``x`` (``[T, ...]``),
    differentiable in ``x`` and in a traced threshold."""
    return _multistep_apply(bound, x)
