"""braintools 0.3 (``braintools.surrogate``) and brainstate 0.1 (``brainstate.surrogate``)
names; forward ``x >= 0``."""

from __future__ import annotations

from ..surrogates._define import Domain, P, alias, nonneg, pos, pos_or_zero, real
from ..surrogates.piecewise import PIECEWISE_LEAKY
from ..surrogates.rational import POWER_LAW

_BS_NOTE = {
    "PiecewiseQuadratic": "brainstate 0.1 computes -(alpha x)^2 + alpha (quadratic, "
    "discontinuous); the correct triangle is used.",
    "GaussianGrad": "brainstate 0.1 computes exp(-x^2/2 * sigma^2) (operator precedence); "
    "the correct Gaussian is used.",
    "ERF": "brainstate 0.1's primitive 0.5*erf(-alpha x) has the wrong sign and offset; "
    "the correct one is used.",
    "Arctan": "brainstate 0.1's primitive calls arctan2 with one argument; the correct "
    "primitive is used.",
    "PiecewiseLeakyRelu": "brainstate 0.1 uses the inside value 1/w; 1/(2w) (= dg/dx) is "
    "used.",
    "QPseudoSpike": "brainstate 0.1's primitive uses (alpha-1) with a sign error; the "
    "integral of the (alpha+1) derivative is used.",
    "LogTailedRelu": "brainstate 0.1's primitive is log x for x > 1 (a jump at 1); "
    "log x + 1 is used.",
}


def _alpha(p: dict) -> tuple[dict, float]:
    return {"alpha": p["alpha"]}, 1.0


def _both(name: str, canonical: str, params: tuple, **kw: object) -> None:
    for lib in ("braintools", "brainstate"):
        extra = dict(kw)
        note = str(extra.pop("notes", ""))
        if lib == "brainstate" and name in _BS_NOTE:
            note = (note + " " + _BS_NOTE[name]).strip()
        alias(lib, name, canonical, params, notes=note, **extra)


_both("Sigmoid", "sigmoid", (P("alpha", 4.0, pos(), "Slope."),), to=_alpha,
      mapping_doc="sigmoid(alpha)")
_both("Arctan", "atan", (P("alpha", 1.0, pos(), "Width parameter."),), to=_alpha,
      mapping_doc="atan(alpha); note the default alpha = 1 (spikingjelly/snntorch use 2)")
_both("PiecewiseQuadratic", "piecewise_quadratic", (P("alpha", 1.0, pos(), "Peak."),),
      to=_alpha, mapping_doc="piecewise_quadratic(alpha)")
_both("PiecewiseExp", "piecewise_exp", (P("alpha", 1.0, pos(), "Decay rate."),), to=_alpha,
      mapping_doc="piecewise_exp(alpha)")
_both("SoftSign", "soft_sign", (P("alpha", 1.0, pos(), "Slope."),), to=_alpha,
      mapping_doc="soft_sign(alpha)")
_both("ERF", "erf", (P("alpha", 1.0, pos(), "Inverse width."),), to=_alpha,
      mapping_doc="erf(alpha)")
_both("NonzeroSignLog", "nonzero_sign_log_abs", (P("alpha", 1.0, pos(), "Slope at 0."),),
      to=_alpha, mapping_doc="nonzero_sign_log_abs(alpha)")
_both("PiecewiseLeakyRelu", "piecewise_leaky_relu",
      (P("c", 0.01, real(), "Outer slope."), P("w", 1.0, pos(), "Half-width.")),
      formula=PIECEWISE_LEAKY,
      mapping=lambda p: ({"w": p["w"], "c": p["c"], "inside": 0.5 / p["w"],
                          "inclusive": True, "offset": 0.0}, 1.0),
      mapping_doc="piecewise_leaky_relu(w, c) with |x| = w inside the window",
      notes="Positional order is (c, w), reversed from spikingjelly. braintools counts "
      "|x| = w as inside (value 1/(2w)); spikingjelly as outside (c).")
alias("braintools", "SquarewaveFourierSeries", "squarewave_fourier_series",
      (P("n", 2, Domain.integer(1, 100), "Number of harmonics summed (at most 100)."),
       P("t_period", 8.0, pos(), "Period.")),
      to=lambda p: ({"n_terms": p["n"], "t_period": p["t_period"]}, 1.0),
      mapping_doc="squarewave_fourier_series(n_terms = n, t_period)",
      notes="braintools >= 0.2 sums n harmonics; brainstate 0.1 and spikingjelly sum n - 1.")
alias("brainstate", "SquarewaveFourierSeries", "squarewave_fourier_series",
      (P("n", 2, Domain.integer(2, 101), "One more than the number of harmonics summed."),
       P("t_period", 8.0, pos(), "Period.")),
      to=lambda p: ({"n_terms": p["n"] - 1, "t_period": p["t_period"]}, 1.0),
      mapping_doc="squarewave_fourier_series(n_terms = n - 1, t_period)",
      notes="brainstate 0.1 sums n - 1 harmonics (as spikingjelly); braintools sums n.")
_both("S2NN", "s2nn",
      (P("alpha", 4.0, pos(), "Sigmoid slope."), P("beta", 1.0, nonneg(), "Log-tail scale."),
       P("epsilon", 1e-8, nonneg(), "Offset inside the library's primitive log "
         "(accepted for compatibility, not used: the primitive here is exact).")),
      to=lambda p: ({"alpha": p["alpha"], "beta": p["beta"]}, 1.0),
      mapping_doc="s2nn(alpha, beta); epsilon is not used")
_both("QPseudoSpike", "q_pseudo_spike", (P("alpha", 2.0, pos(), "Tail exponent."),),
      formula=POWER_LAW,
      mapping=lambda p: ({"length": 0.5 * (p["alpha"] + 1.0), "power": p["alpha"]}, 1.0),
      mapping_doc="power law (1 + 2|x|/(alpha+1))^(-alpha): a different function from "
      "q_pseudo_spike",
      summary="braintools' q-PseudoSpike variant: power law with (alpha+1), not normalised.",
      latex_derivative=r"g'(x) = \left(1 + \frac{2|x|}{\alpha + 1}\right)^{-\alpha}",
      latex_primitive=r"g(x) = \int_{-\infty}^x g'(t)\,dt\ (\alpha > 1)",
      notes="braintools' form has (alpha+1) where the paper and spikingjelly have (alpha-1): "
      "area (alpha+1)/(alpha-1), finite for every alpha > 0. Its primitive is anchored at "
      "g(-inf) = 0 for alpha > 1 (braintools anchors g(0) = 1/2).")
_both("LeakyRelu", "leaky_k_relu",
      (P("alpha", 0.1, real(), "Slope below 0 (leak)."),
       P("beta", 1.0, real(), "Slope at/above 0 (k).")),
      to=lambda p: ({"leak": p["alpha"], "k": p["beta"]}, 1.0),
      mapping_doc="leaky_k_relu(leak = alpha, k = beta)")
_both("LogTailedRelu", "log_tailed_relu", (P("alpha", 0.0, real(), "Slope below 0."),),
      to=_alpha, mapping_doc="log_tailed_relu(alpha)")
_both("ReluGrad", "triangle",
      (P("alpha", 0.3, nonneg(), "Slope of the triangle's sides."),
       P("width", 1.0, pos(), "Half-width.")),
      to=lambda p: ({"height": p["alpha"] * p["width"], "half_width": p["width"]}, 1.0),
      mapping_doc="triangle(height = alpha * width, half_width = width)")
_both("GaussianGrad", "gaussian",
      (P("sigma", 0.5, pos(), "Standard deviation."), P("alpha", 0.5, nonneg(), "Scale.")),
      to=lambda p: ({"sigma": p["sigma"], "scale": p["alpha"]}, 1.0),
      mapping_doc="gaussian(sigma, scale = alpha)")
_both("MultiGaussianGrad", "multi_gaussian",
      (P("h", 0.15, nonneg(), "Side-lobe weight."),
       P("s", 6.0, pos(), "Side-lobe width ratio."),
       P("sigma", 0.5, pos(), "Central width."), P("scale", 0.5, nonneg(), "Scale.")),
      to=lambda p: (dict(p), 1.0), mapping_doc="multi_gaussian(h, s, sigma, scale)")
_both("InvSquareGrad", "fast_sigmoid", (P("alpha", 100.0, pos_or_zero(), "Slope k."),),
      to=lambda p: ({"k": p["alpha"]}, 1.0), mapping_doc="fast_sigmoid(k = alpha)")
_both("SlayerGrad", "piecewise_exp", (P("alpha", 1.0, pos(), "Decay rate."),),
      to=lambda p: ({"alpha": p["alpha"]}, 2.0 / p["alpha"]),
      mapping_doc="(2/alpha) * piecewise_exp(alpha) = exp(-alpha|x|)")
