"""The cupy multi-step kernels: NVRTC compiles the generated CUDA offline, the same module
runs on the CPU (a host twin launching its kernels) against the shipped goldens, and on a
CUDA device the adapter itself does (on CPU-only machines through the CuPy stand-in:
tests/test_cupy_standin.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import spikegrad
from spikegrad._multistep_engine import threshold_scale
from spikegrad.codegen import cuda, multistep
from spikegrad.conformance import multistep as goldens

from .test_cupy import NVRTC_MISSING, needs_gpu, unavailable

CASES = [c for c in goldens.cases()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["dsr_if", "dsr_lif"])
def test_cuda_source_compiles_with_nvrtc(name: str, dtype: str) -> None:
    if NVRTC_MISSING:
        unavailable(NVRTC_MISSING)
    from cupy.cuda import compiler

    device, kernels, _ = multistep.cuda_source(spikegrad.get(name), dtype)
    prog = compiler._NVRTCProgram(device + kernels, "kern.cu", method="ptx")
    ptx = prog.compile((*cuda.OPTIONS, "-arch=compute_90"))[0]
    text = ptx.decode() if isinstance(ptx, bytes) else ptx
    assert text.count(".entry") == 2
    assert "fma" not in text  # no contraction: the recurrence rounds as on the CPU


@pytest.mark.parametrize("name", ["dsr_if", "dsr_lif"])
def test_one_kernel_per_formula_shape(name: str) -> None:
    """Parameter values are run-time constants: the kernel text does not change with them
    (CUDA and CPU)."""
    a = spikegrad.get(name)
    b = a.replace(alpha=0.9, v_threshold_grad_scaling=3.0, v_threshold=2.5,
                  **({"tau": 7.0, "delta_t": 0.3} if name == "dsr_lif" else {}))
    assert multistep.cuda_source(a, "float32")[:2] == multistep.cuda_source(b, "float32")[:2]
    assert multistep.cuda_source(a, "float32")[2] != multistep.cuda_source(b, "float32")[2]
    assert multistep.source_and_constants(a, "float64")[0] == \
        multistep.source_and_constants(b, "float64")[0]


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The generated CUDA modules (device functions and ``__global__`` kernels) compiled
    for the CPU (:class:`tests._cupy_emulation.RawTwin`: every block and thread in turn)."""
    from ._cupy_emulation import RawTwin

    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        unavailable("no C++ compiler")
    out = {}
    tmp = tmp_path_factory.mktemp("ms_twins")
    for name in ("dsr_if", "dsr_lif"):
        for dtype in ("float32", "float64"):
            device, kernels, _ = multistep.cuda_source(spikegrad.get(name), dtype)
            workdir = tmp / f"{name}_{dtype}"
            workdir.mkdir()
            out[name, dtype] = RawTwin(device + kernels, cxx, workdir)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cuda_twin_matches_goldens(case: goldens.MultiStepCase, twins: dict) -> None:
    """The generated CUDA kernels, launched on the CPU over the grid the binding uses,
    against the shipped goldens."""
    b = spikegrad.get(case.surrogate, **case.params)
    compute = "float64" if case.dtype == "float64" else "float32"
    twin = twins[case.surrogate, compute]
    # the kernel text depends on the formula's shape only; the case's values are constants
    constants = np.asarray(multistep.cuda_source(b, compute)[2], dtype=np.float64)
    x, g = (np.ascontiguousarray(a.astype(compute)) for a in case.inputs())
    steps, n = x.shape[0], x[0].size
    vp = np.asarray([max(b.params["v_threshold"], b.params["v_threshold_lower_bound"])])
    grid, block = (max(1, min((n + 255) // 256, 65535)),), (256,)
    y, gx, part = np.empty_like(x), np.empty_like(x), np.empty(n, dtype=np.float64)
    twin.launch("sg_ms_forward", grid, block,
                (x, y, np.int64(steps), np.int64(n), vp, constants))
    w = b.formula.time_weights
    weights = np.asarray(w(steps, **b.static_params) if w else [0.0], dtype=np.float64)
    twin.launch("sg_ms_backward", grid, block,
                (x, g, gx, part, np.int64(steps), np.int64(n), vp, constants, weights,
                 np.int32(w is not None)))
    gv = part.sum() * threshold_scale(b, steps)
    result = goldens.compare(case, y.astype(case.dtype), gx.astype(case.dtype), gv)
    failed = {k: d for k, (ok, d) in result.items() if not ok}
    assert not failed, failed


@needs_gpu
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cupy_multistep_matches_goldens(case: goldens.MultiStepCase) -> None:  # pragma: no cover
    import cupy

    from spikegrad.adapters import cupy_multistep

    b = spikegrad.get(case.surrogate, **case.params)
    x, g = (cupy.asarray(a) for a in case.inputs())
    y = cupy_multistep.forward(b, x)
    gx, gv = cupy_multistep.backward(b, x, g)
    assert y.dtype == x.dtype and gx.dtype == x.dtype
    result = goldens.compare(case, cupy.asnumpy(y), cupy.asnumpy(gx), float(gv))
    failed = {k: d for k, (ok, d) in result.items() if not ok}
    assert not failed, failed
