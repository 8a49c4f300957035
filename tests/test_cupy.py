"""The cupy adapter: generated CUDA for every surrogate (compiled with nvcc when present,
no GPU needed), and the adapter against the goldens on a CUDA device (skipped without
one; the binding's Python logic runs without a GPU through the CuPy stand-in in
tests/test_cupy_standin.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import spikegrad
from spikegrad.codegen import cuda
from spikegrad.conformance import goldens
from spikegrad.conformance.checks import check_backward_values
from spikegrad.conformance.harness import CupyHarness, flushes

#: Set by CI, where the CUDA toolchain (nvcc, NVRTC via cupy-cuda13x) and C/C++ compilers
#: are installed on purpose: a missing tool then fails instead of skipping.
REQUIRE_TOOLS = os.environ.get("SPIKEGRAD_REQUIRE_CUDA_TOOLS") == "1"


def unavailable(reason: str) -> None:
    """Skip (or, with SPIKEGRAD_REQUIRE_CUDA_TOOLS=1, fail) because a tool is missing."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{reason} (SPIKEGRAD_REQUIRE_CUDA_TOOLS=1 requires it)")
    pytest.skip(reason)


def require_nvcc() -> None:
    if shutil.which("nvcc") is None:
        unavailable("nvcc (CUDA toolkit) not installed")


FUSED = [n for n in spikegrad.names() if not spikegrad.entry(n).formula.stochastic_backward]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_generated_cuda_compiles_for_every_surrogate(dtype: str, tmp_path) -> None:
    require_nvcc()
    parts = []
    for i, name in enumerate(FUSED):
        for j, case in enumerate(c for c in goldens.cases(name, dtype)):
            s = spikegrad.get(name, **case.params)
            parts.append(cuda.module_source(s, dtype, f"k{i}_{j}", prelude=not parts))
    src = tmp_path / "kernels.cu"
    src.write_text("\n".join(parts))
    out = subprocess.run(["nvcc", "-ptx", "--fmad=false", "-diag-suppress", "177", "-o",
                          str(tmp_path / "kernels.ptx"), str(src)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]
    ptx = (tmp_path / "kernels.ptx").read_text()
    assert ptx.count(".entry") == len(parts)


def test_elementwise_pieces_use_selects_and_float32_for_half() -> None:
    e = cuda.elementwise(spikegrad.get("s2nn"), "float16")
    assert e.in_params == "float16 x, float16 g, raw float64 c"
    assert e.out_params == "float16 out"
    assert "const float xv = (float)x;" in e.operation and " ? " in e.operation
    assert "out = (float16)" in e.operation and "--fmad=false" in e.options
    fb = cuda.elementwise(spikegrad.get("atan"), "float32", with_spike=True)
    assert fb.out_params == "float32 spike, float32 gx" and "__float_as_uint(x)" in fb.operation
    with pytest.raises(NotImplementedError, match="stochastic"):
        cuda.elementwise(spikegrad.get("stochastic_spike_operator"), "float32")
    with pytest.raises(ValueError, match="float128"):
        cuda.elementwise(spikegrad.get("atan"), "float128")
    with pytest.raises(ValueError, match="'ge' or 'gt'"):
        cuda.spike_condition("bernoulli_input", "float32")


def test_kernel_names_are_stable_and_distinct() -> None:
    """Names (part of CuPy's on-disk cache key) do not depend on the process's hash seed."""
    a = cuda.elementwise(spikegrad.get("atan"), "float32").name
    # parameters are run-time constants: one kernel (one name) for every value
    assert a == cuda.elementwise(spikegrad.get("atan", alpha=3.1), "float32").name
    assert a != cuda.elementwise(spikegrad.get("sigmoid"), "float32").name
    assert (cuda.elementwise(spikegrad.get("atan", alpha=3.1), "float32").constants
            != cuda.elementwise(spikegrad.get("atan"), "float32").constants)
    code = ("import spikegrad; from spikegrad.codegen import cuda; "
            "print(cuda.elementwise(spikegrad.get('atan'), 'float32').name)")
    names = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
             for seed in ("1", "2")}
    assert names == {a}


# -- the kernels' CPU twins: the same ElementwiseKernel pieces compiled for the host -----

HOST_CC = shutil.which("cc") or shutil.which("gcc")
HOST_CXX = shutil.which("c++") or shutil.which("g++")
TWIN_CASES = [c for c in goldens.cases() if c.name in FUSED]
DTYPES = ["float16", "float32", "float64"]
#: (name, params) of every fused surrogate and golden parameter set, for bfloat16
BF16_CASES = [(c.name, c.params) for c in TWIN_CASES if c.dtype == "float32"]


def _pieces(s: spikegrad.Bound, dtype: str) -> tuple[cuda.Elementwise, cuda.Elementwise | None]:
    fb = (cuda.elementwise(s, dtype, with_spike=True)
          if s.forward_kind in ("ge", "gt") else None)
    return cuda.elementwise(s, dtype), fb


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    if HOST_CC is None:
        unavailable("no C compiler on this machine")
    from ._cupy_emulation import HostTwins

    pieces = {}
    for case in TWIN_CASES:
        for p in _pieces(spikegrad.get(case.name, **case.params), case.dtype):
            if p is not None:
                pieces[p.name] = p
    for name, params in BF16_CASES:
        for p in _pieces(spikegrad.get(name, **params), "bfloat16"):
            if p is not None:
                pieces[p.name] = p
    for kind in ("ge", "gt"):
        for dtype in [*DTYPES, "bfloat16"]:
            p = cuda.spike_kernel(kind, dtype)
            pieces[p.name] = p
    return HostTwins(list(pieces.values()), HOST_CC, HOST_CXX,
                     tmp_path_factory.mktemp("twins"))


@pytest.mark.parametrize("case", TWIN_CASES, ids=[c.id for c in TWIN_CASES])
def test_cupy_kernel_twin_matches_goldens(case: goldens.Case, twins) -> None:
    """The cupy kernels' own text, run on the CPU with flush-to-zero as on the GPU:
    g' within the declared tolerance, the fused kernel's spike equal to the reference
    bit for bit (negative subnormals included), its gradient equal to the backward's."""
    s = spikegrad.get(case.name, **case.params)
    x = case.inputs()
    g = np.ones_like(x)
    bwd, fb = _pieces(s, case.dtype)
    (gx,) = twins.run(bwd, x, g)
    assert gx.dtype == x.dtype
    tol = CupyHarness.tolerance_ulp[case.dtype]
    ok, _, detail = check_backward_values(case, gx, tol, flushes(CupyHarness, case.dtype))
    assert ok, detail
    if fb is not None:
        spikes, gx2 = twins.run(fb, x, g)
        np.testing.assert_array_equal(spikes, s.spike(x))
        np.testing.assert_array_equal(gx2, gx)
    ramp = np.linspace(-1, 1, x.size).astype(x.dtype)  # the gradient is multiplied in
    (gr,) = twins.run(bwd, x, ramp)
    if case.dtype == "float16":  # one rounding of g * g' (float32) against two here
        want = ramp * gx
        err = np.abs(gr.astype(np.float64) - want.astype(np.float64))
        with np.errstate(invalid="ignore"):
            ulp = np.spacing(np.abs(want)).astype(np.float64)
        assert np.all((err <= ulp)
                      | (np.isnan(gr) & np.isnan(want)))  # within one float16 ULP
    else:
        np.testing.assert_array_equal(gr, ramp * gx)


@pytest.mark.parametrize("kind", ["ge", "gt"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cupy_spike_twin_is_exact_under_flush_to_zero(kind: str, dtype: str, twins) -> None:
    from ._cupy_emulation import FTZ_EMULATED

    if not FTZ_EMULATED:
        pytest.skip("the twins emulate flush-to-zero on x86-64 only")
    info = np.finfo(dtype)
    tiny = info.smallest_subnormal
    x = np.array([0.0, -0.0, tiny, -tiny, info.smallest_normal, -info.smallest_normal,
                  1.0, -1.0, np.inf, -np.inf, np.nan, -np.nan, info.max, -info.max],
                 dtype=dtype)
    (out,) = twins.run(cuda.spike_kernel(kind, dtype), x)
    s = spikegrad.get("atan" if kind == "ge" else "norse:super")
    assert s.forward_kind == kind
    np.testing.assert_array_equal(out, s.spike(x))


def _all_bfloat16() -> np.ndarray:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return np.arange(2**16, dtype=np.uint16).view(ml_dtypes.bfloat16)


def _bf16_ulp(v: np.ndarray) -> np.ndarray:
    """Spacing of bfloat16 (8 significant bits, float32's exponent range) at |v|."""
    a = np.maximum(np.abs(v), np.finfo(np.float32).smallest_normal)
    return np.exp2(np.floor(np.log2(a)) - 7)


@pytest.mark.parametrize("name,params", BF16_CASES,
                         ids=[f"{n}{p}" for n, p in BF16_CASES])
def test_cupy_kernel_twin_bfloat16_every_value(name: str, params: dict, twins) -> None:
    """bfloat16 (computed in float32, flushed like float32 on the GPU): all 65,536 inputs.
    g' within one bfloat16 ULP of the float64 reference over the core range (peak-relative
    for sign-changing surrogates), NaN exactly where the reference has NaN elsewhere; the
    spike equal to the reference bit for bit."""
    if not twins.has_bfloat16:
        unavailable("no C++ compiler for the bfloat16 twins")
    s = spikegrad.get(name, **params)
    x = _all_bfloat16()
    bwd, fb = _pieces(s, "bfloat16")
    (gx,) = twins.run(bwd, x, np.ones_like(x))
    spikes, gx2 = twins.run(fb, x, np.ones_like(x)) if fb is not None else (None, gx)
    check_bfloat16(s, x, gx, spikes)
    np.testing.assert_array_equal(gx2.view(np.uint16), gx.view(np.uint16))


def check_bfloat16(s: spikegrad.Bound, x: np.ndarray, gx: np.ndarray,
                   spikes: np.ndarray | None) -> None:
    """``gx = g'(x)`` and the spikes for bfloat16 ``x``, against the float64 reference."""
    from spikegrad.adapters.reference import derivative_values

    tiny = np.finfo(np.float32).smallest_normal
    with np.errstate(invalid="ignore"):  # NaN patterns
        x64 = x.astype(np.float64)
        flushed_x = np.where(np.abs(x64) < tiny, 0.0 * x64, x64)
    got = gx.astype(np.float64)
    ref = derivative_values(s, flushed_x)  # subnormal inputs act as signed zeros (FTZ)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    core = (np.abs(x64) * float(s.entry.x_scale(s.params)) <= 10) & ~np.isnan(ref)
    floor = s.peak if s.entry.sign_changing else 0.0
    err = np.abs(got - ref)[core]
    ok = (err <= _bf16_ulp(np.maximum(np.abs(ref[core]), floor))) | (
        (got[core] == 0) & (np.abs(ref[core]) < 16 * tiny))
    assert ok.all(), (x64[core][~ok][:5], got[core][~ok][:5], ref[core][~ok][:5])
    if spikes is not None:
        np.testing.assert_array_equal(spikes.astype(np.float32), s.spike(x.astype(np.float32)))


@pytest.mark.parametrize("kind", ["ge", "gt"])
def test_cupy_spike_twin_bfloat16_every_value(kind: str, twins) -> None:
    from ._cupy_emulation import FTZ_EMULATED

    if not FTZ_EMULATED:
        pytest.skip("the twins emulate flush-to-zero on x86-64 only")
    if not twins.has_bfloat16:
        unavailable("no C++ compiler for the bfloat16 twins")
    x = _all_bfloat16()
    (out,) = twins.run(cuda.spike_kernel(kind, "bfloat16"), x)
    s = spikegrad.get("atan" if kind == "ge" else "norse:super")
    np.testing.assert_array_equal(out.astype(np.float32), s.spike(x.astype(np.float32)))


# -- NVRTC: the translation units CuPy would build, compiled offline ----------------------

def _nvrtc_available() -> str:
    try:
        import cupy  # noqa: F401
        from cupy._core import core
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
        core.assemble_cupy_compiler_options(())
    except ImportError as exc:
        return f"CuPy is not installed ({exc})"
    except Exception as exc:  # NVRTC library or CUDA headers missing: cupy raises various
        return f"NVRTC or the CUDA headers are unavailable ({type(exc).__name__}: {exc})"
    return ""


NVRTC_MISSING = _nvrtc_available()


@pytest.mark.parametrize("dtype", [*DTYPES, "bfloat16"])
def test_adapter_kernels_compile_with_nvrtc_as_cupy_builds_them(dtype: str) -> None:
    """Every kernel object the adapter builds (backward, fused, spike) for every surrogate
    and parameter set: CuPy's type resolution for arrays of ``dtype`` gives ``dtype``
    everywhere, and NVRTC compiles the unit CuPy would assemble, with CuPy's options."""
    if NVRTC_MISSING:
        unavailable(NVRTC_MISSING)
    import spikegrad.adapters.cupy as sgc

    from ._cupy_emulation import nvrtc_compile, nvrtc_source

    if dtype == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        if np.lib.NumpyVersion(np.__version__) < "2.1.2":
            pytest.skip("CuPy's bfloat16 needs NumPy >= 2.1.2")
        t = np.dtype(ml_dtypes.bfloat16)
        sets = BF16_CASES
    else:
        t = np.dtype(dtype)
        sets = [(c.name, c.params) for c in TWIN_CASES if c.dtype == dtype]
    kernels = {}
    for name, params in sets:
        s = spikegrad.get(name, **params)
        for fused in (False, True):
            if fused and s.forward_kind not in ("ge", "gt"):
                continue
            k = sgc._compiled(cuda.elementwise(s, dtype, with_spike=fused))
            kernels[k.name] = k
    kernels = list(kernels.values())
    spikes = [sgc._spike_kernel(kind, dtype) for kind in ("ge", "gt")]
    for k in kernels + spikes:
        raw = [p.raw for p in k.in_params]
        types = tuple(np.float64 if r else t.type for r in raw)
        in_types, out_types, _ = k._decide_params_type(types, ())
        elementwise = [d for d, r in zip(in_types, raw, strict=True) if not r] + list(out_types)
        assert {np.dtype(d) for d in elementwise} == {t}, (k.name, in_types, out_types)
    for group in (kernels, spikes):
        ptx = nvrtc_compile(nvrtc_source(group), cuda.OPTIONS)
        assert ptx.count(".entry") == len(group)


def _cuda_available() -> bool:
    try:
        import cupy
    except ImportError:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # any CUDA runtime error means no usable device
        return False


needs_gpu = pytest.mark.skipif(not _cuda_available(),
                               reason="needs CuPy and a CUDA device (none on this machine)")


@needs_gpu
@pytest.mark.parametrize("case", list(goldens.cases()), ids=lambda c: c.id)
def test_cupy_matches_goldens(case: goldens.Case) -> None:  # pragma: no cover - GPU only
    import cupy

    import spikegrad.cupy as sgc

    s = spikegrad.get(case.name, **case.params)
    x = cupy.asarray(case.inputs())
    spikes, res = sgc.forward(s, x, key=cupy.random.default_rng(0))
    g = sgc.backward(s, res, cupy.ones_like(x))
    assert g.dtype == x.dtype and spikes.dtype == x.dtype
    if not s.entry.forward.startswith("bernoulli"):
        np.testing.assert_array_equal(cupy.asnumpy(spikes), s.spike(case.inputs()))
    ok, _, detail = check_backward_values(case, cupy.asnumpy(g),
                                          CupyHarness.tolerance_ulp[case.dtype],
                                          flushes(CupyHarness, case.dtype))
    assert ok, detail
    fs, fg = sgc.forward_backward(s, x, cupy.ones_like(x), key=cupy.random.default_rng(0))
    assert fs.dtype == x.dtype
    if not s.entry.forward.startswith("bernoulli"):
        np.testing.assert_array_equal(cupy.asnumpy(fs), cupy.asnumpy(spikes))
    np.testing.assert_array_equal(cupy.asnumpy(fg), cupy.asnumpy(g))


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_cupy_any_layout_and_shape(dtype: str) -> None:  # pragma: no cover - GPU only
    import cupy

    import spikegrad.cupy as sgc

    base = cupy.asarray(np.linspace(-3, 3, 6 * 7 * 5).reshape(6, 7, 5).astype(dtype))
    for x in (base, base.transpose(2, 0, 1), base[::2, :, 1:4], base[0, 0, 0]):
        g = cupy.full(x.shape, 0.5, dtype=dtype)
        spikes, gx = sgc.forward_backward("atan", x, g)
        assert spikes.shape == x.shape and gx.dtype == x.dtype
        assert spikes.device == x.device and gx.device == x.device
        ref = spikegrad.get("atan")
        np.testing.assert_array_equal(cupy.asnumpy(spikes), ref.spike(cupy.asnumpy(x)))
        xc = x.copy()  # C order, shape kept (ascontiguousarray makes 0-d arrays 1-d)
        np.testing.assert_array_equal(cupy.asnumpy(gx),
                                      cupy.asnumpy(sgc.backward("atan", xc, g)))


@needs_gpu
def test_cupy_bad_input_is_named() -> None:  # pragma: no cover - GPU only
    import cupy

    import spikegrad.cupy as sgc

    x = cupy.zeros(4, dtype=cupy.float32)
    with pytest.raises(TypeError, match=r"cupy\.asarray"):
        sgc.forward("atan", np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError, match="float16, bfloat16, float32 or float64"):
        sgc.forward("atan", cupy.zeros(4, dtype=cupy.int32))
    with pytest.raises(TypeError, match="must match"):
        sgc.backward("atan", x, cupy.zeros(4, dtype=cupy.float64))
    with pytest.raises(ValueError, match="alpha"):
        sgc.forward(spikegrad.get("atan", alpha=-1.0), x)


@needs_gpu
@pytest.mark.parametrize("name,params", BF16_CASES,
                         ids=[f"{n}{p}" for n, p in BF16_CASES])
def test_cupy_bfloat16_every_value(name: str, params: dict) -> None:  # pragma: no cover
    import cupy

    import spikegrad.cupy as sgc

    pytest.importorskip("ml_dtypes")
    if (np.lib.NumpyVersion(np.__version__) < "2.1.2"
            or int(cupy.__version__.split(".")[0]) < 14):
        pytest.skip("CuPy's bfloat16 needs CuPy >= 14, NumPy >= 2.1.2 and ml_dtypes")
    s = spikegrad.get(name, **params)
    x = _all_bfloat16()
    xd = cupy.asarray(x)
    spikes, gx = sgc.forward_backward(s, xd, cupy.ones_like(xd),
                                      key=cupy.random.default_rng(0))
    assert gx.dtype == xd.dtype and spikes.dtype == xd.dtype
    plain = s.forward_kind in ("ge", "gt")  # Bernoulli draws have no reference to equal
    check_bfloat16(s, x, cupy.asnumpy(gx), cupy.asnumpy(spikes) if plain else None)


@needs_gpu
def test_dlpack_round_trip_with_torch() -> None:  # pragma: no cover - GPU only
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this torch build has no CUDA (install a CUDA build of torch)")
    import cupy

    import spikegrad.cupy as sgc

    t = torch.linspace(-2, 2, 1001, device="cuda")
    x = cupy.from_dlpack(t)
    _, res = sgc.forward("atan", x)
    gx = torch.from_dlpack(sgc.backward("atan", res, cupy.ones_like(x)))
    assert gx.device == t.device
    expected = spikegrad.get("atan").derivative(t.cpu().numpy())
    np.testing.assert_allclose(gx.cpu().numpy(), expected, rtol=1e-6)


def test_cupy_module_names_the_extra_when_missing() -> None:
    """Without CuPy (hidden from a fresh interpreter), the error names the extra."""
    code = ("import sys; sys.modules['cupy'] = None\n"
            "try:\n    import spikegrad.cupy\n"
            "except ImportError as exc:\n    print(exc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install 'spikegrad[cupy]'" in out.stdout, out.stderr[-2000:]


def test_a_new_surrogate_gets_a_cuda_kernel_with_no_other_edit(tmp_path) -> None:
    require_nvcc()
    from .test_codegen import _new_surrogate

    s = _new_surrogate()
    e = cuda.elementwise(s, "float32")
    assert "expf" in e.operation
    if HOST_CC is not None:  # and the kernel text computes g' (run on the CPU twin)
        from ._cupy_emulation import HostTwins

        x = np.linspace(-6, 6, 4097)
        expected = 0.75 / np.cosh(1.5 * x)  # independent closed form: (a/2) sech(a x)
        pieces = [cuda.elementwise(s, d) for d in ("float32", "float64")]
        twins = HostTwins(pieces, HOST_CC, None, tmp_path)
        for p, dt, rtol in zip(pieces, (np.float32, np.float64), (1e-6, 1e-14), strict=True):
            (got,) = twins.run(p, x.astype(dt), np.ones_like(x, dtype=dt))
            np.testing.assert_allclose(got, expected, rtol=rtol)
    src = tmp_path / "new.cu"
    src.write_text(cuda.module_source(s, "float64"))
    out = subprocess.run(["nvcc", "-ptx", "--fmad=false", "-diag-suppress", "177", "-o",
                          str(tmp_path / "new.ptx"), str(src)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
