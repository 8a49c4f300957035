"""Fused CPU kernels generated from the spec, compiled with the system C compiler.

For a bound surrogate and a dtype (float32 or float64), :func:`kernels` traces the
formula (scale and NaN rule included), emits one C loop per direction and compiles them
into a shared library, cached on disk under ``$SPIKEGRAD_CACHE`` (default
``~/.cache/spikegrad``) by a hash of the source, the flags and the compiler.  The
functions are called through ctypes on contiguous buffers:

* ``backward(x, g, out, n)``: ``out[i] = g[i] * g'(x[i])``
* ``derivative(x, out, n)``: ``out[i] = g'(x[i])``

Math functions are declared ``simd`` so the compiler may call glibc's vector math library
(libmvec, at most 4 ULP) and vectorise the loop; contraction to FMA is off so the
error-free products of the formulas stay exact.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._spec import Bound
from .c import C_PRELUDE, emit_expression
from .trace import trace_formula

__all__ = ["CompilerUnavailable", "Kernels", "compiler", "kernels", "source"]

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

FLAGS = ["-O3", "-march=native", "-fopenmp", "-ffp-contract=off", "-fno-math-errno",
         "-fPIC", "-shared", "-std=gnu11"]
_LOCK = threading.Lock()


class CompilerUnavailable(RuntimeError):
    """No working C compiler (or no OpenMP) on this machine."""


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


def source(bound: Bound, dtype: str) -> str:
    """C source of the fused derivative/backward loops of ``bound`` for ``dtype``."""
    f = bound.formula
    if f.stochastic_backward:
        raise NotImplementedError(f"{bound.name}: stochastic backward has no fused kernel")
    _, out = trace_formula(f.derivative, bound.formula_params, dtype, bound.scale)
    lines, var = emit_expression(out, {"x": "x[i]"})
    body = "\n        ".join(lines)
    t = {"float32": "float", "float64": "double"}[dtype]
    return f"""{C_PRELUDE}{_SIMD_DECLS}
/* {bound!r}, {dtype}; generated from the spec, do not edit */
void sg_derivative(const {t}* restrict x, {t}* restrict out, int64_t n) {{
    #pragma omp parallel for simd schedule(static) if(parallel: n > 32768)
    for (int64_t i = 0; i < n; ++i) {{
        {body}
        out[i] = {var};
    }}
}}
void sg_backward(const {t}* restrict x, const {t}* restrict g, {t}* restrict out, int64_t n) {{
    #pragma omp parallel for simd schedule(static) if(parallel: n > 32768)
    for (int64_t i = 0; i < n; ++i) {{
        {body}
        out[i] = g[i] * {var};
    }}
}}
"""


def _build(src: str) -> Path:
    digest = hashlib.sha256((src + " ".join(FLAGS) + _compiler_id()).encode()).hexdigest()[:24]
    lib = _cache_dir() / f"sg_{digest}.so"
    if lib.exists():
        return lib
    with _LOCK, tempfile.TemporaryDirectory() as tmp:
        c_file = Path(tmp) / "kernel.c"
        c_file.write_text(src)
        tmp_lib = Path(tmp) / "kernel.so"
        base = [compiler(), *FLAGS, str(c_file), "-o", str(tmp_lib)]
        res = subprocess.run([*base, "-lmvec", "-lm"], capture_output=True, text=True)
        if res.returncode != 0:  # no libmvec (non-glibc systems): scalar libm
            res = subprocess.run([*base, "-DSG_NO_MVEC", "-lm"], capture_output=True,
                                 text=True)
        if res.returncode != 0:
            raise CompilerUnavailable(f"compiling a spikegrad kernel failed:\n{res.stderr}")
        os.replace(tmp_lib, lib)  # atomic: concurrent builders agree on the content
    return lib


@dataclass(frozen=True)
class Kernels:
    """ctypes entry points of one surrogate's fused kernels for one dtype."""

    derivative: Any
    backward: Any
    path: Path


@functools.lru_cache(maxsize=512)
def kernels(bound: Bound, dtype: str) -> Kernels:
    """Compile (or load from the cache) the fused kernels of ``bound`` for ``dtype``."""
    lib_path = _build(source(bound, dtype))
    lib = ctypes.CDLL(str(lib_path))
    ptr = ctypes.c_void_p
    lib.sg_derivative.argtypes = [ptr, ptr, ctypes.c_int64]
    lib.sg_derivative.restype = None
    lib.sg_backward.argtypes = [ptr, ptr, ptr, ctypes.c_int64]
    lib.sg_backward.restype = None
    return Kernels(lib.sg_derivative, lib.sg_backward, lib_path)
