"""cupy binding of the multi-step surrogates (DSR-IF, DSR-LIF, ...).

An explicit forward and a manual backward, as for the elementwise surrogates: one
``cupy.RawKernel`` per direction, generated from the spec (:func:`spikegrad.codegen.
multistep.cuda_source`), one thread per element running its whole sequence.  The threshold
is read on the device (a number, or a 0-d cupy array: no host synchronisation), and its
gradient comes back as a 0-d cupy array summed on the device.  float16/bfloat16 are
computed in float32 and rounded once; parameter values are run-time arguments (one
compiled module per formula shape and dtype).  Everything runs on the input's device.
The binding takes a bound surrogate, never a name (:mod:`spikegrad.cupy` resolves names).
"""

from __future__ import annotations

import functools
from typing import Any

try:
    import cupy
except ImportError as exc:  # pragma: no cover - exercised without cupy installed
    raise ImportError("spikegrad.cupy needs CuPy and CUDA: pip install 'spikegrad[cupy]'") \
        from exc

from .._arrays import framework_of, is_array_param
from .._multistep import MultiStepBound
from .._multistep_engine import check_sequence, threshold_scale, time_weights
from ..codegen import cuda, multistep

__all__ = ["backward", "forward"]

_THREADS = 256


def _check(x: Any, what: str = "x") -> None:
    if not isinstance(x, cupy.ndarray):
        mod = framework_of(x)
        raise TypeError(f"the cupy adapter takes cupy arrays, got {mod}.{type(x).__name__}; "
                        f"convert with cupy.asarray({what})")
    if x.dtype.name not in ("float16", "bfloat16", "float32", "float64"):
        raise TypeError(f"{what} has dtype {x.dtype}; cast it first, e.g. "
                        f"{what}.astype(cupy.float32)")


@functools.lru_cache(maxsize=128)
def _module(entry: Any, static: tuple[tuple[str, Any], ...], dtype: str) -> tuple[Any, Any]:
    bound = entry.bind(**dict(static))
    device, kernels, constants = multistep.cuda_source(bound, dtype)
    mod = cupy.RawModule(code=device + kernels, options=cuda.OPTIONS)
    return mod, tuple(constants)


def _prepare(bound: MultiStepBound, x: Any) -> tuple[Any, Any, Any, Any]:
    check_sequence(bound.name, x)
    compute = "float64" if x.dtype == cupy.float64 else "float32"
    xc = cupy.ascontiguousarray(x.astype(compute, copy=False))
    static = tuple(sorted(bound.static_params.items()))
    mod, constants = _module(bound.entry, static, compute)
    c = cupy.asarray(constants, dtype=cupy.float64)
    v = bound.params["v_threshold"]
    lb = bound.params["v_threshold_lower_bound"]
    if is_array_param(v):
        vp = cupy.maximum(cupy.asarray(v, dtype=cupy.float64).reshape(1), lb)
    else:
        vp = cupy.asarray([max(float(v), lb)], dtype=cupy.float64)
    return xc, mod, c, vp


def _grid(n: int) -> tuple[int]:
    return (max(1, min((n + _THREADS - 1) // _THREADS, 65535)),)


def _check_bound(bound: Any) -> None:
    if not isinstance(bound, MultiStepBound):
        hint = f"spikegrad.get({bound!r})" if isinstance(bound, str) else "spikegrad.get(...)"
        raise TypeError(f"the cupy multi-step binding takes a bound multi-step surrogate, got "
                        f"{bound!r}: bind it first ({hint}), or call spikegrad.cupy, which "
                        "accepts names")


def forward(bound: MultiStepBound, x: Any) -> Any:
    """The output sequence of ``x`` (``[T, ...]``) in ``x``'s dtype, on ``x``'s device."""
    _check_bound(bound)
    _check(x)
    with x.device:  # kernels, constants and outputs on x's device, not the current one
        xc, mod, c, vp = _prepare(bound, x)
        steps, n = xc.shape[0], xc[0].size
        y = cupy.empty_like(xc)
        mod.get_function("sg_ms_forward")(_grid(n), (_THREADS,),
                                          (xc, y, cupy.int64(steps), cupy.int64(n), vp, c))
        return y.astype(x.dtype, copy=False)


def backward(bound: MultiStepBound, x: Any, grad: Any) -> tuple[Any, Any]:
    """``(dL/dx in x's dtype, dL/dv_threshold as a 0-d float64 cupy array)``, on ``x``'s
    device; the threshold gradient is 0 where ``v_threshold`` is below its lower bound."""
    _check_bound(bound)
    _check(x)
    _check(grad, "grad")
    if grad.shape != x.shape:
        raise ValueError(f"{bound.name}: grad has shape {grad.shape}, x has {x.shape}")
    if grad.device != x.device:
        raise TypeError(f"grad is on {grad.device}, x on {x.device}; move them to one device")
    with x.device:
        xc, mod, c, vp = _prepare(bound, x)
        gc = cupy.ascontiguousarray(grad.astype(xc.dtype, copy=False))
        steps, n = xc.shape[0], xc[0].size
        weights = time_weights(bound, steps)
        w = cupy.asarray(weights if weights is not None else [0.0], dtype=cupy.float64)
        gx = cupy.empty_like(xc)
        part = cupy.empty(n, dtype=cupy.float64)
        mod.get_function("sg_ms_backward")(
            _grid(n), (_THREADS,), (xc, gc, gx, part, cupy.int64(steps), cupy.int64(n), vp, c,
                                    w, cupy.int32(weights is not None)))
        gv = part.sum() * threshold_scale(bound, steps)
        v = bound.params["v_threshold"]
        lb = bound.params["v_threshold_lower_bound"]
        if is_array_param(v):
            gv = cupy.where(cupy.asarray(v) < lb, 0.0, gv)
        elif v < lb:
            gv = gv * 0.0
        return gx.astype(x.dtype, copy=False), gv
