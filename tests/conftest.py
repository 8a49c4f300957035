"""Shared fixtures: parametrisation helpers over the registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spikegrad

CANONICAL = spikegrad.names()
ALIASES = spikegrad.aliases()
ROOT = Path(__file__).resolve().parent.parent
DETERMINISTIC = [n for n in CANONICAL if not spikegrad.entry(n).formula.stochastic_backward]


#: Canonical surrogates with a primitive, a spike forward and at least one real parameter.
LEARNABLE = [n for n in CANONICAL if spikegrad.entry(n).formula.primitive is not None
             and spikegrad.entry(n).forward in ("ge", "gt")
             and any(not p.static for p in spikegrad.entry(n).params)]


def theta_derivative(bound: spikegrad.Bound, param: spikegrad.Param, fn) -> np.ndarray | None:
    """``d fn(bound with param = θ) / dθ`` at the bound's value, by Richardson-extrapolated
    central differences in float64; ``None`` at the edge of the domain or where not finite
    (the independent oracle of the parameter-gradient tests)."""
    theta = float(bound.params[param.name])
    h = 1e-3 * max(abs(theta), 1e-3)
    if not all(param.domain.check(theta + k * h) for k in (-2, 2)):
        return None

    def at(t: float) -> np.ndarray:
        return np.asarray(fn(bound.replace(**{param.name: t})), dtype=np.float64)

    fd = (8 * (at(theta + h) - at(theta - h)) - (at(theta + 2 * h) - at(theta - 2 * h))) / (
        12 * h)
    return fd if np.all(np.isfinite(fd)) else None


@pytest.fixture
def x64():
    """jax with 64-bit types for the test, the previous setting restored after it."""
    jax = pytest.importorskip("jax")
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


try:  # the fuzzer's profiles (hypothesis is a test extra)
    from hypothesis import HealthCheck, Phase, settings

    _SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
    settings.register_profile("ci", max_examples=3, derandomize=True, deadline=None,
                              suppress_health_check=_SLOW, print_blob=True)
    settings.register_profile("thorough", max_examples=20, deadline=None,
                              suppress_health_check=_SLOW, print_blob=True)
    # diagnosis: the ci examples, every failure reported unshrunk
    settings.register_profile("ci-quick", parent=settings.get_profile("ci"),
                              phases=[Phase.explicit, Phase.reuse, Phase.generate])
    settings.load_profile("ci")
except ImportError:
    pass


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """How many fuzzed cases (input × dtype × path) ran."""

    fuzz = sys.modules.get("tests.test_fuzz")
    n = getattr(fuzz, "COUNTER", {}).get("cases", 0) if fuzz is not None else 0
    if n:
        terminalreporter.write_line(f"fuzzer: {n} cases checked")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation site, built once per session with warnings as errors."""
    for module in ("sphinx", "pydata_sphinx_theme", "myst_parser", "numpydoc", "mathjax",
                   "matplotlib"):
        pytest.importorskip(module, reason="the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("html")
    res = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                          "html", str(ROOT / "docs"), str(out)], capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    return out
