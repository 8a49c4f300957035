"""A C++ autograd node for the eager CPU path of the torch adapter.

A Python ``torch.autograd.Function`` costs two Python round-trips per step (``apply`` and
``backward``), which dominates small tensors.  This module compiles, once per machine, a
small C++ extension (``torch.utils.cpp_extension``) with one generic autograd node: its
forward writes the spike, its backward calls the generated C kernel of the surrogate
through a function pointer.  No surrogate math is written here: the kernels come from
:mod:`spikegrad.codegen.cpu`; when the backward must be differentiable
(``create_graph=True``) or the kernel does not apply, the node calls back into Python for
the torch-ops formula.

The build runs in a background thread on first use (about half a minute); until it is ready,
and wherever it fails (no compiler, no ninja), the pure-Python Function is used.
:func:`disable` switches it off; :func:`ensure` builds it synchronously.

Each build happens in a private temporary directory and the finished library is moved
into spikegrad's cache (``$SPIKEGRAD_CACHE``, else ``$XDG_CACHE_HOME/spikegrad``, else
``~/.cache/spikegrad``) atomically,
under a name that hashes the source, torch and Python; later processes load it from
there.  A process that exits mid-build (the thread is a daemon) thus leaves only its own
temporary directory behind, never a lock that another process would wait on.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["ensure", "module", "status"]

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/ATen.h>

namespace py = pybind11;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
typedef void (*bwd_fn)(const void*, const void*, void*, int64_t, const double*);

static py::object* slow_backward = nullptr;  // python (function id, x, grad) -> grad_x

struct SgSpike : public torch::autograd::Function<SgSpike> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, bool strict,
                            int64_t k32, int64_t k64, int64_t fid, const at::Tensor& c32,
                            const at::Tensor& c64) {
    ctx->save_for_backward({x});
    ctx->saved_data["k32"] = k32;
    ctx->saved_data["k64"] = k64;
    ctx->saved_data["c32"] = c32;  // the surrogate's run-time constants, kept alive here
    ctx->saved_data["c64"] = c64;
    ctx->saved_data["fid"] = fid;
    at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
    return strict ? at::gt_out(out, x, 0) : at::ge_out(out, x, 0);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor x = saved[0];
    at::Tensor g = grads[0];
    auto st = x.scalar_type();
    bool half = st == at::kHalf || st == at::kBFloat16;
    bool fast = !at::GradMode::is_enabled() && x.device().is_cpu() && g.device().is_cpu()
                && g.scalar_type() == st && x.sizes() == g.sizes()
                && (st == at::kFloat || st == at::kDouble || half);
    at::Tensor gx;
    if (fast) {
      bool dbl = st == at::kDouble;
      at::Tensor xc = half ? x.to(at::kFloat).contiguous() : x.contiguous();
      at::Tensor gc = half ? g.to(at::kFloat).contiguous() : g.contiguous();
      gx = at::empty_like(xc, at::MemoryFormat::Contiguous);
      auto k = reinterpret_cast<bwd_fn>(ctx->saved_data[dbl ? "k64" : "k32"].toInt());
      at::Tensor c = ctx->saved_data[dbl ? "c64" : "c32"].toTensor();
      k(xc.data_ptr(), gc.data_ptr(), gx.data_ptr(), xc.numel(), c.data_ptr<double>());
      if (half) gx = gx.to(st);
    } else {
      py::gil_scoped_acquire gil;
      gx = (*slow_backward)(ctx->saved_data["fid"].toInt(), x, g).cast<at::Tensor>();
    }
    return {gx, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

at::Tensor sg_spike(const at::Tensor& x, bool strict, int64_t k32, int64_t k64, int64_t fid,
                    const at::Tensor& c32, const at::Tensor& c64) {
  return SgSpike::apply(x, strict, k32, k64, fid, c32, c64);
}

void sg_set_slow(py::object f) {
  if (slow_backward == nullptr) slow_backward = new py::object();  // never freed: no
  *slow_backward = f;                                               // teardown ordering
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("spike", &sg_spike);
  m.def("set_slow", &sg_set_slow);
}
"""

_state: dict[str, Any] = {"module": None, "error": None, "thread": None}
_lock = threading.Lock()
_ENABLED = True


def _cache_root() -> Path:
    from ..codegen.cpu import _cache_dir

    path = _cache_dir().parent / "native"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _name() -> str:
    """Module name of this build: a hash of what the binary depends on."""
    import torch

    key = "\0".join([_SOURCE, torch.__version__, os.path.dirname(torch.__file__),
                     sys.version, platform.machine()])
    return "spikegrad_native_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sweep(root: Path, max_age_s: float = 3600.0) -> None:
    """Remove build directories left by processes that exited mid-build."""
    for d in root.glob("build-*"):
        try:
            if time.time() - d.stat().st_mtime > max_age_s:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


def _compile(name: str, root: Path) -> Any:
    """Build in a private directory, install into ``root``; return the loaded module."""
    from torch.utils import cpp_extension

    build = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    try:
        mod = cpp_extension.load_inline(name=name, cpp_sources=[_SOURCE],
                                        extra_cflags=["-O2"], build_directory=str(build),
                                        verbose=False)
        built = next(build.glob(f"{name}*.so"))
        os.replace(built, root / f"{name}.so")  # atomic: concurrent builders agree
        return mod
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _build() -> None:
    try:
        root = _cache_root()
        _sweep(root)
        name = _name()
        target = root / f"{name}.so"
        mod = None
        if target.exists():
            try:
                mod = _load(name, target)
            except ImportError:  # damaged or foreign file: rebuild and replace it
                mod = None
        if mod is None:
            mod = _compile(name, root)
        from .torch import _slow_backward

        mod.set_slow(_slow_backward)
        _state["module"] = mod
    except Exception as exc:
        _state["error"] = f"{type(exc).__name__}: {exc}"


def disable() -> None:
    """Do not use the C++ node in this process (the Python Function serves every call)."""
    global _ENABLED
    _ENABLED = False


def module() -> Any:
    """The compiled extension, or ``None`` while it builds / when unavailable.

    The first call starts the build in a background thread.
    """
    mod = _state["module"]
    if mod is not None or not _ENABLED or _state["error"] is not None:
        return mod
    with _lock:
        if _state["thread"] is None:
            _state["thread"] = threading.Thread(target=_build, name="spikegrad-native",
                                                daemon=True)
            _state["thread"].start()
    return None


def ensure(timeout: float | None = None) -> bool:
    """Build the extension now (waiting up to ``timeout`` seconds); True when ready."""
    if not _ENABLED:
        return False
    module()
    thread = _state["thread"]
    if thread is not None:
        thread.join(timeout)
    return _state["module"] is not None


def status() -> str:
    """``"ready"``, ``"building"``, ``"disabled"`` or the build error."""
    if not _ENABLED:
        return "disabled"
    if _state["module"] is not None:
        return "ready"
    if _state["error"] is not None:
        return f"unavailable: {_state['error']}"
    return "building" if _state["thread"] is not None else "not started"

