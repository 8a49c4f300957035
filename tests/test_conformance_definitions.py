"""A definition with no goldens (a user's own) is certified by what can be checked, and a
deliberately wrong one is caught and named."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import spikegrad
from spikegrad.cli import main as cli
from spikegrad.conformance import harness as harnesses
from spikegrad.conformance.definitions import run_definition

from .user_definitions import INCONSISTENT, SECH2


def _fails(adapter, bound) -> list:
    return [r for r in run_definition(adapter, bound) if r.status == "fail"]


def test_a_user_definition_passes_on_numpy() -> None:
    results = list(run_definition(harnesses.load_harness("numpy"), SECH2.bind(a=2.0)))
    assert {r.check for r in results} == {"self_consistency", "limits", "forward", "backward"}
    assert not [r for r in results if r.status == "fail"]


def test_an_inconsistent_primitive_is_caught_and_named() -> None:
    fails = _fails(harnesses.load_harness("numpy"), INCONSISTENT.bind())
    assert [r.check for r in fails] == ["self_consistency"]
    assert "is not dg/dx" in fails[0].detail and "testdefs:inconsistent" in fails[0].repro


def test_cli_certifies_a_definition_by_import_path(capsys) -> None:
    assert cli(["conformance", "numpy", "--surrogate", "tests.user_definitions:SECH2"]) == 0
    assert "testdefs:sech2" in capsys.readouterr().out
    assert cli(["conformance", "numpy", "--surrogate",
                "tests.user_definitions:INCONSISTENT"]) == 1


def test_registered_definitions_join_a_full_run() -> None:
    spikegrad.register(SECH2)
    try:
        assert cli(["conformance", "numpy", "--only", "testdefs:sech2"]) == 0
    finally:
        spikegrad.unregister("testdefs:sech2")


torch = pytest.importorskip("torch")


class OffTorch(harnesses.TorchHarness):
    """Wrong on purpose: the torch path's gradient times 1.001."""

    name = "torch-off"

    def vjp(self, s, x, g):
        return super().vjp(s, x, g) * 1.001


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_a_user_definition_passes_on_jax(dtype: str) -> None:
    """jax flushes subnormals: the flushed points are compared as zeros, and the gradient's
    own dtype is what the dtype check reads (not the float64 of the comparison)."""
    pytest.importorskip("jax")
    a = harnesses.load_harness("jax")
    results = list(run_definition(a, SECH2.bind(a=0.8), (dtype,)))
    assert {r.check for r in results} >= {"forward", "backward"}
    assert not [r for r in results if r.status == "fail"], results


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_user_definition_passes_on_torch(dtype: str) -> None:
    a = harnesses.load_harness("torch")
    results = list(run_definition(a, SECH2.bind(a=0.8), (dtype,)))
    assert not [r for r in results if r.status == "fail"], results


def test_a_torch_path_off_by_a_thousandth_is_caught() -> None:
    a = OffTorch()
    a.load()
    fails = _fails(a, SECH2.bind())
    assert {r.check for r in fails} == {"backward"} and "ULP" in fails[0].detail


def test_the_definition_gets_torch_jax_and_kernel_bindings() -> None:
    import spikegrad.torch as sgt
    from spikegrad.codegen import cpu

    s = SECH2.bind(a=2.0)
    x = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    sgt.spike(x, s).sum().backward()
    want = 2.0 / 2 / np.cosh(2.0 * x.detach().numpy()) ** 2
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-13)
    out = np.empty(9)
    xn = x.detach().numpy().copy()
    cpu.kernels(s, "float64").derivative(xn.ctypes.data, out.ctypes.data, 9)
    np.testing.assert_allclose(out, want, rtol=1e-13)
    jax = pytest.importorskip("jax")
    import spikegrad.jax as sgj

    gj = jax.grad(lambda v: sgj.spike(v, s).sum())(jax.numpy.asarray(xn, dtype="float32"))
    np.testing.assert_allclose(np.asarray(gj), want, rtol=1e-5)


def test_an_untraceable_definition_falls_back_with_one_warning() -> None:
    import spikegrad.torch as sgt

    def dg(x, /, *, xp, a):  # xp.sign is not modelled by the kernel tracer
        return a * xp.exp(-xp.abs(x)) * (1.0 + 0.0 * xp.sign(x))

    s = spikegrad.define("testdefs:untraceable", dg, params={"a": 1.0}).bind()
    x = torch.linspace(-1, 1, 5, requires_grad=True)
    with pytest.warns(RuntimeWarning, match="no fused CPU kernel for testdefs:untraceable"):
        sgt.spike(x, s).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(-np.abs(x.detach().numpy())), rtol=1e-6)
    import warnings

    x.grad = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once: no second warning
        sgt.spike(x, s).sum().backward()


def _deep_derivative(x, /, *, xp, a):
    """A 600-term sum: an expression too deep to trace into a C kernel."""
    total = xp.zeros_like(x)
    for i in range(1, 601):
        total = total + xp.cos((a * i) * x)
    return total / 600.0


def _plain_derivative(x, /, *, xp, a):
    return a / (1 + (a * x) ** 2)


def test_a_kernel_the_compiler_rejects_affects_only_its_surrogate(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Finding: any failed compile of a kernel source (``gcc`` exiting non-zero) raised
    ``CompilerUnavailable`` and turned every fused kernel off for the rest of the process,
    silently for later calls; one transient failure would do it.  The compiler is now
    judged by a probe: a source it rejects falls back alone, with its warning."""
    import spikegrad.torch as sgt
    from spikegrad.adapters import torch as adapter
    from spikegrad.codegen import cpu

    d = spikegrad.define("testdefs:rejected_source", _plain_derivative,
                         params=[spikegrad.Param("a", 2.0, spikegrad.Domain.positive(),
                                                 "Sharpness.")])
    real = cpu.flags
    monkeypatch.setenv("SPIKEGRAD_CACHE", str(tmp_path))  # built now, not found cached
    monkeypatch.setattr(cpu, "flags", lambda src: [*real(src), "-fno-such-option-sg"]
                        if "testdefs:rejected_source" in src else real(src))
    x = torch.linspace(-1, 1, 7, requires_grad=True)
    with pytest.warns(RuntimeWarning, match="testdefs:rejected_source"):
        sgt.spike(x, spikegrad.get(d)).sum().backward()
    ref = spikegrad.get(d).derivative(x.detach().numpy().astype(np.float64))
    np.testing.assert_allclose(x.grad.numpy(), ref, rtol=1e-5, atol=1e-6)
    assert not adapter._fused_state["no_compiler"]
    assert adapter._kernel(spikegrad.get("sigmoid", alpha=4.25), torch.float32) is not None


def test_a_kernel_that_cannot_be_built_affects_only_its_surrogate() -> None:
    """Finding: squarewave(n_terms=500) raised RecursionError and turned the fast path off
    for the whole process (the square wave now sums at most 100 harmonics: a user
    definition as deep stands in for it)."""
    import spikegrad.torch as sgt
    from spikegrad.adapters import torch as adapter

    deep = spikegrad.define("testdefs:deep_sum", _deep_derivative,
                            params=[spikegrad.Param("a", 0.01, spikegrad.Domain.positive(),
                                                    "Frequency step.")])
    x = torch.linspace(-1, 1, 7, requires_grad=True)
    with pytest.warns(RuntimeWarning, match="testdefs:deep_sum"):
        sgt.spike(x, spikegrad.get(deep)).sum().backward()
    ref = spikegrad.get(deep).derivative(x.detach().numpy().astype(np.float64))
    np.testing.assert_allclose(x.grad.numpy(), ref, rtol=1e-4, atol=1e-4)
    from spikegrad.adapters.torch_tensors import fast_path_enabled

    assert fast_path_enabled() and not adapter._fused_state["no_compiler"]
    y = torch.linspace(-1, 1, 7, requires_grad=True)
    sgt.atan(y).sum().backward()
    assert adapter._kernel(spikegrad.get("atan"), torch.float32) is not None
