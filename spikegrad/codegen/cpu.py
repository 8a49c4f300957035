"""Fused CPU kernels generated from the spec, compiled with the system C compiler.

For a bound surrogate and a dtype (float32 or float64), :func:`kernels` traces the
formula (scale and NaN rule included), emits one C loop per direction and compiles them
into a shared library, cached on disk under ``$SPIKEGRAD_CACHE`` (default
``~/.cache/spikegrad``) by a hash of the source, the flags and the compiler.

Parameters are run-time arguments: every floating constant of the traced formula (the
parameters and everything the formula derives from them on the host, such as the halves
of an exact product) is read from a ``double`` array ``c``, so the source depends only on
the formula's shape, and a new parameter value compiles nothing.  (A value that changes
the shape, such as a slope of exactly 0 or 1 that the formula skips, has its own kernel.)
The functions are called through ctypes on contiguous buffers:

* ``backward(x, g, out, n, c)``: ``out[i] = g[i] * g'(x[i])``
* ``derivative(x, out, n, c)``: ``out[i] = g'(x[i])``

:class:`Kernels` binds a surrogate's constants, so ``kern.backward(x, g, out, n)``.

Math functions are declared ``simd`` so the compiler may call glibc's vector math library
(libmvec, at most 4 ULP) and vectorise the loop; contraction to FMA is off so the
error-free products of the formulas stay exact.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import math
import os
import platform
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._spec import Bound
from . import replay, share
from .c import C_PRELUDE, emit_expression, emit_expressions
from .tangent import param_graph
from .trace import Node

__all__ = [
    "CompilerUnavailable",
    "KernelCompileError",
    "Kernels",
    "Library",
    "ParamKernel",
    "backward_and_constants",
    "channel_block",
    "compiled_count",
    "compiler",
    "extremes",
    "flags",
    "kernels",
    "library",
    "param_kernel",
    "param_source_and_constants",
    "source",
    "source_and_constants",
]

_SIMD_DECLS = """
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(SG_NO_MVEC)
#define SG_SIMD __attribute__((simd("notinbranch")))
extern float expf(float) SG_SIMD; extern double exp(double) SG_SIMD;
extern float logf(float) SG_SIMD; extern double log(double) SG_SIMD;
extern float powf(float, float) SG_SIMD; extern double pow(double, double) SG_SIMD;
extern float sinf(float) SG_SIMD; extern double sin(double) SG_SIMD;
extern float cosf(float) SG_SIMD; extern double cos(double) SG_SIMD;
extern float log1pf(float) SG_SIMD; extern double log1p(double) SG_SIMD;
extern float expm1f(float) SG_SIMD; extern double expm1(double) SG_SIMD;
extern float sinhf(float) SG_SIMD; extern double sinh(double) SG_SIMD;
extern float coshf(float) SG_SIMD; extern double cosh(double) SG_SIMD;
extern float atan2f(float, float) SG_SIMD; extern double atan2(double, double) SG_SIMD;
extern float erfcf(float) SG_SIMD; extern double erfc(double) SG_SIMD;
#endif
"""

#: ``-fno-thread-jumps``: jump threading turns two selects on one condition (the NaN rule
#: applied to grad_x and to a parameter's gradient) into branches, which GCC then cannot
#: vectorise (the parameter-gradient loop ran 15x slower); the loops are straight-line
#: code, which threading has nothing to gain on.
FLAGS = ["-O3", "-march=native", "-fopenmp", "-ffp-contract=off", "-fno-math-errno",
         "-fno-thread-jumps", "-fPIC", "-shared", "-std=gnu11"]

#: Added to :data:`FLAGS` for a loop that calls a vector math function (x86-64 only).  A
#: call clobbers every vector register, so wider vectors halve the calls and the spills:
#: sigmoid's float32 backward at 2^18 goes from 89 to 74 us on an AVX-512 CPU, while a
#: loop of plain arithmetic is faster at the compiler's default width (atan 24 -> 27 us
#: at 512 bits).  Where the CPU has no 512-bit vectors the option changes nothing.
VECTOR_MATH_FLAGS = ["-mprefer-vector-width=512"]

#: Elements a one-value parameter's gradient sums in its dtype before the sum goes on in
#: double (:func:`param_source_and_constants`): a float32 sum of 2^18 terms lands within
#: the float32 ``torch.sum`` of the same terms' distance from the exact sum, at the speed of
#: a float sum (32-35 us against 43-46 us for a double sum of every element, atan at 2^18).
SUM_BLOCK = 512

#: A loop runs on OpenMP's threads above this many elements.  At or below it the kernel
#: runs a copy of the loop with no OpenMP region at all: an ``if(...)`` clause that is
#: false still enters the runtime, 0.3 us of a 0.16 us loop over 2^10 elements.
THREADS_ABOVE = 32768

_VECTOR_MATH = re.compile(
    r"\b(" + "|".join(re.findall(r"extern \w+ (\w+)\(", _SIMD_DECLS)) + r")\(")
_LOCK = threading.Lock()


class CompilerUnavailable(RuntimeError):
    """No working C compiler (or no OpenMP) on this machine."""


class KernelCompileError(RuntimeError):
    """The compiler works (it builds a probe with the kernels' flags) but failed on one
    kernel's source: that kernel falls back, the others are unaffected."""


_PROBE = """#include <math.h>
#include <stdint.h>
void sg_probe(const float* restrict x, float* restrict y, int64_t n) {
    #pragma omp parallel for simd if(n > 32768)
    for (int64_t i = 0; i < n; ++i) y[i] = expf(x[i]);
}
"""


@functools.cache
def _compiler_fails() -> str:
    """Why the C compiler cannot build a probe with the kernels' flags (OpenMP and all),
    or ``""`` where it can (asked once per process, where a kernel failed to compile)."""
    with tempfile.TemporaryDirectory() as tmp:
        c_file = Path(tmp) / "probe.c"
        c_file.write_text(_PROBE)
        res = subprocess.run([compiler(), *FLAGS, str(c_file), "-o", str(Path(tmp) / "p.so"),
                              "-lm"], capture_output=True, text=True)
    return "" if res.returncode == 0 else res.stderr or f"exit status {res.returncode}"


#: What building or tracing a kernel may raise where a binding falls back to its framework's
#: ops (with a warning): no compiler (a RuntimeError), a failed build, a definition the
#: tracer cannot follow (UnsupportedTrace is a TypeError), one too deep to compile.
KERNEL_BUILD_ERRORS = (RuntimeError, OSError, TypeError, ValueError, NotImplementedError,
                       RecursionError)


@functools.cache
def compiler() -> str:
    """Path of the C compiler (``$CC``, else ``cc``/``gcc``); raises if none works."""
    for cand in (os.environ.get("CC"), "cc", "gcc"):
        if cand and shutil.which(cand):
            return shutil.which(cand)  # type: ignore[return-value]
    raise CompilerUnavailable("no C compiler found (set $CC or install gcc)")


@functools.cache
def _compiler_id() -> str:
    out = subprocess.run([compiler(), "--version"], capture_output=True, text=True)
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln for ln in fh if ln.startswith(("model name", "flags"))), "")
    except OSError:
        pass
    return out.stdout.splitlines()[0] + platform.machine() + cpu


def _cache_dir() -> Path:
    root = os.environ.get("SPIKEGRAD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spikegrad")
    path = Path(root) / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_and_constants(bound: Bound, dtype: str) -> tuple[str, list[float]]:
    """C source of the fused derivative/backward loops of ``bound``'s formula for
    ``dtype``, and the constants of ``bound`` it reads at run time."""
    f = bound.formula
    if f.stochastic_backward:
        raise NotImplementedError(f"{bound.name}: stochastic backward has no fused kernel")
    if bound.has_array_params:
        raise NotImplementedError(f"{bound.name}: array parameters are evaluated with the "
                                  "framework's ops, not a fused kernel")
    return REPLAYS.emitted(f, f.derivative, bound.formula_params, bound.scale, dtype,
                           lambda ns, out: _emitted_source(bound, dtype, ns, out),
                           replayable=not bound.entry.user)


def _emitted_source(bound: Bound, dtype: str, ns: Any, out: Any
                    ) -> tuple[str, list[float], tuple[tuple[int, int], ...]]:
    """The source, constants and constants' places of a trace of ``bound``'s formula:
    a graph shape emitted before reads its constants where they sit."""
    key = (bound.formula, dtype, ns.structure(out))
    known = _EMITTED.get(key)
    if known is not None:
        src, places = known
        return src, [float(ns.nodes[n].args[i]) for n, i in places], places
    constants: list[float] = []
    origins: list[tuple[int, int]] = []
    lines, var = emit_expression(out, {"x": "x[i]"}, constants, origins=origins)
    src = _backward_source(bound, dtype, lines, var)
    with _EMITTED_LOCK:
        if len(_EMITTED) >= 1024:
            _EMITTED.clear()
        _EMITTED[key] = (src, tuple(origins))
    return src, constants, tuple(origins)


#: the emitted source of each traced shape (formula, dtype, structure), and where in the
#: graph its constants sit: a new parameter value of a known shape skips the emission
_EMITTED: dict[tuple[Any, ...], tuple[str, tuple[tuple[int, int], ...]]] = {}
#: the source of each formula and branch, and the host program of its constants
#: (:mod:`spikegrad.codegen.replay`): a new parameter value is not traced
REPLAYS = replay.Replays()
_EMITTED_LOCK = threading.Lock()


def _backward_source(bound: Bound, dtype: str, lines: list[str], var: str) -> str:
    body = "\n        ".join(lines)
    t = {"float32": "float", "float64": "double"}[dtype]
    return f"""{C_PRELUDE}{_SIMD_DECLS}
/* {bound.formula.name} (formula version {bound.formula.version}), {dtype}; generated from
   the spec, do not edit; parameters are read from c[] at run time */
void sg_derivative(const {t}* restrict x, {t}* restrict out, int64_t n,
                   const double* restrict c) {{
{_elementwise(body, f"out[i] = {var};")}}}
void sg_backward(const {t}* restrict x, const {t}* restrict g, {t}* restrict out, int64_t n,
                 const double* restrict c) {{
{_elementwise(body, f"out[i] = g[i] * {var};")}}}
"""


def _threaded(parallel: str, serial: str, loop: str) -> str:
    """``loop`` under the OpenMP directive ``parallel`` above :data:`THREADS_ABOVE`
    elements, and under ``serial`` (``""`` for none) at or below it; the same statements
    both ways (a reduction over one thread adds in the same order)."""
    serial_line = f"    {serial}\n" if serial else ""
    return (f"    if (n > {THREADS_ABOVE}) {{\n    {parallel}\n{loop}    }} else {{\n"
            f"{serial_line}{loop}    }}\n")


def _elementwise(body: str, store: str) -> str:
    """An elementwise loop over ``n`` elements, threaded above :data:`THREADS_ABOVE`."""
    loop = f"""    for (int64_t i = 0; i < n; ++i) {{
        {body}
        {store}
    }}
"""
    return _threaded("#pragma omp parallel for simd schedule(static)", "#pragma omp simd",
                     loop)


def source(bound: Bound, dtype: str) -> str:
    """C source of the fused derivative/backward loops of ``bound``'s formula."""
    return source_and_constants(bound, dtype)[0]


# -- array parameters that learn: grad_x and the parameters' gradients in one loop ----------
def param_source_and_constants(entry: Any, static: tuple[tuple[str, Any], ...], dtype: str,
                               layouts: tuple[str, ...], one_cotangent: bool = False
                               ) -> tuple[str, list[float]]:
    """C source of ``sg_param_backward`` for a definition whose array parameters (``None``
    in ``static``, the bound's items with arrays left out) are run-time inputs, and the
    constants it reads.

    One loop computes ``gx[i] = g[i] g'(x[i]; θ)`` and, for each array parameter ``θ_k``,
    ``g[i] ∂g(x[i]; θ)/∂θ_k``: the derivative traced from the formula's ``g'`` and the
    parameter derivative as the forward-mode tangent of its traced primitive ``g``
    (:func:`~spikegrad.codegen.tangent.tangent`), from the one definition.  ``layouts``
    says per array parameter how it is laid out against ``x``:

    * ``"s"``: one value, read once, its gradient summed into ``acc[k]``: in the dtype
      within blocks of :data:`SUM_BLOCK` elements, the blocks' sums in double;
    * ``"e"``: one value per element (``p_k[i]``), its gradient written to ``gp_k[i]``;
    * ``"c"``: one value per channel: ``x`` seen as ``(outer, m, inner)`` with
      ``(m, inner) = dims[0:2]`` (see :func:`channel_block`), the value ``p_k[j]`` for
      channel ``j``, its gradient summed in double precision into ``gp_k[j]`` (added to:
      the caller zeroes it), per thread then once per thread.

    ``"e"`` and ``"c"`` are not mixed in one kernel.  With ``one_cotangent`` (one-value
    and per-element layouts) the cotangent is one value ``G = g[0]``, the broadcast of a
    ``sum`` or a ``mean``: ``gx[i] = G g'(x[i]; θ)``, ``acc[k] = G Σ ∂g/∂θ_k`` (the
    product by ``G`` once per sum, not once per element) and ``gp_k[i] = G ∂g/∂θ_k`` (no
    cotangent array is read).  The
    parameters' and their gradients' addresses come as two arrays (``pp``, ``gpp``; a
    one-value parameter's gradient slot is unused), so one signature serves any number of
    parameters.  The function returns 0, or 1 where the per-thread sums of ``"c"`` could
    not be allocated (then its outputs are not complete).
    """
    f = entry.formula
    names, outs = param_graph(entry, static, dtype)
    if len(names) != len(layouts):
        raise ValueError(f"{entry.name}: {len(names)} array parameters, {len(layouts)} layouts")
    # (the tangents' loop-invariant factors multiplied together first: spikegrad.codegen.share)
    invariant = {f"p{k}" for k, lay in enumerate(layouts) if lay == "s"}
    grouped = (outs[0], *share.group_invariant_factors(outs[1:], outs[:1], invariant, dtype))
    if "e" in layouts and "c" in layouts:
        raise ValueError(f"{entry.name}: layouts {layouts} mix per element and per channel")
    if one_cotangent and not set(layouts) <= {"s", "e"}:
        raise ValueError(f"{entry.name}: a one-value cotangent needs one-value or "
                         f"per-element layouts, got {layouts}")
    gi = "gs" if one_cotangent else "g[i]"  # the cotangent of element i
    constants: list[float] = []
    reads = {"s": "p{k}s", "e": "p{k}[i]", "c": "p{k}[j]"}
    inputs = {"x": "x[i]", **{f"p{k}": reads[lay].format(k=k) for k, lay in enumerate(layouts)}}
    t = {"float32": "float", "float64": "double"}[dtype]
    # the parameters and their gradients arrive as arrays of addresses (any number of
    # parameters, one signature), named here
    head = "".join(
        f"    const {t}* restrict p{k} = (const {t}*)pp[{k}];\n"
        f"    {'double' if lay == 'c' else t}* restrict gp{k} = "
        f"({'double' if lay == 'c' else t}*)gpp[{k}];\n    (void)gp{k};\n"
        for k, lay in enumerate(layouts))
    head += "".join(f"    const {t} p{k}s = p{k}[0];\n"
                    for k, lay in enumerate(layouts) if lay == "s")
    sums = [f"a{k}" for k, lay in enumerate(layouts) if lay == "s"]
    decl = "".join(f"    double {a} = 0.0;\n" for a in sums)
    if one_cotangent:
        head += f"    const {t} gs = g[0];\n"
    finish = "".join(f"    acc[{k}] = a{k}{' * (double)gs' if one_cotangent else ''};\n"
                     for k, lay in enumerate(layouts) if lay == "s")
    channel = [k for k, lay in enumerate(layouts) if lay == "c"]
    sig = (f"int sg_param_backward(const {t}* restrict x, const {t}* restrict g, "
           f"{t}* restrict gx,\n        const void* const* pp, void* const* gpp, "
           "double* restrict acc, int64_t n,\n        const double* restrict c, "
           "const int64_t* restrict dims)")
    note = (f"/* {f.name} (formula version {f.version}), {dtype}, array parameters {names} "
            f"laid out as\n   {list(layouts)}: grad_x and the parameters' gradients; "
            "generated from the spec, do not\n   edit */")
    if not channel:
        red = f" reduction(+: {', '.join(sums)})" if sums else ""

        def factored(tangents: tuple[Any, ...], names: set[str], extra: dict[str, str]
                     ) -> tuple[str, str, list[str], str, str]:
            """The loop's statements, g''s and the tangents' variables, where a one-value
            parameter's tangent is summed without its loop-invariant factor k
            (:func:`share.split_invariant_factor`): the statements computing the factors
            before the loop, and those multiplying the sums by them after it."""
            vs, ks = [], {}
            for k, (tn, lay) in enumerate(zip(tangents, layouts, strict=True)):
                v, kf = (share.split_invariant_factor(tn, names, dtype) if lay == "s"
                         else (tn, None))
                vs.append(v)
                if kf is not None:
                    ks[k] = kf
            blines, (bd, *bt) = emit_expressions((outs[0], *vs), {**inputs, **extra},
                                                 constants)
            pre = post = ""
            nodes = [k for k, kf in ks.items() if isinstance(kf, Node)]
            if nodes:
                flines, fvars = emit_expressions(
                    tuple(ks[k] for k in nodes),
                    {**{f"p{k}": f"p{k}s" for k in range(len(layouts))}, **extra},
                    constants)
                pre = ("".join(f"    {t} sg_k{k};\n" for k in nodes) + "    {\n        "
                       + "\n        ".join(flines) + "\n"
                       + "".join(f"        sg_k{k} = {v};\n" for k, v in zip(nodes, fvars,
                                                                            strict=True))
                       + "    }\n")
            for k, kf in ks.items():
                if not isinstance(kf, Node):  # a number: read from c[] as every number is
                    constants.append(float(kf))
                    slot = f"c[{len(constants) - 1}]"
                    pre += f"    const {t} sg_k{k} = ({t}){slot};\n"
                post += f"    a{k} *= (double)sg_k{k};\n"
            return "\n            ".join(blines), bd, bt, pre, post

        def loop(body: str, dvar: str, tvars: list[str]) -> str:
            stores = "".join((f"\n            b{k} += {tvars[k]};" if one_cotangent
                              else f"\n            b{k} += g[i] * {tvars[k]};")
                             if lay == "s" else f"\n            gp{k}[i] = {gi} * {tvars[k]};"
                             for k, lay in enumerate(layouts))
            if not sums:
                return _elementwise(body.replace("\n            ", "\n        "),
                                    f"gx[i] = {gi} * {dvar};"
                                    + stores.replace("\n            ", "\n        "))
            # a one-value parameter's gradient: summed in the dtype over a block of
            # SUM_BLOCK elements (one vector accumulator, as fast as no sum at all), the
            # block sums in double; a double sum of every element cost 10 us of 43 at 2^18
            bdecl = "".join(f"        {t} b{k} = 0;\n" for k, lay in enumerate(layouts)
                            if lay == "s")
            bred = ", ".join(f"b{k}" for k, lay in enumerate(layouts) if lay == "s")
            badd = "".join(f"        a{k} += (double)b{k};\n" for k, lay in enumerate(layouts)
                           if lay == "s")
            return _threaded(f"#pragma omp parallel for schedule(static){red}", "",
                             f"""    for (int64_t blk = 0; blk < n; blk += {SUM_BLOCK}) {{
        const int64_t end = n - blk < {SUM_BLOCK} ? n : blk + {SUM_BLOCK};
{bdecl}        #pragma omp simd reduction(+: {bred})
        for (int64_t i = blk; i < end; ++i) {{
            {body}
            gx[i] = {gi} * {dvar};{stores}
        }}
{badd}    }}
""")
        fbody, fd, ft, fpre, fpost = factored(grouped[1:], invariant, {})
        loops = fpre + loop(fbody, fd, ft) + fpost
        # a tangent's division by g''s divisor, where g''s numerator is the same all along
        # the loop (one-value parameters, constants), becomes a product by g''s quotient
        # (spikegrad.codegen.share): a second loop, run where those numerators are of
        # moderate magnitude
        shared, ms = share.share_divisions(outs[0], tuple(outs[1:]), invariant, dtype)
        if ms:
            shared = share.group_invariant_factors(
                shared, outs[:1], invariant | {f"sg_inv{j}" for j in range(len(ms))}, dtype)
            pre, mvars = emit_expressions(tuple(ms), {f"p{k}": f"p{k}s" for k in
                                                      range(len(layouts))}, constants)
            invs = {f"sg_inv{j}": f"sg_inv{j}" for j in range(len(ms))}
            sbody, sdvar, stvars, spre, spost = factored(shared, invariant | set(invs), invs)
            setup = "".join(f"    {t} sg_m{j};\n" for j in range(len(ms)))
            setup += ("    {\n        " + "\n        ".join(pre) + "\n"
                      + "".join(f"        sg_m{j} = {v};\n" for j, v in enumerate(mvars))
                      + "    }\n")
            setup += "".join(f"    const {t} sg_inv{j} = ({t})1 / sg_m{j};\n"
                             for j in range(len(ms)))
            ok = " && ".join(f"fabs((double)sg_m{j}) >= 0x1p-{share.LIMIT} && "
                             f"fabs((double)sg_m{j}) <= 0x1p{share.LIMIT}"
                             for j in range(len(ms)))
            loops = (f"{setup}    if ({ok}) {{\n" + spre + loop(sbody, sdvar, stvars) + spost
                     + "    } else {\n" + loops + "    }\n")
        return f"""{C_PRELUDE}{_SIMD_DECLS}
{note}
{sig} {{
    (void)dims;
{head}{decl}{loops}{finish}    return 0;
}}
""", constants
    # per channel: each thread sums into its own m doubles, added to gp once at its end
    lines, (dvar, *tvars) = emit_expressions(grouped, inputs, constants)
    body = "\n            ".join(lines)
    # the product in the dtype (as autodiff forms it), the sum in double: GCC vectorises
    # this reduction, not one of double products
    term = {k: f"(double)(g[i] * {tv})" for k, tv in enumerate(tvars)}
    priv = "".join(f"        double* restrict t{k} = (double*)calloc((size_t)m, sizeof(double));\n"
                   for k in channel)
    ok = " && ".join(f"t{k}" for k in channel)
    frees = "".join(f"        free(t{k});\n" for k in channel)
    merge = "".join(f"            for (int64_t j = 0; j < m; ++j) gp{k}[j] += t{k}[j];\n"
                    for k in channel)
    sred = "".join(f" a{k} += s{k};" for k in range(len(layouts)) if layouts[k] == "s")
    sdecl = "".join(f"        double s{k} = 0.0;\n" for k in range(len(layouts))
                    if layouts[k] == "s")
    # inner == 1 (the channel is x's last dimensions): vectorised along the channels
    ssum_t = "".join(f"\n                s{k} += {term[k]};" for k, lay in enumerate(layouts)
                     if lay == "s")
    csum_t = "".join(f"\n                t{k}[j] += {term[k]};" for k in channel)
    sred_t = [f"s{k}" for k, lay in enumerate(layouts) if lay == "s"]
    simd_t = f" reduction(+: {', '.join(sred_t)})" if sred_t else ""
    # inner > 1: one channel per row of inner elements, vectorised along the row
    rows = [f"r{k}" for k in channel] + sred_t
    rsum = "".join(f"\n                {'r' if lay == 'c' else 's'}{k} += {term[k]};"
                   for k, lay in enumerate(layouts) if lay in "cs")
    rdecl = "".join(f"            double r{k} = 0.0;\n" for k in channel)
    radd = "".join(f"            t{k}[j] += r{k};\n" for k in channel)
    return f"""{C_PRELUDE}{_SIMD_DECLS}
#include <stdlib.h>
{note}
{sig} {{
    const int64_t m = dims[0], inner = dims[1], rows = n / inner;
{head}{decl}    int failed = 0;
    #pragma omp parallel if(n > 32768)
    {{
{priv}{sdecl}        if (!({ok})) {{
            #pragma omp atomic write
            failed = 1;
        }}
        #pragma omp barrier
        if (!failed && inner == 1) {{
            #pragma omp for schedule(static)
            for (int64_t r = 0; r < n / m; ++r) {{
                #pragma omp simd{simd_t}
                for (int64_t j = 0; j < m; ++j) {{
                const int64_t i = r * m + j;
            {body}
                gx[i] = g[i] * {dvar};{ssum_t}{csum_t}
                }}
            }}
        }} else if (!failed) {{
            #pragma omp for schedule(static)
            for (int64_t q = 0; q < rows; ++q) {{
                const int64_t j = q % m;
{rdecl}                #pragma omp simd reduction(+: {', '.join(rows)})
                for (int64_t i = q * inner; i < (q + 1) * inner; ++i) {{
            {body}
                gx[i] = g[i] * {dvar};{rsum}
                }}
{radd}            }}
        }}
        #pragma omp critical
        {{
            if (!failed) {{
{merge}               {sred}
            }}
        }}
{frees}    }}
    if (failed) return 1;  /* out of memory for the per-thread sums: nothing written */
{finish}    return 0;
}}
""", constants


@functools.lru_cache(maxsize=4096)
def channel_block(x_shape: tuple[int, ...], p_shape: tuple[int, ...]
                  ) -> tuple[int, int] | None:
    """``(m, inner)`` where a parameter of shape ``p_shape`` holds one value per channel of
    ``x``: its dimensions other than 1 are one contiguous block of ``x``'s (so ``x`` is
    ``(outer, m, inner)`` and the value of element ``i`` is ``p[(i / inner) % m]``), with
    at least 2 rows to sum over and at most 65,536 channels; else ``None``."""
    nd = len(x_shape)
    t = (1,) * max(0, nd - len(p_shape)) + tuple(p_shape)[max(0, len(p_shape) - nd):]
    block = [k for k, d in enumerate(t) if d != 1]
    if not block:
        return None
    a, b = block[0], block[-1]
    if any(t[k] != x_shape[k] for k in range(a, b + 1)):
        return None
    m = math.prod(x_shape[a:b + 1])
    inner = math.prod(x_shape[b + 1:])
    outer = math.prod(x_shape[:a])
    if outer < 2 or m > 65536 or inner < 1:
        return None
    return m, inner


@dataclass(frozen=True)
class ParamKernel:
    """``sg_param_backward`` of one definition, number-parameter set, dtype and layout,
    with its constants: ``kern(x, g, gx, [(p_k, gp_k)], acc, n, dims)`` (addresses;
    ``dims`` the address of ``(m, inner)`` for a per-channel layout, else 0).

    Raises
    ------
    MemoryError
        Where the per-thread sums of a per-channel layout could not be allocated.
    """

    function: Any
    constants: Any  # numpy float64 array
    layouts: tuple[str, ...]
    #: what the kernel computes, as 63 bits of its source's hash: the same in every
    #: process (an XLA custom call names the kernel by it, never by an address)
    key: int = 0

    @functools.cached_property
    def address(self) -> int:
        """The address of ``sg_param_backward`` (what a C caller takes)."""
        return int(ctypes.cast(self.function, ctypes.c_void_p).value or 0)

    def __call__(self, x: int, g: int, gx: int, params: list[tuple[int, int]], acc: int,
                 n: int, dims: int = 0) -> None:
        pp = (ctypes.c_void_p * len(params))(*(p for p, _ in params))
        gpp = (ctypes.c_void_p * len(params))(*(gp for _, gp in params))
        if self.function(x, g, gx, pp, gpp, acc, n, int(self.constants.ctypes.data), dims):
            raise MemoryError("spikegrad: no memory for the per-channel sums of a "
                              "parameter gradient")


_PARAM_FUNCTIONS: dict[str, Any] = {}


@functools.lru_cache(maxsize=1024)
def param_kernel(entry: Any, static: tuple[tuple[str, Any], ...], dtype: str,
                 layouts: tuple[str, ...], one_cotangent: bool = False) -> ParamKernel:
    """The fused parameter-gradient kernel (see :func:`param_source_and_constants`),
    compiled on first use; keyed by the definition and its number parameters, never by an
    array's identity (a new parameter tensor per call compiles and traces nothing)."""
    src, constants = param_source_and_constants(entry, static, dtype, layouts, one_cotangent)
    fn = _PARAM_FUNCTIONS.get(src)
    if fn is None:
        fn = _cdll(src).sg_param_backward
        ptr = ctypes.c_void_p
        fn.argtypes = [ptr, ptr, ptr, ptr, ptr, ptr, ctypes.c_int64, ptr, ptr]
        fn.restype = ctypes.c_int
        _PARAM_FUNCTIONS[src] = fn
    key = int.from_bytes(hashlib.sha256(src.encode()).digest()[:8], "little") >> 1
    return ParamKernel(fn, np.asarray(constants, dtype=np.float64), layouts, key)


# -- a parameter's domain check: its extremes in one pass --------------------------------
_EXTREMES_SOURCE = """
#include <stdint.h>
#include <math.h>
/* (min, max) of n values in one pass, NaN for both where one is NaN: what a parameter's
   domain check reads of a large array.  SG_W independent lanes per thread, so the
   comparisons are not one chain of dependent vector operations. */
#define SG_W 64
#define SG_EXTREMES(NAME, T)                                                              \\
void NAME(const T* restrict p, int64_t n, double* restrict out) {                        \\
    T lo = (T)INFINITY, hi = -(T)INFINITY;                                               \\
    int nan = 0;                                                                         \\
    _Pragma("omp parallel if(n > 65536)")                                                \\
    {                                                                                    \\
        T l[SG_W], h[SG_W];                                                              \\
        int bad[SG_W];                                                                   \\
        for (int j = 0; j < SG_W; ++j) { l[j] = (T)INFINITY; h[j] = -(T)INFINITY;       \\
                                         bad[j] = 0; }                                   \\
        _Pragma("omp for schedule(static)")                                              \\
        for (int64_t b = 0; b < n / SG_W; ++b) {                                         \\
            const T* q = p + b * SG_W;                                                   \\
            for (int j = 0; j < SG_W; ++j) {                                             \\
                const T v = q[j];                                                        \\
                l[j] = v < l[j] ? v : l[j];                                              \\
                h[j] = v > h[j] ? v : h[j];                                              \\
                bad[j] |= v != v;                                                        \\
            }                                                                            \\
        }                                                                                \\
        T tl = (T)INFINITY, th = -(T)INFINITY;                                           \\
        int tb = 0;                                                                      \\
        for (int j = 0; j < SG_W; ++j) {                                                 \\
            tl = l[j] < tl ? l[j] : tl; th = h[j] > th ? h[j] : th; tb |= bad[j];        \\
        }                                                                                \\
        _Pragma("omp critical")                                                          \\
        { lo = tl < lo ? tl : lo; hi = th > hi ? th : hi; nan |= tb; }                   \\
    }                                                                                    \\
    for (int64_t i = n / SG_W * SG_W; i < n; ++i) {                                      \\
        const T v = p[i];                                                                \\
        lo = v < lo ? v : lo; hi = v > hi ? v : hi; nan |= v != v;                       \\
    }                                                                                    \\
    out[0] = nan ? NAN : (double)lo;                                                     \\
    out[1] = nan ? NAN : (double)hi;                                                     \\
}
SG_EXTREMES(sg_extremes_f32, float)
SG_EXTREMES(sg_extremes_f64, double)
"""


@functools.cache
def extremes(dtype: str) -> Any:
    """``f(address, n, out_address)``: the minimum and maximum of ``n`` contiguous values of
    ``dtype`` (float32 or float64) into two doubles, both NaN where a value is NaN, in one
    parallel vectorised pass; compiled on first use (raises :class:`CompilerUnavailable`
    where no compiler works)."""
    fn = getattr(_cdll(_EXTREMES_SOURCE), {"float32": "sg_extremes_f32",
                                           "float64": "sg_extremes_f64"}[dtype])
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
    fn.restype = None
    return fn


#: At most this many compiled kernels are kept on disk (the oldest are removed first).
MAX_CACHED_LIBRARIES = 1024
#: A library used (built or loaded) this recently is never removed: another process may
#: be between finding it and loading it.
KEEP_RECENT_S = 600.0


def _trim(cache: Path, keep: Path) -> None:
    """Remove the least recently used libraries beyond :data:`MAX_CACHED_LIBRARIES`."""
    now = time.time()
    stamped = []
    for p in cache.glob("sg_*.so"):
        try:
            stamped.append((p.stat().st_mtime, p))
        except OSError:  # removed meanwhile by another process
            continue
    stamped.sort()
    for mtime, old in stamped[: max(0, len(stamped) - MAX_CACHED_LIBRARIES)]:
        if old != keep and now - mtime > KEEP_RECENT_S:
            old.unlink(missing_ok=True)


def flags(src: str) -> list[str]:
    """Compiler flags for a kernel source: :data:`FLAGS`, and :data:`VECTOR_MATH_FLAGS`
    where its loop calls a vector math function."""
    body = src.split(_SIMD_DECLS, 1)[1] if _SIMD_DECLS in src else ""
    wide = platform.machine().lower() in ("x86_64", "amd64") and _VECTOR_MATH.search(body)
    return [*FLAGS, *VECTOR_MATH_FLAGS] if wide else list(FLAGS)


def _build(src: str, rebuild: bool = False) -> Path:
    options = flags(src)
    digest = hashlib.sha256((src + " ".join(options) + _compiler_id()).encode()).hexdigest()[:24]
    lib = _cache_dir() / f"sg_{digest}.so"
    if lib.exists() and not rebuild:
        with contextlib.suppress(OSError):  # used now: the last to be trimmed
            os.utime(lib)
        return lib
    with _LOCK, tempfile.TemporaryDirectory() as tmp:
        c_file = Path(tmp) / "kernel.c"
        c_file.write_text(src)
        tmp_lib = Path(tmp) / "kernel.so"
        base = [compiler(), *options, str(c_file), "-o", str(tmp_lib)]
        res = subprocess.run([*base, "-lmvec", "-lm"], capture_output=True, text=True)
        if res.returncode != 0:  # no libmvec (non-glibc systems): scalar libm
            res = subprocess.run([*base, "-DSG_NO_MVEC", "-lm"], capture_output=True,
                                 text=True)
        if res.returncode != 0:
            why = _compiler_fails()
            if why:  # nothing can be built: every kernel falls back
                raise CompilerUnavailable(f"the C compiler cannot build kernels:\n{why}")
            raise KernelCompileError(f"compiling a spikegrad kernel failed:\n{res.stderr}")
        os.replace(tmp_lib, lib)  # atomic: concurrent builders agree on the content
    _trim(lib.parent, lib)
    return lib


@dataclass(frozen=True)
class Library:
    """ctypes entry points of one compiled formula shape (shared by every parameter value)."""

    derivative: Any
    backward: Any
    path: Path

    @functools.cached_property
    def backward_address(self) -> int:
        """The address of ``sg_backward`` (what a C caller takes)."""
        return int(ctypes.cast(self.backward, ctypes.c_void_p).value or 0)


@dataclass(frozen=True)
class Kernels:
    """One surrogate's fused kernels for one dtype: a :class:`Library` and the surrogate's
    constants (a float64 array kept alive here)."""

    library: Library
    constants: Any  # numpy float64 array

    @property
    def path(self) -> Path:
        return self.library.path

    @property
    def constants_address(self) -> int:
        return int(self.constants.ctypes.data)

    def derivative(self, x: int, out: int, n: int) -> None:
        self.library.derivative(x, out, n, self.constants_address)

    def backward(self, x: int, g: int, out: int, n: int) -> None:
        self.library.backward(x, g, out, n, self.constants_address)


def _open(lib: ctypes.CDLL) -> Library:
    ptr = ctypes.c_void_p
    lib.sg_derivative.argtypes = [ptr, ptr, ctypes.c_int64, ptr]
    lib.sg_derivative.restype = None
    lib.sg_backward.argtypes = [ptr, ptr, ptr, ctypes.c_int64, ptr]
    lib.sg_backward.restype = None
    return Library(lib.sg_derivative, lib.sg_backward, Path(lib._name))


_LIBRARIES: dict[str, Library] = {}


def library(src: str) -> Library:
    """The compiled library of a kernel source (compiled once per process and machine; a
    cached file that cannot be loaded is rebuilt)."""
    found = _LIBRARIES.get(src)
    if found is not None:
        return found
    lib = _open(_cdll(src))
    _LIBRARIES[src] = lib
    return lib


def _cdll(src: str) -> ctypes.CDLL:
    """The loaded shared library of a kernel source (built first where missing; a damaged
    or foreign file in the cache is rebuilt)."""
    try:
        return ctypes.CDLL(str(_build(src)))
    except OSError:
        return ctypes.CDLL(str(_build(src, rebuild=True)))


def compiled_count() -> int:
    """Number of kernel libraries this process has compiled or loaded."""
    return len(_LIBRARIES)


def backward_and_constants(bound: Bound, dtype: str) -> tuple[int, Any]:
    """The address of ``bound``'s fused backward for ``dtype`` (its formula's library,
    compiled on first use) and ``bound``'s constants (a float64 array): what a C caller
    needs, without a :class:`Kernels` per value."""
    src, constants = source_and_constants(bound, dtype)
    return library(src).backward_address, np.asarray(constants, dtype=np.float64)


def backward_branches(bound: Bound, dtype: str) -> tuple[Any, tuple[tuple[int, Any], ...]]:
    """``(key, branches)``: the replay key of ``bound``'s formula shape for ``dtype``
    (:func:`spikegrad.codegen.replay.leaves`; ``None`` where its values are traced one by
    one) and, for each branch recorded so far, the address of its fused backward and the
    :class:`~spikegrad.codegen.replay.Program` of its constants: a new parameter value
    of that shape needs only a program call (what a C caller caches per shape; the
    branches are those :func:`backward_and_constants` compiled)."""
    f = bound.formula
    found = None if bound.entry.user else replay.leaves(bound.formula_params, bound.scale)
    if found is None:
        return None, ()
    key = found[0]
    recorded = REPLAYS.programs.get((f, dtype, key), ())
    return key, tuple((library(src).backward_address, program) for src, program in recorded)


@functools.lru_cache(maxsize=1024)
def kernels(bound: Bound, dtype: str) -> Kernels:
    """The fused kernels of ``bound`` for ``dtype`` (its formula's library, compiled on
    first use, with ``bound``'s constants)."""
    src, constants = source_and_constants(bound, dtype)
    return Kernels(library(src), np.asarray(constants, dtype=np.float64))
