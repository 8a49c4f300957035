"""Names from arcana, spyx, sinabs, lava-dl and rockpool.

sinabs, lava-dl and rockpool take the membrane potential and the threshold separately;
their aliases take ``threshold`` as a parameter and act on ``x = v - threshold``.
"""

from __future__ import annotations

import math

from ..surrogates._define import Domain, P, alias, nonneg, pos, pos_or_zero, real
from ..surrogates.periodic import PERIODIC_EXP
from ..surrogates.piecewise import BOX, TRIANGLE
from ..surrogates.smooth import MULTI_GAUSS

# arcana (forward V >= 0; fixed class-attribute scales)
alias("arcana", "FastSigmoid", "fast_sigmoid", (), to=lambda p: ({"k": 10.0}, 1.0),
      mapping_doc="fast_sigmoid(k = 10)")
alias("arcana", "Triangular", "triangle", (),
      to=lambda p: ({"height": 0.3, "half_width": 1.0}, 1.0),
      mapping_doc="triangle(height = 0.3, half_width = 1)")
alias("arcana", "STE", "straight_through", (), to=lambda p: ({}, 1.0),
      mapping_doc="straight_through()")
alias("arcana", "Step", "heaviside_window", (),
      to=lambda p: ({"window": 0.0, "scale": 1.0, "inclusive": True}, 1.0),
      peak_at=lambda p: (0.0,), mapping_doc="heaviside_window(window = 0): g' = 1[x >= 0]")

# spyx (forward x > 0)
alias("spyx", "tanh", "tanh", (P("k", 1.0, pos(), "Slope."),),
      to=lambda p: ({"k": p["k"]}, 2.0 / p["k"]), forward="gt",
      mapping_doc="(2/k) * tanh(k) = sech²(kx)", notes="Not normalised: area 2/k.")
alias("spyx", "arctan", "atan", (P("k", 2.0, pos(), "Slope."),),
      to=lambda p: ({"alpha": 2.0 * p["k"]}, 1.0 / (3.141592653589793 * p["k"])), forward="gt",
      mapping_doc="atan(alpha = 2k) / (k pi) = 1/(pi (1 + (k pi x)^2))",
      notes="Not normalised: area 1/(k pi).")
alias("spyx", "triangular", "triangle", (P("k", 2.0, pos(), "Inverse half-width."),),
      formula=TRIANGLE, forward="gt",
      mapping=lambda p: ({"height": 1.0, "num": 1.0, "den": p["k"]}, 1.0),
      mapping_doc="triangle(height = 1, half_width = 1/k) = max(0, 1 - |kx|)")
alias("spyx", "abs_linear", "triangle", (P("dampening_factor", 0.3, nonneg(), "Height."),),
      to=lambda p: ({"height": p["dampening_factor"], "half_width": 1.0}, 1.0), forward="gt",
      mapping_doc="triangle(height = dampening_factor, half_width = 1)",
      notes="spyx's abs_linear forward is float32 for every input; here the input dtype.")
alias("spyx", "boxcar", "rect",
      (P("width", 2.0, pos(), "Full width of the box."), P("height", 0.5, nonneg(), "Height.")),
      formula=BOX, forward="gt",
      mapping=lambda p: ({"height": p["height"], "num": p["width"], "den": 2.0}, 1.0),
      mapping_doc="height * 1[|x| < width/2] (= rect(alpha = 1/width) times height*width)")
alias("spyx", "superspike", "fast_sigmoid", (P("k", 25.0, pos_or_zero(), "Slope."),),
      to=lambda p: ({"k": p["k"]}, 1.0), forward="gt", mapping_doc="fast_sigmoid(k)")

# sinabs (SingleSpike forward v - threshold >= 0)
_SI = "sinabs spike functions return float32 for every input dtype; here the input dtype."
alias("sinabs", "SingleExponential", "piecewise_exp",
      (P("grad_width", 0.5, pos(), "Width relative to the threshold."),
       P("grad_scale", 1.0, nonneg(), "Scale."), P("threshold", 1.0, pos(), "Spike threshold.")),
      to=lambda p: ({"alpha": 1.0 / (p["threshold"] * p["grad_width"])}, 2.0 * p["grad_scale"]),
      mapping_doc="2 grad_scale * piecewise_exp(alpha = 1/(threshold grad_width))",
      notes="Area 2 grad_scale. " + _SI)
alias("sinabs", "Gaussian", "gaussian",
      (P("mu", 0.0, real(), "Centre."), P("sigma", 0.5, pos(), "Standard deviation."),
       P("grad_scale", 1.0, nonneg(), "Scale.")),
      to=lambda p: ({"sigma": p["sigma"], "scale": p["grad_scale"], "mu": p["mu"]}, 1.0),
      mapping_doc="gaussian(sigma, scale = grad_scale, mu)", notes=_SI)
alias("sinabs", "MultiGaussian", "multi_gaussian",
      (P("mu", 0.0, real(), "Centre of the central lobe."),
       P("sigma", 0.5, pos(), "Central width."), P("h", 0.15, nonneg(), "Side-lobe weight."),
       P("s", 6.0, pos(), "Side-lobe width ratio."), P("grad_scale", 1.0, nonneg(), "Scale.")),
      formula=MULTI_GAUSS,
      mapping=lambda p: ({"h": p["h"], "s": p["s"], "sigma": p["sigma"], "mu": p["mu"]},
                         p["grad_scale"]),
      mapping_doc="grad_scale * multi_gaussian(h, s, sigma) with the central lobe at mu",
      peak_at=lambda p: (p["mu"], p["sigma"], -p["sigma"]),
      notes="Side lobes stay at ±sigma whatever mu is (as sinabs does). Default scale 1 "
      "(braintools: 0.5). " + _SI)
alias("sinabs", "Heaviside", "heaviside_window",
      (P("window", 1.0, nonneg(), "Gradient flows from v = threshold - window."),
       P("threshold", 1.0, pos(), "Spike threshold.")),
      to=lambda p: ({"window": p["window"], "scale": 1.0 / p["threshold"],
                     "inclusive": True}, 1.0),
      mapping_doc="heaviside_window(window, scale = 1/threshold)", notes=_SI)
alias("sinabs", "PeriodicExponential", "periodic_exponential",
      (P("grad_width", 0.5, pos(), "Decay length."), P("grad_scale", 1.0, nonneg(), "Scale."),
       P("threshold", 1.0, pos(), "Spike threshold (the period).")),
      to=lambda p: ({"width": p["grad_width"], "scale": p["grad_scale"],
                     "period": p["threshold"]}, 1.0),
      mapping_doc="periodic_exponential(width = grad_width, scale = grad_scale, "
      "period = threshold)",
      notes="sinabs gives NaN at v = -inf; here 0. " + _SI)

# lava-dl SLAYER (forward v >= threshold)
alias("lava_dl", "Spike", "piecewise_exp",
      (P("tau_grad", 1.0, pos(), "Decay length relative to the threshold (tau_rho = "
         "tau_grad * threshold)."),
       P("scale_grad", 1.0, nonneg(), "Scale rho_s."), P("threshold", 1.0, pos(), "Threshold.")),
      to=lambda p: ({"alpha": 1.0 / (p["tau_grad"] * p["threshold"])}, p["scale_grad"]),
      mapping_doc="scale_grad * piecewise_exp(alpha = 1/(tau_grad threshold))")

# rockpool (forward v >= threshold)
alias("rockpool", "StepPWL", "heaviside_window",
      (P("threshold", 1.0, pos(), "Spike threshold."),
       P("window", 0.5, nonneg(), "Gradient flows from v = threshold - window.")),
      to=lambda p: ({"window": p["window"], "scale": 1.0 / p["threshold"],
                     "inclusive": True}, 1.0),
      mapping_doc="heaviside_window(window, scale = 1/threshold)",
      notes="rockpool's forward counts multiple spikes floor(v/threshold) and it also "
      "returns a threshold gradient; this alias gives the binary spike and the input "
      "gradient only.")
alias("rockpool", "PeriodicExponential", "periodic_exponential",
      (P("threshold", 1.0, pos(), "Spike threshold (the period)."),
       P("window", 0.5, pos(), "Decay length.")),
      formula=PERIODIC_EXP,
      mapping=lambda p: ({"width": p["window"], "period": p["threshold"], "right_factor": 1.0},
                         1.0 / p["threshold"]),
      mapping_doc="exp(-d/window)/threshold, d = distance to the nearest multiple of "
      "threshold above it (sinabs doubles d)",
      notes="Not the same function as sinabs:PeriodicExponential; no threshold gradient.",
      # as the canonical entry: the core range is ten decay lengths, the edges are the
      # threshold, the midpoint between multiples and the next multiple
      x_scale=lambda p: 1.0 / p["window"],
      boundaries=lambda p: (0.0, 0.5 * p["threshold"], p["threshold"]),
      area_fn=lambda p: math.inf)
_ = Domain
