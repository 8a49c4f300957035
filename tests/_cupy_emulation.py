"""Checking cupy kernels on a machine without a GPU.

Two views of the *same* ``cupy.ElementwiseKernel`` objects the adapter builds:

* :func:`nvrtc_source` assembles the translation unit the way CuPy does when a kernel is
  first called (CuPy's headers, ``CArray``/``CIndexer`` parameters, references named after
  the parameters, ``CUPY_FOR`` loop) so NVRTC can compile it offline with CuPy's options
  (:func:`nvrtc_compile`, which needs no device);
* :func:`host_twin` turns the same pieces into a C function for the CPU (``float16`` as
  ``_Float16``, the CUDA bit-cast intrinsics as ``memcpy``); pieces computing in single
  precision run with the x86 flush-to-zero and denormals-are-zero modes set, as CuPy's
  ``-ftz=true`` does on the GPU (which leaves double precision exact), so the kernels'
  values can be checked against the goldens here.
"""

from __future__ import annotations

import ctypes
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

#: Whether the twins really flush (x86-64's MXCSR); elsewhere they compute without FTZ.
FTZ_EMULATED = platform.machine().lower() in ("x86_64", "amd64")

_TWIN_TYPES = {"float16": "_Float16", "bfloat16": "bfloat16", "float32": "float",
               "float64": "double"}

_TWIN_PRELUDE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#define SG_FTZ_ON() unsigned int sg_csr = _mm_getcsr(); _mm_setcsr(sg_csr | 0x8040u)
#define SG_FTZ_OFF() _mm_setcsr(sg_csr)
#else
#define SG_FTZ_ON()
#define SG_FTZ_OFF()
#endif
#define __device__
#define __forceinline__ inline
#ifdef __cplusplus
#define SG_EXPORT extern "C"
#else
#define SG_EXPORT
#endif
static inline unsigned int __float_as_uint(float v) {
    unsigned int u; memcpy(&u, &v, sizeof u); return u; }
#ifndef __cplusplus
typedef _Float16 float16;
#else
/* CuPy's bfloat16 as seen by the kernels: exact widening to float (a shift), and
   round-to-nearest-even narrowing (NaN kept quiet), as cuda_bf16's conversions do. */
struct bfloat16 {
    uint16_t bits;
    bfloat16() : bits(0) {}
    bfloat16(float f) {
        uint32_t u = __float_as_uint(f);
        bits = (f != f) ? (uint16_t)((u >> 16) | 0x40u)
                        : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
    operator float() const { uint32_t u = (uint32_t)bits << 16; float f;
                             memcpy(&f, &u, sizeof f); return f; }
};
#endif
static inline long long __double_as_longlong(double v) {
    long long u; memcpy(&u, &v, sizeof u); return u; }
"""


def params(spec: str) -> list[tuple[str, str]]:
    """``"float32 x, float32 g, raw float64 c"`` -> ``[("float32", "x"), ("float32", "g")]``
    (the elementwise parameters; see :func:`raw_params` for the others)."""
    out = []
    for part in spec.split(","):
        words = part.split()
        if words[0] == "raw":
            continue
        dtype, name = words
        out.append((dtype, name))
    return out


def raw_params(spec: str) -> list[tuple[str, str]]:
    """The ``raw`` parameters (whole arrays, indexed by the kernel): ``[("float64", "c")]``."""
    return [tuple(part.split()[1:]) for part in spec.split(",")  # type: ignore[misc]
            if part.split()[0] == "raw"]


def nvrtc_source(kernels: list[Any]) -> str:
    """One translation unit holding ``kernels`` (ElementwiseKernel objects sharing a
    preamble), laid out as CuPy lays out an elementwise kernel for 1-d contiguous arrays."""
    from cupy._core import _scalar, core

    preambles = {k.preamble for k in kernels} - {""}
    assert len(preambles) <= 1, "kernels with different preambles go in separate units"
    decls: set[Any] = set()  # headers some types need (cupy/float16.cuh for float16)
    for k in kernels:
        for p in k.in_params + k.out_params:
            if p.dtype is not None:
                _scalar.get_typename(np.dtype(p.dtype), decls)
    parts = ["".join(f"#include <{h}>\n" for h in core._cupy_header_list),
             _scalar.format_type_decls(decls), *preambles]
    for k in kernels:
        sig, refs = [], []
        for p in k.in_params + k.out_params:
            if p.raw:  # a whole array, indexed by the kernel itself
                sig.append(f"CArray<{p.ctype}, 1, 1, 1> {p.name}")
                continue
            const = "const " if p.is_const else ""
            sig.append(f"{const}CArray<{p.ctype}, 1, 1, 1> _raw_{p.name}")
            refs.append(f"{const}{p.ctype} &{p.name} = _raw_{p.name}[_ind.get()];")
        sig.append("CIndexer<1, 1> _ind")
        body = "\n".join([*refs, k.operation])
        parts.append(f'extern "C" __global__ void {k.name}({", ".join(sig)}) {{\n'
                     f"  #pragma unroll 1\n  CUPY_FOR(i, _ind.size()) {{\n"
                     f"    _ind.set(i);\n{body};\n  }}\n}}\n")
    return "\n".join(parts)


def nvrtc_compile(source: str, options: tuple[str, ...], arch: str = "90") -> str:
    """PTX of ``source`` compiled by NVRTC with CuPy's options (no GPU needed)."""
    from cupy._core import core
    from cupy.cuda import compiler

    opts = (*core.assemble_cupy_compiler_options(tuple(options)), "-ftz=true",
            f"-arch=compute_{arch}", "--device-as-default-execution-space")
    prog = compiler._NVRTCProgram(source, "kern.cu", method="ptx")
    ptx = prog.compile(opts)[0]
    return ptx.decode() if isinstance(ptx, bytes) else ptx


def host_twin_source(pieces: list[Any]) -> str:
    """C source (C++ where a piece stores bfloat16) of the CPU twins of ``pieces``
    (:class:`spikegrad.codegen.cuda.Elementwise`: ``in_params``/``out_params`` strings),
    one function per piece named after it: ``name(in..., out..., n)``."""
    preambles = {p.preamble for p in pieces} - {""}
    chunks = [_TWIN_PRELUDE, *preambles]
    for p in pieces:
        ins, outs = params(p.in_params), params(p.out_params)
        args = [f"const {_TWIN_TYPES[d]}* {n}_" for d, n in ins]
        args += [f"const {_TWIN_TYPES[d]}* {n}" for d, n in raw_params(p.in_params)]
        args += [f"{_TWIN_TYPES[d]}* {n}_" for d, n in outs]
        load = " ".join(f"const {_TWIN_TYPES[d]} {n} = {n}_[i];" for d, n in ins)
        decl = " ".join(f"{_TWIN_TYPES[d]} {n};" for d, n in outs)
        store = " ".join(f"{n}_[i] = {n};" for _, n in outs)
        ftz = ins[0][0] != "float64"  # -ftz=true flushes single precision only
        on, off = ("SG_FTZ_ON();", "SG_FTZ_OFF();") if ftz else ("", "")
        chunks.append(f"SG_EXPORT void {p.name}({', '.join(args)}, int64_t n) {{\n"
                      f"    {on}\n    for (int64_t i = 0; i < n; ++i) {{\n"
                      f"        {load} {decl}\n{p.operation}\n        {store}\n    }}\n"
                      f"    {off}\n}}\n")
    return "\n".join(chunks)


def _is_cxx(piece: Any) -> bool:
    return any(d == "bfloat16" for d, _ in params(piece.in_params) + params(piece.out_params))


class HostTwins:
    """The compiled CPU twins; call ``twins.run(piece, *inputs)`` -> tuple of outputs.

    Pieces on float16/float32/float64 are compiled as C with ``cc`` (``_Float16``);
    bfloat16 pieces as C++ with ``cxx`` (skipped when ``cxx`` is None: :attr:`has_bfloat16`).
    """

    def __init__(self, pieces: list[Any], cc: str, cxx: str | None, workdir: Path):
        self._libs: dict[str, Any] = {}
        groups = {"c": [p for p in pieces if not _is_cxx(p)],
                  "cpp": [p for p in pieces if _is_cxx(p)]}
        self.has_bfloat16 = bool(groups["cpp"]) and cxx is not None
        for ext, group in groups.items():
            if not group or (ext == "cpp" and cxx is None):
                continue
            src, lib = workdir / f"twins.{ext}", workdir / f"twins_{ext}.so"
            src.write_text(host_twin_source(group))
            std = "-std=gnu11" if ext == "c" else "-std=gnu++17"
            res = subprocess.run([cc if ext == "c" else cxx, "-O1", "-ffp-contract=off",
                                  "-fno-math-errno", "-fPIC", "-shared", std, str(src),
                                  "-o", str(lib), "-lm"], capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(res.stderr[-4000:])
            handle = ctypes.CDLL(str(lib))
            for p in group:
                self._libs[p.name] = handle

    def run(self, piece: Any, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        outs = [np.empty_like(inputs[0]) for _ in params(piece.out_params)]
        fn = getattr(self._libs[piece.name], piece.name)
        arrays = [np.ascontiguousarray(a) for a in inputs]
        if raw_params(piece.in_params):  # the surrogate's run-time constants
            arrays.append(np.asarray(piece.constants or (0.0,), dtype=np.float64))
        fn(*[ctypes.c_void_p(a.ctypes.data) for a in [*arrays, *outs]],
           ctypes.c_int64(inputs[0].size))
        return tuple(outs)
