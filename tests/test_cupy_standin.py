"""The cupy binding's Python logic in CI, through a CuPy stand-in.

Without a GPU, ``cp`` is the NumPy-backed stand-in of ``tests/cupy_standin`` (installed on
``sys.path`` for this module only): its ``ElementwiseKernel`` and ``RawModule`` run the
binding's own generated CUDA text compiled for the host by the C twins of
``tests/_cupy_emulation.py`` (flush-to-zero in single precision, as CuPy's
``-ftz=true``), it refuses implicit host conversion and NumPy operands, and it has two
virtual devices that refuse each other's arrays.  With CuPy and a CUDA device, ``cp`` is
the real CuPy and the same tests run on the device (those needing two devices skip on a
single-GPU machine).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spikegrad
from spikegrad.codegen import cuda
from spikegrad.conformance import goldens
from spikegrad.conformance import multistep as ms_goldens
from spikegrad.conformance.checks import check_backward_values
from spikegrad.conformance.harness import CupyHarness, flushes

from ._param_oracle import fd_param_grads
from .test_cupy import BF16_CASES, HOST_CC, _cuda_available, check_bfloat16, unavailable

ON_GPU = _cuda_available()
CASES = list(goldens.cases())
MS_CASES = ms_goldens.cases()
DTYPES = ["float16", "float32", "float64"]
ROOT = Path(__file__).resolve().parents[1]

#: Every registered name (canonical and peer aliases) by forward kind.
BY_KIND: dict[str, list[str]] = {}
for _n in [*spikegrad.names(), *spikegrad.aliases()]:
    BY_KIND.setdefault(spikegrad.entry(_n).forward, []).append(_n)
#: Every name of every forward kind but the common ``ge`` (three of those).
FORWARD_NAMES = [n for kind, ns in BY_KIND.items() for n in (ns[:3] if kind == "ge" else ns)]
NON_SPIKE = [n for kind, ns in BY_KIND.items() if kind not in ("ge", "gt") for n in ns]


def _standin_kernels(binding) -> None:
    """Construct every elementwise kernel the tests launch, so the stand-in compiles them in
    one compiler run at the first launch (instead of one run per kernel)."""
    for case in CASES:
        s = spikegrad.get(case.name, **case.params)
        if s.formula.stochastic_backward:
            continue
        for fused in (False, True) if s.forward_kind in ("ge", "gt") else (False,):
            binding._compiled(cuda.elementwise(s, case.dtype, with_spike=fused))
    for name, params in BF16_CASES:
        s = spikegrad.get(name, **params)
        for fused in (False, True) if s.forward_kind in ("ge", "gt") else (False,):
            binding._compiled(cuda.elementwise(s, "bfloat16", with_spike=fused))
    for kind in ("ge", "gt"):
        for dtype in [*DTYPES, "bfloat16"]:
            binding._spike_kernel(kind, dtype)


@pytest.fixture(scope="module")
def cp():
    """CuPy on a machine with a CUDA device, else the stand-in (removed afterwards)."""
    if ON_GPU:  # pragma: no cover - GPU only
        import cupy

        yield cupy
        return
    if HOST_CC is None:
        unavailable("no C compiler for the CuPy stand-in's kernel twins")
    from .cupy_standin import installed

    with installed() as cupy:
        import spikegrad.adapters.cupy as binding

        _standin_kernels(binding)
        yield cupy


@pytest.fixture
def two_devices(cp):
    if cp.cuda.runtime.getDeviceCount() < 2:  # pragma: no cover - single-GPU machines
        pytest.skip("needs two CUDA devices")


def _inputs(dtype: str) -> np.ndarray:
    info = np.finfo(dtype)
    special = [0.0, -0.0, info.smallest_subnormal, -info.smallest_subnormal,
               info.smallest_normal, -info.smallest_normal, np.inf, -np.inf, np.nan,
               info.max, -info.max, 1.0, -1.0, 0.5, 2.0]
    return np.concatenate([np.asarray(special, dtype=dtype),
                           np.linspace(-4, 4, 101).astype(dtype)])


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal bit for bit up to NaN payloads (signed zeros told apart)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(a[~nan], b[~nan])
    np.testing.assert_array_equal(np.signbit(a[~nan]), np.signbit(b[~nan]))


# -- the stand-in itself -----------------------------------------------------------------

def test_standin_is_removed_after_use() -> None:
    """Installed and removed again: the modules bound to it go (the real CuPy, where
    imported, comes back), and the per-type dispatch cache forgets its array type."""
    import spikegrad.adapters as adapters
    from spikegrad import _dispatch

    from .cupy_standin import installed

    def bound_to_cupy() -> dict:
        return {**{k: v for k, v in sys.modules.items() if k.split(".")[0] in ("cupy", "cupyx")
                   or k.startswith(("spikegrad.adapters.cup", "array_api_compat.cupy"))},
                **{k: getattr(adapters, k, None) for k in ("cupy", "cupy_multistep")}}

    before = bound_to_cupy()
    with installed() as stand_in:
        x = stand_in.zeros(3)
        assert type(x).__module__ == "cupy" and sys.modules["cupy"] is stand_in
        spikegrad.get("atan").spike(x)
        assert adapters.cupy.cupy is stand_in and adapters.cupy_multistep.cupy is stand_in
    assert bound_to_cupy() == before
    assert type(x) not in getattr(_dispatch, "_BY_TYPE", {})


def test_standin_enforces_what_a_gpu_enforces(cp) -> None:
    if ON_GPU:  # pragma: no cover - GPU only
        pytest.skip("checks the stand-in")
    x = cp.asarray(np.arange(3.0))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError, match="Unsupported type"):
        x + np.ones(3)
    if cp.cuda.runtime.getDeviceCount() > 1:
        with cp.cuda.Device(1):
            y = cp.ones(3)
        assert y.device.id == 1 and x.device.id == 0
        with pytest.raises(ValueError, match="Peer access"):
            x + y
    k = cp.ElementwiseKernel("float32 x", "float32 y", "y = x * 2", "standin_double")
    with pytest.raises(TypeError, match="Type is mismatched"):
        k(x)  # float64 array for a float32 kernel
    np.testing.assert_array_equal(cp.asnumpy(k(x.astype(cp.float32))), [0, 2, 4])
    code = ('extern "C" __global__ void standin_iota(double* y, long long n) {\n'
            "    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;\n"
            "    if (i < n) y[i] = (double)i;\n}\n")
    iota = cp.RawModule(code=code).get_function("standin_iota")
    y = cp.zeros(10)
    iota((2,), (4,), (y, cp.int64(10)))  # 8 threads, no grid-stride loop: 2 left unwritten
    np.testing.assert_array_equal(cp.asnumpy(y), [0, 1, 2, 3, 4, 5, 6, 7, 0, 0])
    with pytest.raises(TypeError, match="long long"):
        iota((1,), (16,), (y, np.int32(10)))  # 4 bytes where the kernel reads 8
    with pytest.raises(TypeError, match="float32"):
        iota((1,), (16,), (y.astype(cp.float32), cp.int64(10)))
    with pytest.raises(TypeError, match="Unsupported type"):
        iota((1,), (16,), (np.zeros(10), cp.int64(10)))  # a host array


# -- regression: non-spike forwards recursed forever (binding -> engine -> Bound.spike) ----

@pytest.mark.parametrize("name", NON_SPIKE)
def test_non_spike_forward_does_not_recurse(cp, name: str) -> None:
    """``Bound.spike`` of a cupy array for a Bernoulli or formula forward: the binding
    computes it (before: RecursionError, through the engine's ``Bound.spike``)."""
    import spikegrad.cupy as sgc

    s = spikegrad.get(name)
    y = s.spike(cp.zeros(3), key=cp.random.default_rng(0))
    assert type(y) is cp.ndarray and y.dtype == cp.float64 and y.shape == (3,)
    spikes, res = sgc.forward(s, cp.zeros(3), key=cp.random.default_rng(0))
    assert type(spikes) is cp.ndarray and res.shape == (3,)


# -- dispatch and the binding's contract ---------------------------------------------------

def test_bound_spike_dispatches_to_the_cupy_binding(cp, monkeypatch) -> None:
    import spikegrad.adapters.cupy as binding

    calls = []
    real = binding.spike

    def spy(bound, x, key=None):
        calls.append((bound, x))
        return real(bound, x, key)

    monkeypatch.setattr(binding, "spike", spy)
    s = spikegrad.get("atan")
    x = cp.asarray(np.linspace(-1, 1, 5))
    y = s.spike(x)
    assert len(calls) == 1 and calls[0][0] is s and calls[0][1] is x
    assert type(y) is cp.ndarray
    np.testing.assert_array_equal(cp.asnumpy(y), [0, 0, 1, 1, 1])


def test_multistep_spike_dispatches_to_the_cupy_binding(cp, monkeypatch) -> None:
    import spikegrad.adapters.cupy as binding

    calls = []
    real = binding.multistep

    def spy(bound, x):
        calls.append((bound, x))
        return real(bound, x)

    monkeypatch.setattr(binding, "multistep", spy)
    d = spikegrad.get("dsr_if")
    xn = np.random.default_rng(0).random((6, 4))
    x = cp.asarray(xn)
    y = d.spike(x)
    assert len(calls) == 1 and calls[0][0] is d and calls[0][1] is x
    assert type(y) is cp.ndarray
    np.testing.assert_allclose(cp.asnumpy(y), d.forward(xn), rtol=1e-12)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
            found.update(f"{'.' * node.level}{node.module or ''}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


@pytest.mark.parametrize("module", ["cupy.py", "cupy_multistep.py"])
def test_binding_knows_no_names_and_no_bound_spike(module: str) -> None:
    """The binding (layer 7) imports no registry and calls no ``.spike(``."""
    path = ROOT / "spikegrad" / "adapters" / module
    assert not any("_registry" in i or i.endswith(".get") for i in _imports(path))
    assert ".spike(" not in path.read_text()


def test_binding_takes_bound_values_front_end_takes_names(cp) -> None:
    import spikegrad.adapters.cupy as binding
    import spikegrad.adapters.cupy_multistep as ms_binding
    import spikegrad.cupy as sgc

    x = cp.asarray(np.linspace(-1, 1, 5))
    for call in (lambda: binding.forward("atan", x), lambda: binding.spike("atan", x),
                 lambda: binding.backward("atan", x, x), lambda: binding.multistep("dsr_if", x),
                 lambda: ms_binding.backward("dsr_if", x, x)):
        with pytest.raises(TypeError, match=r"spikegrad\.get\("):
            call()
    s1, g1 = sgc.forward_backward("atan", x, cp.ones_like(x))
    s2, g2 = binding.forward_backward(spikegrad.get("atan"), x, cp.ones_like(x))
    np.testing.assert_array_equal(cp.asnumpy(g1), cp.asnumpy(g2))
    np.testing.assert_array_equal(cp.asnumpy(s1), cp.asnumpy(s2))
    seq = cp.asarray(np.linspace(0, 2, 12).reshape(4, 3))
    np.testing.assert_array_equal(cp.asnumpy(sgc.multistep_forward("dsr_if", seq)),
                                  cp.asnumpy(binding.multistep(spikegrad.get("dsr_if"), seq)))


def test_bad_input_is_named(cp) -> None:
    import spikegrad.cupy as sgc

    x = cp.zeros(4, dtype=cp.float32)
    with pytest.raises(TypeError, match=r"cupy\.asarray"):
        sgc.forward("atan", np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError, match="float16, bfloat16, float32 or float64"):
        sgc.forward("atan", cp.zeros(4, dtype=cp.int32))
    with pytest.raises(TypeError, match="must match"):
        sgc.backward("atan", x, cp.zeros(4, dtype=cp.float64))
    with pytest.raises(ValueError, match="alpha"):
        sgc.forward(spikegrad.get("atan", alpha=-1.0), x)
    with pytest.raises(TypeError, match="key="):
        sgc.forward("poisson_pass", x)
    with pytest.raises(ValueError, match="time"):
        sgc.multistep_forward("dsr_if", cp.zeros((), dtype=cp.float32))


# -- every forward kind ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FORWARD_NAMES)
def test_forward_kind(cp, name: str, dtype: str) -> None:
    """The spike (or the formula's forward) of every kind, in the input's dtype and type:
    ``ge``/``gt``/``formula`` equal to the reference bit for bit; Bernoulli draws 0 or 1,
    certain where the probability is 0 or 1, the same for the same key, and (the
    stand-in drawing NumPy's stream) equal to the reference's for float64."""
    s = spikegrad.get(name)
    kind = s.forward_kind
    xn = _inputs(dtype)
    x = cp.asarray(xn)
    y = s.spike(x, key=cp.random.default_rng(7))
    assert type(y) is cp.ndarray and y.dtype == x.dtype and y.shape == x.shape
    yn = cp.asnumpy(y)
    if kind in ("ge", "gt", "formula"):
        _same(yn, s.spike(xn))
        return
    assert set(np.unique(yn[~np.isnan(xn)]).tolist()) <= {0.0, 1.0}
    again = cp.asnumpy(s.spike(x, key=cp.random.default_rng(7)))
    _same(again, yn)
    if kind == "bernoulli_input":
        assert np.all(yn[xn <= 0] == 0) and np.all(yn[xn >= 1] == 1)
    else:  # probability g(x): 0 and 1 at the ends of the line
        assert yn[xn == -np.inf].tolist() == [0.0] and yn[xn == np.inf].tolist() == [1.0]
    if dtype == "float64" and not ON_GPU:
        _same(yn, s.spike(xn, key=np.random.default_rng(7)))


# -- backward and forward_backward of every surrogate against the goldens ---------------------

@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_matches_goldens(cp, case: goldens.Case) -> None:
    """As ``test_cupy.test_cupy_matches_goldens`` on a GPU: the backward within the
    declared tolerance (flush-aware), the spike equal to the reference, the fused kernel
    equal to the two passes; dtype, type and device preserved."""
    import spikegrad.cupy as sgc

    s = spikegrad.get(case.name, **case.params)
    xn = case.inputs()
    x = cp.asarray(xn)
    spikes, res = sgc.forward(s, x, key=cp.random.default_rng(0))
    g = sgc.backward(s, res, cp.ones_like(x), key=cp.random.default_rng(0))
    for out in (spikes, g):
        assert type(out) is cp.ndarray and out.dtype == x.dtype and out.device == x.device
    bernoulli = s.entry.forward.startswith("bernoulli")
    if not bernoulli:
        np.testing.assert_array_equal(cp.asnumpy(spikes), s.spike(xn))
        np.testing.assert_array_equal(cp.asnumpy(s.spike(x)), s.spike(xn))
    ok, _, detail = check_backward_values(case, cp.asnumpy(g),
                                          CupyHarness.tolerance_ulp[case.dtype],
                                          flushes(CupyHarness, case.dtype))
    assert ok, detail
    fs, fg = sgc.forward_backward(s, x, cp.ones_like(x), key=cp.random.default_rng(0))
    assert fs.dtype == x.dtype and fg.dtype == x.dtype
    if not bernoulli:
        np.testing.assert_array_equal(cp.asnumpy(fs), cp.asnumpy(spikes))
    np.testing.assert_array_equal(cp.asnumpy(fg), cp.asnumpy(g))
    ramp = np.linspace(-1, 1, xn.size).astype(xn.dtype)  # the gradient is multiplied in
    gr = cp.asnumpy(sgc.backward(s, res, cp.asarray(ramp), key=cp.random.default_rng(0)))
    want = (ramp.astype(np.float64) * cp.asnumpy(g).astype(np.float64)).astype(xn.dtype)
    if case.dtype == "float16":  # one rounding of g * g' (float32) against two here
        err = np.abs(gr.astype(np.float64) - want.astype(np.float64))
        with np.errstate(invalid="ignore"):
            assert np.all((err <= np.spacing(np.abs(want)).astype(np.float64))
                          | (np.isnan(gr) & np.isnan(want)))
    elif not s.formula.stochastic_backward:
        np.testing.assert_array_equal(gr, want)


@pytest.mark.parametrize("name,params", BF16_CASES, ids=[f"{n}{p}" for n, p in BF16_CASES])
def test_bfloat16_every_value(cp, name: str, params: dict) -> None:
    """bfloat16 through the binding: all 65,536 inputs, as ``test_cupy`` on a GPU."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    if (np.lib.NumpyVersion(np.__version__) < "2.1.2"
            or int(cp.__version__.split(".")[0]) < 14):
        pytest.skip("CuPy's bfloat16 needs CuPy >= 14, NumPy >= 2.1.2 and ml_dtypes")
    import spikegrad.cupy as sgc

    s = spikegrad.get(name, **params)
    xn = np.arange(2**16, dtype=np.uint16).view(ml_dtypes.bfloat16)
    x = cp.asarray(xn)
    spikes, gx = sgc.forward_backward(s, x, cp.ones_like(x), key=cp.random.default_rng(0))
    assert gx.dtype == x.dtype and spikes.dtype == x.dtype
    plain = s.forward_kind in ("ge", "gt")  # Bernoulli draws have no reference to equal
    check_bfloat16(s, xn, cp.asnumpy(gx), cp.asnumpy(spikes) if plain else None)


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_layout_and_shape(cp, dtype: str) -> None:
    import spikegrad.cupy as sgc

    ref = spikegrad.get("atan")
    base = cp.asarray(np.linspace(-3, 3, 6 * 7 * 5).reshape(6, 7, 5).astype(dtype))
    for x in (base, base.transpose(2, 0, 1), base[::2, :, 1:4], base[0, 0, 0]):
        g = cp.full(x.shape, 0.5, dtype=dtype)
        spikes, gx = sgc.forward_backward("atan", x, g)
        assert spikes.shape == x.shape and gx.dtype == x.dtype
        np.testing.assert_array_equal(cp.asnumpy(spikes), ref.spike(cp.asnumpy(x)))
        xc = x.copy()  # C order, shape kept
        np.testing.assert_array_equal(cp.asnumpy(gx), cp.asnumpy(sgc.backward("atan", xc, g)))
        np.testing.assert_array_equal(cp.asnumpy(ref.spike(x)), cp.asnumpy(spikes))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_array_parameters(cp, dtype: str) -> None:
    """Array parameters (the array-API formulas on cupy arrays): the backward equal to
    the reference with the same values as numbers; broadcasting parameters too."""
    import spikegrad.cupy as sgc

    xn = np.linspace(-3, 3, 64).astype(dtype)
    x = cp.asarray(xn)
    s = spikegrad.get("atan", alpha=cp.asarray(3.0))
    g = cp.asnumpy(sgc.backward(s, x, cp.ones_like(x)))
    tol = {"float32": 1e-6, "float64": 1e-14}[dtype]
    np.testing.assert_allclose(g, spikegrad.get("atan", alpha=3.0).derivative(xn), rtol=tol)
    alphas = np.linspace(1.0, 4.0, 64)
    s = spikegrad.get("sigmoid", alpha=cp.asarray(alphas))
    g = cp.asnumpy(sgc.backward(s, x, cp.ones_like(x)))
    want = [spikegrad.get("sigmoid", alpha=float(a)).derivative(xn[i:i + 1])[0]
            for i, a in enumerate(alphas)]
    np.testing.assert_allclose(g, np.asarray(want, dtype=dtype), rtol=tol)


PARAM_LAYOUTS = {"0-d": (), "per channel": (16,), "per row": (8, 1), "per neuron": (8, 16)}


@pytest.mark.parametrize("layout", list(PARAM_LAYOUTS))
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_backward_with_params_matches_finite_differences(cp, dtype: str, layout: str) -> None:
    """The cupy binding's parameter gradients (one generated kernel, then a sum to the
    parameter's shape) against central differences of the float64 primitive; grad_x
    against the reference derivative; each gradient in its parameter's dtype."""
    import spikegrad.cupy as sgc

    rng = np.random.default_rng(11)
    xn = rng.uniform(-1.5, 1.5, (8, 16))
    Gn = rng.uniform(-1, 1, (8, 16))
    shape = PARAM_LAYOUTS[layout]
    alpha = 2.0 * (1 + 0.1 * rng.uniform(-1, 1, shape)) if shape else np.asarray(2.0)
    x, G = cp.asarray(xn.astype(dtype)), cp.asarray(Gn.astype(dtype))
    s = spikegrad.get("atan", alpha=cp.asarray(alpha.astype(np.float32)))
    gx, grads = sgc.backward_with_params(s, x, G)
    assert set(grads) == {"alpha"} and gx.dtype == x.dtype and gx.shape == x.shape
    ga = grads["alpha"]
    assert ga.dtype == np.float32 and ga.shape == alpha.shape
    xq, Gq = xn.astype(dtype).astype(np.float64), Gn.astype(dtype).astype(np.float64)
    a32 = alpha.astype(np.float32).astype(np.float64)
    want = fd_param_grads("atan", {"alpha": a32}, xq, Gq)["alpha"]
    # the parameter's gradient is computed in float32 from the exactly widened float16
    # inputs, so float16 is held as tightly as float32; grad_x is rounded to x's dtype
    np.testing.assert_allclose(cp.asnumpy(ga), want, rtol=2e-5, atol=2e-9)
    rtol = {"float16": 1e-3, "float32": 1e-6, "float64": 1e-12}[dtype]
    np.testing.assert_allclose(
        cp.asnumpy(gx).astype(np.float64),
        Gq * spikegrad.get("atan", alpha=a32).derivative(xq), rtol=rtol, atol=1e-30)


def test_backward_with_params_two_parameters_float64(cp) -> None:
    import spikegrad.cupy as sgc

    rng = np.random.default_rng(12)
    xn, Gn = rng.uniform(-2, 2, 64), rng.uniform(-1, 1, 64)
    values = {"mu": np.asarray(0.1), "sigma": np.asarray(0.6)}
    s = spikegrad.get("gaussian", **{k: cp.asarray(v) for k, v in values.items()})
    _, grads = sgc.backward_with_params(s, cp.asarray(xn), cp.asarray(Gn))
    want = fd_param_grads("gaussian", values, xn, Gn)
    for k in values:
        np.testing.assert_allclose(cp.asnumpy(grads[k]), want[k], rtol=1e-7)


def test_backward_with_params_refuses_what_it_cannot_differentiate(cp) -> None:
    import spikegrad.cupy as sgc

    x = cp.asarray(np.linspace(-1, 1, 8))
    with pytest.raises(TypeError, match="no array parameter"):
        sgc.backward_with_params("atan", x, cp.ones_like(x))
    s = spikegrad.get("atan", alpha=np.asarray(2.0))  # a NumPy parameter with cupy input
    with pytest.raises(TypeError, match="cupy"):
        sgc.backward_with_params(s, x, cp.ones_like(x))


# -- devices: everything on the input's device ---------------------------------------------

@pytest.mark.usefixtures("two_devices")
def test_results_on_the_input_device(cp) -> None:
    """Arrays on device 1 while device 0 is current: the binding works on device 1 and
    returns there (a kernel or operation on the wrong device is refused: no peer access
    on the stand-in)."""
    import spikegrad.cupy as sgc

    xn = np.linspace(-2, 2, 33)
    with cp.cuda.Device(1):
        x = cp.asarray(xn)
        ones = cp.ones_like(x)
        seq = cp.asarray(np.linspace(0, 3, 24).reshape(6, 4))
        seq_ones = cp.ones_like(seq)
    assert cp.cuda.Device().id == 0
    for s in (spikegrad.get("atan"), spikegrad.get("atan", alpha=3.0), spikegrad.get(
            "stochastic_spike_operator"), spikegrad.get("poisson_pass")):
        key = cp.random.default_rng(0)
        spikes, res = sgc.forward(s, x, key=key)
        gx = sgc.backward(s, res, ones, key=key)
        fs, fg = sgc.forward_backward(s, x, ones, key=key)
        assert {a.device.id for a in (spikes, gx, fs, fg, s.spike(x, key=key))} == {1}
    np.testing.assert_array_equal(cp.asnumpy(gx[:0]), np.zeros(0))
    d = spikegrad.get("dsr_lif")
    y = sgc.multistep_forward(d, seq)
    gx, gv = sgc.multistep_backward(d, seq, seq_ones)
    assert {a.device.id for a in (y, gx, gv, d.spike(seq))} == {1}
    np.testing.assert_allclose(cp.asnumpy(y), d.forward(cp.asnumpy(seq)), rtol=1e-12)
    with pytest.raises(TypeError, match="one device"):
        sgc.backward("atan", x, cp.ones(x.shape))
    with pytest.raises(TypeError, match="one device"):
        sgc.multistep_backward(d, seq, cp.ones(seq.shape))


# -- multi-step: DSR-IF / DSR-LIF against their goldens ---------------------------------------

@pytest.mark.parametrize("case", MS_CASES, ids=[c.id for c in MS_CASES])
def test_multistep_matches_goldens(cp, case: ms_goldens.MultiStepCase) -> None:
    from spikegrad.adapters import cupy_multistep

    b = spikegrad.get(case.surrogate, **case.params)
    x, g = (cp.asarray(a) for a in case.inputs())
    y = cupy_multistep.forward(b, x)
    gx, gv = cupy_multistep.backward(b, x, g)
    assert y.dtype == x.dtype and gx.dtype == x.dtype and type(gv) is cp.ndarray
    result = ms_goldens.compare(case, cp.asnumpy(y), cp.asnumpy(gx), float(gv))
    failed = {k: d for k, (ok, d) in result.items() if not ok}
    assert not failed, failed
    np.testing.assert_array_equal(cp.asnumpy(b.spike(x)), cp.asnumpy(y))


@pytest.mark.parametrize("name", ["dsr_if", "dsr_lif"])
def test_multistep_array_threshold(cp, name: str) -> None:
    """A 0-d cupy threshold is read on the device; its gradient is 0 below the bound."""
    import spikegrad.cupy as sgc

    xn = np.random.default_rng(1).random((8, 5))
    x = cp.asarray(xn)
    for v in (0.7, 1e-9):
        ref = spikegrad.get(name, v_threshold=v)
        d = spikegrad.get(name, v_threshold=cp.asarray(v))
        y = sgc.multistep_forward(d, x)
        gx, gv = sgc.multistep_backward(d, x, cp.ones_like(x))
        rx, rv = ref.backward(xn, np.ones_like(xn))
        np.testing.assert_allclose(cp.asnumpy(y), ref.forward(xn), rtol=1e-12)
        np.testing.assert_allclose(cp.asnumpy(gx), rx, rtol=1e-12)
        np.testing.assert_allclose(float(gv), float(rv), rtol=1e-12, atol=1e-300)


# -- the conformance suite, as `python -m spikegrad.conformance cupy` ---------------------------

def test_conformance_cli_subprocess(cp) -> None:
    """``python -m spikegrad.conformance cupy`` as a command (the stand-in first on
    ``PYTHONPATH`` where there is no GPU), for one surrogate."""
    from .cupy_standin import PATH

    env = dict(os.environ)
    if not ON_GPU:
        env["PYTHONPATH"] = os.pathsep.join([PATH, str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-m", "spikegrad.conformance", "cupy", "--only",
                          "atan"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert re.search(r"\b[1-9]\d* pass", out.stdout) and not re.search(r"\b\d+ fail",
                                                                       out.stdout), out.stdout


def test_conformance_cli(cp, capsys) -> None:
    """``python -m spikegrad.conformance cupy`` in this process (every surrogate, parameter
    set and dtype; the stochastic and multi-step checks): exit status 0."""
    from spikegrad.conformance.__main__ import main

    code = main(["cupy"])
    out = capsys.readouterr().out
    assert code == 0, out[-4000:]
    print(out[-3000:])
