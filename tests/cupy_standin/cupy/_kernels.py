"""Kernels of the stand-in: ``ElementwiseKernel``, ``RawModule`` and ``RawKernel`` run
their own CUDA text, compiled for the host by the C twins of ``tests/_cupy_emulation.py``
(:class:`HostTwins` for elementwise kernels, with flush-to-zero in single precision as
CuPy's ``-ftz=true``; :class:`RawTwin` for raw modules, every block and thread of the
launch grid in turn).

As CuPy compiles a kernel at its first launch, the stand-in compiles then, together with
every other kernel constructed and not yet compiled (one compiler run for a whole set of
kernels: tests construct theirs first), and caches by kernel text.  Arguments are
checked as a GPU would need them: arrays on the current device, of the declared type.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import itertools
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

from . import _core
from .cuda.compiler import CompileException

__all__ = ["ElementwiseKernel", "RawKernel", "RawModule"]

_EMULATION = Path(__file__).resolve().parents[2] / "_cupy_emulation.py"
_LOCK = threading.RLock()
_PENDING: list[ElementwiseKernel] = []
_COMPILED: dict[str, Any] = {}  # kernel text key -> HostTwins / RawTwin
_FAILED: dict[str, str] = {}
_WORKDIR: list[Path] = []
_COUNTER = itertools.count()


def emulation() -> ModuleType:
    """``tests/_cupy_emulation.py`` (loaded by path as ``cupy._emulation``)."""
    mod = sys.modules.get("cupy._emulation")
    if mod is None:
        spec = importlib.util.spec_from_file_location("cupy._emulation", _EMULATION)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["cupy._emulation"] = mod
        spec.loader.exec_module(mod)
    return mod


def compilers() -> tuple[str | None, str | None]:
    """The host C and C++ compilers the twins are built with."""
    return (shutil.which("cc") or shutil.which("gcc"),
            shutil.which("c++") or shutil.which("g++"))


def _workdir() -> Path:
    if not _WORKDIR:
        path = Path(tempfile.mkdtemp(prefix="cupy-standin-"))
        atexit.register(shutil.rmtree, path, True)
        _WORKDIR.append(path)
    out = _WORKDIR[0] / f"k{next(_COUNTER)}"
    out.mkdir()
    return out


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _params(spec: str) -> list[tuple[str, str, bool]]:
    """``"float32 x, raw float64 c"`` -> ``[("float32", "x", False), ("float64", "c", True)]``."""
    out = []
    for part in spec.split(","):
        words = part.split()
        raw = words[0] == "raw"
        dtype, name = words[1:] if raw else words
        out.append((dtype, name, raw))
    return out


class ElementwiseKernel:
    """``cupy.ElementwiseKernel`` with concrete parameter types (no type placeholders)."""

    def __init__(self, in_params: str, out_params: str, operation: str,
                 name: str = "kernel", reduce_dims: bool = True, preamble: str = "",
                 no_return: bool = False, return_tuple: bool = False, *,
                 loop_prep: str = "", after_loop: str = "", options: tuple[str, ...] = ()):
        if loop_prep or after_loop:
            raise NotImplementedError("loop_prep / after_loop")
        self.in_params, self.out_params = in_params, out_params
        self.operation, self.name, self.preamble = operation, name, preamble
        self.options = tuple(options)
        self.return_tuple = return_tuple
        self._ins, self._outs = _params(in_params), _params(out_params)
        for dtype, _, _ in self._ins + self._outs:
            if len(dtype) == 1 and dtype.isupper():
                raise NotImplementedError(f"{name}: type placeholder {dtype!r}")
        self._piece = SimpleNamespace(in_params=in_params, out_params=out_params,
                                      operation=operation, name=name, preamble=preamble,
                                      constants=None)
        self._key = _key("elementwise", name, in_params, out_params, operation, preamble)
        with _LOCK:
            if self._key not in _COMPILED:
                _PENDING.append(self)

    def _twins(self) -> Any:
        with _LOCK:
            if self._key not in _COMPILED and self._key not in _FAILED:
                _compile_pending(self)
            if self._key in _FAILED:
                raise CompileException(f"{self.name}: {_FAILED[self._key]}")
            return _COMPILED[self._key]

    def __call__(self, *args: Any, size: Any = None, block_size: Any = None) -> Any:
        n_in, n_out = len(self._ins), len(self._outs)
        if len(args) not in (n_in, n_in + n_out):
            raise TypeError(f"Wrong number of arguments for {self.name!r}")
        dev = _core.current_device_id()
        elementwise, raw = [], []
        for (dtype, pname, is_raw), a in zip(self._ins, args[:n_in], strict=True):
            arr = _argument(self.name, pname, dtype, a, dev)
            (raw if is_raw else elementwise).append(arr)
        if not elementwise:
            raise NotImplementedError(f"{self.name}: no elementwise input")
        shape = np.broadcast_shapes(*(a.shape for a in elementwise))
        elementwise = [np.broadcast_to(a, shape) for a in elementwise]
        outs = self._twins().run(self._piece, *elementwise, raw=raw)
        results = []
        for (dtype, pname, _), o, i in zip(self._outs, outs, range(n_out), strict=True):
            if len(args) > n_in:  # outputs given: written in place
                given = args[n_in + i]
                target = _argument(self.name, pname, dtype, given, dev)
                if target.shape != shape:
                    raise ValueError(f"{self.name}: out {pname} has shape {target.shape}, "
                                     f"the inputs broadcast to {shape}")
                target[...] = o
                results.append(given)
            else:
                results.append(_core._new(o, dev))
        return results[0] if n_out == 1 and not self.return_tuple else tuple(results)


def _argument(kernel: str, pname: str, dtype: str, a: Any, dev: int) -> np.ndarray:
    if isinstance(a, _core.ndarray):
        arr = _core._operand(a, dev)
        if arr.dtype.name != dtype:
            raise TypeError(f"Type is mismatched. {kernel}: {pname} is {dtype}, "
                            f"got an array of {arr.dtype}")
        return arr
    if isinstance(a, np.ndarray) or not isinstance(a, (bool, int, float, np.generic)):
        raise TypeError(f"Unsupported type {type(a)}")
    return np.asarray(a, dtype=_dtype(dtype))  # scalars take the parameter's type


def _compile_pending(wanted: ElementwiseKernel) -> None:
    """Compile ``wanted`` with every pending kernel (distinct names: one C symbol each), C
    and C++ (bfloat16) kernels in one compiler run each."""
    batch, names, rest = [], set(), []
    for k in [wanted, *_PENDING]:
        if k._key in _COMPILED or k._key in _FAILED or any(k._key == b._key for b in batch):
            continue
        (rest if k.name in names else batch).append(k)
        names.add(k.name)
    _PENDING[:] = rest
    emu = emulation()
    for cxx_group in (False, True):
        group = [k for k in batch if emu._is_cxx(k._piece) == cxx_group]
        compiler = compilers()[cxx_group]
        if not group:
            continue
        if compiler is None:
            for k in group:
                _FAILED[k._key] = f"no {'C++' if cxx_group else 'C'} compiler for its host twin"
            continue
        try:
            _build(emu, group, compiler)
        except RuntimeError:  # one broken kernel: compile one by one, so only it fails
            for k in group:
                try:
                    _build(emu, [k], compiler)
                except RuntimeError as exc:
                    _FAILED[k._key] = str(exc)


def _build(emu: ModuleType, group: list[ElementwiseKernel], compiler: str) -> None:
    twins = emu.HostTwins([k._piece for k in group], compiler, compiler, _workdir())
    for k in group:
        _COMPILED[k._key] = twins


class RawKernel:
    """``cupy.RawKernel``: kernel ``name`` of CUDA text ``code``."""

    def __init__(self, code: str, name: str, options: tuple[str, ...] = (),
                 backend: str = "nvrtc", translate_cucomplex: bool = False,
                 enable_cooperative_groups: bool = False, jitify: bool = False):
        self.code, self.name, self.options = code, name, tuple(options)

    def _twin(self) -> Any:
        key = _key("raw", self.code)
        with _LOCK:
            twin = _COMPILED.get(key)
            if twin is None:
                cxx = compilers()[1]
                if cxx is None:
                    raise CompileException("no C++ compiler for the raw kernels' host twins")
                try:
                    twin = _COMPILED[key] = emulation().RawTwin(self.code, cxx, _workdir())
                except RuntimeError as exc:
                    raise CompileException(str(exc)) from exc
        if self.name not in twin.kernels:
            raise RuntimeError(f"CUDA_ERROR_NOT_FOUND: named symbol not found ({self.name})")
        return twin

    def __call__(self, grid: Any, block: Any, args: tuple[Any, ...], *,
                 shared_mem: int = 0, stream: Any = None,
                 enable_cooperative_groups: bool = False) -> None:
        dev = _core.current_device_id()
        converted = []
        for a in args:
            if isinstance(a, _core.ndarray):
                converted.append(_core._operand(a, dev))
            elif isinstance(a, np.ndarray):
                raise TypeError(f"Unsupported type {type(a)}")
            else:
                converted.append(a)
        self._twin().launch(self.name, grid, block, tuple(converted))


class RawModule:
    """``cupy.RawModule``: a CUDA module given as text; ``get_function(name)``."""

    def __init__(self, code: str | None = None, *, path: str | None = None,
                 options: tuple[str, ...] = (), backend: str = "nvrtc",
                 translate_cucomplex: bool = False, enable_cooperative_groups: bool = False,
                 name_expressions: Any = None, jitify: bool = False):
        if code is None:
            if path is None:
                raise TypeError("RawModule needs code or path")
            code = Path(path).read_text()
        self.code, self.options = code, tuple(options)

    def get_function(self, name: str) -> RawKernel:
        k = RawKernel(self.code, name, self.options)
        k._twin()  # compiled (and the name looked up) now, as CuPy does
        return k
