"""CUDA kernels generated from the spec (for the cupy adapter).

The same traced graph and emitter as the CPU kernels (:mod:`spikegrad.codegen.c`), with a
device prelude.  Two forms are produced:

* :func:`elementwise` — the pieces of a ``cupy.ElementwiseKernel`` (parameters, body,
  preamble) computing ``out = g * g'(x)`` (and ``g'(x)`` alone), float16 computed in
  float32 and rounded once;
* :func:`module_source` — a standalone ``.cu`` translation unit with ``extern "C"``
  kernels, which ``nvcc`` can compile without a GPU (used to check every surrogate's
  generated code in CI).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._spec import Bound
from .c import emit_expression, helpers
from .trace import trace_formula

__all__ = ["Elementwise", "elementwise", "module_source"]

_DEVICE_PRELUDE = helpers("static __device__ __forceinline__")
_CTYPE = {"float16": "float", "float32": "float", "float64": "double"}


@dataclass(frozen=True)
class Elementwise:
    """Arguments of ``cupy.ElementwiseKernel`` for one surrogate and dtype."""

    in_params: str
    out_params: str
    operation: str
    name: str
    preamble: str


def _body(bound: Bound, dtype: str, var_in: str) -> tuple[str, str]:
    compute = "float64" if dtype == "float64" else "float32"
    _, out = trace_formula(bound.formula.derivative, bound.formula_params, compute, bound.scale)
    lines, var = emit_expression(out, {"x": var_in})
    return "\n".join(lines), var


def _kernel_name(bound: Bound, dtype: str, what: str) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in bound.name)
    return f"sg_{stem}_{abs(hash(bound)) % 10**8}_{dtype}_{what}"


def elementwise(bound: Bound, dtype: str, with_grad: bool = True) -> Elementwise:
    """``cupy.ElementwiseKernel`` pieces: ``out = g * g'(x)`` (or ``g'(x)``)."""
    if bound.formula.stochastic_backward:
        raise NotImplementedError(f"{bound.name}: stochastic backward has no fused kernel")
    t = _CTYPE[dtype]
    body, var = _body(bound, dtype, "xv")
    result = f"({t})g * {var}" if with_grad else var
    op = f"const {t} xv = ({t})x;\n{body}\nout = ({{OUT}})({result});"
    if dtype == "float16":
        op = op.replace("{OUT}", "float16").replace(f"({t})g", "(float)g")
        params = "float16 x, float16 g" if with_grad else "float16 x"
        out = "float16 out"
    else:
        op = op.replace("{OUT}", t)
        params = f"{t} x, {t} g" if with_grad else f"{t} x"
        out = f"{t} out"
    return Elementwise(params, out, op, _kernel_name(bound, dtype, "bwd" if with_grad else "d"),
                       _DEVICE_PRELUDE)


def module_source(bound: Bound, dtype: str, name: str = "sg_backward",
                  prelude: bool = True) -> str:
    """A standalone CUDA translation unit with kernel ``name`` for ``dtype``
    (``prelude=False`` omits the shared helpers, to concatenate several kernels)."""
    if dtype == "float16":
        raise ValueError("the standalone module covers float32 and float64")
    t = _CTYPE[dtype]
    body, var = _body(bound, dtype, "x[i]")
    body = body.replace("\n", "\n        ")
    head = f"#include <stdint.h>\n{_DEVICE_PRELUDE}" if prelude else ""
    return f"""{head}
/* {bound!r}, {dtype}; generated from the spec, do not edit */
extern "C" __global__ void {name}(const {t}* __restrict__ x, const {t}* __restrict__ g,
                                       {t}* __restrict__ out, int64_t n) {{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)blockDim.x * gridDim.x) {{
        {body}
        out[i] = g[i] * {var};
    }}
}}
"""
