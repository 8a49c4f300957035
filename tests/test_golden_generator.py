"""The shipped golden vectors are what the generator produces from the oracles today."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from spikegrad.conformance import goldens

pytest.importorskip("mpmath")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
import generate_goldens as gen
from oracles import ORACLES


@pytest.mark.parametrize("name", ["sigmoid", "erf", "squarewave_fourier_series",
                                  "piecewise_leaky_relu", "multi_level_spike_count"])
def test_shipped_goldens_are_reproducible(name: str) -> None:
    import spikegrad

    d_fn, g_fn = ORACLES[name]
    for case in goldens.cases(name):
        x = gen.grid(spikegrad.entry(name), case.params, getattr(np, case.dtype))
        np.testing.assert_array_equal(x.astype(np.float64), case.x)
        hi, lo = gen.evaluate(d_fn, name, x, case.params)
        np.testing.assert_array_equal(hi, case.d_hi)
        if case.dtype == "float64":
            np.testing.assert_array_equal(lo, case.d_lo)
        if g_fn is not None:
            np.testing.assert_array_equal(gen.evaluate(g_fn, name, x, case.params)[0],
                                          case.g_hi)
