"""The fused CPU parameter backward for jax: the generated ``sg_param_backward`` kernels of
:mod:`spikegrad.codegen.cpu` (the torch binding's) called from XLA as a typed FFI custom
call.

Why: XLA's CPU backend (jaxlib 0.10) computes ``grad_x``, the per-element ``G ∂g/∂θ`` and
their sum as two loops and a reduction (three passes over the data, the products stored in
between), 2-3x the ``x``-only gradient at 2^18 elements and 3-6x at 2^22; the generated
kernel does it in one pass.  A cotangent that is a broadcast of one value (``grad`` of a
``sum`` or a ``mean``) arrives as that value (XLA would otherwise write the broadcast out
first: 2.4x instead of 1.0x the ``x``-only gradient at 2^18) and goes to the kernel
variant that reads that one value (no cotangent array, and one product by it per sum).

One small C++ handler (built once per machine, under a file lock, from XLA's FFI headers
that jaxlib ships) serves every kernel: it receives ``x``, the cotangent (``x``'s shape or
one value) and the one-value parameters as buffers, the kernel's 63-bit key and constants
as attributes, and runs the kernel in chunks of :data:`CHUNK` elements on the calling
thread and on XLA's own intra-op thread pool, with one helper fewer than the pool has
threads (never more threads than cores, and never a second pool competing for them); a
one-value parameter's chunk sums are added in a fixed order, so the result does not depend
on the scheduling. A kernel is named by the hash of its source, looked up in a table this
process fills when it loads the kernel: an executable from jax's persistent cache never
calls an address of another process (an unknown key is an error, not a crash).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .._locks import machine_lock
from ..codegen import cpu

__all__ = ["CHUNK", "MAX_PARAMS", "TARGET", "available", "built_here", "enabled",
           "kernel_key", "no_kernel", "pool_use", "set_enabled", "status"]

#: The custom call's target name (CPU).
TARGET = "spikegrad_param_backward"

#: Elements per kernel call: the kernel's threshold for threads of its own
#: (:data:`spikegrad.codegen.cpu.THREADS_ABOVE`), so a chunk runs serially (OpenMP's
#: threads inside XLA's, with chunks of 2^17, took 92 instead of 48 us at 2^18) and the
#: chunks are shared among XLA's threads.
CHUNK = cpu.THREADS_ABOVE

#: At most this many array parameters per call (the handler's fixed tables); each holds
#: one value (the kernels' ``"s"`` layout).
MAX_PARAMS = 8


_SHIM = r"""
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

// the generated kernel's signature (spikegrad.codegen.cpu.param_source_and_constants)
typedef int (*sg_kernel)(const void*, const void*, void*, const void* const*, void* const*,
                         double*, int64_t, const double*, const int64_t*);

// a kernel, whether it takes the cotangent as one value (g[0]) rather than an array, and
// which of its parameters are per element (bit j: x's shape, else one value)
struct SgKernel {
  sg_kernel fn = nullptr;
  bool one = false;
  int64_t each = 0;
};
static std::shared_mutex sg_mu;
static std::unordered_map<int64_t, SgKernel> sg_table;

extern "C" void sg_register(int64_t key, void* fn, int one, int64_t each) {
  std::unique_lock<std::shared_mutex> lock(sg_mu);
  sg_table[key] = SgKernel{reinterpret_cast<sg_kernel>(fn), one != 0, each};
}

static constexpr int64_t kChunk = SG_CHUNK;

// what a call's helper tasks share with it: how many are working, and whether the call
// has finished taking chunks (a helper starting later does nothing)
struct SgShared {
  std::mutex mu;
  std::condition_variable cv;
  int64_t active = 0;
  bool closed = false;
};
static constexpr int64_t kMaxParams = 8;

// helper tasks handed to XLA's pool since the library was loaded, and the pool's size at
// the last call that had more than one chunk (what a test reads)
static std::atomic<int64_t> sg_scheduled{0}, sg_pool_size{0};
extern "C" int64_t sg_helpers_scheduled() { return sg_scheduled.load(); }
extern "C" int64_t sg_last_pool_size() { return sg_pool_size.load(); }

// a parameter's gradient, summed in double, stored in the parameter's dtype
static inline void sg_store(void* dst, double s, size_t es) {
  if (es == 8) {
    std::memcpy(dst, &s, 8);
  } else {
    const float f = static_cast<float>(s);
    std::memcpy(dst, &f, 4);
  }
}

static ffi::Error sg_param_backward(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer g,
                                    ffi::RemainingArgs params, ffi::RemainingRets rets,
                                    int64_t key, ffi::Span<const double> consts) {
  sg_kernel k = nullptr;
  bool one = false;
  int64_t each = 0;
  {
    std::shared_lock<std::shared_mutex> lock(sg_mu);
    auto it = sg_table.find(key);
    if (it != sg_table.end()) {
      k = it->second.fn;
      one = it->second.one;
      each = it->second.each;
    }
  }
  if (k == nullptr)
    return ffi::Error(ffi::ErrorCode::kFailedPrecondition,
                      "spikegrad: this process has not loaded the kernel of this custom call "
                      "(an executable compiled in another process); call the function again "
                      "after tracing it here");
  const int64_t np = static_cast<int64_t>(params.size());
  if (np > kMaxParams || static_cast<int64_t>(rets.size()) != 1 + np)
    return ffi::Error(ffi::ErrorCode::kInvalidArgument, "spikegrad: bad custom call arity");
  const size_t es = x.element_type() == ffi::DataType::F64 ? 8 : 4;
  const int64_t n = static_cast<int64_t>(x.element_count());
  auto gx = rets.get<ffi::AnyBuffer>(0);
  if (gx.has_error()) return gx.error();
  const char* pbase[kMaxParams];
  char* gbase[kMaxParams];
  bool per[kMaxParams];
  for (int64_t j = 0; j < np; ++j) {
    auto p = params.get<ffi::AnyBuffer>(j);
    if (p.has_error()) return p.error();
    auto r = rets.get<ffi::AnyBuffer>(1 + j);
    if (r.has_error()) return r.error();
    per[j] = ((each >> j) & 1) != 0;
    const int64_t want = per[j] ? n : 1;
    if (static_cast<int64_t>(p->element_count()) != want ||
        static_cast<int64_t>((*r)->element_count()) != want)
      return ffi::Error(ffi::ErrorCode::kInvalidArgument,
                        "spikegrad: a parameter does not have its kernel's layout");
    pbase[j] = static_cast<const char*>(p->untyped_data());
    gbase[j] = static_cast<char*>((*r)->untyped_data());
  }
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(chunks, 1) * np), 0.0);
  std::atomic<int64_t> next{0};
  std::atomic<int> failed{0};
  const char* xs = static_cast<const char*>(x.untyped_data());
  const char* gs = static_cast<const char*>(g.untyped_data());
  // a one-value cotangent (grad of a sum or a mean) goes to the kernel that reads one
  // value, g[0], for every element; any other cotangent has x's shape
  int64_t gstep = es;
  if (one) {
    if (g.element_count() != 1)
      return ffi::Error(ffi::ErrorCode::kInvalidArgument,
                        "spikegrad: this kernel takes a one-value cotangent");
    gstep = 0;
  } else if (static_cast<int64_t>(g.element_count()) != n) {
    return ffi::Error(ffi::ErrorCode::kInvalidArgument,
                      "spikegrad: the cotangent does not have x's shape");
  }
  char* gxs = static_cast<char*>((*gx)->untyped_data());
  // the kernel on elements [lo, lo + m): a per-element parameter and its gradient at the
  // same offset, a one-value parameter read whole (its sum into acc)
  auto run = [&](int64_t lo, int64_t m, double* acc) -> bool {
    const void* pp[kMaxParams];
    void* gp[kMaxParams];
    for (int64_t j = 0; j < np; ++j) {
      pp[j] = per[j] ? pbase[j] + lo * es : pbase[j];
      gp[j] = per[j] ? gbase[j] + lo * es : nullptr;
    }
    return k(xs + lo * es, gs + lo * gstep, gxs + lo * es, pp, gp, acc, m, consts.begin(),
             nullptr) == 0;
  };
  if (chunks <= 1) {  // one chunk: on this thread, nothing shared
    double acc[kMaxParams] = {0};
    if (!run(0, n, acc))
      return ffi::Error(ffi::ErrorCode::kInternal, "spikegrad: kernel failed");
    for (int64_t j = 0; j < np; ++j)
      if (!per[j]) sg_store(gbase[j], acc[j], es);
    return ffi::Error::Success();
  }
  auto work = [&]() {
    for (;;) {
      const int64_t c = next.fetch_add(1);
      if (c >= chunks) return;
      const int64_t lo = c * kChunk;
      double acc[kMaxParams] = {0};
      if (!run(lo, std::min(kChunk, n - lo), acc)) failed.store(1);
      for (int64_t j = 0; j < np; ++j) part[static_cast<size_t>(c * np + j)] = acc[j];
    }
  };
  // This thread works too: with num_threads - 1 helpers, at most the pool's size of
  // threads compute (one helper more kept three threads on two cores, and the call took
  // 48-55 instead of 39-41 us at 2^18)
  const int64_t helpers = std::max<int64_t>(
      0, std::min<int64_t>(static_cast<int64_t>(pool.num_threads()) - 1, chunks - 1));
  sg_scheduled.fetch_add(helpers, std::memory_order_relaxed);
  sg_pool_size.store(static_cast<int64_t>(pool.num_threads()), std::memory_order_relaxed);
  // The caller computes every chunk no helper has taken, so it never waits for a helper
  // that has not started: the pool may be busy with other calls doing the same (waiting
  // for queued tasks there deadlocked concurrent executions).  A helper that starts after
  // the caller is done returns at once; the shared state outlives it.
  auto shared = std::make_shared<SgShared>();
  for (int64_t t = 0; t < helpers; ++t) {
    pool.Schedule([shared, &work]() {
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        if (shared->closed) return;
        ++shared->active;
      }
      work();
      std::lock_guard<std::mutex> lock(shared->mu);
      if (--shared->active == 0) shared->cv.notify_all();
    });
  }
  work();
  {
    std::unique_lock<std::mutex> lock(shared->mu);
    shared->closed = true;
    shared->cv.wait(lock, [&] { return shared->active == 0; });
  }
  if (failed.load()) return ffi::Error(ffi::ErrorCode::kInternal, "spikegrad: kernel failed");
  for (int64_t j = 0; j < np; ++j) {
    if (per[j]) continue;
    double s = 0.0;  // the chunks' sums in a fixed order: the same under any scheduling
    for (int64_t c = 0; c < chunks; ++c) s += part[static_cast<size_t>(c * np + j)];
    sg_store(gbase[j], s, es);
  }
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(sg_param_backward_handler, sg_param_backward,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::AnyBuffer>()
        .Arg<ffi::AnyBuffer>()
        .RemainingArgs()
        .RemainingRets()
        .Attr<int64_t>("key")
        .Attr<ffi::Span<const double>>("consts"));
"""

_state: dict[str, Any] = {"lib": None, "error": None, "enabled": True, "built": False}
_lock = threading.Lock()
_WARNED: set[tuple[str, str]] = set()


def enabled() -> bool:
    """Whether functions traced from now on take the custom call where it applies."""
    return bool(_state["enabled"])


def set_enabled(flag: bool) -> None:
    """Turn the custom call on or off for functions traced from now on; off, the parameter
    gradient is computed with ``jax.numpy``.  A change clears jax's caches
    (``jax.clear_caches()``): jax reuses traces of a function it has seen (a new
    ``jax.jit`` of it, ``checkpoint``, ``scan`` bodies), which would keep the old choice."""
    flag = bool(flag)
    if flag != _state["enabled"]:
        _state["enabled"] = flag
        jax.clear_caches()


def no_kernel(name: str, exc: BaseException) -> None:
    """Warn once per definition and reason that its kernel could not be built (the
    ``jax.numpy`` gradient serves)."""
    reason = f"{type(exc).__name__}: {str(exc)[:200]}"
    if (name, reason) not in _WARNED:
        _WARNED.add((name, reason))
        warnings.warn(f"spikegrad: no fused CPU parameter gradient for {name} ({reason}); "
                      "computed with jax.numpy (the same formula, slower)", RuntimeWarning,
                      stacklevel=4)


def _cxx() -> str:
    for cand in ("c++", "g++", "clang++"):
        found = shutil.which(cand)
        if found:
            return found
    raise cpu.CompilerUnavailable("no C++ compiler found (install g++)")


def _build() -> ctypes.CDLL:
    """The handler library from the cache, built first (once per machine: the others wait
    on the lock, then load it)."""
    include = jax.ffi.include_dir()
    src = _SHIM.replace("SG_CHUNK", str(CHUNK))
    cxx = _cxx()
    key = "\0".join([src, include, jax.__version__, cxx, platform.machine(), sys.version])
    name = "sg_jax_ffi_" + hashlib.sha256(key.encode()).hexdigest()[:16]
    root = cpu._cache_dir().parent / "jax_ffi"
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{name}.so"
    with machine_lock(root / f"{name}.lock"):
        if not target.exists():
            with tempfile.TemporaryDirectory(dir=root) as tmp:
                cc = Path(tmp) / "shim.cc"
                cc.write_text(src)
                out = Path(tmp) / "shim.so"
                res = subprocess.run([cxx, "-O2", "-std=c++17", "-fPIC", "-shared", "-w",
                                      f"-I{include}", str(cc), "-o", str(out)],
                                     capture_output=True, text=True, check=False)
                if res.returncode != 0:
                    raise RuntimeError("building the XLA custom call failed:\n"
                                       f"{res.stderr[-2000:]}")
                out.replace(target)  # atomic
                _state["built"] = True
    lib = ctypes.CDLL(str(target))
    lib.sg_register.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_int,
                                ctypes.c_int64]
    lib.sg_register.restype = None
    for counter in (lib.sg_helpers_scheduled, lib.sg_last_pool_size):
        counter.argtypes = []
        counter.restype = ctypes.c_int64
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.sg_param_backward_handler),
                                platform="cpu")
    return lib


def available() -> bool:
    """Whether the custom call is registered (built and loaded on first use); where it
    cannot be, one warning says why and the parameter gradient stays in ``jax.numpy``."""
    if _state["lib"] is not None:
        return True
    if _state["error"] is not None:
        return False
    with _lock:
        if _state["lib"] is None and _state["error"] is None:
            try:
                _state["lib"] = _build()
            except (OSError, RuntimeError, ValueError, AttributeError) as exc:
                _state["error"] = f"{type(exc).__name__}: {exc}"
                warnings.warn("spikegrad: the fused CPU parameter gradient for jax is "
                              f"unavailable ({_state['error'][:300]}); the gradient of array "
                              "parameters is computed with jax.numpy (the same formula, "
                              "slower on CPU)", RuntimeWarning, stacklevel=3)
    return _state["lib"] is not None


def pool_use() -> tuple[int, int]:
    """``(helper tasks scheduled so far, XLA's pool size at the last call of more than one
    chunk)``: each such call computes on its own thread and ``min(pool size - 1, chunks -
    1)`` helpers, never more threads than the pool has."""
    lib = _state["lib"]
    if lib is None:
        return (0, 0)
    return (int(lib.sg_helpers_scheduled()), int(lib.sg_last_pool_size()))


def built_here() -> bool:
    """Whether this process compiled the custom call (else it loaded another's build)."""
    return bool(_state["built"])


def status() -> str:
    """``"ready"``, ``"not built"`` or why the custom call is unavailable."""
    if _state["lib"] is not None:
        return "ready"
    return "not built" if _state["error"] is None else f"unavailable: {_state['error']}"


@functools.lru_cache(maxsize=1024)
def kernel_key(entry: Any, static: tuple[tuple[str, Any], ...], dtype: str,
               layouts: tuple[str, ...], one_cotangent: bool = False
               ) -> tuple[int, np.ndarray]:
    """``(key, constants)`` of the generated kernel for a definition, its number
    parameters, ``dtype`` and its array parameters' layouts (``"s"``: one value, ``"e"``:
    ``x``'s shape), registered with the handler (compiled on first use; keyed by the
    formula, never by a parameter's value); with ``one_cotangent``, the kernel that takes
    the cotangent as one value."""
    kern = cpu.param_kernel(entry, static, dtype, layouts, one_cotangent)
    each = sum(1 << j for j, lay in enumerate(layouts) if lay == "e")
    _state["lib"].sg_register(kern.key, kern.address, int(one_cotangent), each)
    return kern.key, kern.constants
