"""Parameter domains mean what they say: values a domain accepts are computed, values it
cannot hold are refused with spikegrad's own message (findings of the parameter fuzzer)."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad


@pytest.mark.parametrize(("name", "param"), [("squarewave_fourier_series", "n_terms"),
                                             ("spikingjelly:SquarewaveFourierSeries", "n"),
                                             ("braintools:SquarewaveFourierSeries", "n")])
def test_harmonic_counts_are_bounded(name: str, param: str) -> None:
    """Finding: ``n_terms = 2**70`` was accepted (every term is evaluated: it never
    finishes); ``inf``/``nan`` raised bare conversion errors."""
    for bad in (2**70, float("inf"), float("nan"), 0):
        with pytest.raises(ValueError, match=f"{param} must be integer in"):
            spikegrad.get(name, **{param: bad})
    top = spikegrad.entry(name).params[0].domain.high
    b = spikegrad.get(name, **{param: int(top)})
    assert np.isfinite(b.derivative(np.linspace(-3, 3, 7))).all()


def test_longdouble_input_is_computed_or_refused_clearly() -> None:
    """Finding: a ``longdouble`` input gave ``KeyError: 128``."""
    x = np.linspace(-1, 1, 5).astype(np.longdouble)
    b = spikegrad.get("atan")
    try:
        d = b.derivative(x)
    except TypeError as exc:
        assert "longdouble" in str(exc) or "float128" in str(exc)
    else:
        np.testing.assert_allclose(np.asarray(d, np.float64),
                                   b.derivative(x.astype(np.float64)), rtol=1e-15)
