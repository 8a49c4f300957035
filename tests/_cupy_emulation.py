"""Checking cupy kernels on a machine without a GPU.

Views of the *same* kernel objects the adapter builds (``cupy.ElementwiseKernel``,
``cupy.RawModule``):

* :func:`nvrtc_source` assembles the translation unit the way CuPy does when a kernel is
  first called (CuPy's headers, ``CArray``/``CIndexer`` parameters, references named after
  the parameters, ``CUPY_FOR`` loop) so NVRTC can compile it offline with CuPy's options
  (:func:`nvrtc_compile`, which needs no device);
* :func:`host_twin` turns the same pieces into a C function for the CPU (``float16`` as
  ``_Float16``, the CUDA bit-cast intrinsics as ``memcpy``); pieces computing in single
  precision run with the x86 flush-to-zero and denormals-are-zero modes set, as CuPy's
  ``-ftz=true`` does on the GPU (which leaves double precision exact), so the kernels'
  values can be checked against the goldens here;
* :class:`RawTwin` compiles a ``cupy.RawModule``'s CUDA text for the host and launches its
  ``__global__`` kernels over a grid, one block and thread after another.

The numpy-backed CuPy stand-in of the test suite (``tests/cupy_standin``) runs its
``ElementwiseKernel`` and ``RawModule`` objects through these twins.
"""

from __future__ import annotations

import ctypes
import dataclasses
import platform
import re
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
                      f"        {load} {decl}\n{p.operation};\n        {store}\n    }}\n"
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

    def run(self, piece: Any, *inputs: np.ndarray, raw: list[np.ndarray] | None = None
            ) -> tuple[np.ndarray, ...]:
        """Outputs (shaped as ``inputs[0]``, of the declared dtypes) of ``piece`` on the
        elementwise ``inputs`` (same size, any layout); ``raw``: the raw parameters' arrays
        (default: the piece's own run-time constants)."""
        outs = [np.empty(inputs[0].shape, dtype=_out_dtype(d, inputs[0].dtype))
                for d, _ in params(piece.out_params)]
        fn = getattr(self._libs[piece.name], piece.name)
        arrays = [np.ascontiguousarray(a) for a in inputs]
        if raw is None and raw_params(piece.in_params):  # the surrogate's run-time constants
            raw = [np.asarray(piece.constants or (0.0,), dtype=np.float64)]
        arrays += [np.ascontiguousarray(a) for a in raw or ()]
        fn(*[ctypes.c_void_p(a.ctypes.data) for a in [*arrays, *outs]],
           ctypes.c_int64(inputs[0].size))
        return tuple(outs)


def _out_dtype(name: str, like: np.dtype) -> np.dtype:
    """numpy dtype of a declared kernel type (bfloat16 taken from an input: ml_dtypes)."""
    return like if like.name == name else np.dtype(name)


# -- raw modules: __global__ kernels run on the CPU, one block and thread after another ----

_RAW_PRELUDE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>
struct sg_dim3 { unsigned int x, y, z; };
static sg_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
"""

#: C types of kernel parameters: (numpy dtype, ctypes type).
_RAW_TYPES: dict[str, tuple[str, Any]] = {
    "float": ("float32", ctypes.c_float), "double": ("float64", ctypes.c_double),
    "__half": ("float16", None), "signed char": ("int8", ctypes.c_int8),
    "unsigned char": ("uint8", ctypes.c_uint8), "short": ("int16", ctypes.c_int16),
    "unsigned short": ("uint16", ctypes.c_uint16), "int": ("int32", ctypes.c_int32),
    "unsigned int": ("uint32", ctypes.c_uint32), "unsigned": ("uint32", ctypes.c_uint32),
    "long long": ("int64", ctypes.c_int64), "unsigned long long": ("uint64", ctypes.c_uint64),
    "long": ("int64", ctypes.c_int64), "unsigned long": ("uint64", ctypes.c_uint64),
    "int64_t": ("int64", ctypes.c_int64), "int32_t": ("int32", ctypes.c_int32),
    "bool": ("bool", ctypes.c_bool),
}

_GLOBAL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')


@dataclasses.dataclass(frozen=True)
class KernelParam:
    """One parameter of a ``__global__`` kernel: its name, its C base type (``const`` and
    ``__restrict__`` dropped) and whether it is a pointer."""

    name: str
    ctype: str
    pointer: bool

    @property
    def dtype(self) -> str | None:
        """numpy dtype of the value (or of the pointed-to elements); None for ``void*``."""
        return None if self.ctype == "void" else _RAW_TYPES[self.ctype][0]


def kernel_signatures(code: str) -> dict[str, tuple[KernelParam, ...]]:
    """The ``extern "C" __global__`` kernels of a CUDA module and their parameters."""
    out = {}
    for name, plist in _GLOBAL.findall(code):
        ps = []
        for part in plist.split(","):
            decl = part.replace("*", " * ").split()
            pointer = "*" in decl
            words = [w for w in decl if w not in ("*", "const", "__restrict__", "__restrict")]
            ctype = " ".join(words[:-1])
            if ctype != "void" and ctype not in _RAW_TYPES:
                raise NotImplementedError(f"kernel {name}: parameter type {ctype!r}")
            ps.append(KernelParam(words[-1], ctype, pointer))
        out[name] = tuple(ps)
    return out


def _launcher(name: str, ps: tuple[KernelParam, ...]) -> str:
    decls = ", ".join(f"{p.ctype}{'*' if p.pointer else ''} {p.name}" for p in ps)
    names = ", ".join(p.name for p in ps)
    return (f'extern "C" void sg_launch_{name}(unsigned sg_gx_, unsigned sg_gy_, '
            f"unsigned sg_gz_, unsigned sg_bx_, unsigned sg_by_, unsigned sg_bz_, {decls}) {{\n"
            "    gridDim = {sg_gx_, sg_gy_, sg_gz_}; blockDim = {sg_bx_, sg_by_, sg_bz_};\n"
            "    for (unsigned sg_z_ = 0; sg_z_ < sg_gz_; ++sg_z_)\n"
            "    for (unsigned sg_y_ = 0; sg_y_ < sg_gy_; ++sg_y_)\n"
            "    for (unsigned sg_x_ = 0; sg_x_ < sg_gx_; ++sg_x_) {\n"
            "        blockIdx = {sg_x_, sg_y_, sg_z_};\n"
            "        for (unsigned sg_k_ = 0; sg_k_ < sg_bz_; ++sg_k_)\n"
            "        for (unsigned sg_j_ = 0; sg_j_ < sg_by_; ++sg_j_)\n"
            "        for (unsigned sg_i_ = 0; sg_i_ < sg_bx_; ++sg_i_) {\n"
            f"            threadIdx = {{sg_i_, sg_j_, sg_k_}}; {name}({names});\n"
            "        }\n    }\n}\n")


def _dims(d: Any) -> tuple[int, int, int]:
    t = (d,) if isinstance(d, (int, np.integer)) else tuple(d)
    if not 1 <= len(t) <= 3 or any(int(v) < 1 for v in t):
        raise ValueError(f"grid and block dimensions are 1 to 3 positive ints, got {d!r}")
    return tuple(int(v) for v in (*t, 1, 1)[:3])  # type: ignore[return-value]


class RawTwin:
    """The CPU twin of a CUDA module (what ``cupy.RawModule(code=...)`` compiles): the
    module's own text compiled as C++ for the host, each ``extern "C" __global__`` kernel
    with a launcher that runs every block and thread of a grid one after another (so a
    kernel whose threads do not cover the elements leaves them unwritten, as on the GPU).
    Kernels that share memory or synchronise threads are refused (not emulable in order).
    No flush-to-zero (as the multi-step modules are built: CuPy's RawModule options).

    ``twin.launch(name, grid, block, args)``: ``args`` as for a RawKernel, arrays being
    C-contiguous NumPy arrays of the pointed-to type (written in place), scalars NumPy
    scalars of the parameter's type (Python ints for 64-bit integers, floats for double).
    """

    def __init__(self, code: str, cxx: str, workdir: Path):
        if "__syncthreads" in code or "__shared__" in code:
            raise NotImplementedError("kernels with shared memory or __syncthreads")
        self.kernels = kernel_signatures(code)
        src, lib = workdir / "module.cpp", workdir / "module.so"
        src.write_text("\n".join([_RAW_PRELUDE, code,
                                  *(_launcher(n, ps) for n, ps in self.kernels.items())]))
        res = subprocess.run([cxx, "-O2", "-ffp-contract=off", "-fPIC", "-shared",
                              "-std=gnu++17", str(src), "-o", str(lib), "-lm"],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(res.stderr[-4000:])
        self._lib = ctypes.CDLL(str(lib))

    def launch(self, name: str, grid: Any, block: Any, args: tuple[Any, ...]) -> None:
        ps = self.kernels[name]
        if len(args) != len(ps):
            raise TypeError(f"kernel {name} takes {len(ps)} arguments, got {len(args)}")
        cargs = [_raw_arg(name, p, a) for p, a in zip(ps, args, strict=True)]
        getattr(self._lib, f"sg_launch_{name}")(
            *(ctypes.c_uint(v) for v in (*_dims(grid), *_dims(block))), *cargs)


def _raw_arg(kernel: str, p: KernelParam, a: Any) -> Any:
    where = f"kernel {kernel}, parameter {p.name} ({p.ctype}{'*' if p.pointer else ''})"
    if p.pointer:
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{where}: needs an array, got {type(a).__name__}")
        if p.dtype is not None and a.dtype != np.dtype(p.dtype):
            raise TypeError(f"{where}: array of {a.dtype}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{where}: the kernel reads raw memory; the array is not "
                             "C-contiguous")
        return ctypes.c_void_p(a.ctypes.data)
    dtype, ctype = _RAW_TYPES[p.ctype]
    if isinstance(a, np.generic):
        if a.dtype != np.dtype(dtype):
            raise TypeError(f"{where}: scalar of {a.dtype}")
        return ctype(a.item())
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        raise TypeError(f"{where}: needs a scalar, got {type(a).__name__}")
    if (isinstance(a, int) and dtype != "int64") or (isinstance(a, float) and dtype != "float64"):
        raise TypeError(f"{where}: a Python {type(a).__name__} is passed as "
                        f"{'int64' if isinstance(a, int) else 'float64'}")
    return ctype(a)
