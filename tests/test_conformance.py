"""The conformance suite as a product: CLI, adapters by name / entry point / path, wrong
adapters caught and named, JSON, known failures, the pytest plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

import spikegrad
from spikegrad.cli import main as cli
from spikegrad.conformance import harness as harnesses
from spikegrad.conformance.checks import apply_xfails, load_xfails, run


def _failures(adapter: harnesses.Harness, **kw) -> list:
    return [r for r in run(adapter, **kw) if r.status == "fail"]


def test_numpy_reference_passes_everything() -> None:
    a = harnesses.load_harness("numpy")
    results = list(run(a))
    assert results and not [r for r in results if r.status == "fail"]
    assert {r.check for r in results} >= {"forward", "backward"}
    assert {r.status for r in results if r.check == "jit"} == {"not claimed"}


class PerturbedBackward(harnesses.NumpyHarness):
    """Wrong on purpose: atan's backward off by 1e-4 relative."""

    name = "perturbed"

    def vjp(self, s, x, g):
        out = super().vjp(s, x, g)
        return out * (1 + 1e-4) if s.canonical == "atan" else out


class Float32For64(harnesses.NumpyHarness):
    """Wrong on purpose: float64 in, float32 out."""

    name = "narrowing"

    def forward(self, s, x):
        out = super().forward(s, x)
        return out.astype(np.float32) if out.dtype == np.float64 else out

    def vjp(self, s, x, g):
        out = super().vjp(s, x, g)
        return out.astype(np.float32) if out.dtype == np.float64 else out


class StrictGreater(harnesses.NumpyHarness):
    """Wrong on purpose: spikes at x > 0 instead of x >= 0."""

    name = "strict-greater"

    def forward(self, s, x):
        return (x > 0).astype(x.dtype)


def test_perturbed_backward_is_caught_and_named() -> None:
    fails = _failures(PerturbedBackward(), dtype="float64")
    assert fails and {r.surrogate for r in fails} == {"atan"}
    assert {r.check for r in fails} == {"backward"}
    assert "ULP" in fails[0].detail and "x=" in fails[0].detail
    assert "spikegrad conformance perturbed --only atan --dtype float64" in fails[0].repro


def test_narrowed_dtype_is_caught() -> None:
    fails = _failures(Float32For64(), only="sigmoid")
    assert fails and all(r.dtype == "float64" for r in fails)
    assert any("dtype float32 for float64" in r.detail for r in fails)


def test_strict_greater_forward_is_caught_at_zero() -> None:
    fails = _failures(StrictGreater(), only="erf", dtype="float32")
    assert fails and fails[0].check == "forward"
    assert "x=np.float64(0.0)" in fails[0].detail or "x=0.0" in fails[0].detail
    assert "expected np.float32(1.0), got np.float32(0.0)" in fails[0].detail \
        or "expected 1.0, got 0.0" in fails[0].detail


def test_cli_exit_codes_and_json(tmp_path, capsys) -> None:
    out = tmp_path / "report.json"
    assert cli(["conformance", "numpy", "--only", "atan", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data and {d["surrogate"] for d in data} == {"atan"}
    assert "conformance of adapter 'numpy'" in capsys.readouterr().out
    assert cli(["conformance", "no_such_adapter"]) == 2
    assert "cannot load adapter" in capsys.readouterr().err
    assert cli(["conformance", "no.such.module:Harness"]) == 2
    assert cli(["conformance", f"{__name__}:PerturbedBackward", "--only", "atan"]) == 1


def test_known_failures_and_stale_entries(tmp_path) -> None:
    results = list(run(PerturbedBackward(), only="atan", dtype="float64"))
    xf = tmp_path / "xfails.txt"
    xf.write_text("# known\natan float64 backward\nsigmoid float32 backward  # stale\n")
    entries = load_xfails(xf)
    with pytest.warns(UserWarning, match="stale known-failure entry"):
        stale = apply_xfails(results, entries)
    assert stale == ["sigmoid float32 backward"]
    assert [r.status for r in results if r.check == "backward"] == ["xfail"] * 3


def test_dotted_path_adapter_loads() -> None:
    a = harnesses.load_harness(f"{__name__}:PerturbedBackward")
    assert a.name == "perturbed"


def test_out_of_tree_adapter_through_the_entry_point() -> None:
    eps = [ep.name for ep in metadata.entry_points(group="spikegrad.adapters")]
    if "strict" not in eps:
        pytest.skip("example adapter not installed (pip install -e "
                    "adapters/spikegrad-array-api-strict)")
    a = harnesses.load_harness("strict")
    results = list(run(a))
    assert results and not [r for r in results if r.status == "fail"]
    assert {r.dtype for r in results} == {"float32", "float64"}


def test_pytest_plugin_makes_one_test_per_case() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "spikegrad.conformance.plugin", "--pyargs",
         "spikegrad.conformance", "--adapter", "numpy", "--only", "rect", "-q",
         "--collect-only"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "numpy-rect[alpha=1.0]-float32-backward" in out.stdout


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_framework_adapter_passes_when_installed(name: str) -> None:
    try:
        a = harnesses.load_harness(name)
    except ImportError as exc:
        pytest.skip(f"the {name} adapter is not installed here ({exc})")
    results = list(run(a, only="sigmoid"))
    assert {r.check for r in results} >= {"forward", "backward"}
    assert {r.status for r in results if r.check == "backward"} == {"pass"}
    fails = [r for r in results if r.status == "fail"]
    assert not fails, fails[0]


def test_all_builtin_names_listed() -> None:
    assert {"numpy", "torch", "jax", "cupy"} <= set(harnesses.available_adapters())


def test_wrong_adapters_leave_the_registry_and_the_reference_alone() -> None:
    """Running the wrong-on-purpose adapters above changes nothing shared: the registry's
    names and the reference engine's values, and the numpy adapter still passes."""
    grid = np.linspace(-2.0, 2.0, 41)
    before = (spikegrad.names(), spikegrad.aliases(),
              np.asarray(spikegrad.get("atan").derivative(grid)))
    for wrong in (PerturbedBackward(), Float32For64(), StrictGreater()):
        assert _failures(wrong, only="atan"), wrong.name
    after = (spikegrad.names(), spikegrad.aliases(),
             np.asarray(spikegrad.get("atan").derivative(grid)))
    assert after[:2] == before[:2]
    np.testing.assert_array_equal(after[2], before[2])
    assert not _failures(harnesses.load_harness("numpy"), only="atan")


def test_the_jax_harness_leaves_the_process_x64_setting_alone() -> None:
    """Finding: loading the jax harness switched ``jax_enable_x64`` on for the whole
    process (a notebook that certified an adapter then ran its own model in float64).
    Each harness call now turns 64-bit types on in its own scope: the float64 cases are
    still checked in float64 (the gradient's dtype is part of the check), and the flag is
    off before and after."""
    pytest.importorskip("jax", reason="needs JAX (pip install jax)")
    code = (
        "import jax\n"
        "from spikegrad.conformance import harness\n"
        "from spikegrad.conformance.checks import run\n"
        "a = harness.load_harness('jax')\n"
        "rs = [r for r in run(a, only='atan', param_set=0)]\n"
        "f64 = [r for r in rs if r.dtype == 'float64' and r.check == 'backward']\n"
        "assert f64 and all(r.status == 'pass' for r in f64), f64\n"
        "assert all(r.status in ('pass', 'not claimed', 'n/a') for r in rs), "
        "[r for r in rs if r.status == 'fail']\n"
        "print(len(rs), jax.config.jax_enable_x64)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    count, flag = out.stdout.split()
    assert int(count) > 8 and flag == "False"
