"""The cupy binding: explicit forward / manual backward on CUDA arrays with fused kernels
generated from the spec (:mod:`spikegrad.codegen.cuda`), never hand-written.

Kernels are ``cupy.ElementwiseKernel`` objects built once per formula shape and dtype and
cached; parameter values are run-time arguments (a small float64 array of constants per
surrogate and device), so a new value compiles nothing; branches are selects, float16 is
computed in float32 and rounded once, and any layout (non-contiguous, any shape) works
because ElementwiseKernel indexes by strides.  Surrogates with a stochastic backward, a
non-spike forward or array parameters use the same array-API formulas through cupy's
namespace (:mod:`spikegrad._evaluate` and the reference engine's backward), on the arrays'
device.

The binding takes a bound surrogate (``spikegrad.get(...)``), never a name, and never
calls back into :meth:`Bound.spike`: it is where ``Bound.spike`` of a CuPy array ends up.
Its dispatch protocol: :func:`spike` (``Bound.spike``) and :func:`multistep`
(``MultiStepBound.spike``).  Names are resolved by the front end, :mod:`spikegrad.cupy`.
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
from .._evaluate import _astype, compute_dtype_for, forward_compute, namespace_of
from .._spec import Bound
from ..codegen import cuda
from . import cupy_multistep
from . import reference as engine

__all__ = ["backward", "backward_with_params", "forward", "forward_backward", "multistep",
           "spike", "spike_and_vjp"]

_FLOATS = {"float16", "bfloat16", "float32", "float64"}  # bfloat16: CuPy >= 14, ml_dtypes


def _check_bound(bound: Any) -> None:
    if not isinstance(bound, Bound):
        hint = f"spikegrad.get({bound!r})" if isinstance(bound, str) else "spikegrad.get(...)"
        raise TypeError(f"the cupy binding takes a bound surrogate, got {bound!r}: bind it "
                        f"first ({hint}), or call spikegrad.cupy, which accepts names")


def _check(x: Any, what: str = "x") -> None:
    if not isinstance(x, cupy.ndarray):
        mod = framework_of(x)
        raise TypeError(f"the cupy adapter takes cupy arrays, got {mod}.{type(x).__name__}; "
                        f"convert with cupy.asarray({what}) or cupy.from_dlpack({what})")
    if x.dtype.name not in _FLOATS:
        raise TypeError(f"{what} has dtype {x.dtype}; surrogate gradients need float16, "
                        f"bfloat16, float32 or float64: cast it first, e.g. "
                        f"{what}.astype(cupy.float32)")


def _spiking(bound: Bound) -> bool:
    """The forward is a plain spike (decided by the bit-exact spike kernel: CuPy's own
    comparisons flush float32 subnormals)."""
    return bound.forward_kind in ("ge", "gt")


def _generated(bound: Bound) -> bool:
    """The backward has a generated kernel: a deterministic formula with number
    parameters (array parameters go through the array-API engine on cupy arrays)."""
    return not bound.formula.stochastic_backward and not bound.has_array_params


def _kernel(e: cuda.Elementwise) -> Any:
    return cupy.ElementwiseKernel(e.in_params, e.out_params, e.operation, e.name,
                                  preamble=e.preamble, options=e.options)


@functools.lru_cache(maxsize=512)
def _spike_kernel(kind: str, dtype: str) -> Any:
    return _kernel(cuda.spike_kernel(kind, dtype))


_KERNELS: dict[str, Any] = {}


def _compiled(e: cuda.Elementwise) -> Any:
    """One ElementwiseKernel per kernel text (shared by every parameter value)."""
    k = _KERNELS.get(e.name)
    if k is None:
        k = _KERNELS[e.name] = _kernel(e)
    return k


@functools.lru_cache(maxsize=1024)
def _launch(bound: Bound, dtype: str, fused: bool, device_id: int) -> tuple[Any, Any]:
    """(kernel, constants on the device) of ``bound``."""
    e = cuda.elementwise(bound, dtype, with_spike=fused)
    with cupy.cuda.Device(device_id):
        constants = cupy.asarray(e.constants or (0.0,), dtype=cupy.float64)
    return _compiled(e), constants


def _backward_kernel(bound: Bound, dtype: str, device_id: int = 0) -> Any:
    kernel, constants = _launch(bound, dtype, False, device_id)
    return lambda x, g: kernel(x, g, constants)


def _fused_kernel(bound: Bound, dtype: str, device_id: int = 0) -> Any:
    kernel, constants = _launch(bound, dtype, True, device_id)
    return lambda x, g: kernel(x, g, constants)


def _check_pair(x: Any, grad: Any, what: str = "the input") -> None:
    _check(grad, "grad")
    if grad.dtype != x.dtype or grad.shape != x.shape:
        raise TypeError(f"grad {grad.dtype}{grad.shape} must match {what} "
                        f"{x.dtype}{x.shape}")
    if x.device != grad.device:
        raise TypeError(f"grad is on {grad.device}, {what} on {x.device}; "
                        "move them to one device")


def _formula_forward(bound: Bound, x: Any, key: Any) -> Any:
    """A non-spike forward (Bernoulli draws, a formula's own) by the array-API formulas on
    cupy's namespace, in the compute dtype, rounded once to ``x``'s."""
    xp = namespace_of(x)
    xc = _astype(x, compute_dtype_for(xp, x.dtype), xp)
    return _astype(forward_compute(bound, xc, xp, key), x.dtype, xp)


def forward(bound: Bound, x: Any, *, key: Any = None) -> tuple[Any, Any]:
    """Spike of ``x`` (same dtype and device) and the residual (``x`` itself)."""
    _check_bound(bound)
    _check(x)
    with x.device:  # outputs on x's device, not the current one
        if _spiking(bound):
            return _spike_kernel(bound.forward_kind, x.dtype.name)(x), x
        return _formula_forward(bound, x, key), x


def backward(bound: Bound, residual: Any, grad: Any, *, key: Any = None) -> Any:
    """``grad * g'(residual)`` in one generated kernel."""
    _check_bound(bound)
    _check(residual, "residual")
    _check_pair(residual, grad)
    with residual.device:
        if not _generated(bound):
            return engine.backward(bound, residual, grad, key=key)
        return _backward_kernel(bound, residual.dtype.name, residual.device.id)(residual,
                                                                                 grad)


def forward_backward(bound: Bound, x: Any, grad: Any, *, key: Any = None
                     ) -> tuple[Any, Any]:
    """Spike and ``grad * g'(x)`` from one kernel (one read of ``x``); surrogates with a
    stochastic forward or backward take two passes and need ``key``."""
    _check_bound(bound)
    _check(x)
    _check_pair(x, grad)
    if not _spiking(bound) or not _generated(bound):
        spikes, res = forward(bound, x, key=key)
        return spikes, backward(bound, res, grad, key=key)
    with x.device:
        return _fused_kernel(bound, x.dtype.name, x.device.id)(x, grad)


def _sum_to(a: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """``a`` summed over the axes that ``shape`` broadcast along (in ``a``'s dtype, the
    compute dtype), cast to ``dtype``."""
    lead = a.ndim - len(shape)
    if lead:
        a = a.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and a.shape[i] != 1)
    if axes:
        a = a.sum(axis=axes, keepdims=True)
    return a.reshape(shape).astype(dtype, copy=False)


def backward_with_params(bound: Bound, residual: Any, grad: Any
                         ) -> tuple[Any, dict[str, Any]]:
    """``(grad * g'(residual), {name: Σ grad ∂g/∂θ})`` for a surrogate whose parameters
    are cupy arrays (0-d, per channel, per neuron: anything that broadcasts against the
    input): one generated kernel computes ``grad_x`` and every parameter's gradient per
    element (:func:`spikegrad.codegen.cuda.param_elementwise`, the CPU kernels' graph),
    then each is summed to its parameter's shape, in the parameter's dtype.

    Raises
    ------
    TypeError
        For a parameter that is not a cupy array of a floating dtype on the input's
        device.
    NotImplementedError
        For a stochastic backward or a surrogate without a primitive (nothing to
        differentiate in its parameters).
    """
    _check_bound(bound)
    _check(residual, "residual")
    _check_pair(residual, grad)
    names, values = bound.array_param_names, bound.array_values
    if not names:
        raise TypeError(f"{bound.name} has no array parameter: give them as cupy arrays "
                        "(alpha=cupy.asarray(2.0)) to learn them, or call backward()")
    for name, v in zip(names, values, strict=True):
        _check(v, name)
        if v.device != residual.device:
            raise TypeError(f"parameter {name} is on {v.device}, the input on "
                            f"{residual.device}; move them to one device")
    if bound.formula.stochastic_backward or not bound.has_primitive:
        raise NotImplementedError(
            f"{bound.name}: no parameter gradient (a stochastic backward, or no primitive "
            "g to differentiate in its parameters)")
    static = tuple((k, None if is_array_param(v) else v) for k, v in bound.param_items)
    dtype = residual.dtype.name
    e = cuda.param_elementwise(bound.entry, static, dtype)
    compute = cupy.float64 if dtype == "float64" else cupy.float32
    with residual.device:
        constants = cupy.asarray(e.constants or (0.0,), dtype=cupy.float64)
        ps = [v.astype(compute, copy=False) for v in values]
        gx, *gps = _compiled(e)(residual, grad, *ps, constants)
        grads = {name: _sum_to(gp, v.shape, v.dtype)
                 for name, gp, v in zip(names, gps, values, strict=True)}
    return gx, grads


def spike_and_vjp(bound: Bound, x: Any, *, key: Any = None) -> tuple[Any, Any]:
    """Spike and a function ``vjp(grad) -> grad_x``."""
    spikes, res = forward(bound, x, key=key)
    return spikes, lambda grad: backward(bound, res, grad, key=key)


# -- the binding protocol of spikegrad._dispatch ------------------------------------------
def spike(bound: Bound, x: Any, key: Any = None) -> Any:
    """``Bound.spike`` of a cupy array: the forward output (cupy has no autograd; the
    backward is :func:`backward`)."""
    return forward(bound, x, key=key)[0]


def multistep(bound: Any, x: Any) -> Any:
    """``MultiStepBound.spike`` of a cupy ``[T, ...]`` array: the output sequence
    (:func:`spikegrad.adapters.cupy_multistep.forward`)."""
    return cupy_multistep.forward(bound, x)
