"""Evaluation of bound surrogates on arrays of any array-API namespace.

This is the one place that turns a formula into values: namespace detection, input
validation, the compute-dtype policy (float16/bfloat16 computed in float32 and rounded
once), the entry's output scale, NaN propagation and the forward conventions.  Every
adapter evaluates through these functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import array_api_compat
import numpy as np

from . import special
from ._arrays import framework_of, is_array_param

if TYPE_CHECKING:
    from ._spec import Bound

Array = Any

__all__ = [
    "SUPPORTED_FLOATS",
    "array_params",
    "check_param_shapes",
    "check_real_float",
    "compute_dtype_for",
    "derivative",
    "differentiable_derivative",
    "forward_compute",
    "mapped",
    "namespace_of",
    "primitive",
    "quiet",
    "spike",
]


def namespace_of(*arrays: Array) -> Any:
    """Array-API namespace shared by ``arrays``.

    Raises
    ------
    TypeError
        For Python scalars, lists, unsupported objects, or arrays of different
        frameworks mixed in one call.
    """
    for a in arrays:
        if isinstance(a, (int, float, complex, bool, list, tuple)):
            raise TypeError(
                f"expected an array, got {type(a).__name__}; wrap it first, e.g. "
                "numpy.asarray(x, dtype=numpy.float64)"
            )
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        kinds = sorted({framework_of(a) + "." + type(a).__name__ for a in arrays})
        if len(kinds) > 1:
            raise TypeError(
                f"arrays from different frameworks in one call ({', '.join(kinds)}); "
                "convert them to one framework first (e.g. torch.from_dlpack / numpy.asarray)"
            ) from exc
        raise TypeError(f"unsupported array type {kinds[0]}: {exc}") from exc


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1].lower()


def _is_bfloat16(dtype: Any) -> bool:
    return "bfloat16" in _dtype_name(dtype)


#: The real floating dtypes spikegrad computes in (by name, as :func:`_dtype_name` spells
#: them in every namespace).
SUPPORTED_FLOATS = frozenset({"float16", "bfloat16", "float32", "float64"})


def check_real_float(x: Array, xp: Any, what: str = "x") -> None:
    """Raise ``TypeError`` unless ``x`` has a real floating dtype of 16, 32 or 64 bits
    (float16, bfloat16, float32, float64); a wider one (NumPy's ``longdouble``) too, with
    the cast that fixes it."""
    dtype = x.dtype
    name = _dtype_name(dtype)
    if name in SUPPORTED_FLOATS:
        return
    try:
        ok = xp.isdtype(dtype, "real floating")
    except (TypeError, ValueError):
        ok = False
    if ok:
        try:
            bits = int(xp.finfo(dtype).bits)
        except (TypeError, ValueError):
            bits = 0
        if bits in (16, 32, 64):  # a namespace that spells a supported dtype its own way
            return
        raise TypeError(
            f"{what} has a {name} dtype ({dtype}); spikegrad computes in float16, bfloat16, "
            f"float32 or float64 only: cast it first, e.g. {what}.astype(np.float64)"
        )
    if "bool" in name:
        kind = "a boolean"
    elif "complex" in name:
        kind = "a complex"
    elif "int" in name:
        kind = "an integer"
    else:
        kind = f"a {name}"
    raise TypeError(
        f"{what} has {kind} dtype ({dtype}); surrogate gradients need real floating input: "
        f"cast it first, e.g. {what}.astype(float32) / {what}.to(torch.float32)"
    )


def _bits(xp: Any, dtype: Any) -> int:
    if _is_bfloat16(dtype):
        return 16
    return int(xp.finfo(dtype).bits)


def compute_dtype_for(xp: Any, dtype: Any, requested: Any = None) -> Any:
    """Dtype a computation runs in: ``requested``, else ``dtype`` with 16-bit floats
    promoted to float32."""
    if requested is not None:
        return requested
    if _bits(xp, dtype) == 16:
        return xp.float32
    return dtype


def _astype(x: Array, dtype: Any, xp: Any) -> Array:
    if x.dtype == dtype:
        return x
    if (_is_bfloat16(dtype) or _is_bfloat16(x.dtype)) and hasattr(x, "astype"):
        return x.astype(dtype)  # numpy with ml_dtypes' bfloat16
    return xp.astype(x, dtype)


@contextlib.contextmanager
def quiet(xp: Any) -> Iterator[None]:
    """Silence numpy's floating-point warnings: overflow to inf and inf arithmetic are
    intended in the formulas and handled by selection."""
    if special.namespace_name(xp) in ("numpy", "array_api_strict"):
        with np.errstate(all="ignore"):
            yield
    else:
        yield


def check_param_shapes(bound: Bound, shape: Any) -> None:
    """Raise ``ValueError`` for an array parameter that does not broadcast to ``x``'s
    ``shape`` without enlarging it (a ``(5, 1)`` width for a ``(5,)`` input would make the
    output ``(5, 5)``, and its sum multiply the input gradient).

    A parameter is 0-d or broadcasts against ``x``: per neuron (``x``'s trailing shape),
    per channel (``(C, 1, 1)``), and so on.
    """
    names = bound.array_param_names
    if not names:
        return
    xs = tuple(shape)
    items = dict(bound.param_items)
    for name in names:
        ps = tuple(items[name].shape)
        fits = len(ps) <= len(xs) and all(
            p == 1 or p == d for p, d in zip(reversed(ps), reversed(xs), strict=False))
        if not fits:
            raise ValueError(
                f"{bound.name}: parameter {name} has shape {ps}, which does not broadcast to "
                f"x's shape {xs} without enlarging it; give {name} a shape that broadcasts "
                "against x (0-d, per neuron, per channel such as (C, 1, 1))")


def _prepare(bound: Bound, x: Array, compute_dtype: Any) -> tuple[Any, Array]:
    xp = namespace_of(x)
    check_real_float(x, xp)
    check_param_shapes(bound, x.shape)
    cd = compute_dtype_for(xp, x.dtype, compute_dtype)
    return xp, _astype(x, cd, xp)


def _nan_guard(xc: Array, values: Array, xp: Any) -> Array:
    return xp.where(xp.isnan(xc), xc, values)


def evaluate_formula(fn: Any, xc: Array, xp: Any, params: dict[str, Any],
                     scale: Any) -> Array:
    """``scale * fn(xc, **params)`` with NaN propagated from ``xc``: the one place that
    applies an entry's output scale and the NaN rule to a formula."""
    with quiet(xp):
        out = fn(xc, xp=xp, **params)
        if not (isinstance(scale, (int, float)) and scale == 1.0):
            out = out * scale
        return _nan_guard(xc, out, xp)


def array_params(bound: Bound, xp: Any, dtype: Any,
                 overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The entry's parameters with array values cast to ``dtype`` in namespace ``xp``
    (``overrides`` replaces some values, e.g. with differentiable copies).

    Raises
    ------
    TypeError
        If an array parameter belongs to another framework than ``x``.
    """
    params = dict(bound.param_items)
    if overrides:
        params.update(overrides)
    for k, v in params.items():
        if is_array_param(v):
            vxp = namespace_of(v)
            if special.namespace_name(vxp) != special.namespace_name(xp):
                raise TypeError(
                    f"{bound.name}: parameter {k} is a {framework_of(v)} "
                    f"array but x is a {special.namespace_name(xp)} array; give parameters "
                    "in x's framework"
                )
            params[k] = _astype(v, dtype, xp)
    return params


def mapped(bound: Bound, xp: Any, dtype: Any,
           overrides: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """``(formula_params, scale)`` of ``bound`` for a computation in ``dtype``."""
    if overrides is None and not bound.has_array_params:
        return bound.formula_params, bound.scale
    return bound.entry.map_params(array_params(bound, xp, dtype, overrides))


def derivative_compute(bound: Bound, xc: Array, xp: Any, key: Any = None,
                       overrides: dict[str, Any] | None = None) -> Array:
    """``g'(xc)`` in ``xc``'s dtype (already the compute dtype); NaN in gives NaN."""
    formula = bound.formula
    kwargs, scale = mapped(bound, xp, xc.dtype, overrides)
    if formula.stochastic_backward:
        kwargs["noise"] = special.uniform(key, xc, xc.dtype, xp)
    return evaluate_formula(formula.derivative, xc, xp, kwargs, scale)


def _param_shape(kwargs: dict[str, Any], scale: Any) -> tuple[int, ...]:
    shapes = [tuple(v.shape) for v in (*kwargs.values(), scale)
              if hasattr(v, "shape") and not isinstance(v, (int, float))]
    if not shapes:
        return ()
    return tuple(np.broadcast_shapes(*shapes))


def differentiable_derivative(bound: Bound, xc: Array, xp: Any, key: Any = None,
                              overrides: dict[str, Any] | None = None,
                              stop_gradient: Any = None) -> Array:
    """``g'(xc)`` whose own derivative in ``xc`` is finite at ±inf.

    A formula evaluated at ``x = ±inf`` gives the right value ``g'(±inf)``, but autodiff
    through it meets ``inf · 0`` and gives NaN for ``g''``.  Here the formula runs on finite
    inputs only, and the values at ±inf are the formula's limits, evaluated apart (they do
    not depend on ``x``), so ``g''(±inf) = 0``, the limit of ``g''`` for every surrogate
    with a limit.  Used by the differentiable paths of the adapters (double backward,
    forward mode, Hessians).  ``stop_gradient`` (the framework's detach) is applied to
    array parameters in the limits, whose own derivative in θ would meet ``inf · 0`` too:
    at ``x = ±inf`` the parameters receive no gradient through ``g'``.
    """
    if bound.formula.stochastic_backward:
        return derivative_compute(bound, xc, xp, key, overrides)
    inf = xp.isinf(xc)
    safe = xp.where(inf, xp.zeros_like(xc), xc)
    values = derivative_compute(bound, safe, xp, key, overrides)
    kwargs, scale = mapped(bound, xp, xc.dtype, overrides)
    shape = _param_shape(kwargs, scale)
    dev = array_api_compat.device(xc)
    fixed = overrides
    if stop_gradient is not None and bound.has_array_params:
        arrays = overrides if overrides is not None else {
            k: v for k, v in bound.param_items if k in bound.array_param_names}
        fixed = {k: stop_gradient(v) for k, v in arrays.items()}
    pos = derivative_compute(bound, xp.full(shape, float("inf"), dtype=xc.dtype, device=dev),
                             xp, key, fixed)
    neg = derivative_compute(bound, xp.full(shape, float("-inf"), dtype=xc.dtype, device=dev),
                             xp, key, fixed)
    return xp.where(xc == float("inf"), pos, xp.where(xc == float("-inf"), neg, values))


def primitive_compute(bound: Bound, xc: Array, xp: Any,
                      overrides: dict[str, Any] | None = None) -> Array:
    """``g(xc)`` in ``xc``'s dtype; raises ``NotImplementedError`` without a primitive."""
    formula = bound.formula
    if formula.primitive is None:
        raise NotImplementedError(
            f"{bound.name} has no primitive g (only its derivative is defined), so it has "
            "no parameter gradient and no primitive mode; see `spikegrad show` for which "
            "surrogates have one"
        )
    kwargs, scale = mapped(bound, xp, xc.dtype, overrides)
    return evaluate_formula(formula.primitive, xc, xp, kwargs, scale)


def derivative(bound: Bound, x: Array, *, compute_dtype: Any = None, key: Any = None) -> Array:
    xp, xc = _prepare(bound, x, compute_dtype)
    d = derivative_compute(bound, xc, xp, key)
    with quiet(xp):
        return _astype(d, x.dtype, xp)


def primitive(bound: Bound, x: Array, *, compute_dtype: Any = None) -> Array:
    xp, xc = _prepare(bound, x, compute_dtype)
    g = primitive_compute(bound, xc, xp)
    with quiet(xp):
        return _astype(g, x.dtype, xp)


def forward_compute(bound: Bound, xc: Array, xp: Any, key: Any = None,
                    overrides: dict[str, Any] | None = None) -> Array:
    """The forward of a non-spike kind in ``xc``'s dtype (the compute dtype):
    ``bernoulli_input``: ``1[u < x]``; ``bernoulli_primitive``: ``1[u < g(x)]`` with ``u``
    uniform from ``key``; ``formula``: the formula's own forward.  The one place these
    forwards are written; every adapter calls it."""
    kind = bound.forward_kind
    if kind == "formula":
        formula = bound.formula
        assert formula.forward is not None, f"{bound.name}: 'formula' forward without forward"
        kwargs, _ = mapped(bound, xp, xc.dtype, overrides)
        with quiet(xp):
            return formula.forward(xc, xp=xp, **kwargs)
    u = special.uniform(key, xc, xc.dtype, xp)
    if kind == "bernoulli_input":
        return _astype(u < xc, xc.dtype, xp)
    if kind == "bernoulli_primitive":
        return _astype(u < primitive_compute(bound, xc, xp, overrides), xc.dtype, xp)
    raise ValueError(f"{bound.name}: forward kind {kind!r} is a plain spike")


def spike(bound: Bound, x: Array, *, key: Any = None) -> Array:
    """Forward output in ``x``'s dtype and on its device.

    ``ge``: ``1[x >= 0]``; ``gt``: ``1[x > 0]`` (NaN gives 0 in both); the other kinds
    as :func:`forward_compute`.
    """
    xp = namespace_of(x)
    check_real_float(x, xp)
    check_param_shapes(bound, x.shape)
    kind = bound.forward_kind
    if kind == "ge":
        return _astype(x >= 0, x.dtype, xp)
    if kind == "gt":
        return _astype(x > 0, x.dtype, xp)
    xc = _astype(x, compute_dtype_for(xp, x.dtype), xp)
    return _astype(forward_compute(bound, xc, xp, key), x.dtype, xp)
