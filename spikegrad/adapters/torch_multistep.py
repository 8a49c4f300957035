"""torch binding of the multi-step surrogates (DSR-IF, DSR-LIF, ...).

One ``torch.autograd.Function`` serves every multi-step definition:
``_MultiStep.apply(x, bound, v)`` with ``v`` the effective threshold (a 0-d tensor; the
lower bound is applied before, in the graph, so its gradient is torch's own).  The forward
and backward are the shared rule of :mod:`spikegrad._multistep` evaluated with torch ops,
or, for plain CPU float32/float64 tensors in eager mode, by kernels generated from the same
spec (one pass over the sequence per direction).  The threshold gradient is summed over
every element by the Function itself; there is no collective in the backward: under DDP
the framework averages it across processes like every other parameter's gradient.
"""

from __future__ import annotations

from typing import Any

import torch

from .._multistep import MultiStepBound
from .._multistep_engine import (
    backward_compute,
    check_sequence,
    forward_compute,
    threshold_scale,
)
from .._multistep_engine import effective_threshold as _effective
from ..codegen import multistep as _codegen
from . import _pages
from .torch_tensors import cast as _cast
from .torch_tensors import check_tensor, fast_path_ok
from .torch_tensors import compute_dtype as _compute_dtype
from .torch_tensors import xp as _xp

__all__ = ["apply", "effective_threshold"]


def effective_threshold(bound: MultiStepBound, like: torch.Tensor) -> torch.Tensor:
    """``max(v_threshold, lower_bound)`` as a 0-d tensor; differentiable in a tensor
    threshold (the gradient passes where ``v_threshold >= lower_bound``)."""
    v = bound.params["v_threshold"]
    lb = bound.params["v_threshold_lower_bound"]
    if isinstance(v, torch.Tensor):
        if v.ndim != 0:
            raise ValueError(f"{bound.name}: v_threshold must be a 0-d tensor (one "
                             f"threshold per layer), got shape {tuple(v.shape)}")
        if v.device != like.device:
            raise TypeError(f"{bound.name}: v_threshold is on {v.device}, the input on "
                            f"{like.device}; move one of them (module.to(device))")
        return _effective(v, lb, _xp())
    return torch.tensor(max(float(v), lb), dtype=_compute_dtype(like.dtype),
                        device=like.device)


class _MultiStep(torch.autograd.Function):
    """``_MultiStep.apply(x, bound, v)``: the output sequence of ``x`` ([T, ...])."""

    @staticmethod
    def forward(x: torch.Tensor, bound: MultiStepBound, v: torch.Tensor) -> torch.Tensor:
        xc = _cast(x)
        vc = v.detach().to(xc.dtype)
        y = _fused_forward(bound, xc, vc)
        if y is None:
            y = forward_compute(bound, xc, vc, _xp())
        return y.to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, bound, v = inputs
        ctx.save_for_backward(x, v)
        ctx.bound = bound

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        x, v = ctx.saved_tensors
        xc = _cast(x)
        vc = v.detach().to(xc.dtype)
        gc = _cast(grad)
        found = _fused_backward(ctx.bound, xc, gc, vc)
        gx, gv = found if found is not None else backward_compute(ctx.bound, xc, gc, vc,
                                                                   _xp())
        gx = gx.to(x.dtype) if ctx.needs_input_grad[0] else None
        gv = gv.to(v.dtype).reshape(v.shape) if ctx.needs_input_grad[2] else None
        return gx, None, gv


def apply(bound: MultiStepBound, x: torch.Tensor) -> torch.Tensor:
    """The output sequence of ``x`` (``[T, ...]``, time first) in ``x``'s dtype, with the
    rule's gradients for ``x`` and a tensor ``v_threshold``."""
    check_tensor(x)
    check_sequence(bound.name, x)
    return _MultiStep.apply(x, bound, effective_threshold(bound, x))


# -- generated CPU kernels ---------------------------------------------------------------------
def _fused_ok(*tensors: torch.Tensor) -> bool:
    """The fast-path decision, for the dtypes the multi-step kernels are built in."""
    return fast_path_ok(*tensors) and tensors[0].dtype in (torch.float32, torch.float64)


def _fused_forward(bound: MultiStepBound, x: torch.Tensor, v: torch.Tensor
                   ) -> torch.Tensor | None:
    if not _fused_ok(x):
        return None
    kern = _kernels(bound, x.dtype)
    if kern is None:
        return None
    xc = x.contiguous()
    out = _pages.empty_like(xc)
    kern.forward(xc.data_ptr(), out.data_ptr(), xc.shape[0], xc[0].numel(), float(v))
    return out


def _fused_backward(bound: MultiStepBound, x: torch.Tensor, grad: torch.Tensor,
                    v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not _fused_ok(x, grad) or grad.dtype != x.dtype or grad.shape != x.shape \
            or torch.is_grad_enabled():
        return None
    kern = _kernels(bound, x.dtype)
    if kern is None:
        return None
    xc, gc = x.contiguous(), grad.contiguous()
    steps, n = xc.shape[0], xc[0].numel()
    gx = _pages.empty_like(xc)
    total = kern.backward(xc.data_ptr(), gc.data_ptr(), gx.data_ptr(), steps, n, float(v))
    gv = torch.tensor(total * threshold_scale(bound, steps),
                      dtype=x.dtype)
    return gx, gv


def _kernels(bound: MultiStepBound, dtype: torch.dtype) -> Any:
    return _codegen.cpu_kernels(bound, "float32" if dtype == torch.float32 else "float64")
