"""The cupy adapter: explicit forward / manual backward on CUDA arrays with fused kernels
generated from the spec (:mod:`spikegrad.codegen.cuda`), never hand-written.

Kernels are ``cupy.ElementwiseKernel`` objects built once per (surrogate, parameters,
dtype) and cached; branches are selects, float16 is computed in float32 and rounded once,
and any layout (non-contiguous, any shape) works because ElementwiseKernel indexes by
strides.  Surrogates with a stochastic backward, or a non-spike forward, use the same
array-API formulas through cupy's namespace (the engine of :mod:`spikegrad.adapters.numpy`).
"""

from __future__ import annotations

import functools
from typing import Any

try:
    import cupy
except ImportError as exc:  # pragma: no cover - exercised without cupy installed
    raise ImportError("spikegrad.cupy needs CuPy and CUDA: pip install 'spikegrad[cupy]'") \
        from exc

from .._registry import get
from .._spec import Bound
from ..codegen import cuda
from . import numpy as engine

__all__ = ["backward", "forward", "forward_backward", "spike_and_vjp"]

_FLOATS = {"float16", "float32", "float64"}


def _bound(s: Bound | str) -> Bound:
    return s if isinstance(s, Bound) else get(s)


def _check(x: Any, what: str = "x") -> None:
    if not isinstance(x, cupy.ndarray):
        mod = type(x).__module__.split(".")[0]
        raise TypeError(f"the cupy adapter takes cupy arrays, got {mod}.{type(x).__name__}; "
                        f"convert with cupy.asarray({what}) or cupy.from_dlpack({what})")
    if x.dtype.name not in _FLOATS:
        raise TypeError(f"{what} has dtype {x.dtype}; surrogate gradients need float16, "
                        f"float32 or float64: cast it first, e.g. {what}.astype(cupy.float32)")


def _fast(bound: Bound) -> bool:
    return bound.forward_kind in ("ge", "gt") and not bound.formula.stochastic_backward


@functools.lru_cache(maxsize=512)
def _spike_kernel(strict: bool) -> Any:
    cmp = ">" if strict else ">="
    return cupy.ElementwiseKernel("T x", "T out", f"out = (T)(x {cmp} (T)0 ? 1 : 0)",
                                  f"sg_spike_{'gt' if strict else 'ge'}")


@functools.lru_cache(maxsize=512)
def _backward_kernel(bound: Bound, dtype: str) -> Any:
    e = cuda.elementwise(bound, dtype, with_grad=True)
    return cupy.ElementwiseKernel(e.in_params, e.out_params, e.operation, e.name,
                                  preamble=e.preamble)


@functools.lru_cache(maxsize=512)
def _fused_kernel(bound: Bound, dtype: str) -> Any:
    e = cuda.elementwise(bound, dtype, with_grad=True)
    cmp = ">" if bound.forward_kind == "gt" else ">="
    t = "float16" if dtype == "float16" else ("double" if dtype == "float64" else "float")
    op = e.operation.replace("out = ", "gx = ") + f"\nspike = ({t})(x {cmp} ({t})0 ? 1 : 0);"
    return cupy.ElementwiseKernel(e.in_params, f"{t} spike, {t} gx", op, e.name + "_fb",
                                  preamble=e.preamble)


def forward(s: Bound | str, x: Any, *, key: Any = None) -> tuple[Any, Any]:
    """Spike of ``x`` (same dtype and device) and the residual (``x`` itself)."""
    b = _bound(s)
    _check(x)
    if _fast(b):
        return _spike_kernel(b.forward_kind == "gt")(x), x
    return engine.forward(b, x, key=key)


def backward(s: Bound | str, residual: Any, grad: Any, *, key: Any = None) -> Any:
    """``grad * g'(residual)`` in one generated kernel."""
    b = _bound(s)
    _check(residual, "residual")
    _check(grad, "grad")
    if grad.dtype != residual.dtype or grad.shape != residual.shape:
        raise TypeError(f"grad {grad.dtype}{grad.shape} must match the input "
                        f"{residual.dtype}{residual.shape}")
    if residual.device != grad.device:
        raise TypeError(f"grad is on {grad.device}, the input on {residual.device}; "
                        "move them to one device")
    if b.formula.stochastic_backward:
        return engine.backward(b, residual, grad, key=key)
    return _backward_kernel(b, residual.dtype.name)(residual, grad)


def forward_backward(s: Bound | str, x: Any, grad: Any) -> tuple[Any, Any]:
    """Spike and ``grad * g'(x)`` from one kernel (one read of ``x``)."""
    b = _bound(s)
    _check(x)
    _check(grad, "grad")
    if not _fast(b):
        spikes, res = forward(b, x)
        return spikes, backward(b, res, grad)
    return _fused_kernel(b, x.dtype.name)(x, grad)


def spike_and_vjp(s: Bound | str, x: Any, *, key: Any = None) -> tuple[Any, Any]:
    """Spike and a function ``vjp(grad) -> grad_x``."""
    spikes, res = forward(s, x, key=key)
    return spikes, lambda grad: backward(s, res, grad, key=key)
