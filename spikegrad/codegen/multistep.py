"""Fused kernels of the multi-step surrogates, generated from the spec.

The shared recurrence and rule of :mod:`spikegrad._multistep` are fixed loops here; the
per-definition pieces (``integrate``, ``spike_value``, ``rate_gradients``) are traced from
the same array-API functions every binding runs and emitted as straight-line code, with
every floating constant read from ``c[]`` at run time (a new parameter value compiles
nothing).  One function per direction, each one pass over the ``[T, n]`` sequence,
parallel over blocks of the ``n`` elements (vectorised within a block):

* ``sg_ms_forward(x, y, T, n, v, c)``: the output sequence;
* ``sg_ms_backward(x, g, gx, T, n, v, c, w)``: writes ``dL/dx`` and returns
  ``sum(gbar * da/dV)`` accumulated in double (the caller scales it); ``w`` holds the
  per-step rate weights (or is NULL for the plain mean).

The C text serves the CPU (compiled with the system compiler, ``-ffp-contract=off`` so the
recurrence keeps the adapters' rounding) and, with another prelude, CUDA.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._multistep import MultiStepBound
from .._multistep_engine import step, time_weights
from . import cpu
from .c import C_PRELUDE, emit_expression, helpers
from .trace import TraceNamespace

__all__ = ["MultiStepKernels", "cpu_kernels", "cuda_source", "source_and_constants"]

_CTYPE = {"float32": "float", "float64": "double"}


def _block(out: Any, inputs: dict[str, str], constants: list[float], target: str) -> str:
    lines, var = emit_expression(out, inputs, constants)
    body = " ".join(lines)
    return f"{{ {body} {target} = {var}; }}"


def _traced(bound: MultiStepBound, dtype: str) -> tuple[dict[str, str], list[float]]:
    """The per-definition blocks (``m_next``, ``y_t``, ``da_dr``, ``da_dv``) as C
    statements over ``m``/``xt``/``v`` and ``r``/``v``, and the constants they read."""
    p = bound.static_params
    constants: list[float] = []
    ns = TraceNamespace(dtype, distinct_constants=True)
    m, xt, v = ns.input("m"), ns.input("x"), ns.input("v")
    m_next, y = step(bound, m, xt, v, ns)
    names = {"m": "m", "x": "xt", "v": "v"}
    fwd_m = _block(m_next, names, constants, "m_next")
    fwd_y = _block(y, names, constants, "y_t")
    ns = TraceNamespace(dtype, distinct_constants=True)
    r, v = ns.input("r"), ns.input("v")
    da_dr, da_dv = bound.formula.rate_gradients(r, v, xp=ns, **p)
    names = {"r": "r", "v": "v"}
    bwd_r = _block(da_dr, names, constants, "da_dr")
    bwd_v = _block(da_dv, names, constants, "da_dv")
    return {"fwd_m": fwd_m, "fwd_y": fwd_y, "bwd_r": bwd_r, "bwd_v": bwd_v}, constants


def source_and_constants(bound: MultiStepBound, dtype: str) -> tuple[str, list[float]]:
    """C text of the two CPU kernels of ``bound``'s formula for ``dtype`` (without the
    prelude) and the constants they read."""
    t = _CTYPE[dtype]
    blocks, constants = _traced(bound, dtype)
    fwd_m, fwd_y, bwd_r, bwd_v = (blocks[k] for k in ("fwd_m", "fwd_y", "bwd_r", "bwd_v"))
    text = f"""
/* {bound.formula.name} (formula version {bound.formula.version}), {dtype}; generated from
   the spec, do not edit; parameters are read from c[] at run time.  Elements are taken in
   blocks whose state stays in cache while the time loop streams over [T, n]. */
#define SG_BLOCK 1024
void sg_ms_forward(const {t}* restrict x, {t}* restrict y, int64_t T, int64_t n,
                   {t} v, const double* restrict c) {{
    #pragma omp parallel for schedule(static) if(parallel: n * T > 65536)
    for (int64_t b = 0; b < n; b += SG_BLOCK) {{
        const int64_t len = n - b < SG_BLOCK ? n - b : SG_BLOCK;
        {t} mem[SG_BLOCK];
        for (int64_t j = 0; j < len; ++j) mem[j] = 0;
        for (int64_t s = 0; s < T; ++s) {{
            const {t}* restrict xs = x + s * n + b;
            {t}* restrict ys = y + s * n + b;
            #pragma omp simd
            for (int64_t j = 0; j < len; ++j) {{
                const {t} m = mem[j], xt = xs[j];
                {t} m_next, y_t;
                {fwd_m}
                {fwd_y}
                ys[j] = y_t;
                mem[j] = m_next;
            }}
        }}
    }}
}}
double sg_ms_backward(const {t}* restrict x, const {t}* restrict g,
                      {t}* restrict gx, int64_t T, int64_t n, {t} v,
                      const double* restrict c, const double* restrict w) {{
    {t} wsum = 0;
    for (int64_t s = 0; s < T; ++s) wsum += w ? ({t})w[s] : ({t})1;
    double total = 0;
    #pragma omp parallel for schedule(static) reduction(+:total) if(parallel: n * T > 65536)
    for (int64_t b = 0; b < n; b += SG_BLOCK) {{
        const int64_t len = n - b < SG_BLOCK ? n - b : SG_BLOCK;
        {t} rs[SG_BLOCK], gs[SG_BLOCK], gi[SG_BLOCK];
        for (int64_t j = 0; j < len; ++j) rs[j] = gs[j] = 0;
        for (int64_t s = 0; s < T; ++s) {{
            const {t} ws = w ? ({t})w[s] : ({t})1;
            const {t}* restrict xs = x + s * n + b;
            const {t}* restrict gs_ = g + s * n + b;
            if (w) {{
                #pragma omp simd
                for (int64_t j = 0; j < len; ++j) {{
                    rs[j] += ws * xs[j];
                    gs[j] += ws * gs_[j];
                }}
            }} else {{
                #pragma omp simd
                for (int64_t j = 0; j < len; ++j) {{
                    rs[j] += xs[j];
                    gs[j] += gs_[j];
                }}
            }}
        }}
        double part = 0;
        #pragma omp simd reduction(+:part)
        for (int64_t j = 0; j < len; ++j) {{
            const {t} r = rs[j] / wsum, gbar = gs[j] / wsum;
            {t} da_dr, da_dv;
            {bwd_r}
            {bwd_v}
            gi[j] = isnan(r) ? r : gbar * da_dr;
            part += (double)(isnan(r) ? r : gbar * da_dv);
        }}
        for (int64_t s = 0; s < T; ++s) {{
            {t}* restrict out = gx + s * n + b;
            #pragma omp simd
            for (int64_t j = 0; j < len; ++j) out[j] = gi[j];
        }}
        total += part;
    }}
    return total;
}}
"""
    return text, constants


@dataclass(frozen=True)
class MultiStepKernels:
    """The compiled kernels of one multi-step definition and parameter set, one dtype."""

    forward_fn: Any
    backward_fn: Any
    constants: Any  # numpy float64
    bound: MultiStepBound

    def forward(self, x: int, y: int, steps: int, n: int, v: float) -> None:
        self.forward_fn(x, y, steps, n, v, self.constants.ctypes.data)

    def backward(self, x: int, g: int, gx: int, steps: int, n: int, v: float) -> float:
        w = _weights(self.bound.entry, tuple(sorted(self.bound.static_params.items())), steps)
        address = None if w is None else w.ctypes.data
        return float(self.backward_fn(x, g, gx, steps, n, v, self.constants.ctypes.data,
                                      address))


@functools.lru_cache(maxsize=256)
def _weights(entry: Any, static: tuple[tuple[str, Any], ...], steps: int) -> Any:
    bound = entry.bind(**dict(static))
    w = time_weights(bound, steps)
    return None if w is None else np.asarray(w, dtype=np.float64)


def cpu_kernels(bound: MultiStepBound, dtype: str) -> MultiStepKernels | None:
    """``bound``'s compiled CPU kernels for ``dtype``, or ``None`` where no compiler is
    available (the caller then uses the framework's ops)."""
    return _cpu_kernels(bound.entry, tuple(sorted(bound.static_params.items())), dtype)


@functools.lru_cache(maxsize=256)
def _cpu_kernels(entry: Any, static: tuple[tuple[str, Any], ...],
                 dtype: str) -> MultiStepKernels | None:
    bound = entry.bind(**dict(static))
    text, constants = source_and_constants(bound, dtype)
    src = C_PRELUDE + text
    try:
        lib = cpu._cdll(src)
    except (cpu.CompilerUnavailable, cpu.KernelCompileError, OSError):
        return None
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    real = ctypes.c_float if dtype == "float32" else ctypes.c_double
    fwd, bwd = lib.sg_ms_forward, lib.sg_ms_backward
    fwd.argtypes = [ptr, ptr, i64, i64, real, ptr]
    fwd.restype = None
    bwd.argtypes = [ptr, ptr, ptr, i64, i64, real, ptr, ptr]
    bwd.restype = ctypes.c_double
    return MultiStepKernels(fwd, bwd, np.asarray(constants, dtype=np.float64), bound)


def cuda_source(bound: MultiStepBound, dtype: str) -> tuple[str, str, list[float]]:
    """CUDA text of ``bound``'s multi-step kernels for ``dtype`` (float32 or float64):
    ``(device functions, kernels, constants)``.

    The device functions do one element's whole sequence (``sg_ms_fwd_elem``,
    ``sg_ms_bwd_elem``: the same traced blocks as the CPU kernels); the ``extern "C"``
    kernels run them one thread per element (reads and writes of a step coalesce across
    threads): ``sg_ms_forward(x, y, T, n, vp, c)`` and
    ``sg_ms_backward(x, g, gx, part, T, n, vp, c, w, has_w)``, where ``vp`` points to the
    threshold (a float64 device scalar: no host synchronisation) and ``part`` receives each
    element's threshold-gradient term (summed on the device by the caller).
    """
    t = _CTYPE[dtype]
    blocks, constants = _traced(bound, dtype)
    q = "static __device__ __forceinline__"
    device = helpers(q) + f"""
/* {bound.formula.name} (formula version {bound.formula.version}), {dtype}; generated from
   the spec, do not edit; parameters are read from c[] at run time */
{q} void sg_ms_fwd_elem(const {t}* x, {t}* y, long long T, long long n, long long i,
                         {t} v, const double* c) {{
    {t} m = 0;
    for (long long s = 0; s < T; ++s) {{
        const {t} xt = x[s * n + i];
        {t} m_next, y_t;
        {blocks["fwd_m"]}
        {blocks["fwd_y"]}
        y[s * n + i] = y_t;
        m = m_next;
    }}
}}
{q} double sg_ms_bwd_elem(const {t}* x, const {t}* g, {t}* gx, long long T, long long n,
                           long long i, {t} v, const double* c, const double* w,
                           int has_w) {{
    {t} wsum = 0, rs = 0, gs = 0;
    for (long long s = 0; s < T; ++s) {{
        const {t} ws = has_w ? ({t})w[s] : ({t})1;
        wsum += ws;
        rs += has_w ? ws * x[s * n + i] : x[s * n + i];
        gs += has_w ? ws * g[s * n + i] : g[s * n + i];
    }}
    const {t} r = rs / wsum, gbar = gs / wsum;
    {t} da_dr, da_dv;
    {blocks["bwd_r"]}
    {blocks["bwd_v"]}
    const {t} gi = isnan(r) ? r : gbar * da_dr;
    for (long long s = 0; s < T; ++s) gx[s * n + i] = gi;
    return (double)(isnan(r) ? r : gbar * da_dv);
}}
"""
    kernels = f"""
extern "C" __global__ void sg_ms_forward(const {t}* x, {t}* y, long long T, long long n,
                                         const double* vp, const double* c) {{
    const {t} v = ({t})vp[0];
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        sg_ms_fwd_elem(x, y, T, n, i, v, c);
}}
extern "C" __global__ void sg_ms_backward(const {t}* x, const {t}* g, {t}* gx, double* part,
                                          long long T, long long n, const double* vp,
                                          const double* c, const double* w, int has_w) {{
    const {t} v = ({t})vp[0];
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        part[i] = sg_ms_bwd_elem(x, g, gx, T, n, i, v, c, w, has_w);
}}
"""
    return device, kernels, constants
