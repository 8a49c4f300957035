"""The reference engine for multi-step surrogates, on any array-API namespace.

The forward runs the recurrence in the compute dtype (the input's; float32 for
float16/bfloat16), the arithmetic every binding uses, so its spikes are the bits every
adapter must reproduce.  The backward is computed in float64 (where the namespace has it)
and rounded once, so its only error is the rule's own.
"""

from __future__ import annotations

from typing import Any

from ._evaluate import _astype, _is_bfloat16, check_real_float, namespace_of, quiet
from ._multistep import (
    MultiStepBound,
    backward_compute,
    check_sequence,
    effective_threshold,
    forward_compute,
)
from ._spec import is_array_param

__all__ = ["compute_dtype", "reference_backward", "reference_forward"]


def compute_dtype(x: Any, xp: Any) -> Any:
    """The dtype the recurrence runs in: float32 for 16-bit floats, else ``x``'s."""
    if _is_bfloat16(x.dtype) or x.dtype == xp.float16:
        return xp.float32
    return x.dtype


def _threshold(bound: MultiStepBound, xp: Any, dtype: Any) -> tuple[Any, bool]:
    """(effective threshold as a 0-d array of ``dtype``, whether it is clamped)."""
    v = bound.params["v_threshold"]
    lb = bound.params["v_threshold_lower_bound"]
    if is_array_param(v):
        import numpy as np

        # the reference engine reads the value on the host
        v = float(v.detach().cpu()) if hasattr(v, "detach") else float(np.asarray(v))
    return xp.asarray(effective_threshold(v, lb, xp), dtype=dtype), v < lb


def _prepare(bound: MultiStepBound, x: Any) -> tuple[Any, Any]:
    xp = namespace_of(x)
    check_real_float(x, xp)
    check_sequence(bound.name, x)
    return xp, compute_dtype(x, xp)


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
