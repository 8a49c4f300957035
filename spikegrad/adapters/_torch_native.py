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
``spikegrad.torch.set_fast_path(False)`` switches it off with the generated kernels (the
build is then never started); :func:`ensure` builds it synchronously
(``spikegrad.torch.build_fast_path``).

One build per machine: the builder holds an exclusive file lock (``fcntl``) next to the
library in spikegrad's cache (``$SPIKEGRAD_CACHE``, else ``$XDG_CACHE_HOME/spikegrad``,
else ``~/.cache/spikegrad``), and processes that start meanwhile wait on it, then load
the library the builder installed (about 1.6 GB of compiler memory once, not once per
process).  The compiler runs in a child process in its own process group, in a private
temporary directory, and the finished library is moved into the cache atomically under a
name that hashes the source, torch and Python.  A process that exits mid-build releases
the lock (the OS drops it) and takes the compiler with it (on Linux the child gets a
parent-death signal and kills its group), leaving at most its temporary directory, which
a later build sweeps away.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from .._locks import machine_lock as _machine_lock
from ..codegen.cpu import _cache_dir
from . import _pages
from .torch_tensors import fast_path_enabled

__all__ = ["ensure", "module", "status"]

_SOURCE = r"""
#include <torch/extension.h>
#include <pybind11/stl.h>
#include <ATen/ATen.h>
#include <torch/csrc/autograd/functions/utils.h>

namespace py = pybind11;
using torch::autograd::variable_list;
typedef void (*bwd_fn)(const void*, const void*, void*, int64_t, const double*);

static py::object* slow_backward = nullptr;  // python (bound, x, grad) -> grad_x

static bool sg_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

// a fresh contiguous output; one of at least advise_min bytes is handed to the huge-page
// policy of spikegrad.adapters._pages (the one policy: this file only calls it)
static py::object* advise_fn = nullptr;  // python (address, nbytes) -> None
static int64_t advise_min = -1;          // -1: never (advice off)

static at::Tensor fresh_like(const at::Tensor& x) {
  at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  int64_t n = static_cast<int64_t>(out.nbytes());
  if (advise_min >= 0 && n >= advise_min && advise_fn != nullptr && out.device().is_cpu()) {
    py::gil_scoped_acquire gil;
    (*advise_fn)(reinterpret_cast<uintptr_t>(out.data_ptr()), n);
  }
  return out;
}

// The backward-time half of the fast-path decision: the rule of Python's
// spikegrad.adapters.torch_tensors.backward_applies, stated here so the node decides
// without Python (exported as backward_applies; the tests hold the two together).
static bool sg_backward_applies(const at::Tensor& x, const at::Tensor& g) {
  auto st = x.scalar_type();
  return !at::GradMode::is_enabled()
         && (st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16)
         && g.scalar_type() == st && x.sizes() == g.sizes()
         && x.device().is_cpu() && g.device().is_cpu();
}

// the backward node: grad * g'(x) by the generated kernel, or by Python's torch ops.  It
// holds what its call was given: the kernel of the one dtype it serves (float32 or
// float64), the surrogate's constants, and the bound surrogate (a strong reference, for
// the Python fallback; released under the GIL, which a node destroyed on an autograd
// thread does not hold).  Nothing outlives the node: a parameter that changes at every
// call (a sweep) leaves no allocation behind between the transient tensors.
struct SgSpikeBackward : public torch::autograd::Node {
  torch::autograd::SavedVariable x_;
  bwd_fn k_ = nullptr;
  PyObject* bound_ = nullptr;
  std::vector<double> c_;

  ~SgSpikeBackward() override {
    if (bound_ != nullptr && Py_IsInitialized() && !sg_finalizing()) {
      py::gil_scoped_acquire gil;
      Py_DECREF(bound_);
    }
  }
  std::string name() const override { return "SpikegradSpikeBackward"; }
  void release_variables() override { x_.reset_data(); }

  variable_list apply(variable_list&& grads) override {
    at::Tensor x = x_.unpack();
    at::Tensor g = grads[0];
    if (!g.defined() || !should_compute_output(0)) return {at::Tensor()};
    auto st = x.scalar_type();
    bool half = st == at::kHalf || st == at::kBFloat16;
    at::Tensor gx;
    if (sg_backward_applies(x, g)) {
      at::Tensor xc = half ? x.to(at::kFloat).contiguous() : x.contiguous();
      at::Tensor gc = half ? g.to(at::kFloat).contiguous() : g.contiguous();
      gx = fresh_like(xc);
      k_(xc.data_ptr(), gc.data_ptr(), gx.data_ptr(), xc.numel(), c_.data());
      if (half) gx = gx.to(st);
    } else {
      py::gil_scoped_acquire gil;
      gx = (*slow_backward)(py::handle(bound_), x, g).cast<at::Tensor>();
    }
    return {gx};
  }
};

// the spike of x (strict: x > 0, else x >= 0) with the surrogate gradient of kernel k
// (its address), constants c and the bound surrogate
at::Tensor sg_spike(const at::Tensor& x, bool strict, int64_t k, py::object bound,
                    std::vector<double> c) {
  at::Tensor out;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    out = fresh_like(x);
    if (strict) at::gt_out(out, x, 0); else at::ge_out(out, x, 0);
  }
  if (torch::autograd::compute_requires_grad(x)) {
    auto node = c10::make_intrusive<SgSpikeBackward>();
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    node->x_ = torch::autograd::SavedVariable(x, false);
    node->k_ = reinterpret_cast<bwd_fn>(k);
    node->bound_ = bound.inc_ref().ptr();
    node->c_ = std::move(c);
    torch::autograd::set_history(out, node);
  }
  return out;
}

// -- tensor parameters (a learnable alpha: one value, per channel, per neuron): the
// generated sg_param_backward of spikegrad.codegen.cpu computes grad_x and each
// parameter's G dg/dtheta in one loop (summed in the loop for a one-value parameter and
// per channel for a per-channel one, per element otherwise, then summed to its shape); the
// parameters' and their gradients' addresses are passed as arrays, any number of them
typedef int (*pbwd_fn)(const void*, const void*, void*, const void* const*, void* const*,
                       double*, int64_t, const double*, const int64_t*);

static py::object* slow_param_backward = nullptr;  // python (bound, x, grad, params, needed)

// a tensor in dtype cdt, contiguous, without a dispatcher call where it already is
static at::Tensor sg_as(const at::Tensor& t, at::ScalarType cdt) {
  at::Tensor r = t.scalar_type() == cdt ? t : t.to(cdt);
  return r.is_contiguous() ? r : r.contiguous();
}

// the value of a one-element CPU tensor of a floating dtype, as a double
static double sg_scalar(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return static_cast<double>(*t.data_ptr<float>());
    case at::kDouble: return *t.data_ptr<double>();
    case at::kHalf: return static_cast<double>(static_cast<float>(*t.data_ptr<at::Half>()));
    case at::kBFloat16:
      return static_cast<double>(static_cast<float>(*t.data_ptr<at::BFloat16>()));
    default: return t.item<double>();
  }
}

struct SgParamEntry {
  void* k32;
  void* k64;
  // per parameter: 0 one value ("s"), 1 one per element ("e"), 2 one per channel ("c")
  std::vector<int64_t> layout;
  at::Tensor c32, c64;
  // where every parameter is one value: the kernels that read one cotangent value (the
  // broadcast of a sum's gradient, a stride-0 tensor), else null
  void* k32one = nullptr;
  void* k64one = nullptr;
  at::Tensor c32one, c64one;
};

// whether g is one value seen at every element (every stride 0: what sum() hands back),
// so that no copy of it need be made
static bool sg_one_value(const at::Tensor& g) {
  if (g.numel() < 2) return false;
  for (auto st : g.strides()) {
    if (st != 0) return false;
  }
  return true;
}

struct SgParamSpikeBackward : public torch::autograd::Node {
  torch::autograd::SavedVariable x_;
  std::vector<torch::autograd::SavedVariable> p_;
  std::shared_ptr<SgParamEntry> e_;
  PyObject* bound_ = nullptr;  // the bound surrogate, for the Python fallback
  int64_t dims_[2] = {1, 1};    // (channels, inner) of a per-channel layout, this call's

  ~SgParamSpikeBackward() override {
    if (bound_ != nullptr && Py_IsInitialized() && !sg_finalizing()) {
      py::gil_scoped_acquire gil;
      Py_DECREF(bound_);
    }
  }
  std::string name() const override { return "SpikegradParamSpikeBackward"; }
  void release_variables() override {
    x_.reset_data();
    for (auto& p : p_) p.reset_data();
  }

  variable_list apply(variable_list&& grads) override {
    const int64_t np = static_cast<int64_t>(p_.size());
    variable_list out(1 + np);
    at::Tensor g = grads[0];
    if (!g.defined()) return out;
    at::Tensor x = x_.unpack();
    std::vector<at::Tensor> ps;
    for (auto& p : p_) ps.push_back(p.unpack());
    auto st = x.scalar_type();
    bool half = st == at::kHalf || st == at::kBFloat16;
    if (sg_backward_applies(x, g)) {
      bool dbl = st == at::kDouble;
      auto cdt = dbl ? at::kDouble : at::kFloat;
      at::Tensor xc = sg_as(x, cdt);
      // a one-value cotangent goes to the kernel that reads that value (no copy of it)
      const bool one = (dbl ? e_->k64one : e_->k32one) != nullptr && sg_one_value(g);
      const double g1 = one ? sg_scalar(g) : 0.0;
      const float g1f = static_cast<float>(g1);
      at::Tensor gc = one ? at::Tensor() : sg_as(g, cdt);
      const void* gptr0 = one ? (dbl ? static_cast<const void*>(&g1)
                                     : static_cast<const void*>(&g1f))
                              : gc.data_ptr();
      std::vector<at::Tensor> pc, gp;
      std::vector<std::vector<int64_t>> trimmed;
      // a one-value parameter is read once, here, in the kernel's dtype (no tensor op)
      std::vector<float> one32(np, 0.0f);
      std::vector<double> one64(np, 0.0);
      std::vector<const void*> pptr(np, nullptr);
      for (int64_t k2 = 0; k2 < np; ++k2) {
        if (e_->layout[k2] == 2) {
          // one value per channel, in x's order (the block of x's dimensions it spans)
          at::Tensor q = sg_as(ps[k2], cdt);
          trimmed.emplace_back();
          pc.push_back(q);
          gp.push_back(at::zeros({dims_[0]}, at::TensorOptions().dtype(at::kDouble)));
          pptr[k2] = q.data_ptr();
        } else if (e_->layout[k2] == 1) {
          at::Tensor q = sg_as(ps[k2], cdt);
          // leading dimensions beyond x's are 1 (check_param_shapes): drop them, then
          // lay the values out as x
          auto sz = q.sizes().vec();
          int64_t drop = std::max<int64_t>(0, q.dim() - xc.dim());
          trimmed.emplace_back(sz.begin() + drop, sz.end());
          pc.push_back(q.sizes().vec() == xc.sizes().vec() ? q
                       : q.reshape(trimmed.back()).expand(xc.sizes()).contiguous());
          gp.push_back(at::empty_like(xc, at::MemoryFormat::Contiguous));
          pptr[k2] = pc.back().data_ptr();
        } else {
          trimmed.emplace_back();
          double v = sg_scalar(ps[k2]);
          one64[k2] = v;
          one32[k2] = static_cast<float>(v);
          pc.push_back(at::Tensor());
          gp.push_back(at::Tensor());
          pptr[k2] = dbl ? static_cast<const void*>(&one64[k2])
                         : static_cast<const void*>(&one32[k2]);
        }
      }
      std::vector<void*> gptr(np, nullptr);
      for (int64_t k2 = 0; k2 < np; ++k2) {
        if (gp[k2].defined()) gptr[k2] = gp[k2].data_ptr();
      }
      at::Tensor gx = fresh_like(xc);
      std::vector<double> a(np, 0.0);
      const double* c = (one ? (dbl ? e_->c64one : e_->c32one)
                             : (dbl ? e_->c64 : e_->c32)).data_ptr<double>();
      void* k = one ? (dbl ? e_->k64one : e_->k32one) : (dbl ? e_->k64 : e_->k32);
      int rc = reinterpret_cast<pbwd_fn>(k)(xc.data_ptr(), gptr0, gx.data_ptr(),
                                            pptr.data(), gptr.data(), a.data(), xc.numel(),
                                            c, dims_);
      if (rc != 0) return slow(x, g, ps);  // no memory for the per-thread sums
      if (should_compute_output(0)) out[0] = half ? gx.to(st) : gx;
      for (int64_t k2 = 0; k2 < np; ++k2) {
        if (!should_compute_output(1 + k2)) continue;
        if (e_->layout[k2] == 2) {
          at::Tensor r = gp[k2].to(ps[k2].scalar_type());
          out[1 + k2] = r.reshape(ps[k2].sizes());
        } else if (e_->layout[k2] == 1) {
          at::Tensor r = gp[k2].sizes().vec() == trimmed[k2] ? gp[k2]
                         : gp[k2].sum_to_size(trimmed[k2]);
          r = r.scalar_type() == ps[k2].scalar_type() ? r : r.to(ps[k2].scalar_type());
          out[1 + k2] = r.sizes() == ps[k2].sizes() ? r : r.reshape(ps[k2].sizes());
        } else {
          // the sum in double, rounded once to the parameter's dtype
          out[1 + k2] = at::full(ps[k2].sizes(), a[k2], ps[k2].options());
        }
      }
      return out;
    }
    return slow(x, g, ps);
  }

  // the Python fallback: torch ops and autodiff of the primitive
  variable_list slow(const at::Tensor& x, const at::Tensor& g, const std::vector<at::Tensor>& ps) {
    const int64_t np = static_cast<int64_t>(ps.size());
    variable_list out(1 + np);
    py::gil_scoped_acquire gil;
    py::tuple needed(1 + np);
    for (int64_t k2 = 0; k2 < 1 + np; ++k2) needed[k2] = py::bool_(should_compute_output(k2));
    py::tuple params(np);
    for (int64_t k2 = 0; k2 < np; ++k2) params[k2] = py::cast(ps[k2]);
    py::tuple res = (*slow_param_backward)(py::handle(bound_), x, g, params, needed);
    for (int64_t k2 = 0; k2 < 1 + np; ++k2) {
      if (!res[k2].is_none()) out[k2] = res[k2].cast<at::Tensor>();
    }
    return out;
  }
};

at::Tensor sg_param_spike(const at::Tensor& x, bool strict,
                          const std::shared_ptr<SgParamEntry>& e, py::object bound,
                          std::vector<at::Tensor> params, std::vector<int64_t> dims) {
  at::Tensor out;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    out = fresh_like(x);
    if (strict) at::gt_out(out, x, 0); else at::ge_out(out, x, 0);
  }
  bool any = torch::autograd::compute_requires_grad(x);
  for (auto& p : params) any = any || torch::autograd::compute_requires_grad(p);
  if (any) {
    auto node = c10::make_intrusive<SgParamSpikeBackward>();
    torch::autograd::edge_list edges = torch::autograd::collect_next_edges(x);
    for (auto& p : params) {
      auto pe = torch::autograd::collect_next_edges(p);
      edges.insert(edges.end(), pe.begin(), pe.end());
    }
    node->set_next_edges(std::move(edges));
    node->x_ = torch::autograd::SavedVariable(x, false);
    for (auto& p : params) node->p_.emplace_back(p, false);
    node->e_ = e;
    if (dims.size() == 2) {
      node->dims_[0] = dims[0];
      node->dims_[1] = dims[1];
    }
    node->bound_ = bound.inc_ref().ptr();
    torch::autograd::set_history(out, node);
  }
  return out;
}

// the kernels (addresses) and their constants; k32one/k64one 0 where there are none
std::shared_ptr<SgParamEntry> sg_param_entry(int64_t k32, int64_t k64,
                                             std::vector<int64_t> layout,
                                             at::Tensor c32, at::Tensor c64,
                                             int64_t k32one, int64_t k64one,
                                             at::Tensor c32one, at::Tensor c64one) {
  auto e = std::make_shared<SgParamEntry>();
  e->k32 = reinterpret_cast<void*>(k32);
  e->k64 = reinterpret_cast<void*>(k64);
  e->layout = layout;
  e->c32 = c32;
  e->c64 = c64;
  if (k32one != 0 && k64one != 0) {
    e->k32one = reinterpret_cast<void*>(k32one);
    e->k64one = reinterpret_cast<void*>(k64one);
    e->c32one = c32one;
    e->c64one = c64one;
  }
  return e;
}

void sg_set_slow_param(py::object f) {
  if (slow_param_backward == nullptr) slow_param_backward = new py::object();  // as slow
  *slow_param_backward = f;
}

void sg_set_slow(py::object f) {
  if (slow_backward == nullptr) slow_backward = new py::object();  // never freed: no
  *slow_backward = f;                                               // teardown ordering
}

void sg_set_advise(py::object f, int64_t min_bytes) {
  if (advise_fn == nullptr) advise_fn = new py::object();  // never freed, as slow_backward
  *advise_fn = f;
  advise_min = min_bytes;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("spike", &sg_spike);
  m.def("set_advise", &sg_set_advise);
  m.def("set_slow", &sg_set_slow);
  py::class_<SgParamEntry, std::shared_ptr<SgParamEntry>>(m, "ParamEntry");
  m.def("param_entry", &sg_param_entry);
  m.def("param_spike", &sg_param_spike);
  m.def("set_slow_param", &sg_set_slow_param);
  m.def("backward_applies", &sg_backward_applies);
}
"""

_state: dict[str, Any] = {"module": None, "error": None, "thread": None, "compiled": False}
_lock = threading.Lock()


def _cache_root() -> Path:
    path = _cache_dir().parent / "native"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _name() -> str:
    """Module name of this build: a hash of what the binary depends on."""
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


#: Run in a child process to build the extension: it dies with the process that started it
#: (Linux: the parent-death signal), and takes ninja and the compilers with it (every
#: process of its session: ninja runs each compiler in a process group of its own), so a
#: process that exits mid-build leaves no compiler running.
_BUILDER = r"""
import os, signal, sys
if sys.platform.startswith("linux"):
    import ctypes
    def _stop(signum, frame):
        me, sid = os.getpid(), os.getsid(0)
        for _ in range(2):  # a second pass for a compiler started during the first
            for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
                try:
                    if pid != me and os.getsid(pid) == sid:
                        os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        os._exit(1)
    signal.signal(signal.SIGTERM, _stop)
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[4]):  # the parent died before prctl took effect
        _stop(None, None)
from torch.utils import cpp_extension
cpp_extension.load_inline(name=sys.argv[1], cpp_sources=[open(sys.argv[2]).read()],
                          extra_cflags=["-O2"], build_directory=sys.argv[3], verbose=False)
"""


def _compile(name: str, root: Path) -> Path:
    """Build in a private directory (a child process), install into ``root``."""
    build = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    try:
        (build / "source.cpp").write_text(_SOURCE)
        res = subprocess.run([sys.executable, "-c", _BUILDER, name, str(build / "source.cpp"),
                              str(build), str(os.getpid())],
                             capture_output=True, text=True, start_new_session=True,
                             check=False)
        if res.returncode != 0:
            raise RuntimeError(f"building the C++ node failed:\n{res.stderr[-2000:]}")
        built = next(build.glob(f"{name}*.so"))
        os.replace(built, root / f"{name}.so")  # atomic
        _state["compiled"] = True
        return root / f"{name}.so"
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _load_or_build(name: str, root: Path) -> Any:
    """The extension from the cache, built first (once per machine: the other processes
    wait on the lock, then load what the builder installed) when missing or damaged."""
    target = root / f"{name}.so"
    with _machine_lock(root / f"{name}.lock"):
        if target.exists():
            try:
                return _load(name, target)
            except ImportError:  # damaged or foreign file: rebuild and replace it
                pass
        return _load(name, _compile(name, root))


def _build() -> None:
    try:
        root = _cache_root()
        _sweep(root)
        mod = _load_or_build(_name(), root)
        _pages.on_change(lambda on: mod.set_advise(_pages.advise, _pages.MIN_BYTES if on else -1))
        _state["module"] = mod
    except Exception as exc:
        _state["error"] = f"{type(exc).__name__}: {exc}"


def module() -> Any:
    """The compiled extension, or ``None`` while it builds / when unavailable.

    The first call starts the build in a background thread.
    """
    mod = _state["module"]
    if mod is not None or not fast_path_enabled() or _state["error"] is not None:
        return mod
    with _lock:
        if _state["thread"] is None:
            _state["thread"] = threading.Thread(target=_build, name="spikegrad-native",
                                                daemon=True)
            _state["thread"].start()
    return None


def ensure(timeout: float | None = None) -> bool:
    """Build the extension now (waiting up to ``timeout`` seconds); True when ready."""
    if not fast_path_enabled():
        return False
    module()
    thread = _state["thread"]
    if thread is not None:
        thread.join(timeout)
    return _state["module"] is not None


def status() -> str:
    """``"ready"``, ``"building"``, ``"disabled"`` or the build error."""
    if not fast_path_enabled():
        return "disabled"
    if _state["module"] is not None:
        return "ready"
    if _state["error"] is not None:
        return f"unavailable: {_state['error']}"
    return "building" if _state["thread"] is not None else "not started"

