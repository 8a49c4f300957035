"""CUDA kernels generated from the spec (for the cupy adapter).

The same traced graph and emitter as the CPU kernels (:mod:`spikegrad.codegen.c`), with a
device prelude.  Two forms are produced:

* :func:`elementwise` — the pieces of a ``cupy.ElementwiseKernel`` (parameters, body,
  preamble, compile options): ``out = g * g'(x)``, ``g'(x)`` alone, or the fused spike and
  ``g * g'(x)`` from one read of ``x``; :func:`spike_kernel` — the spike alone.  float16 and
  bfloat16 (CuPy ≥ 14 with ml_dtypes) are computed in float32 and rounded once;
* :func:`module_source` — a standalone ``.cu`` translation unit with ``extern "C"``
  kernels, which ``nvcc`` can compile without a GPU.

Parameters are run-time arguments, as in the CPU kernels: the formula's constants are read
from a ``raw float64 c`` array (:attr:`Elementwise.constants`), so the kernel text and name
depend on the formula's shape only and a new parameter value compiles nothing.

CuPy compiles with ``-ftz=true`` (float32 subnormal inputs and results flush to zero), so
the spike is decided on the bits of ``x`` (:func:`spike_condition`): a plain ``x >= 0``
would fire on negative subnormals.  Contraction into FMA is switched off
(:data:`OPTIONS`) so the error-free products of :mod:`spikegrad._numerics` stay exact, as
on the CPU.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .._spec import Bound
from .c import emit_expression, helpers
from .trace import trace_formula

__all__ = ["OPTIONS", "Elementwise", "elementwise", "module_source", "spike_condition",
           "spike_kernel"]

_DEVICE_PRELUDE = helpers("static __device__ __forceinline__")
#: C type of the computation for each storage dtype (half types are computed in float32).
_CTYPE = {"float16": "float", "bfloat16": "float", "float32": "float", "float64": "double"}
#: C type of the storage (CuPy's ``float16`` and ``bfloat16`` classes for the half types).
_STORAGE = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float",
            "float64": "double"}
_DTYPES = "float16, bfloat16, float32, float64"
#: NVRTC options of every generated kernel: no multiply-add contraction.
OPTIONS = ("--fmad=false",)


@dataclass(frozen=True)
class Elementwise:
    """Arguments of ``cupy.ElementwiseKernel`` for one kernel and dtype.

    ``in_params``/``out_params`` name NumPy dtypes (``float32 x``), as ElementwiseKernel
    requires; ``operation`` reads the inputs and assigns the outputs by those names.
    """

    in_params: str
    out_params: str
    operation: str
    name: str
    preamble: str
    options: tuple[str, ...] = OPTIONS
    #: run-time constants of the surrogate, passed as the ``raw float64 c`` argument
    constants: tuple[float, ...] = ()


def spike_condition(kind: str, dtype: str, var: str = "x") -> str:
    """CUDA boolean expression ``var >= 0`` (``kind="ge"``) or ``var > 0`` (``"gt"``),
    false for NaN, exact under flush-to-zero.

    float32 and float64 compare the bits as unsigned integers (``x >= 0`` is "sign clear
    and not NaN, or -0.0"; ``x > 0`` is "sign clear, not zero, not NaN"); bfloat16 compares
    the bits of its exact widening to float32 (its subnormals are float32 subnormals);
    float16 widens exactly to float32, where its subnormals are normal numbers.
    """
    if kind not in ("ge", "gt"):
        raise ValueError(f"spike kind must be 'ge' or 'gt', got {kind!r}")
    if dtype == "float16":
        return f"((float){var} {'>=' if kind == 'ge' else '>'} 0.0f)"
    if dtype in ("float32", "bfloat16"):
        v = var if dtype == "float32" else f"(float){var}"
        bits, inf, sign, one = f"__float_as_uint({v})", "0x7f800000u", "0x80000000u", "1u"
    elif dtype == "float64":
        bits, inf = f"(unsigned long long)__double_as_longlong({var})", "0x7ff0000000000000ull"
        sign, one = "0x8000000000000000ull", "1ull"
    else:
        raise ValueError(f"no CUDA spike for dtype {dtype!r}")
    if kind == "ge":
        return f"({bits} <= {inf} || {bits} == {sign})"
    return f"({bits} - {one} < {inf})"


def _body(bound: Bound, dtype: str, var_in: str) -> tuple[str, str, tuple[float, ...]]:
    if bound.has_array_params:
        raise NotImplementedError(f"{bound.name}: array parameters are evaluated with the "
                                  "framework's ops, not a generated kernel")
    compute = "float64" if dtype == "float64" else "float32"
    _, out = trace_formula(bound.formula.derivative, bound.formula_params, compute, bound.scale,
                           distinct_constants=True)
    constants: list[float] = []
    lines, var = emit_expression(out, {"x": var_in}, constants)
    return "\n".join(lines), var, tuple(constants)


def _kernel_name(bound: Bound, dtype: str, what: str, text: str) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in bound.formula.name).strip("_")
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]  # the shape: stable across processes
    return f"sg_{stem}_{digest}_{dtype}_{what}"


def _spike_value(kind: str, dtype: str) -> str:
    s = _STORAGE[dtype]
    return f"{spike_condition(kind, dtype)} ? ({s})1.0f : ({s})0.0f"


def elementwise(bound: Bound, dtype: str, with_grad: bool = True,
                with_spike: bool = False) -> Elementwise:
    """``cupy.ElementwiseKernel`` pieces for ``bound`` and ``dtype``.

    * default: inputs ``x, g``, output ``out = g * g'(x)``;
    * ``with_grad=False``: input ``x``, output ``out = g'(x)``;
    * ``with_spike=True``: inputs ``x, g``, outputs ``spike`` (the forward) and
      ``gx = g * g'(x)``, from one read of ``x`` (spike forward kinds only).
    """
    if bound.formula.stochastic_backward:
        raise NotImplementedError(f"{bound.name}: stochastic backward has no fused kernel")
    if dtype not in _CTYPE:
        raise ValueError(f"no CUDA kernel for dtype {dtype!r} ({_DTYPES})")
    if with_spike and (not with_grad or bound.forward_kind not in ("ge", "gt")):
        raise ValueError(f"{bound.name}: a fused spike needs a gradient input and a "
                         f"ge/gt forward (forward kind {bound.forward_kind!r})")
    t, s = _CTYPE[dtype], _STORAGE[dtype]
    body, var, constants = _body(bound, dtype, "xv")
    result = f"(({t})g) * {var}" if with_grad else var
    target = "gx" if with_spike else "out"
    lines = [f"const {t} xv = ({t})x;", body, f"{target} = ({s})({result});"]
    if with_spike:
        lines.append(f"spike = {_spike_value(bound.forward_kind, dtype)};")
    what = "fb" if with_spike else ("bwd" if with_grad else "d")
    operation = "\n".join(lines)
    return Elementwise(
        in_params=(f"{dtype} x, {dtype} g" if with_grad else f"{dtype} x")
        + ", raw float64 c",
        out_params=f"{dtype} spike, {dtype} gx" if with_spike else f"{dtype} out",
        operation=operation,
        name=_kernel_name(bound, dtype, what, operation),
        preamble=_DEVICE_PRELUDE,
        constants=constants,
    )


def spike_kernel(kind: str, dtype: str) -> Elementwise:
    """``cupy.ElementwiseKernel`` pieces of the spike ``out = 1[x >= 0]`` (or ``> 0``)."""
    if dtype not in _CTYPE:
        raise ValueError(f"no CUDA kernel for dtype {dtype!r} ({_DTYPES})")
    return Elementwise(f"{dtype} x", f"{dtype} out", f"out = {_spike_value(kind, dtype)};",
                       f"sg_spike_{kind}_{dtype}", "")


def module_source(bound: Bound, dtype: str, name: str = "sg_backward",
                  prelude: bool = True) -> str:
    """A standalone CUDA translation unit with kernel ``name`` for ``dtype``
    (``prelude=False`` omits the shared helpers, to concatenate several kernels); the
    surrogate's constants are its last argument, ``c``."""
    if dtype not in ("float32", "float64"):
        raise ValueError("the standalone module covers float32 and float64")
    t = _CTYPE[dtype]
    body, var, _ = _body(bound, dtype, "x[i]")
    body = body.replace("\n", "\n        ")
    head = f"#include <stdint.h>\n{_DEVICE_PRELUDE}" if prelude else ""
    return f"""{head}
/* {bound!r}, {dtype}; generated from the spec, do not edit */
extern "C" __global__ void {name}(const {t}* __restrict__ x, const {t}* __restrict__ g,
                                       {t}* __restrict__ out, int64_t n,
                                       const double* __restrict__ c) {{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)blockDim.x * gridDim.x) {{
        {body}
        out[i] = g[i] * {var};
    }}
}}
"""
