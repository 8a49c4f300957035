"""One named regression test per catalogued peer bug that concerns the math.

Each test reproduces the peer's failing input and checks that spikegrad gives the right
value, computed independently in the test.  (Plumbing-only findings — torch ``ctx``
handling, missing ``@staticmethod``, x64 switches in jax, threshold tensors without
gradients — belong to the framework adapters' tests.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import spikegrad
from spikegrad.adapters import reference

f32, f64 = np.float32, np.float64


def d(name: str, x: list[float] | np.ndarray, dtype: type = f64, **params: object) -> np.ndarray:
    return spikegrad.get(name, **params).derivative(np.asarray(x, dtype=dtype))


def g(name: str, x: list[float] | np.ndarray, dtype: type = f64, **params: object) -> np.ndarray:
    return spikegrad.get(name, **params).primitive(np.asarray(x, dtype=dtype))


# -- snntorch 1.0 -----------------------------------------------------------------------
def test_ST_1_leaky_spike_operator_is_usable() -> None:
    got = d("snntorch:LSO", [-1.0, 0.0, 0.5], slope=0.1)
    np.testing.assert_array_equal(got, [0.1, 0.1, 1.0])


def test_ST_3_sigmoid_has_no_nan_in_the_negative_tail() -> None:
    s = spikegrad.get("snntorch:sigmoid", slope=25.0)
    x = np.array([-4.0, -3.0, -np.inf, -1e30], dtype=f32)
    expected = np.float32([25 * math.exp(-100) / (1 + math.exp(-100)) ** 2, 25 * math.exp(-75),
                           0.0, 0.0])
    ref = reference.derivative_values(s, x)  # float64 inside, rounded once
    np.testing.assert_array_equal(ref, expected)
    native = s.derivative(x)  # float32 inside
    assert not np.isnan(native).any()
    np.testing.assert_allclose(native[1:], expected[1:], rtol=1e-6)
    assert native[1] > 0  # 6.7e-32 is a normal float32: no premature zero
    assert native[0] == pytest.approx(expected[0], rel=0.05)  # subnormal: few bits left


def test_ST_4_spike_keeps_dtype_and_convention() -> None:
    s = spikegrad.get("snntorch:atan")
    for dt in (np.float16, f32, f64):
        out = s.spike(np.zeros(1, dtype=dt))
        assert out.dtype == dt and out[0] == 0  # snntorch spikes at x > 0


def test_ST_5_triangular_is_a_sign_and_triangle_is_a_triangle() -> None:
    x = [-2.0, -0.5, 0.0, 0.5, 2.0]
    np.testing.assert_array_equal(d("snntorch:triangular", x), [1, 1, -1, -1, -1])
    np.testing.assert_allclose(d("triangle", x, height=1.0, half_width=1.0),
                               [0, 0.5, 1, 0.5, 0])


def test_ST_6_spike_rate_escape_peaks_at_threshold() -> None:
    got = d("snntorch:spike_rate_escape", [0.0, 1.0])
    np.testing.assert_allclose(got, [25.0, 25 * math.exp(-1)])


def test_ST_7_sparse_fast_sigmoid_support_is_x_above_B() -> None:
    x = [0.0, 0.5, 1.0, 1.5]
    np.testing.assert_allclose(d("snntorch:SFS", x), [0, 0, 0, 1 / (1 + 25 * 1.5) ** 2])
    # a band below threshold is kept with B < 0, and x = B itself is excluded
    np.testing.assert_allclose(d("sparse_fast_sigmoid", [-0.5, -0.25, 0.0], B=-0.5),
                               [0, 1 / (1 + 25 * 0.25) ** 2, 1.0])


def test_ST_8_atan_peak_is_alpha_over_two() -> None:
    assert d("snntorch:atan", [0.0], alpha=2.0)[0] == 1.0  # the docstring's 1/pi is wrong
    assert d("snntorch:atan", [0.0], alpha=3.0)[0] == 1.5


def test_ST_9_sso_noise_comes_from_the_key() -> None:
    s = spikegrad.get("snntorch:SSO")
    x = np.full(16, -1.0)
    a = s.derivative(x, key=np.random.default_rng(7))
    b = s.derivative(x, key=np.random.default_rng(7))
    c = s.derivative(x, key=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# -- norse 1.1.0 --------------------------------------------------------------------------
def test_NO_1_super_uses_alpha() -> None:
    got = [d("norse:super", [0.1], alpha=a)[0] for a in (1.0, 100.0, 1e4)]
    np.testing.assert_allclose(got, [1 / (1 + 0.1 * a) ** 2 for a in (1.0, 100.0, 1e4)])


def test_NO_2_tanh_has_the_k_over_two_factor() -> None:
    assert d("norse:tanh", [0.0], alpha=5.0)[0] == 2.5


def test_NO_3_heavi_erfc_is_the_normalised_erf() -> None:
    np.testing.assert_allclose(d("norse:heavi_erfc_fn", [0.0], k=5.0), [5 / math.sqrt(math.pi)])
    area = spikegrad.get("norse:heavi_erfc_fn", k=5.0).area
    assert area == pytest.approx(1.0, abs=4e-16)


def test_NO_4_circ_peak_and_infinities() -> None:
    got = d("norse:circ", [0.0, np.inf, -np.inf], alpha=0.1)
    np.testing.assert_allclose(got, [5.0, 0.0, 0.0])


# -- spikingjelly -----------------------------------------------------------------------
def test_SJ_1_piecewise_leaky_relu_inside_value_is_one_over_two_w() -> None:
    np.testing.assert_allclose(d("spikingjelly:PiecewiseLeakyReLU", [0.0, 1.0, -1.0]),
                               [0.5, 0.01, 0.01])
    np.testing.assert_allclose(d("spikingjelly:PiecewiseLeakyReLU", [0.0], w=0.5, c=0.1), [1.0])
    # and it is dg/dx of its primitive
    s = spikegrad.get("piecewise_leaky_relu", w=0.5, c=0.1)
    slope = (s.primitive(np.array([0.1])) - s.primitive(np.array([-0.1])))[0] / 0.2
    assert slope == pytest.approx(1.0)
    # the legacy 1/w form is available under its own name
    assert d("spikingjelly_legacy:PiecewiseLeakyReLU", [0.0], w=0.5, c=0.1)[0] == 2.0


def test_SJ_2_unused_branch_cannot_poison() -> None:
    assert np.isfinite(d("s2nn", [-1.0])).all()
    np.testing.assert_allclose(d("s2nn", [-1.0]), [4 * math.exp(-4) / (1 + math.exp(-4)) ** 2])
    np.testing.assert_array_equal(d("log_tailed_relu", [0.0, -0.0], alpha=0.1), [0.1, 0.1])


def test_SJ_3_q_pseudo_spike_in_half_precision() -> None:
    got = d("q_pseudo_spike", [0.5], np.float16, alpha=2.0)
    assert got.dtype == np.float16 and got[0] == np.float16(0.25)


def test_SJ_4_fake_numerical_gradient_at_negative_zero() -> None:
    np.testing.assert_array_equal(d("fake_numerical_gradient", [0.0, -0.0]), [0.3, 0.3])


def test_SJ_5_q_pseudo_spike_validates_alpha() -> None:
    for alpha in (1.0, 0.5):
        with pytest.raises(ValueError, match=r"alpha must be in \[1.000001, "):
            spikegrad.get("spikingjelly:QPseudoSpike", alpha=alpha)


def test_SJ_6_s2nn_primitive_is_exact_and_continuous() -> None:
    assert g("s2nn", [0.0])[0] == 0.5
    x = np.array([-1e-9, 1e-9])
    assert abs(np.diff(g("s2nn", x))[0]) < 1e-8
    slope = np.diff(g("s2nn", [0.5 - 1e-6, 0.5 + 1e-6]))[0] / 2e-6
    assert slope == pytest.approx(1 / 1.5, rel=1e-8)


def test_SJ_7_squarewave_harmonic_count() -> None:
    with pytest.raises(ValueError):
        spikegrad.get("spikingjelly:SquarewaveFourierSeries", n=1)
    one = spikegrad.get("spikingjelly:SquarewaveFourierSeries", n=2)
    assert one.formula_params["n_terms"] == 1
    assert d("squarewave_fourier_series", [0.0], n_terms=1)[0] == 0.5


def test_SJ_8_super_spike_alpha_is_an_amplitude_only_in_its_alias() -> None:
    assert d("spikingjelly:SuperSpike", [0.0], alpha=25.0)[0] == 25.0
    assert d("super_spike", [0.0], beta=25.0)[0] == 1.0
    np.testing.assert_allclose(d("super_spike", [0.2], beta=25.0), [1 / 36])


@pytest.mark.parametrize("name", ["log_tailed_relu", "leaky_k_relu", "piecewise_leaky_relu",
                                  "rect", "multi_level_spike_count", "straight_through"])
def test_SJ_10_nan_gives_nan(name: str) -> None:
    assert np.isnan(d(name, [np.nan]))[0]


def test_SJ_11_float64_constants_are_float64() -> None:
    x = 0.3
    expected = 1.0 / (1 + (math.pi / 2 * 2 * x) ** 2)
    assert abs(d("spikingjelly:ATan", [x])[0] - expected) < 1e-16
    erf_expected = 2 / math.sqrt(math.pi) * math.exp(-((2 * x) ** 2))
    assert abs(d("spikingjelly:Erf", [x])[0] - erf_expected) < 4e-16


def test_SJ_12_multi_level_count_rounds_half_to_even() -> None:
    s = spikegrad.get("spikingjelly:MultiLevelSpikeCount", max_spike_count=4)
    np.testing.assert_array_equal(s.spike(np.array([0.5, 1.5, 2.5, 3.7, 9.0, -1.0])),
                                  [0, 2, 2, 4, 4, 0])


def test_SJ_13_poisson_pass_keeps_dtype() -> None:
    s = spikegrad.get("spikingjelly:PoissonPass")
    out = s.spike(np.array([0.0, 1.0, 1.5], dtype=f64), key=np.random.default_rng(0))
    assert out.dtype == f64
    np.testing.assert_array_equal(out, [0, 1, 1])


# -- brainstate 0.1 ---------------------------------------------------------------------
def test_BS_1_piecewise_quadratic_is_triangular() -> None:
    np.testing.assert_allclose(d("brainstate:PiecewiseQuadratic", [0.25, 0.5, 0.6], alpha=2.0),
                               [1.0, 0.0, 0.0])
    np.testing.assert_allclose(d("brainstate:PiecewiseQuadratic", [1.9], alpha=0.5),
                               [0.5 - 0.25 * 1.9])


def test_BS_2_gaussian_precedence() -> None:
    got = d("brainstate:GaussianGrad", [1.0], sigma=0.5, alpha=1.0)[0]
    assert got == pytest.approx(math.exp(-2) / (0.5 * math.sqrt(2 * math.pi)))  # 0.108


def test_BS_3_arctan_primitive() -> None:
    np.testing.assert_allclose(g("brainstate:Arctan", [-1.0, 0.0, 1.0]),
                               [math.atan(-math.pi / 2) / math.pi + 0.5, 0.5,
                                math.atan(math.pi / 2) / math.pi + 0.5])


def test_BS_4_erf_primitive_direction() -> None:
    got = g("brainstate:ERF", [-5.0, 0.0, 5.0])
    np.testing.assert_allclose(got, [math.erfc(5) / 2, 0.5, 1 - math.erfc(5) / 2], rtol=1e-14)


def test_BS_5_piecewise_leaky_relu() -> None:
    assert d("brainstate:PiecewiseLeakyRelu", [0.0])[0] == 0.5


def test_BS_6_q_pseudo_spike_primitive_is_finite() -> None:
    got = g("brainstate:QPseudoSpike", [-0.5, 0.0, 0.5], alpha=2.0)
    assert np.isfinite(got).all()
    assert got[1] == pytest.approx(1.5)  # anchored g(-inf) = 0, area 3
    np.testing.assert_allclose(got[2] - got[0], 2 * 1.5 * (1 - 1 / (1 + 2 * 0.5 / 3)))


def test_BS_7_log_tailed_relu_primitive_is_continuous() -> None:
    x = np.array([1.0, np.nextafter(1.0, 2.0)])
    got = g("brainstate:LogTailedRelu", x)
    assert abs(got[1] - got[0]) < 1e-15


# -- braintools 0.3 (BT-5 is fixed in braintools 0.4, whose semantics compat follows) ------
def test_BT_2_q_pseudo_spike_variants_differ() -> None:
    sj = d("spikingjelly:QPseudoSpike", [0.5])[0]
    bt = d("braintools:QPseudoSpike", [0.5])[0]
    assert sj == 0.25 and bt == pytest.approx(0.5625)
    assert spikegrad.get("q_pseudo_spike").area == pytest.approx(1.0)
    assert spikegrad.get("braintools:QPseudoSpike").area == pytest.approx(3.0)


def test_BT_3_squarewave_term_counts() -> None:
    bt = spikegrad.get("braintools:SquarewaveFourierSeries", n=1)
    bs = spikegrad.get("brainstate:SquarewaveFourierSeries", n=2)
    sj = spikegrad.get("spikingjelly:SquarewaveFourierSeries", n=2)
    x = np.linspace(-3, 3, 7)
    np.testing.assert_array_equal(bt.derivative(x), sj.derivative(x))
    np.testing.assert_array_equal(bs.derivative(x), sj.derivative(x))


def test_BT_4_piecewise_leaky_relu_boundary() -> None:
    np.testing.assert_allclose(d("braintools:PiecewiseLeakyRelu", [1.0, -1.0]), [0.5, 0.5])
    np.testing.assert_allclose(d("spikingjelly:PiecewiseLeakyReLU", [1.0, -1.0]), [0.01, 0.01])


def test_BT_5_spike_derivatives_in_a_parameter_and_in_x() -> None:
    """braintools 0.3.0 leaked the parameter tangent into the spike (d spikes/dα =
    Σ ∂g'/∂α) and stopped the gradient of x inside ``surrogate_grad`` (d²spikes/dx² = 0).
    spikegrad.compat.braintools follows 0.4: d spikes/dα = 0 (the step does not depend on
    α) and d²spikes/dx² = g''(x); Sigmoid α = 4, written out."""
    jax = pytest.importorskip("jax", reason="needs JAX")
    import jax.numpy as jnp

    from spikegrad.compat import braintools as bt

    xs = jnp.asarray([-0.7, -0.2, 0.3, 0.9], dtype=jnp.float32)
    alpha, x = 4.0, 0.3
    sig = 1.0 / (1.0 + np.exp(-alpha * np.asarray(xs, dtype=f64)))
    leaked = np.sum(sig * (1 - sig) * (1 + alpha * np.asarray(xs, f64) * (1 - 2 * sig)))
    assert abs(leaked) > 0.05  # what 0.3.0 returned: Σ ∂g'/∂α
    assert float(jax.grad(lambda a: bt.Sigmoid(a)(xs).sum())(alpha)) == 0.0
    s = 1.0 / (1.0 + math.exp(-alpha * x))
    g2 = alpha**2 * s * (1 - s) * (1 - 2 * s)  # -1.528610
    got = jax.grad(jax.grad(lambda v: bt.Sigmoid(alpha)(v)))(jnp.float32(x))
    assert float(got) == pytest.approx(g2, rel=1e-5) and g2 == pytest.approx(-1.528610, 1e-6)


def test_BT_6_q_pseudo_spike_primitive_slope_at_zero() -> None:
    s = spikegrad.get("braintools:QPseudoSpike", alpha=2.0)
    h = 1e-7
    slope = (s.primitive(np.array([h])) - s.primitive(np.array([-h])))[0] / (2 * h)
    assert slope == pytest.approx(1.0, rel=1e-6)


# -- sinabs ---------------------------------------------------------------------------------
def test_SI_2_heaviside_window_is_divided_by_threshold() -> None:
    np.testing.assert_allclose(d("sinabs:Heaviside", [-1.5, -1.0, 0.0], window=1.0,
                                 threshold=2.0), [0.0, 0.5, 0.5])
    assert spikegrad.get("sinabs:SingleExponential").area == pytest.approx(2.0)


def test_SI_3_periodic_exponential_at_infinity() -> None:
    got = d("sinabs:PeriodicExponential", [-np.inf, 0.0, 1.0, 0.5])
    assert got[0] == 0.0 and got[1] == 1.0 and got[2] == 1.0
    assert got[3] == pytest.approx(math.exp(-2 * 0.5 / 0.5))
    assert np.isnan(d("sinabs:PeriodicExponential", [np.inf]))[0]  # periodic: no limit
