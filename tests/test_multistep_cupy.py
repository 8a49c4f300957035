"""The cupy multi-step kernels: NVRTC compiles the generated CUDA offline, the same device
functions run on the CPU (a host twin) against the shipped goldens, and on a CUDA device
the adapter itself does."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

import spikegrad
from spikegrad._multistep import threshold_scale
from spikegrad.codegen import cuda, multistep
from spikegrad.conformance import multistep as goldens

from .test_cupy import NVRTC_MISSING, needs_gpu, unavailable

CASES = [c for c in goldens.cases()]
_CT = {"float32": "float", "float64": "double"}


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
    """The CUDA device functions compiled for the CPU, with a host loop over elements."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        unavailable("no C compiler")
    out = {}
    tmp = tmp_path_factory.mktemp("ms_twins")
    for name in ("dsr_if", "dsr_lif"):
        for dtype, t in _CT.items():
            device, _, _ = multistep.cuda_source(spikegrad.get(name), dtype)
            src = ("#include <math.h>\n#define __device__\n#define __forceinline__ inline\n"
                   + device + f"""
void fwd(const {t}* x, {t}* y, long long T, long long n, double v, const double* c) {{
    for (long long i = 0; i < n; ++i) sg_ms_fwd_elem(x, y, T, n, i, ({t})v, c);
}}
double bwd(const {t}* x, const {t}* g, {t}* gx, long long T, long long n, double v,
           const double* c, const double* w, int has_w) {{
    double total = 0;
    for (long long i = 0; i < n; ++i)
        total += sg_ms_bwd_elem(x, g, gx, T, n, i, ({t})v, c, w, has_w);
    return total;
}}
""")
            c_file = tmp / f"{name}_{dtype}.c"
            c_file.write_text(src)
            lib_path = tmp / f"{name}_{dtype}.so"
            subprocess.run([cc, "-O2", "-ffp-contract=off", "-fPIC", "-shared", str(c_file),
                            "-o", str(lib_path), "-lm"], check=True, capture_output=True)
            lib = ctypes.CDLL(str(lib_path))
            lib.bwd.restype = ctypes.c_double
            out[name, dtype] = lib
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cuda_twin_matches_goldens(case: goldens.MultiStepCase, twins: dict) -> None:
    """The generated CUDA device code, run on the CPU, against the shipped goldens."""
    b = spikegrad.get(case.surrogate, **case.params)
    compute = "float64" if case.dtype == "float64" else "float32"
    lib = twins[case.surrogate, compute]
    # the kernel text depends on the formula's shape only; the case's values are constants
    constants = np.asarray(multistep.cuda_source(b, compute)[2], dtype=np.float64)
    x, g = (np.ascontiguousarray(a.astype(compute)) for a in case.inputs())
    steps, n = x.shape[0], x[0].size
    v = max(b.params["v_threshold"], b.params["v_threshold_lower_bound"])
    y, gx = np.empty_like(x), np.empty_like(x)
    p = ctypes.c_void_p
    ll, dbl = ctypes.c_longlong, ctypes.c_double
    lib.fwd(p(x.ctypes.data), p(y.ctypes.data), ll(steps), ll(n), dbl(v),
            p(constants.ctypes.data))
    w = b.formula.time_weights
    weights = np.asarray(w(steps, **b.static_params) if w else [0.0], dtype=np.float64)
    total = lib.bwd(p(x.ctypes.data), p(g.ctypes.data), p(gx.ctypes.data), ll(steps), ll(n),
                    dbl(v), p(constants.ctypes.data), p(weights.ctypes.data),
                    ctypes.c_int(w is not None))
    gv = total * threshold_scale(b, steps)
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
