"""snntorch 1.0 names (``snntorch.surrogate``); forward ``x > 0``, spike in the input
dtype (snntorch itself always returns float32)."""

from __future__ import annotations

from ..surrogates._define import P, alias, nonneg, pos, pos_or_zero, real

LIB = "snntorch"
_F32 = "snntorch 1.0 returns a float32 spike for every input dtype; here the input dtype."

alias(LIB, "atan", "atan", (P("alpha", 2.0, pos(), "Width parameter."),),
      to=lambda p: ({"alpha": p["alpha"]}, 1.0), forward="gt", mapping_doc="atan(alpha)",
      notes="snntorch's docstring derivative (1/pi)/(1+(pi U alpha/2)^2) differs from its "
      "code (alpha/2)/(...); the code's value is the correct one and is used. " + _F32)
alias(LIB, "fast_sigmoid", "fast_sigmoid", (P("slope", 25.0, pos_or_zero(), "Slope k."),),
      to=lambda p: ({"k": p["slope"]}, 1.0), forward="gt", mapping_doc="fast_sigmoid(k = slope)",
      notes=_F32)
alias(LIB, "sigmoid", "sigmoid", (P("slope", 25.0, pos(), "Slope."),),
      to=lambda p: ({"alpha": p["slope"]}, 1.0), forward="gt",
      mapping_doc="sigmoid(alpha = slope)",
      notes="snntorch 1.0 computes k e^{-kx}/(e^{-kx}+1)^2; in float32 it returns 0 for "
      "x < -44.4/k (the squared denominator overflows; -1.77 at k = 25) and NaN for "
      "x < -(88.7 - ln k)/k (k e^{-kx} overflows too; -3.42 at k = 25) and at -inf; this "
      "gives the correct (tiny or zero) value. " + _F32)
alias(LIB, "spike_rate_escape", "spike_rate_escape",
      (P("beta", 1.0, pos(), "Decay rate."), P("slope", 25.0, nonneg(), "Peak value.")),
      to=lambda p: ({"beta": p["beta"], "slope": p["slope"]}, 1.0), forward="gt",
      mapping_doc="spike_rate_escape(beta, slope)",
      notes="snntorch 1.0 centres the peak at x = 1 (mem = thr + 1); this alias peaks at the "
      "threshold. " + _F32)
alias(LIB, "SFS", "sparse_fast_sigmoid",
      (P("slope", 25.0, pos_or_zero(), "Slope k."),
       P("B", 1.0, real(), "Lower bound of the support.")),
      to=lambda p: ({"slope": p["slope"], "B": p["B"]}, 1.0), forward="gt",
      mapping_doc="sparse_fast_sigmoid(slope, B)",
      peak_at=lambda p: (max(p["B"], 0.0) + 1e-12 * (1 + abs(p["B"])),), notes=_F32)
alias(LIB, "SSO", "stochastic_spike_operator",
      (P("mean", 0.0, real(), "Noise offset."), P("variance", 0.2, nonneg(), "Noise multiplier.")),
      to=lambda p: ({"mean": p["mean"], "variance": p["variance"]}, 1.0), forward="gt",
      mapping_doc="stochastic_spike_operator(mean, variance)", peak_at=lambda p: (1.0,),
      area_fn=lambda p: None, notes="Noise comes from an explicit key. " + _F32)
alias(LIB, "LSO", "leaky_spike_operator", (P("slope", 0.1, real(), "Slope at/below 0."),),
      to=lambda p: ({"slope": p["slope"]}, 1.0), forward="gt", peak_at=lambda p: (-1.0, 1.0),
      mapping_doc="leaky_spike_operator(slope)",
      notes="snntorch 1.0's LSO() raises (it builds StochasticSpikeOperator); this is the "
      "intended leaky operator.")
alias(LIB, "triangular", "sign_triangular", (P("threshold", 1.0, nonneg(), "Magnitude."),),
      to=lambda p: ({"threshold": p["threshold"]}, 1.0), forward="gt",
      mapping_doc="sign_triangular(threshold)",
      notes="snntorch's 'triangular' is +thr below and -thr at/above threshold, not a "
      "triangle. " + _F32)
alias(LIB, "straight_through_estimator", "straight_through", (), to=lambda p: ({}, 1.0),
      forward="gt", mapping_doc="straight_through()", notes=_F32)
alias(LIB, "heaviside", "heaviside_window", (),
      to=lambda p: ({"window": 0.0, "scale": 1.0, "inclusive": False}, 1.0), forward="gt",
      peak_at=lambda p: (1.0,),
      mapping_doc="heaviside_window(window = 0, inclusive = False): g' is the spike itself",
      notes=_F32)
