"""spikegrad for CuPy: explicit forward / manual backward with generated fused kernels.

>>> import cupy, spikegrad, spikegrad.cupy as sgc
>>> s = spikegrad.get("atan")
>>> spikes, residual = sgc.forward(s, x)
>>> grad_x = sgc.backward(s, residual, grad_out)
>>> spikes, grad_x = sgc.forward_backward(s, x, grad_out)   # one kernel

float16, bfloat16 (CuPy >= 14 with ml_dtypes), float32 and float64 arrays, any layout.
Requires CuPy and a CUDA device (``pip install "spikegrad[cupy]"``).
"""

from __future__ import annotations

from .adapters.cupy import backward, forward, forward_backward, spike_and_vjp

__all__ = ["backward", "forward", "forward_backward", "spike_and_vjp"]
