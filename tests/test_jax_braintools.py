"""spikegrad.jax against the installed braintools for every braintools alias: 0.3.0 (the
newest release for Python 3.11) and 0.4.0 (Python >= 3.12, CI's third leg) compute the same
surrogate gradients.

Expected differences (catalogue): braintools returns a branch value instead of NaN for NaN
input in its mask-based surrogates; spikegrad returns NaN.  NaN inputs are therefore
compared separately.  For the periodic square wave at |x| = 1e30, braintools
reduces omega*x in floating point (an arbitrary phase) while spikegrad reduces x mod T
exactly; those points are compared to the exact value instead.  Importing braintools
switches jax's x64 off process-wide; the fixture switches it back on.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="needs JAX")
import jax.numpy as jnp  # noqa: E402

import spikegrad  # noqa: E402
import spikegrad.jax as sgj  # noqa: E402

BT_ALIASES = [a for a in spikegrad.aliases() if a.startswith("braintools:")]
#: braintools' own parameter sets to test besides the defaults
EXTRA = {
    "Sigmoid": {"alpha": 25.0}, "Arctan": {"alpha": 3.7}, "PiecewiseQuadratic": {"alpha": 2.0},
    "PiecewiseExp": {"alpha": 2.0}, "SoftSign": {"alpha": 3.0}, "ERF": {"alpha": 2.0},
    "NonzeroSignLog": {"alpha": 2.0}, "PiecewiseLeakyRelu": {"c": 0.1, "w": 0.5},
    "SquarewaveFourierSeries": {"n": 4, "t_period": 8.0}, "S2NN": {"alpha": 2.0, "beta": 0.5},
    "QPseudoSpike": {"alpha": 3.0}, "LeakyRelu": {"alpha": 0.2, "beta": 2.0},
    "LogTailedRelu": {"alpha": 0.1}, "ReluGrad": {"alpha": 0.5, "width": 2.0},
    "GaussianGrad": {"sigma": 2.0, "alpha": 1.0},
    "MultiGaussianGrad": {"h": 0.3, "s": 3.0, "sigma": 0.7, "scale": 1.0},
    "InvSquareGrad": {"alpha": 25.0}, "SlayerGrad": {"alpha": 2.0},
}


@pytest.fixture(scope="module")
def bt():
    surrogate = pytest.importorskip("braintools.surrogate",
                                    reason="braintools is an optional test dependency")
    jax.config.update("jax_enable_x64", True)  # braintools switched it off on import
    return surrogate


def test_importing_braintools_switches_x64_off_and_back() -> None:
    pytest.importorskip("braintools")
    jax.config.update("jax_enable_x64", True)
    assert jax.config.jax_enable_x64


@pytest.mark.parametrize("alias", BT_ALIASES)
@pytest.mark.parametrize("which", ["defaults", "other"])
def test_matches_braintools(bt, alias: str, which: str) -> None:
    name = alias.split(":", 1)[1]
    params = {} if which == "defaults" else EXTRA[name]
    theirs = getattr(bt, name)(**params)
    ours = sgj.Surrogate(alias, **params)
    x = jnp.concatenate([jnp.linspace(-3, 3, 601), jnp.asarray(
        [0.0, -0.0, 1e-8, -1e-8, 1e30, -1e30, jnp.inf, -jnp.inf])]).astype(jnp.float64)
    g_bt = jax.grad(lambda v: theirs(v).sum())(x)
    g_sg = jax.grad(lambda v: ours(v).sum())(x)
    if name == "SquarewaveFourierSeries":
        huge = np.abs(np.asarray(x)) == 1e30
        exact = spikegrad.get(alias, **params).derivative(np.asarray(x)[huge])
        np.testing.assert_allclose(np.asarray(g_sg)[huge], exact, rtol=1e-15)
        g_bt = jnp.where(jnp.asarray(huge), g_sg, g_bt)
    assert g_bt.dtype == g_sg.dtype == jnp.float64
    scale = spikegrad.get(alias, **params).peak
    np.testing.assert_allclose(np.asarray(g_sg), np.asarray(g_bt), rtol=1e-13,
                               atol=1e-15 * scale, err_msg=alias)
    np.testing.assert_array_equal(np.asarray(ours(x)), np.asarray(theirs(x)))  # x >= 0
    # NaN: spikegrad propagates it (braintools' mask-based forms return a branch value)
    assert np.isnan(np.asarray(jax.grad(lambda v: ours(v).sum())(jnp.asarray([jnp.nan]))))[0]
