"""spikegrad for CuPy: explicit forward / manual backward with generated fused kernels.

>>> import cupy, spikegrad, spikegrad.cupy as sgc
>>> s = spikegrad.get("atan")                     # or a name: sgc.forward("atan", x)
>>> spikes, residual = sgc.forward(s, x)
>>> grad_x = sgc.backward(s, residual, grad_out)
>>> spikes, grad_x = sgc.forward_backward(s, x, grad_out)   # one kernel
>>> a = spikegrad.get("atan", alpha=cupy.asarray(2.0))       # a parameter that learns
>>> grad_x, grads = sgc.backward_with_params(a, residual, grad_out)  # grads["alpha"]
>>> d = spikegrad.get("dsr_if", v_threshold=cupy.asarray(6.0))   # multi-step, [T, ...]
>>> y = sgc.multistep_forward(d, x_seq)
>>> grad_x, grad_v = sgc.multistep_backward(d, x_seq, grad_y)

``s.spike(x)`` of a cupy array comes here too (the spike, no gradient: cupy has no
autograd).  float16, bfloat16 (CuPy >= 14 with ml_dtypes), float32 and float64 arrays,
any layout; results on the input's device.  Requires CuPy and a CUDA device
(``pip install "spikegrad[cupy]"``).

This front end accepts a surrogate's name (default parameters) wherever it takes a bound
surrogate; the binding underneath, :mod:`spikegrad.adapters.cupy`, takes bound values only.
"""

from __future__ import annotations

from typing import Any

from ._registry import get
from .adapters import cupy as _binding
from .adapters import cupy_multistep as _multistep

__all__ = ["backward", "backward_with_params", "forward", "forward_backward",
           "multistep_backward", "multistep_forward", "spike_and_vjp"]


def _bound(s: Any) -> Any:
    """A name bound with its default parameters; a bound surrogate as it is."""
    return get(s) if isinstance(s, str) else s


def forward(s: Any, x: Any, *, key: Any = None) -> tuple[Any, Any]:
    """Spike of ``x`` (same dtype and device) and the residual for :func:`backward`."""
    return _binding.forward(_bound(s), x, key=key)


def backward(s: Any, residual: Any, grad: Any, *, key: Any = None) -> Any:
    """``grad * g'(residual)`` in one generated kernel."""
    return _binding.backward(_bound(s), residual, grad, key=key)


def backward_with_params(s: Any, residual: Any, grad: Any) -> tuple[Any, dict[str, Any]]:
    """``grad * g'(residual)`` and each cupy-array parameter's ``Σ grad ∂g/∂θ`` (summed
    to its shape), from one generated kernel."""
    return _binding.backward_with_params(_bound(s), residual, grad)


def forward_backward(s: Any, x: Any, grad: Any, *, key: Any = None) -> tuple[Any, Any]:
    """Spike and ``grad * g'(x)`` from one kernel (one read of ``x``)."""
    return _binding.forward_backward(_bound(s), x, grad, key=key)


def spike_and_vjp(s: Any, x: Any, *, key: Any = None) -> tuple[Any, Any]:
    """Spike and a function ``vjp(grad) -> grad_x``."""
    return _binding.spike_and_vjp(_bound(s), x, key=key)


def multistep_forward(s: Any, x: Any) -> Any:
    """Output sequence of a multi-step surrogate for ``x`` (``[T, ...]``)."""
    return _multistep.forward(_bound(s), x)


def multistep_backward(s: Any, x: Any, grad: Any) -> tuple[Any, Any]:
    """``(dL/dx, dL/dv_threshold)`` of a multi-step surrogate."""
    return _multistep.backward(_bound(s), x, grad)
