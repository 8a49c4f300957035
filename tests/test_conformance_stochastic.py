"""The stochastic backward in the conformance suite: statistics, determinism, dtype and
shape, for every installed adapter; deliberately wrong adapters are caught."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad
from spikegrad.conformance import harness as harnesses
from spikegrad.conformance import stochastic
from spikegrad.conformance.checks import run


def _load(name: str) -> harnesses.Harness:
    try:
        return harnesses.load_harness(name)
    except ImportError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("name", ["numpy", "torch", "jax"])
def test_stochastic_checks_pass(name: str) -> None:
    results = list(stochastic.run(_load(name)))
    assert {(r.dtype, r.check) for r in results} == {
        (d, c) for d in ("float16", "float32", "float64") for c in ("forward", "backward")}
    assert len(results) == 2 * 3 * (1 + len(stochastic.PARAM_SETS["stochastic_spike_operator"]))
    failed = [f"{r.dtype} {r.params} {r.check}: {r.detail}" for r in results
              if r.status != "pass"]
    assert not failed, failed
    assert all("draws: mean" in r.detail for r in results if r.check == "backward")


class _Wrong(harnesses.NumpyHarness):
    """The reference engine with one deliberate defect in its stochastic backward."""

    def __init__(self, defect: str) -> None:
        self.defect = defect

    def vjp(self, s, x, g):
        from spikegrad.adapters import reference as engine

        key = np.random.default_rng() if self.defect == "fresh_key" else \
            np.random.default_rng(0)
        d = engine.backward(s, x, g, key=key)
        below = x <= 0
        if self.defect == "variance":  # noise 3 % too wide
            d = np.where(below, d * 1.03, d)
        elif self.defect == "mean":  # noise shifted by 5 % of its range
            d = np.where(below, d + 0.05 * float(s.params["variance"]), d)
        elif self.defect == "dtype":
            d = d.astype(np.float32)
        return d


@pytest.mark.parametrize("defect", ["variance", "mean", "fresh_key", "dtype"])
def test_a_wrong_stochastic_backward_is_caught(defect: str) -> None:
    results = list(stochastic.run(_Wrong(defect), dtype="float64"))
    failed = [r for r in results if r.status == "fail"]
    assert failed and all(r.check == "backward" for r in failed)


def test_conformance_covers_every_canonical_surrogate() -> None:
    """The conformance results name every canonical surrogate, stochastic included."""
    covered = {r.surrogate for r in run(_load("numpy"), dtype="float64")}
    missing = set(spikegrad.names(user=False)) - covered
    assert not missing, missing
