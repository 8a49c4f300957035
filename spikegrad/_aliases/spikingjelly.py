"""spikingjelly 2.0 names (``activation_based.surrogate``, ``model.spike_dhs``); forward
``x >= 0``, spike in the input dtype."""

from __future__ import annotations

from ..surrogates._define import Domain, P, alias, greater, nonneg, pos, real, up_to
from ..surrogates.piecewise import PIECEWISE_LEAKY

LIB = "spikingjelly"


def _alpha(p: dict) -> tuple[dict, float]:
    return {"alpha": p["alpha"]}, 1.0


alias(LIB, "Sigmoid", "sigmoid", (P("alpha", 4.0, pos(), "Slope."),), to=_alpha,
      mapping_doc="sigmoid(alpha)")
alias(LIB, "ATan", "atan", (P("alpha", 2.0, pos(), "Width parameter."),), to=_alpha,
      mapping_doc="atan(alpha)")
alias(LIB, "PiecewiseQuadratic", "piecewise_quadratic",
      (P("alpha", 1.0, pos(), "Peak and inverse half-width."),), to=_alpha,
      mapping_doc="piecewise_quadratic(alpha)")
alias(LIB, "PiecewiseExp", "piecewise_exp", (P("alpha", 1.0, pos(), "Decay rate."),),
      to=_alpha, mapping_doc="piecewise_exp(alpha)")
alias(LIB, "SoftSign", "soft_sign", (P("alpha", 2.0, pos(), "Slope."),), to=_alpha,
      mapping_doc="soft_sign(alpha)")
alias(LIB, "SuperSpike", "super_spike", (P("alpha", 1.0, nonneg(), "Amplitude g'(0)."),),
      to=lambda p: ({"beta": 1.0}, p["alpha"]),
      mapping_doc="alpha * super_spike(beta = 1)",
      notes="alpha is an amplitude here (alpha/(1+|x|)^2), not the paper's slope: "
      "SuperSpike(25) has g'(0) = 25 where fast_sigmoid(25) has 1.")
alias(LIB, "Erf", "erf", (P("alpha", 2.0, pos(), "Inverse width."),), to=_alpha,
      mapping_doc="erf(alpha)")
alias(LIB, "QPseudoSpike", "q_pseudo_spike",
      (P("alpha", 2.0, greater(1.0), "Tail fatness."),), to=_alpha,
      mapping_doc="q_pseudo_spike(alpha)",
      notes="spikingjelly does not validate alpha (alpha = 1 divides by zero, alpha < 1 "
      "gives NaN); here alpha must be > 1.")
alias(LIB, "DSpike", "dspike",
      (P("alpha", 3.0, up_to(1000.0), "Temperature."),),
      to=_alpha, mapping_doc="dspike(alpha) (activation_based.model.spike_dhs.DSpike)")
alias(LIB, "Rect", "rect", (P("alpha", 1.0, pos(), "Height."),), to=_alpha,
      mapping_doc="rect(alpha)")
alias(LIB, "NonzeroSignLogAbs", "nonzero_sign_log_abs",
      (P("alpha", 1.0, pos(), "Slope at 0."),), to=_alpha,
      mapping_doc="nonzero_sign_log_abs(alpha)")
alias(LIB, "PiecewiseLeakyReLU", "piecewise_leaky_relu",
      (P("w", 1.0, pos(), "Half-width."), P("c", 0.01, real(), "Outer slope.")),
      to=lambda p: ({"w": p["w"], "c": p["c"]}, 1.0),
      mapping_doc="piecewise_leaky_relu(w, c)",
      notes="spikingjelly returns c for NaN input; here NaN gives NaN.")
alias("spikingjelly_legacy", "PiecewiseLeakyReLU", "piecewise_leaky_relu",
      (P("w", 1.0, pos(), "Half-width."), P("c", 0.01, real(), "Outer slope.")),
      formula=PIECEWISE_LEAKY,
      mapping=lambda p: ({"w": p["w"], "c": p["c"], "inside": 1.0 / p["w"],
                          "inclusive": False, "offset": -0.5}, 1.0),
      mapping_doc="inside value 1/w (not 1/(2w)), outer slope c, strict window",
      summary="Legacy piecewise leaky ReLU gradient: 1/w inside |x| < w, c outside.",
      latex_primitive=r"g(x) = -\tfrac12 + \int_{-w}^x g'(t)\,dt",
      latex_derivative=r"g'(x) = \begin{cases}\frac{1}{w} & |x| < w\\ c & |x| \ge w"
      r"\end{cases}",
      notes="spikingjelly up to 2023-08-24 (including clock_driven.surrogate) and its CuPy "
      "kernels use the inside value 1/w, twice dg/dx of the documented primitive. The "
      "primitive here is the continuous integral of this derivative.")
alias(LIB, "SquarewaveFourierSeries", "squarewave_fourier_series",
      (P("n", 2, Domain.integer(2, 101), "One more than the number of harmonics summed."),
       P("T_period", 8.0, pos(), "Period.")),
      to=lambda p: ({"n_terms": p["n"] - 1, "t_period": p["T_period"]}, 1.0),
      mapping_doc="squarewave_fourier_series(n_terms = n - 1, t_period = T_period)",
      notes="n = 1 would sum no harmonic (an identically zero gradient) and is rejected.")
alias(LIB, "S2NN", "s2nn",
      (P("alpha", 4.0, pos(), "Sigmoid slope."), P("beta", 1.0, nonneg(), "Log-tail scale.")),
      to=lambda p: ({"alpha": p["alpha"], "beta": p["beta"]}, 1.0),
      mapping_doc="s2nn(alpha, beta)",
      notes="spikingjelly's primitive adds 1e-5 inside the log; this one is exact.")
alias(LIB, "LeakyKReLU", "leaky_k_relu",
      (P("leak", 0.0, real(), "Slope below 0."), P("k", 1.0, real(), "Slope at/above 0.")),
      to=lambda p: ({"leak": p["leak"], "k": p["k"]}, 1.0),
      mapping_doc="leaky_k_relu(leak, k)")
alias(LIB, "LogTailedReLU", "log_tailed_relu", (P("alpha", 0.0, real(), "Slope below 0."),),
      to=_alpha, mapping_doc="log_tailed_relu(alpha)",
      notes="spikingjelly returns 1 for NaN input; here NaN gives NaN.")
alias(LIB, "FakeNumericalGradient", "fake_numerical_gradient",
      (P("alpha", 0.3, pos(), "Cap."),), to=_alpha,
      mapping_doc="fake_numerical_gradient(alpha)",
      notes="spikingjelly gives -inf at x = -0.0; here alpha.")
alias(LIB, "DeterministicPass", "straight_through", (), to=lambda p: ({}, 1.0),
      mapping_doc="straight_through()")
alias(LIB, "PoissonPass", "poisson_pass", (), to=lambda p: ({}, 1.0),
      forward="bernoulli_input", mapping_doc="poisson_pass()",
      notes="spikingjelly forces a float32 spike and raises for x outside [0, 1]; here the "
      "spike keeps the input dtype and x acts as a probability clipped to [0, 1].")
alias(LIB, "MultiLevelSpikeCount", "multi_level_spike_count",
      (P("max_spike_count", 1, Domain.integer(1), "Largest count K."),
       P("grad_window", None, Domain.window(), "Gradient window (low, high).")),
      to=lambda p: (dict(p), 1.0), forward="formula",
      mapping_doc="multi_level_spike_count(max_spike_count, grad_window)")
