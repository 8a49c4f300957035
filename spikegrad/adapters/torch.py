"""The torch adapter: every registered surrogate as a ``torch.autograd.Function``.

One Function class is created (once, then cached) per bound surrogate, with the
parameters baked in as Python floats; no per-surrogate code exists here.  The forward
writes the spike straight into a float tensor of the input's dtype; the backward computes
``grad * g'(x)`` from the spec's array-API formula on the saved input (the only tensor
saved).  Forward mode (``jvp``) and ``vmap`` (``generate_vmap_rule``) are supported, so
the Functions work under ``torch.func`` and ``torch.compile(fullgraph=True)``.

Second derivatives follow the formula: when the backward runs with ``create_graph=True``
it is itself differentiable, and ``d/dx (grad * g'(x)) = grad * g''(x)``.

Autocast: the Functions are not autocast-eligible; like elementwise ops they run in the
dtype of their input and return the spike in that dtype (float16/bfloat16 are computed in
float32 internally and rounded once).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch

from .. import special
from .._evaluate import derivative_compute, evaluate_formula, primitive_compute
from .._spec import Bound

__all__ = ["check_tensor", "derivative", "function_for", "primitive", "spike"]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _xp() -> Any:
    import array_api_compat.torch as xp

    return xp


def check_tensor(x: Any, what: str = "x") -> None:
    """Raise ``TypeError`` unless ``x`` is a real floating torch tensor."""
    if not isinstance(x, torch.Tensor):
        kind = type(x).__module__.split(".")[0] + "." + type(x).__name__
        raise TypeError(
            f"the torch adapter takes torch tensors, got {kind}; convert it with "
            f"torch.as_tensor({what}) (or use spikegrad.get(...).derivative for numpy)"
        )
    if x.dtype not in _FLOATS:
        raise TypeError(
            f"{what} has dtype {x.dtype}; surrogate gradients need a real floating tensor "
            f"(float16, bfloat16, float32 or float64): cast it first, e.g. {what}.float()"
        )


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _cast(x: torch.Tensor) -> torch.Tensor:
    return x.to(_compute_dtype(x.dtype))


def _values(fn: Any, x: torch.Tensor, params: dict[str, Any], scale: float) -> torch.Tensor:
    """``scale * fn(x)`` (NaN-propagating) computed in the compute dtype, in ``x``'s dtype."""
    return evaluate_formula(fn, _cast(x), _xp(), params, scale).to(x.dtype)


def derivative(bound: Bound, x: torch.Tensor, key: Any = None) -> torch.Tensor:
    """``g'(x)`` with torch ops (differentiable), in ``x``'s dtype."""
    return derivative_compute(bound, _cast(x), _xp(), key).to(x.dtype)


def primitive(bound: Bound, x: torch.Tensor) -> torch.Tensor:
    """``g(x)`` with torch ops (differentiable), in ``x``'s dtype."""
    return primitive_compute(bound, _cast(x), _xp()).to(x.dtype)


class _SurrogateFunction(torch.autograd.Function):
    """Base class; :func:`function_for` makes one subclass per bound surrogate.

    Subclasses carry only plain constants (the forward kind, the formula functions, the
    formula parameters as Python numbers and the output scale), so dynamo traces them
    without graph breaks.
    """

    bound: Bound
    kind: str = "ge"
    d_fn: Any = None
    g_fn: Any = None
    f_fn: Any = None
    params: dict[str, Any] = {}  # noqa: RUF012 - replaced per subclass
    scale: float = 1.0
    stochastic_backward: bool = False
    generate_vmap_rule = True

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # Function.apply binds default arguments through inspect.signature on every call
        # (setup_context style); skip that when no functorch transform is active.
        if kwargs or torch._C._are_functorch_transforms_active():
            return super().apply(*args, **kwargs)
        return super(torch.autograd.Function, cls).apply(*args)  # type: ignore[misc]

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, key = inputs
        ctx.save_for_backward(x)  # the only tensor kept: the input itself, no new bytes
        ctx.key = key

    @classmethod
    def _grad_factor(cls, x: torch.Tensor, key: Any) -> torch.Tensor:
        params = cls.params
        if cls.stochastic_backward:
            params = dict(params, noise=special.uniform(key, _cast(x), _cast(x).dtype, _xp()))
        return _values(cls.d_fn, x, params, cls.scale)

    @classmethod
    def _forward(cls, x: torch.Tensor, key: Any) -> torch.Tensor:
        kind = cls.kind
        if kind in ("ge", "gt"):
            op = torch.ge if kind == "ge" else torch.gt
            if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
                return op(x, 0).to(x.dtype)
            # eager: write the float spike directly, no bool temporary
            return op(x, 0, out=torch.empty_like(x, memory_format=torch.contiguous_format))
        xc = _cast(x)
        if kind == "formula":
            return cls.f_fn(xc, xp=_xp(), **cls.params).to(x.dtype)
        u = special.uniform(key, xc, xc.dtype, _xp())
        p = xc if kind == "bernoulli_input" else evaluate_formula(
            cls.g_fn, xc, _xp(), cls.params, cls.scale)
        return (u < p).to(x.dtype)


_FUSED_DTYPES = {torch.float32: "float32", torch.float64: "float64",
                 torch.float16: "float32", torch.bfloat16: "float32"}
_HALF = (torch.float16, torch.bfloat16)
_fused_state = {"enabled": os.environ.get("SPIKEGRAD_FUSED", "1") != "0", "warned": False}


def _kernel(cls: Any, dtype: torch.dtype) -> Any:
    """The class's compiled kernels for ``dtype`` (built once, then kept on the class)."""
    cache = cls.__dict__.get("_kernels")
    if cache is None:
        cache = {}
        cls._kernels = cache
    kern = cache.get(dtype)
    if kern is None:
        from ..codegen import cpu

        kern = cache[dtype] = cpu.kernels(cls.bound, _FUSED_DTYPES[dtype])
    return kern


def _fused_backward(cls: Any, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor | None:
    """``grad * g'(x)`` in one generated C loop, for plain CPU tensors in eager mode.

    Returns ``None`` where the fused kernel does not apply (GPU, tensor subclasses,
    functorch transforms, ``torch.compile``, ``create_graph=True``, stochastic
    backward); the caller then evaluates the same formula with torch ops.
    """
    if (torch.is_grad_enabled() or not _fused_state["enabled"] or cls.stochastic_backward
            or type(x) is not torch.Tensor or type(grad) is not torch.Tensor
            or x.dtype not in _FUSED_DTYPES or grad.dtype != x.dtype
            or x.device.type != "cpu" or grad.device.type != "cpu"
            or x.shape != grad.shape or torch.compiler.is_compiling()
            or torch._C._are_functorch_transforms_active()):
        return None
    try:
        kern = _kernel(cls, x.dtype)
    except (RuntimeError, OSError) as exc:  # no C compiler: the torch-ops path is exact too
        _fused_state["enabled"] = False
        if not _fused_state["warned"]:
            _fused_state["warned"] = True
            warnings.warn(f"spikegrad: fused CPU kernels unavailable ({exc}); using torch "
                          "ops for the backward (same values, slower)", RuntimeWarning,
                          stacklevel=3)
        return None
    if x.dtype in _HALF:
        xc, gc = x.float().contiguous(), grad.float().contiguous()
    else:
        xc = x if x.is_contiguous() else x.contiguous()
        gc = grad if grad.is_contiguous() else grad.contiguous()
    out = torch.empty_like(xc, memory_format=torch.contiguous_format)
    kern.backward(xc.data_ptr(), gc.data_ptr(), out.data_ptr(), xc.numel())
    return out.to(x.dtype) if x.dtype in _HALF else out


def _setup_context_with_jvp(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    x, key = inputs
    ctx.save_for_backward(x)
    ctx.save_for_forward(x)
    ctx.key = key


def function_for(bound: Bound) -> type[torch.autograd.Function]:
    """The ``torch.autograd.Function`` of ``bound``, created on first use and cached.

    Under ``torch.compile`` the class without a custom ``jvp`` is returned (dynamo does not
    trace custom ``jvp`` methods); everywhere else the class with forward mode.
    """
    fns = bound.__dict__.get("_torch_functions")
    if fns is None:  # first use, in eager mode: build both classes once
        fns = (_make_function(bound, False), _make_function(bound, True))
        object.__setattr__(bound, "_torch_functions", fns)
    return fns[0] if torch.compiler.is_compiling() else fns[1]


def _make_function(bound: Bound, with_jvp: bool) -> type[torch.autograd.Function]:
    formula = bound.formula
    cls: Any = None

    def forward(x: torch.Tensor, key: Any = None) -> torch.Tensor:
        return cls._forward(x, key)

    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        (x,) = ctx.saved_tensors
        fused = _fused_backward(cls, x, grad)
        if fused is not None:
            return fused, None
        return grad * cls._grad_factor(x, ctx.key), None

    def jvp(ctx: Any, x_t: torch.Tensor, key_t: Any = None) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return x_t * cls._grad_factor(x, ctx.key)

    name = "".join(part.capitalize() for part in bound.name.replace(":", "_").split("_"))
    body: dict[str, Any] = {
        "bound": bound,
        "kind": bound.forward_kind,
        "d_fn": staticmethod(formula.derivative),
        "g_fn": staticmethod(formula.primitive) if formula.primitive else None,
        "f_fn": staticmethod(formula.forward) if formula.forward else None,
        "params": bound.formula_params,
        "scale": bound.scale,
        "stochastic_backward": formula.stochastic_backward,
        "forward": staticmethod(forward),
        "backward": staticmethod(backward),
        "__doc__": f"Spike with the {bound!r} surrogate gradient.",
    }
    if with_jvp:
        body["jvp"] = staticmethod(jvp)
        body["setup_context"] = staticmethod(_setup_context_with_jvp)
    cls = type(f"{name}Spike", (_SurrogateFunction,), body)
    return cls


_NATIVE_FUNCTIONS: list[Any] = []


def _slow_backward(fid: int, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Backward of the C++ node when its fused kernel does not apply (called from C++)."""
    cls = _NATIVE_FUNCTIONS[fid]
    return grad * cls._grad_factor(x, None)


def _native_pointers(cls: Any) -> tuple[int, int, int] | None:
    """(float32 kernel, float64 kernel, function id) for the C++ node, built once."""
    ptrs = cls.__dict__.get("_native_ptrs")
    if ptrs is None:
        try:
            k32, k64 = _kernel(cls, torch.float32), _kernel(cls, torch.float64)
        except (RuntimeError, OSError):
            ptrs = False
        else:
            import ctypes

            _NATIVE_FUNCTIONS.append(cls)
            ptrs = (ctypes.cast(k32.backward, ctypes.c_void_p).value,
                    ctypes.cast(k64.backward, ctypes.c_void_p).value,
                    len(_NATIVE_FUNCTIONS) - 1)
        cls._native_ptrs = ptrs
    return ptrs or None


def spike(x: torch.Tensor, bound: Bound, key: Any = None) -> torch.Tensor:
    """Spike of ``x`` with ``bound``'s surrogate gradient (differentiable)."""
    check_tensor(x)
    cls = function_for(bound)
    if (not torch.compiler.is_compiling() and key is None and cls.kind in ("ge", "gt")
            and not cls.stochastic_backward and type(x) is torch.Tensor
            and x.device.type == "cpu" and _fused_state["enabled"]
            and not torch._C._are_functorch_transforms_active()
            and torch.autograd.forward_ad._current_level < 0):
        from . import _torch_native

        native = _torch_native.module()
        if native is not None:
            ptrs = _native_pointers(cls)
            if ptrs is not None:
                return native.spike(x, cls.kind == "gt", *ptrs)
    return cls.apply(x, key)
