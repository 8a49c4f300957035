"""The reference engine: explicit forward and manual backward over the array API.

``forward(s, x) -> (spike, residual)`` and ``backward(s, residual, grad) -> grad_x``
run on any array-API namespace (numpy, array-api-strict, and the same code path serves
as the CPU half of the cupy adapter).  The reference computes every dtype in float64 and
rounds once to the input dtype, so its only error is the formula's own in float64.

For example:

>>> import numpy as np, spikegrad
>>> from spikegrad.adapters import reference as ref
>>> s = spikegrad.get("atan")
>>> spikes, res = ref.forward(s, np.array([-1.0, 0.0, 2.0], dtype=np.float32))
>>> spikes
array([0., 1., 1.], dtype=float32)
>>> ref.backward(s, res, np.ones(3, dtype=np.float32)).dtype
dtype('float32')
"""

from __future__ import annotations

from typing import Any

from .._evaluate import (
    _astype,
    check_param_shapes,
    check_real_float,
    derivative_compute,
    namespace_of,
    primitive_compute,
    quiet,
)
from .._evaluate import spike as _spike
from .._spec import Bound

__all__ = ["backward", "derivative_values", "forward", "primitive_values", "spike_and_vjp"]

Array = Any


def _reference_dtype(xp: Any) -> Any:
    return getattr(xp, "float64", None) or xp.float32


def _as_bound(s: Any) -> Bound:
    if isinstance(s, Bound):
        return s
    hint = f"spikegrad.get({s!r})" if isinstance(s, str) else "spikegrad.get(name, ...)"
    raise TypeError(f"the reference engine takes a bound surrogate, got {s!r}; bind it "
                    f"first: {hint}")


def forward(s: Bound, x: Array, *, key: Any = None) -> tuple[Array, Array]:
    """Spike of ``x`` and the residual the backward needs (``x`` itself).

    Parameters
    ----------
    s : Bound
        Surrogate (``spikegrad.get(...)``).
    x : array
        Real floating input, any array-API namespace.
    key : generator or key, optional
        Random source for stochastic forwards.
    """
    return _spike(_as_bound(s), x, key=key), x


def backward(s: Bound, residual: Array, grad: Array, *, key: Any = None) -> Array:
    """``grad * g'(residual)`` in the input dtype, computed in float64 and rounded once.

    Raises
    ------
    TypeError
        If ``grad`` is from another framework, or its dtype or shape differs from the
        residual's.
    """
    b = _as_bound(s)
    xp = namespace_of(residual, grad)
    check_real_float(residual, xp, "residual")
    check_real_float(grad, xp, "grad")
    if grad.dtype != residual.dtype:
        raise TypeError(
            f"grad dtype {grad.dtype} differs from the input dtype {residual.dtype}; "
            "cast grad to the input's dtype"
        )
    if tuple(grad.shape) != tuple(residual.shape):
        raise TypeError(f"grad shape {tuple(grad.shape)} differs from input shape "
                        f"{tuple(residual.shape)}")
    check_param_shapes(b, residual.shape)
    cd = _reference_dtype(xp)
    xc = _astype(residual, cd, xp)
    d = derivative_compute(b, xc, xp, key)
    with quiet(xp):
        return _astype(_astype(grad, cd, xp) * d, residual.dtype, xp)


def spike_and_vjp(s: Bound, x: Array, *, key: Any = None) -> tuple[Array, Any]:
    """Spike and a function ``vjp(grad) -> grad_x``."""
    spikes, res = forward(s, x, key=key)
    return spikes, lambda grad, key2=key: backward(s, res, grad, key=key2)


def derivative_values(s: Bound, x: Array, *, key: Any = None) -> Array:
    """Reference ``g'(x)`` in ``x``'s dtype (computed in float64)."""
    b = _as_bound(s)
    xp = namespace_of(x)
    check_real_float(x, xp)
    check_param_shapes(b, x.shape)
    xc = _astype(x, _reference_dtype(xp), xp)
    d = derivative_compute(b, xc, xp, key)
    with quiet(xp):
        return _astype(d, x.dtype, xp)


def primitive_values(s: Bound, x: Array) -> Array:
    """Reference ``g(x)`` in ``x``'s dtype (computed in float64)."""
    b = _as_bound(s)
    xp = namespace_of(x)
    check_real_float(x, xp)
    check_param_shapes(b, x.shape)
    xc = _astype(x, _reference_dtype(xp), xp)
    g = primitive_compute(b, xc, xp)
    with quiet(xp):
        return _astype(g, x.dtype, xp)
