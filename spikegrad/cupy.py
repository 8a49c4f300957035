"""spikegrad for CuPy: explicit forward / manual backward with generated fused kernels.

>>> import cupy, spikegrad, spikegrad.cupy as sgc
>>> s = spikegrad.get("atan")
>>> spikes, residual = sgc.forward(s, x)
>>> grad_x = sgc.backward(s, residual, grad_out)
>>> spikes, grad_x = sgc.forward_backward(s, x, grad_out)   # one kernel
>>> d = spikegrad.get("dsr_if", v_threshold=cupy.asarray(6.0))   # multi-step, [T, ...]
>>> y = sgc.multistep_forward(d, x_seq)
>>> grad_x, grad_v = sgc.multistep_backward(d, x_seq, grad_y)

float16, bfloat16 (CuPy >= 14 with ml_dtypes), float32 and float64 arrays, any layout.
Requires CuPy and a CUDA device (``pip install "spikegrad[cupy]"``).
"""

from __future__ import annotations

from .adapters.cupy import backward, forward, forward_backward, spike_and_vjp
from .adapters.cupy_multistep import backward as multistep_backward
from .adapters.cupy_multistep import forward as multistep_forward

__all__ = ["backward", "forward", "forward_backward", "multistep_backward",
           "multistep_forward", "spike_and_vjp"]
