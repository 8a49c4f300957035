"""What an array is: its framework, whether a parameter value is an array, and where its
values can be read without a device synchronisation.

The one answer to "which framework is this array?" (:func:`framework_of`), read from the
type's module name, so no framework is imported to inspect a value (a framework's types
exist only once it is imported).  A leaf module: it imports nothing of spikegrad.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["framework_of", "host_extremes", "host_values", "is_array_param", "param_key",
           "param_text", "split_params"]

#: The framework of an array type, from the root of its module name.
_ROOTS = {"numpy": "numpy", "torch": "torch", "jax": "jax", "jaxlib": "jax", "cupy": "cupy"}


def framework_of(value: Any) -> str:
    """``"numpy"``, ``"torch"``, ``"jax"``, ``"cupy"`` or the root module name of
    ``value``'s type (``"array_api_strict"``, ...): the one place that answers which
    framework an array belongs to."""
    root = type(value).__module__.split(".", 1)[0]
    return _ROOTS.get(root, root)


#: Types whose every value is an array parameter (their class defines ``shape`` and
#: ``dtype``): known after a first look, so the per-call question is one dictionary lookup.
_ARRAY_TYPES: dict[type, bool] = {}


def is_array_param(value: Any) -> bool:
    """Whether a parameter value is an array (a framework tensor, a traced value, a
    NumPy array of dimension >= 1) rather than a Python number."""
    t = type(value)
    if t in _ARRAY_TYPES:
        return True
    if value is None or isinstance(value, (bool, int, float, str, tuple, list, np.generic)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    if hasattr(t, "shape") and hasattr(t, "dtype"):  # (a class attribute: every value)
        if len(_ARRAY_TYPES) >= 256:  # (bounded: classes made at run time)
            _ARRAY_TYPES.clear()
        _ARRAY_TYPES[t] = True
        return True
    return hasattr(value, "shape") and hasattr(value, "dtype")


def param_key(value: Any) -> Any:
    """Hashable identity of a parameter value: numbers by value, arrays by identity."""
    return ("array", id(value)) if is_array_param(value) else value


def split_params(items: tuple[tuple[str, Any], ...]
                 ) -> tuple[tuple[tuple[str, Any], ...], tuple[str, ...], tuple[Any, ...]]:
    """Split a bound's ``(name, value)`` items into its static part (array values
    replaced by ``None``: hashable), the names of the array parameters and their values,
    in definition order: the one place a bound is split for a framework's tracer."""
    static = tuple((k, None if is_array_param(v) else v) for k, v in items)
    names = tuple(k for k, v in items if is_array_param(v))
    values = tuple(v for k, v in items if is_array_param(v))
    return static, names, values


def _torch_readable(value: Any) -> bool:
    """Whether a torch tensor's values can be read for free: a plain CPU tensor outside
    ``torch.compile`` (asked first: dynamo then reads nothing else), transforms and
    dispatch modes (``make_fx`` traces a read as data-dependent control flow)."""
    torch = sys.modules["torch"]
    # (``is_cpu``, not ``device.type``: a device object per call costs 5x more)
    return not (torch.compiler.is_compiling() or not value.is_cpu
                or torch._C._are_functorch_transforms_active()
                or torch._C._len_torch_dispatch_stack()
                or type(value) not in (torch.Tensor, torch.nn.Parameter))


def host_values(value: Any) -> np.ndarray | None:
    """The values of an array parameter as a NumPy array where reading them costs no device
    synchronisation and no trace (NumPy; torch CPU tensors outside ``torch.compile`` and
    transforms; concrete jax arrays on CPU); ``None`` otherwise."""
    framework = framework_of(value)
    if framework == "numpy":
        return np.asarray(value)
    if framework == "torch":
        if not _torch_readable(value):
            return None
        return value.detach().to(sys.modules["torch"].float64).numpy()
    if framework == "jax":
        jax = sys.modules["jax"]
        if isinstance(value, jax.core.Tracer):
            return None
        if {d.platform for d in value.devices()} != {"cpu"}:
            return None
        return np.asarray(value, dtype=np.float64)
    return None


#: A framework binding's faster reading of a large array's extremes (``(min, max)``, or
#: ``None`` where it does not apply), registered by the binding: this module imports none.
FAST_EXTREMES: dict[str, Any] = {}


def host_extremes(value: Any, framework: str | None = None) -> tuple[float, float] | None:
    """``(min, max)`` of an array parameter (NaN if it holds one) where reading them costs
    no device synchronisation and no trace (as :func:`host_values`), in one pass of the
    framework's own reduction, without a float64 copy; ``None`` otherwise or when empty.
    ``framework``: :func:`framework_of` of ``value`` where the caller has it."""
    if framework is None:
        framework = framework_of(value)
    if framework == "torch":
        if not _torch_readable(value):
            return None
        n = value.numel()
        if n == 1:  # one value: read it (a reduction costs 10x more)
            v = value.item()
            return v, v
        if n == 0:
            return None
        fast = FAST_EXTREMES.get("torch")
        found = fast(value) if fast is not None else None
        if found is not None:
            return found
        lo, hi = sys.modules["torch"].aminmax(value.detach())
        return float(lo), float(hi)
    host = host_values(value)
    if host is None or host.size == 0:
        return None
    return float(np.min(host)), float(np.max(host))


def _scalar_text(value: Any) -> str | None:
    """The value of a 0-d array as text in its own precision (``0.1`` for a float32 0.1),
    or ``None`` where it cannot be read without a trace (a tracer, ``torch.compile``,
    a functorch transform, a meta tensor)."""
    framework = framework_of(value)
    if framework == "torch":
        torch = sys.modules["torch"]
        if (torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()
                or value.device.type == "meta"):
            return None
        t = value.detach()
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        host = t.cpu().numpy()
    elif framework == "jax":
        if isinstance(value, sys.modules["jax"].core.Tracer):
            return None
        host = np.asarray(value)
    elif framework == "numpy":
        host = np.asarray(value)
    else:
        return None
    if (host.dtype.kind == "f" and host.dtype.itemsize < 4) or "bfloat16" in str(host.dtype):
        host = host.astype(np.float32)
    return str(host[()])


def param_text(value: Any) -> str:
    """A parameter value as a repr shows it: a number (or a 0-d array) as its value, an
    array of more dimensions as ``<type shape (...)>``."""
    if not is_array_param(value):
        return repr(value)
    shape = tuple(value.shape)
    if not shape:
        text = _scalar_text(value)
        if text is not None:
            return text
    return f"<{type(value).__name__} shape {shape}>"
