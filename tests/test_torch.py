"""The torch adapter: goldens in eager and compiled mode, torch.func, double backward,
dtypes, autocast, saved tensors and bad input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch adapter needs PyTorch (pip install "
                            "torch==2.13.0)")

import spikegrad  # noqa: E402
import spikegrad.torch as sgt  # noqa: E402
from spikegrad.adapters import _torch_native, reference  # noqa: E402
from spikegrad.conformance import goldens  # noqa: E402
from spikegrad.conformance.accuracy import _floor  # noqa: E402

from .conftest import CANONICAL  # noqa: E402

#: The C++ autograd node serves plain eager CPU calls once built; build it before the
#: tests so both paths are exercised deterministically (see test_python_function_path).
NATIVE = _torch_native.ensure()

#: Declared tolerance of the torch adapter (computes float32 in float32): max ULP of g'
#: in the core range, per input dtype.
TORCH_CORE_ULP = {"float64": 16.0, "float32": 16.0, "float16": 1.0}
CASES = list(goldens.cases())
DEFAULT_CASES = [c for c in CASES if c.index == 0]
TDT = {"float16": torch.float16, "float32": torch.float32, "float64": torch.float64}
STOCHASTIC_FWD = {n for n in CANONICAL if spikegrad.entry(n).forward.startswith("bernoulli")}


def _backward_values(fn, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    x = x.clone().requires_grad_(True)
    y = fn(x)
    (gx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    return y.detach().numpy(), gx.numpy()


def _check_case(case: goldens.Case, fn) -> None:
    s = spikegrad.get(case.name, **case.params)
    x = torch.from_numpy(case.inputs().copy())
    spikes, grad = _backward_values(fn, x)
    assert spikes.dtype == case.inputs().dtype and grad.dtype == case.inputs().dtype
    if case.name not in STOCHASTIC_FWD:
        ref = s.spike(case.inputs())
        np.testing.assert_array_equal(spikes, ref)  # forward bit-identical
    m = goldens.compare(grad, case.d_hi, case.d_lo, case.x, case.dtype,
                        float(s.entry.x_scale(s.params)), _floor(case))
    assert m.bad_special == []
    assert m.max_ulp_core <= TORCH_CORE_ULP[case.dtype], (m.max_ulp_core, m.worst_x)
    assert m.max_rel_normal <= 1e-3


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_eager_matches_goldens(case: goldens.Case) -> None:
    s = spikegrad.get(case.name, **case.params)
    key = torch.Generator().manual_seed(0) if s.stochastic else None
    _check_case(case, lambda x: sgt.spike(x, s, key=key))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_python_function_path_matches_goldens(case: goldens.Case) -> None:
    """The pure-Python autograd.Function (used under transforms, and where the C++ node
    is unavailable)."""
    s = spikegrad.get(case.name, **case.params)
    fn = sgt.function()
    gen = torch.Generator().manual_seed(0)
    _check_case(case, lambda x: fn.apply(x, s, gen, *[None] * 8))


def test_native_node_is_used_in_eager_mode() -> None:
    if not NATIVE:
        pytest.skip(f"C++ node unavailable: {_torch_native.status()}")
    x = torch.linspace(-1, 1, 5, requires_grad=True)
    assert type(sgt.atan(x).grad_fn).__name__ == "CppFunction"
    assert "Spike" in type(sgt.function().apply(
        x, spikegrad.get("atan"), None, *[None] * 8).grad_fn).__name__
    gen = torch.Generator()
    assert "Spike" in type(sgt.poisson_pass(x.detach().clamp(0, 1).requires_grad_(),
                                            key=gen).grad_fn).__name__


def test_native_node_follows_autograd_rules() -> None:
    """The C++ node's saved input behaves as torch's own nodes: freed after a backward
    without retain_graph, and checked against in-place changes."""
    if not NATIVE:
        pytest.skip(f"C++ node unavailable: {_torch_native.status()}")
    x = torch.linspace(-1, 1, 7, requires_grad=True)
    y = sgt.atan(x)
    assert y.grad_fn.name() == "SpikegradSpikeBackward"
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()
    z = x.detach().clone().requires_grad_(True)
    w = z * 1.0
    y = sgt.atan(w)
    w.mul_(2.0)
    with pytest.raises(RuntimeError, match="inplace"):
        y.sum().backward()
    with torch.no_grad():
        assert sgt.atan(x).grad_fn is None
    assert sgt.atan(x.detach()).grad_fn is None
    # a zero gradient through the node adds nothing to the input's other paths
    a = sgt.atan(x)
    (gx,) = torch.autograd.grad((a * 0).sum() + x.sum(), x)
    assert torch.equal(gx, torch.ones_like(x))


def _atan_prime(x: np.ndarray, alpha: float = 2.0) -> np.ndarray:
    """Test oracle: atan's g'(x) = (α/2) / (1 + (π α x / 2)^2) in float64."""
    return (alpha / 2) / (1 + (np.pi / 2 * alpha * x) ** 2)


@pytest.mark.parametrize("native", [True, False], ids=["native", "function"])
def test_large_outputs_with_and_without_huge_page_advice(native: bool) -> None:
    """Outputs big enough for huge-page advice (32 MiB) hold the same values whether the
    advice is given or not, on the C++ node and on the Python Function."""
    from spikegrad.adapters import _pages

    n = 2**23 + 3  # an odd length: the advised range is an inner part of the buffer
    x0 = torch.linspace(-3, 3, n, dtype=torch.float32)
    g = torch.rand(n, generator=torch.Generator().manual_seed(1))
    results = []
    for advise in (True, False):
        _pages.set_enabled(advise)
        try:
            x = x0.clone().requires_grad_(True)
            y = sgt.atan(x) if native else sgt.function().apply(
                x, spikegrad.get("atan"), None, *[None] * 8)
            (gx,) = torch.autograd.grad(y, x, g)
        finally:
            _pages.set_enabled(True)
        results.append((y.detach(), gx))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])
    assert torch.equal(results[0][0], (x0 >= 0).float())
    want = g.double().numpy() * _atan_prime(x0.double().numpy())
    np.testing.assert_allclose(results[0][1].numpy(), want, rtol=1e-5, atol=0)


def test_huge_page_advice_covers_only_whole_pages_inside_the_buffer(monkeypatch) -> None:
    from spikegrad.adapters import _pages

    calls: list[tuple[int, int, int]] = []
    monkeypatch.setitem(_pages._state, "enabled", True)
    monkeypatch.setitem(_pages._state, "madvise", lambda a, n, f: calls.append((a, n, f)))
    huge = _pages.HUGE_PAGE
    _pages.advise(3 * huge + 64, _pages.MIN_BYTES - 1)  # too small: nothing
    assert calls == []
    big = _pages.MIN_BYTES  # a whole number of huge pages
    _pages.advise(3 * huge + 64, big)  # unaligned start: the partial first and last pages
    assert calls == [(4 * huge, big - huge, 14)]
    calls.clear()
    _pages.advise(8 * huge, big + 100)  # aligned start, partial last page
    assert calls == [(8 * huge, big, 14)]


def test_a_process_that_exits_mid_build_blocks_no_later_one(tmp_path) -> None:
    """The node builds in a daemon thread; a short script may exit halfway.  What it
    leaves behind must not make the next process wait (torch's build lock in a shared
    directory did: every later import hung), and that process must build and load it;
    a damaged cached library is rebuilt."""
    if not NATIVE:
        pytest.skip(f"C++ node unavailable: {_torch_native.status()}")
    import os
    import subprocess
    import sys

    env = {**os.environ, "SPIKEGRAD_CACHE": str(tmp_path)}
    quit_early = ("import os, time, pathlib; from spikegrad.adapters import _torch_native as n; "
                  "n.module(); root = pathlib.Path(os.environ['SPIKEGRAD_CACHE'], 'native'); "
                  "end = time.time() + 120\n"
                  "while time.time() < end and not list(root.glob('build-*')): time.sleep(0.2)\n"
                  "time.sleep(1); os._exit(0)")
    subprocess.run([sys.executable, "-c", quit_early], env=env, timeout=120, check=True)
    assert list((tmp_path / "native").glob("build-*")), "the first process was not building"
    build = ("from spikegrad.adapters import _torch_native as n; "
             "print(n.ensure(400), n.status())")
    out = subprocess.run([sys.executable, "-c", build], env=env, timeout=450,
                         capture_output=True, text=True)
    assert out.stdout.split() == ["True", "ready"], out.stderr[-2000:]
    (lib,) = (tmp_path / "native").glob("spikegrad_native_*.so")
    lib.write_bytes(b"not a library")  # a damaged cache entry is rebuilt, not fatal
    out = subprocess.run([sys.executable, "-c", build], env=env, timeout=450,
                         capture_output=True, text=True)
    assert out.stdout.split() == ["True", "ready"], out.stderr[-2000:]
    assert lib.stat().st_size > 1000


COMPILED_CASES = [c for c in DEFAULT_CASES if c.name not in STOCHASTIC_FWD]


@pytest.mark.parametrize("case", COMPILED_CASES, ids=[c.id for c in COMPILED_CASES])
def test_compiled_matches_goldens(case: goldens.Case) -> None:
    """fullgraph=True (zero graph breaks); inductor code for float32, the traced graph
    (aot_eager) for float16/float64 to keep the suite short.  Stochastic forwards take a
    torch.Generator, which dynamo cannot trace, and are tested in eager mode."""
    module = sgt.Surrogate(case.name, **case.params)
    torch._dynamo.reset()
    backend = "inductor" if case.dtype == "float32" else "aot_eager"
    compiled = torch.compile(lambda x: module(x), fullgraph=True, dynamic=False,
                             backend=backend)
    _check_case(case, compiled)


@pytest.mark.parametrize("name", CANONICAL)
def test_torch_func_transforms(name: str) -> None:
    s = spikegrad.get(name)
    if s.stochastic:
        pytest.skip(f"{name} is stochastic: its draws are tested in eager mode")
    m = sgt.Surrogate(name)
    x = torch.linspace(-2.5, 2.5, 12, dtype=torch.float64)
    expected = torch.from_numpy(reference.derivative_values(s, x.numpy()))
    g = torch.func.grad(lambda v: m(v).sum())(x)
    torch.testing.assert_close(g, expected, rtol=1e-14, atol=1e-300)
    vg = torch.func.vmap(torch.func.grad(lambda v: m(v).sum()))(x.reshape(3, 4))
    torch.testing.assert_close(vg.reshape(-1), expected, rtol=1e-14, atol=1e-300)
    gv = torch.func.grad(lambda v: torch.func.vmap(m)(v).sum())(x.reshape(3, 4))
    torch.testing.assert_close(gv.reshape(-1), expected, rtol=1e-14, atol=1e-300)
    out, tangent = torch.func.jvp(m, (x,), (torch.full_like(x, 2.0),))
    torch.testing.assert_close(tangent, 2.0 * expected, rtol=1e-14, atol=1e-300)
    torch.testing.assert_close(out, torch.from_numpy(s.spike(x.numpy())))
    jac = torch.func.jacrev(m)(x)
    torch.testing.assert_close(jac, torch.diag(expected), rtol=1e-14, atol=1e-300)
    jf = torch.func.jacfwd(m)(x)
    torch.testing.assert_close(jf, torch.diag(expected), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", CANONICAL)
def test_double_backward_is_the_derivative_of_g_prime(name: str) -> None:
    s = spikegrad.get(name)
    if s.entry.formula.stochastic_backward:
        pytest.skip("stochastic backward: its second derivative is the noise's, not tested")
    scale = float(s.entry.x_scale(s.params))
    x = torch.linspace(-3 / scale, 3 / scale, 61, dtype=torch.float64)
    avoid = [0.0, *s.entry.boundaries(s.params)]
    keep = torch.ones_like(x, dtype=torch.bool)
    for b in avoid:
        keep &= (x - b).abs() > 2e-2 / scale
    x = x[keep].clone().requires_grad_(True)
    y = sgt.spike(x, s, key=torch.Generator().manual_seed(0))
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    h = 1e-5 / scale
    xn = x.detach().numpy()
    fd = (reference.derivative_values(s, xn + h) - reference.derivative_values(s, xn - h)) / (2 * h)
    np.testing.assert_allclose(gg.numpy(), fd, rtol=1e-5, atol=1e-6 * s.peak * scale)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64],
                         ids=str)
@pytest.mark.parametrize("name", CANONICAL)
def test_dtypes_and_layouts(name: str, dtype: torch.dtype) -> None:
    s = spikegrad.get(name)
    gen = torch.Generator().manual_seed(0)
    base = torch.linspace(-2, 2, 48, dtype=dtype).reshape(6, 8)
    view = base.t()[::2]  # non-contiguous
    assert not view.is_contiguous()
    x = view.detach().requires_grad_(True)
    y = sgt.spike(x, s, key=gen)
    assert y.dtype == dtype and y.shape == view.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.dtype == dtype
    if not s.stochastic:
        expected = s.derivative(view.detach().contiguous().float().numpy()
                                if dtype == torch.bfloat16
                                else view.detach().contiguous().numpy())
        got = x.grad.float().numpy() if dtype == torch.bfloat16 else x.grad.numpy()
        tol = {torch.float16: 1e-3, torch.bfloat16: 8e-3}.get(dtype, 1e-6)
        np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), rtol=tol,
                                   atol=tol * s.peak)
    x0 = torch.tensor(0.25, dtype=dtype, requires_grad=True)
    y0 = sgt.spike(x0, s, key=gen)
    assert y0.shape == () and y0.dtype == dtype
    y0.backward()
    assert x0.grad.shape == ()


def test_autocast_keeps_the_input_dtype() -> None:
    lin = torch.nn.Linear(4, 4)
    m = sgt.Surrogate("atan")
    x = torch.randn(3, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = lin(x)
        assert h.dtype == torch.bfloat16
        y = m(h)
        assert y.dtype == torch.bfloat16
        y32 = m(x)
        assert y32.dtype == torch.float32
    y.float().sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.dtype == torch.float32


@pytest.mark.parametrize("name", CANONICAL)
def test_saved_for_backward_is_the_input_only(name: str) -> None:
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    x = torch.linspace(-1, 1, 1024, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        sgt.spike(x, name, key=torch.Generator().manual_seed(0))
    assert sum(t.numel() * t.element_size() for t in saved) <= x.numel() * x.element_size()
    assert all(t.data_ptr() == x.data_ptr() for t in saved)  # aliases the input: 0 new bytes


def test_spiking_false_returns_the_primitive() -> None:
    m = sgt.Surrogate("spikingjelly:ATan", spiking=False)
    x = torch.linspace(-1, 1, 5, dtype=torch.float64, requires_grad=True)
    y = m(x)
    s = spikegrad.get("spikingjelly:ATan")
    np.testing.assert_allclose(y.detach().numpy(), s.primitive(x.detach().numpy()), rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), s.derivative(x.detach().numpy()), rtol=1e-14)
    with pytest.raises(ValueError, match="has no primitive"):
        sgt.Surrogate("fake_numerical_gradient", spiking=False)


def test_alias_forward_convention() -> None:
    x = torch.tensor([-1.0, 0.0, 1.0])
    assert sgt.Surrogate("snntorch:fast_sigmoid", slope=25)(x).tolist() == [0, 0, 1]
    assert sgt.Surrogate("spikingjelly:Sigmoid")(x).tolist() == [0, 1, 1]
    assert sgt.atan(x).tolist() == [0, 1, 1]


def test_per_name_functions_exist_for_every_surrogate() -> None:
    for name in CANONICAL:
        assert callable(getattr(sgt, name))
    x = torch.tensor([0.0], requires_grad=True)
    sgt.atan(x, alpha=3.0).backward()
    assert x.grad.item() == 1.5


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.complex64])
def test_non_float_tensors_raise(dtype: torch.dtype) -> None:
    with pytest.raises(TypeError, match="real floating tensor"):
        sgt.atan(torch.zeros(3, dtype=dtype))


def test_numpy_input_raises() -> None:
    with pytest.raises(TypeError, match=r"takes torch tensors, got numpy\.ndarray"):
        sgt.atan(np.zeros(3))


def test_invalid_parameters_raise() -> None:
    with pytest.raises(ValueError, match=r"atan: alpha must be in \[1e-06, 1e\+06\] .*, got -1"):
        sgt.atan(torch.zeros(2), alpha=-1.0)
    with pytest.raises(ValueError, match=r"alpha must be in \[1e-06, 1e\+06\]"):
        sgt.Surrogate("atan", alpha=0.0)
    with pytest.raises(TypeError, match="unexpected parameter 'slope'"):
        sgt.spike(torch.zeros(2), "atan", slope=1.0)
    with pytest.raises(TypeError, match=r"either to spikegrad\.get or here"):
        sgt.spike(torch.zeros(2), spikegrad.get("atan"), alpha=1.0)


def test_stochastic_needs_a_generator() -> None:
    with pytest.raises(TypeError, match="stochastic: pass key="):
        sgt.poisson_pass(torch.zeros(3))
    gen = torch.Generator().manual_seed(1)
    y = sgt.poisson_pass(torch.full((50_000,), 0.25), key=gen)
    assert abs(y.mean().item() - 0.25) < 0.01


def test_functional_call_compiles_after_first_eager_call() -> None:
    x = torch.linspace(-1, 1, 9, requires_grad=True)
    eager = sgt.sigmoid(x, alpha=5.0)
    torch._dynamo.reset()
    compiled = torch.compile(lambda v: sgt.sigmoid(v, alpha=5.0), fullgraph=True)
    y = compiled(x)
    torch.testing.assert_close(y, eager)
    (g,) = torch.autograd.grad(y.sum(), x)
    expected = spikegrad.get("sigmoid", alpha=5.0).derivative(x.detach().numpy())
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_device_is_preserved() -> None:  # pragma: no cover - needs a GPU
    x = torch.linspace(-1, 1, 1000, device="cuda", requires_grad=True)
    y = sgt.atan(x)
    assert y.device == x.device
    y.sum().backward()
    expected = spikegrad.get("atan").derivative(x.detach().cpu().numpy())
    np.testing.assert_allclose(x.grad.cpu().numpy(), expected, rtol=1e-6)
