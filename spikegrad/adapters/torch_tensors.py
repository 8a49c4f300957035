"""torch tensors for the torch bindings: the input check, the compute dtype, and the one
decision whether a call may take the fast path (generated CPU kernels, the C++ node).

The fast path is one predicate, :func:`fast_path_ok`, and one switch,
:func:`set_fast_path` (public as :func:`spikegrad.torch.set_fast_path`).  Every site that
could run a generated kernel (the single-step backward, the C++ autograd node, the
multi-step forward and backward) asks it; what a site adds is only what its kernel itself
needs (a kernel built for the surrogate and dtype, matching gradient shapes).
"""

from __future__ import annotations

import threading
from typing import Any

import array_api_compat.torch as _torch_namespace
import torch

from .._arrays import framework_of
from .._evaluate import compute_dtype_for

__all__ = ["FLOATS", "cast", "check_tensor", "compute_dtype", "fast_path_enabled",
           "fast_path_ok", "set_fast_path", "xp"]

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

_switch = {"enabled": True}
_listeners: list[Any] = []
_lock = threading.Lock()


def xp() -> Any:
    """The array-API namespace of torch tensors."""
    return _torch_namespace


def check_tensor(x: Any, what: str = "x") -> None:
    """Raise ``TypeError`` unless ``x`` is a real floating torch tensor."""
    if not isinstance(x, torch.Tensor):
        kind = framework_of(x) + "." + type(x).__name__
        raise TypeError(
            f"the torch adapter takes torch tensors, got {kind}; convert it with "
            f"torch.as_tensor({what}) (or use spikegrad.get(...).derivative for numpy)"
        )
    if x.dtype not in FLOATS:
        raise TypeError(
            f"{what} has dtype {x.dtype}; surrogate gradients need a real floating tensor "
            f"(float16, bfloat16, float32 or float64): cast it first, e.g. {what}.float()"
        )


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a computation runs in (the one rule, :func:`compute_dtype_for`)."""
    return compute_dtype_for(_torch_namespace, dtype)


def cast(x: torch.Tensor) -> torch.Tensor:
    """``x`` in its compute dtype."""
    return x.to(compute_dtype(x.dtype))


def set_fast_path(enabled: bool) -> None:
    """Let eager CPU calls use the generated kernels and the C++ autograd node (the
    default), or make every call use torch ops (the same formula, slower; a few ULP apart
    where it calls exp, erf, tanh or cos), for this process."""
    with _lock:
        _switch["enabled"] = bool(enabled)
        listeners = list(_listeners)
    for fn in listeners:
        fn(bool(enabled))


def fast_path_enabled() -> bool:
    """Whether :func:`set_fast_path` allows the fast path."""
    return _switch["enabled"]


def on_switch(fn: Any) -> None:
    """Call ``fn(enabled)`` now and whenever :func:`set_fast_path` changes (the C++ node
    keeps its own copy of the answer)."""
    with _lock:
        _listeners.append(fn)
    fn(_switch["enabled"])


#: Tensor types that override no operation (``nn.Parameter`` disables torch functions).
_PLAIN = (torch.Tensor, torch.nn.Parameter)


def fast_path_ok(*tensors: torch.Tensor) -> bool:
    """The one decision: may generated CPU kernels serve a call on ``tensors``?

    Yes for plain CPU tensors and ``nn.Parameter`` (not other subclasses, which may
    override operations) in eager mode: the switch is on, nothing is being compiled or
    transformed (``torch.compile``, ``torch.func``), no dispatch mode records the
    operations (``make_fx``: a kernel's work is invisible to it) and no forward-mode AD
    level is active.  What only the backward knows (its gradient, and whether it must itself be
    differentiable) is :func:`backward_applies`.
    """
    return (_switch["enabled"]
            and all(type(t) in _PLAIN and t.is_cpu for t in tensors)  # (no device object)
            and not torch.compiler.is_compiling()
            and not torch._C._are_functorch_transforms_active()
            and not torch._C._len_torch_dispatch_stack()  # make_fx, recording modes
            and torch.autograd.forward_ad._current_level < 0)


#: The dtypes the generated CPU kernels serve (float16 and bfloat16 through float32).
KERNEL_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def backward_applies(x: torch.Tensor, grad: torch.Tensor) -> bool:
    """The backward-time half of the decision, for a forward that :func:`fast_path_ok`
    admitted: may the kernel compute ``grad * g'(x)``?

    Yes when grad mode is off (a ``backward(create_graph=True)`` must itself be
    differentiable: torch ops) and ``grad`` is a CPU tensor of ``x``'s dtype and shape, in
    a dtype of :data:`KERNEL_DTYPES`.  The C++ node, which decides without Python, states
    this same rule in C++ (its ``backward_applies``); the tests hold the two together.
    """
    return (not torch.is_grad_enabled() and x.dtype in KERNEL_DTYPES
            and grad.dtype == x.dtype and grad.shape == x.shape
            and x.device.type == "cpu" and grad.device.type == "cpu")


def apply_positional(function: Any, *args: Any) -> Any:
    """``function.apply(*args)`` for a ``torch.autograd.Function`` called with every
    argument of its ``forward`` positionally.

    Outside ``torch.compile`` and ``torch.func`` transforms this skips
    ``Function.apply``'s binding of default arguments (an ``inspect.signature`` per call,
    about 100 us, which a call that passes every argument does not need) and does what
    ``apply`` does next; there, the full ``apply`` (dynamo and functorch need it).
    """
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return function.apply(*args)
    args = torch._functorch.utils.unwrap_dead_wrappers(args)
    return super(torch.autograd.Function, function).apply(*args)
