"""The parameter fuzzer's findings, one named regression case each.

Each case runs every installed path (numpy engines, torch native/operators/tensor
parameters, jax eager/jit/array parameters) in every dtype against the mpmath oracles,
by the fuzzer's own rule (``tests/_fuzz.py``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import spikegrad

from . import _fuzz

F32 = np.float32


def _around(*points: float, k: int = 3) -> list[float]:
    return _fuzz.around(*points, k=k)


def _check(name: str, params: dict, xs: list[float]) -> None:
    s = spikegrad.get(name, **params)
    failures = _fuzz.check_example(s, _fuzz.input_values(s, xs), _fuzz.paths())
    assert not failures, "\n".join(str(f) for f in failures[:6])


FINDINGS = {
    # triangle's g'(±inf) was NaN whenever float32(width) < width (every path)
    "triangle_inf_when_width_rounds_down": ("triangle", {"half_width": 0.7},
                                            [math.inf, -math.inf]),
    "relugrad_inf": ("braintools:ReluGrad", {}, [math.inf, -math.inf]),
    # edges were located against the parameter rounded to float32
    "sparse_fast_sigmoid_edge_B_0.1": ("sparse_fast_sigmoid", {"B": 0.1}, _around(0.1)),
    "heaviside_window_edge": ("heaviside_window", {"window": 0.1, "scale": 1.0,
                                                   "inclusive": True}, _around(-0.1)),
    # (0.7 rounds down in float32: the side a rounded edge gets wrong)
    "heaviside_window_edge_exclusive": ("heaviside_window", {"window": 0.7, "scale": 1.0,
                                                             "inclusive": False},
                                        _around(-0.7)),
    "multi_level_spike_count_window": ("multi_level_spike_count",
                                       {"grad_window": (-0.1, 1.3)}, _around(-0.1, 1.3)),
    "piecewise_leaky_relu_edge": ("piecewise_leaky_relu", {"w": 0.7, "c": 0.01},
                                  _around(-0.7, 0.7)),
    # float32 periods: 2354 ULP for a rockpool case
    "rockpool_period_far_out": ("rockpool:PeriodicExponential", {"threshold": 0.1},
                                [1000.05, 12345.67, 3.3e5, 1e30, 3.3e38]),
    "periodic_exponential_period_0.1": ("periodic_exponential",
                                        {"width": 0.3, "scale": 1.0, "period": 0.1},
                                        [0.05, 100.03, 7777.7, 3e38]),
    "squarewave_period_0.3": ("squarewave_fourier_series", {"n_terms": 3, "t_period": 0.3},
                              [0.01, 100.03, 1e4, 3e38]),
    # the power law's error grew with alpha: 13 / 96 / 966 ULP at 10 / 100 / 1000
    "q_pseudo_spike_alpha_10": ("q_pseudo_spike", {"alpha": 10.0},
                                list(np.linspace(-20, 20, 41))),
    "q_pseudo_spike_alpha_100": ("q_pseudo_spike", {"alpha": 100.0},
                                 list(np.linspace(-200, 200, 41))),
    "q_pseudo_spike_alpha_1000": ("q_pseudo_spike", {"alpha": 1000.0},
                                  [*np.linspace(-2000, 2000, 41), 130.13894856730258]),
    # erf with a large alpha went through a subnormal intermediate (34 / 2.5e5 ULP)
    "erf_alpha_100": ("erf", {"alpha": 100.0}, list(np.linspace(-0.1, 0.1, 41))),
    "erf_alpha_1e6": ("erf", {"alpha": 1e6}, list(np.linspace(-1e-5, 1e-5, 41))),
    # thorough-profile findings: a shift's rounding larger than the shifted value's last
    # place (0.2 % off; 2100 ULP on narrow side lobes), dspike's exp(-20) in float32
    "gaussian_far_shift": ("sinabs:Gaussian", {"mu": 524288.46875, "sigma": 0.5},
                           [*(524288.46875 + np.linspace(-7, 7, 57))]),
    "multi_gaussian_narrow_lobes": ("multi_gaussian", {"h": 1.0, "s": 1e-6,
                                                       "sigma": 31.622776601683793},
                                    _around(31.622776601683793, -31.622776601683793)),
    "multi_gaussian_heavy_lobes": ("brainstate:MultiGaussianGrad",
                                   {"h": 5.623413251903491, "s": 1.0, "sigma": 1.0},
                                   list(np.linspace(-3, 3, 61))),
    "dspike_alpha_322": ("spikingjelly:DSpike", {"alpha": 322.5897948033444},
                         list(np.linspace(-0.031, 0.031, 101))),
    "rect_alpha_1e-6_edge": ("rect", {"alpha": 1e-6}, _around(5e5, -5e5)),
    "piecewise_quadratic_alpha_1e-6_edge": ("piecewise_quadratic", {"alpha": 1e-6},
                                            _around(1e6, -1e6)),
    # torch's remainder gave NaN near the largest float (vectorised x - p floor(x/p))
    "periodic_near_max_float": ("periodic_exponential",
                                {"width": 0.5, "scale": 1.0, "period": 0.5},
                                [3.4e38, 3.3895313892515355e38, 1.7976931348623157e308]),
}


@pytest.mark.parametrize("finding", list(FINDINGS))
def test_finding(finding: str) -> None:
    _check(*FINDINGS[finding])


def test_rect_edge_is_exact_for_random_alphas() -> None:
    """Finding: rect put its edge one float32 step off for 33 of 2000 random alphas."""
    rng = np.random.default_rng(7)
    bad = []
    for alpha in 10.0 ** rng.uniform(-3, 3, 2000):
        edge = 0.5 / alpha
        xs = np.asarray(_around(edge, -edge, k=2), dtype=np.float32)
        got = spikegrad.get("rect", alpha=float(alpha)).derivative(xs)
        want = np.asarray([alpha if abs(Fraction(float(x))) * 2 * Fraction(alpha) < 1 else 0.0
                           for x in xs], dtype=np.float32)
        if not np.array_equal(got, want):
            bad.append(alpha)
    assert not bad, f"{len(bad)} alphas misplace the edge, e.g. {bad[:3]}"


@pytest.mark.parametrize(("name", "params"), [
    ("atan", {"alpha": 1e39}),  # NaN at x = 1e-38 (alpha is inf in float32)
    ("dspike", {"alpha": 5e-324}),  # ZeroDivisionError
    ("fast_sigmoid", {"k": 1.797e308}),  # OverflowError in the reference
    ("triangle", {"half_width": 1e-300}),  # tiny widths crashed, even for float64
    ("gaussian", {"sigma": 1e-320}),
    ("sign_triangular", {"threshold": 1e300}),  # torch operators: RuntimeError
    ("snntorch:SFS", {"B": -5e-324}),  # a subnormal offset: 0 to a flushing backend (jax)
    ("lava_dl:Spike", {"tau_grad": 1e-310}),  # products that underflow: ZeroDivisionError
    ("sinabs:SingleExponential", {"grad_width": 5e-324}),
])
def test_values_the_computation_cannot_hold_are_refused(name: str, params: dict) -> None:
    (param,) = params
    with pytest.raises(ValueError, match=rf"{param} must be .* \(.*beyond it single"):
        spikegrad.get(name, **params)


def test_jax_triangle_edge_is_exactly_zero_under_jit() -> None:
    """Finding: XLA's division is not correctly rounded: triangle's g' at its edge was
    1e-34 instead of 0 for 50 of 300 widths."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(3)
    bad = []
    for w in 10.0 ** rng.uniform(-2, 2, 300):
        s = spikegrad.get("triangle", half_width=float(w))
        grad = jax.jit(jax.grad(lambda v, s=s: sgj.spike(v, s).sum()))
        for dt in (jnp.float32, jnp.float64):
            edge = np.asarray([w, -w], dtype=dt)
            truth = [float(Fraction(0.3) * max(0, 1 - abs(Fraction(float(e))) / Fraction(w)))
                     for e in edge]
            got = np.asarray(grad(jnp.asarray(edge))).astype(np.float64)
            if not np.allclose(got, truth, rtol=1e-5, atol=0.0):
                bad.append((w, dt.__name__, got.tolist(), truth))
    assert not bad, f"{len(bad)} edges off, e.g. {bad[:2]}"
