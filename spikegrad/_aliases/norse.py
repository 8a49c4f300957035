"""norse names (``norse.torch.functional.threshold`` methods and ``*_fn`` functions);
forward ``x > 0``.  norse neurons default to ``alpha = 100``."""

from __future__ import annotations

from ..surrogates._define import P, alias, nonneg, pos, pos_or_zero

LIB = "norse"

alias(LIB, "super", "fast_sigmoid", (P("alpha", 100.0, pos_or_zero(), "Slope k."),),
      to=lambda p: ({"k": p["alpha"]}, 1.0), forward="gt", mapping_doc="fast_sigmoid(k = alpha)",
      notes="norse 1.1.0 ignores alpha (it computes 1/(|x|+1)^2, slope 1); the fix on its main "
      "branch uses alpha, as here.")
alias(LIB, "tanh", "tanh", (P("alpha", 100.0, pos(), "Slope k of tanh(kx)."),),
      to=lambda p: ({"k": p["alpha"]}, 1.0), forward="gt", mapping_doc="tanh(k = alpha)",
      notes="norse computes sech²(kx), which lacks the k/2 of the derivative of its documented "
      "primitive (1 + tanh(kx))/2; the correct (k/2) sech²(kx) is used.")
alias(LIB, "circ", "heavi_circ", (P("alpha", 100.0, pos(), "Width."),),
      to=lambda p: ({"alpha": p["alpha"]}, 1.0), forward="gt", mapping_doc="heavi_circ(alpha)",
      notes="norse computes alpha^3/(x^2+alpha^2)^{3/2}, 2 alpha times the derivative of its "
      "documented primitive and NaN at ±inf; the correct derivative is used.")
alias(LIB, "triangle", "triangle", (P("alpha", 0.3, nonneg(), "Height."),),
      to=lambda p: ({"height": p["alpha"], "half_width": 1.0}, 1.0), forward="gt",
      mapping_doc="triangle(height = alpha, half_width = 1)")
alias(LIB, "heavi_erfc_fn", "erf", (P("k", 2.0, pos(), "Inverse width."),),
      to=lambda p: ({"alpha": p["k"]}, 1.0), forward="gt", mapping_doc="erf(alpha = k)",
      notes="norse computes (2/sqrt(pi)) exp(-(kx)^2), right only for k = 2, and documents a "
      "decreasing primitive; the normalised erf(k) is used.")
alias(LIB, "logistic_fn", "tanh", (P("k", 100.0, pos(), "Slope k."),),
      to=lambda p: ({"k": p["k"]}, 1.0), forward="bernoulli_primitive",
      mapping_doc="tanh(k) with a Bernoulli((1 + tanh(kx))/2) forward",
      notes="Stochastic forward drawn from the key; norse's backward lacks k/2 (see "
      "norse:tanh).")
alias(LIB, "circ_dist_fn", "heavi_circ", (P("alpha", 100.0, pos(), "Width."),),
      to=lambda p: ({"alpha": p["alpha"]}, 1.0), forward="bernoulli_primitive",
      mapping_doc="heavi_circ(alpha) with a Bernoulli(g(x)) forward",
      notes="Stochastic forward drawn from the key; norse's backward is 2 alpha times too "
      "large (see norse:circ).")
