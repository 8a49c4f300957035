"""Smooth, normalised bell-shaped surrogates: logistic, arctangent, Gaussian family,
Dspike and the algebraic (circ) form.

Each primitive is written through its left tail ``T(|x|) = g(-|x|)`` so that values near
0 keep full relative precision, and ``g(x) = 1 - T(|x|)`` on the right.  In a primitive
``|x|`` is :func:`~spikegrad._numerics.magnitude` (a select of ``-x`` and ``x``), so that
autodiff of ``g`` gives ``g'(0)`` at the threshold (torch's ``abs`` has slope 0 at 0).
"""

from __future__ import annotations

import math
from decimal import Context, Decimal
from typing import Any

from .. import special
from .._numerics import (
    exp_neg,
    exp_neg_abs,
    exp_neg_scaled,
    exp_neg_square,
    host_or_array,
    magnitude,
    scaled,
    scaled_abs,
    two_prod,
)
from ._define import Formula, P, canonical, nonneg, pos, real, up_to

Array = Any
_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
# sqrt(1/2) as an unevaluated pair hi + lo (hi the nearest double)
_SQRT_HALF = math.sqrt(0.5)
_SQRT_HALF_LO = float(Decimal("0.5").sqrt(Context(prec=40)) - Decimal(_SQRT_HALF))


def _mirror(x: Array, tail: Array, total: float, xp: Any) -> Array:
    """``g(x)`` from its left tail: ``tail`` for ``x < 0``, ``total - tail`` otherwise."""
    return xp.where(x < 0, tail, total - tail)


# -- sigmoid / tanh ----------------------------------------------------------------------
def _logistic_e(x: Array, xp: Any, alpha: float) -> Array:
    return exp_neg_abs(x, alpha, 1.0, xp)


def sigmoid_derivative(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``alpha * sigma(alpha x) * sigma(-alpha x)`` as ``alpha e / (1 + e)^2``,
    ``e = exp(-alpha |x|)``: no cancellation, no overflow."""
    e = _logistic_e(x, xp, alpha)
    one_e = 1.0 + e
    return alpha * e / (one_e * one_e)


def sigmoid_primitive(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``sigma(alpha x)`` with the left tail ``e / (1 + e)``."""
    e = exp_neg_scaled(magnitude(x, xp), alpha, 1.0, xp)
    return _mirror(x, e / (1.0 + e), 1.0, xp)


SIGMOID = Formula("sigmoid", sigmoid_derivative, sigmoid_primitive)

canonical(
    "sigmoid", SIGMOID,
    (P("alpha", 4.0, pos(), "Slope: g'(0) = alpha / 4."),),
    summary="Logistic sigmoid σ(αx); g' = α σ(αx) σ(−αx).",
    latex_primitive=r"g(x) = \sigma(\alpha x) = \frac{1}{1 + e^{-\alpha x}}",
    latex_derivative=r"g'(x) = \alpha\,\sigma(\alpha x)\,\sigma(-\alpha x)",
    references=("STBP", "Neftci2019"),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: p["alpha"],
    extra={"row": 1},
)

canonical(
    "tanh", SIGMOID,
    (P("k", 1.0, pos(), "Slope of tanh(kx): g'(0) = k / 2."),),
    summary="Normalised tanh: g = (1 + tanh(kx)) / 2 = σ(2kx); g' = (k/2) sech²(kx).",
    latex_primitive=r"g(x) = \tfrac12\left(1 + \tanh(kx)\right)",
    latex_derivative=r"g'(x) = \tfrac{k}{2}\,\operatorname{sech}^2(kx)",
    mapping=lambda p: ({"alpha": 2.0 * p["k"]}, 1.0),
    mapping_doc="sigmoid(alpha = 2k)",
    notes="norse's HeaviTanh and spyx's tanh compute sech²(kx) without the k/2 factor; "
    "their aliases say how they map.",
    references=("Norse2021",),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: 2.0 * p["k"],
    extra={"row": 2},
)


# -- atan ----------------------------------------------------------------------------------
def atan_derivative(x: Array, /, *, xp: Any, alpha: float) -> Array:
    t = (0.5 * math.pi * alpha) * x
    return (0.5 * alpha) / (1.0 + t * t)


def atan_primitive(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``1/2 + atan(t)/pi`` written as ``atan2(1, -t)/pi`` (no cancellation for x < 0)."""
    t = (0.5 * math.pi * alpha) * x
    return xp.atan2(xp.ones_like(t), -t) / math.pi


ATAN = Formula("atan", atan_derivative, atan_primitive)

canonical(
    "atan", ATAN,
    (P("alpha", 2.0, pos(), "Width parameter: g'(0) = alpha / 2."),),
    summary="Arctangent: g = atan(παx/2)/π + 1/2.",
    latex_primitive=r"g(x) = \frac{1}{\pi}\arctan\!\left(\frac{\pi}{2}\alpha x\right) + \frac12",
    latex_derivative=r"g'(x) = \frac{\alpha/2}{1 + \left(\frac{\pi}{2}\alpha x\right)^2}",
    references=("Fang2021", "Huh2018"),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: 0.5 * math.pi * p["alpha"],
    extra={"row": 3},
)


# -- Gaussian family ---------------------------------------------------------------------
def gauss_derivative(x: Array, /, *, xp: Any, mu: float, mul: float, div: float,
                     c: float) -> Array:
    """``exp(-c z^2)`` with ``z = (x - mu) mul / div`` formed exactly (``c`` = 1 or 1/2)."""
    return exp_neg_square(*scaled(x, mul, div, xp, shift=mu), c, xp)


def gauss_primitive(x: Array, /, *, xp: Any, mu: float, mul: float, div: float,
                    c: float) -> Array:
    """``(div/mul) sqrt(pi/c) erfc(-w) / 2`` with ``w = sqrt(c) z``: the integral of the
    derivative.  ``w = w_hi + w_lo`` is formed exactly and the low part applied to first
    order, ``erfc(-w) = erfc(-w_hi) + (2/sqrt(pi)) exp(-w_hi^2) w_lo``."""
    hi, lo = scaled(x, mul, div, xp, shift=mu)
    if c == 0.5:  # w = z sqrt(1/2) with sqrt(1/2) as a pair
        p, e = two_prod(hi, _SQRT_HALF, xp)
        hi, lo = p, e + hi * _SQRT_HALF_LO + lo * _SQRT_HALF
    elif c != 1.0:
        raise ValueError(f"gauss kernel supports c = 1 or 1/2, got {c}")
    lo = xp.where(xp.isfinite(lo), lo, xp.zeros_like(lo))
    cdf = 0.5 * special.erfc(-hi, xp) + (xp.exp(-hi * hi) / _SQRT_PI) * lo
    return ((div / mul) * math.sqrt(math.pi / c)) * cdf


GAUSS = Formula("_gauss", gauss_derivative, gauss_primitive)

canonical(
    "erf", GAUSS,
    (P("alpha", 2.0, pos(), "Inverse width: g'(0) = alpha / sqrt(pi)."),),
    summary="Error function: g = erfc(−αx)/2; g' = (α/√π) exp(−α²x²).",
    latex_primitive=r"g(x) = \tfrac12\operatorname{erfc}(-\alpha x)",
    latex_derivative=r"g'(x) = \frac{\alpha}{\sqrt\pi}\,e^{-\alpha^2 x^2}",
    mapping=lambda p: ({"mu": 0.0, "mul": p["alpha"], "div": 1.0, "c": 1.0},
                       p["alpha"] / _SQRT_PI),
    mapping_doc="gaussian(sigma = 1/(alpha*sqrt(2)))",
    references=("Esser2015", "STBP"),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: p["alpha"],
    extra={"row": 10},
)

canonical(
    "gaussian", GAUSS,
    (P("sigma", 0.5, pos(), "Standard deviation of the bell."),
     P("scale", 1.0, nonneg(), "Area under g' (1 = normalised)."),
     P("mu", 0.0, real(), "Centre of the bell, relative to the threshold.")),
    summary="Gaussian density N(x; μ, σ) times scale; g = scale·Φ((x − μ)/σ).",
    latex_primitive=r"g(x) = \frac{s}{2}\operatorname{erfc}\!\left(-\frac{x-\mu}"
    r"{\sigma\sqrt2}\right)",
    latex_derivative=r"g'(x) = \frac{s}{\sigma\sqrt{2\pi}}\,e^{-(x-\mu)^2/(2\sigma^2)}",
    mapping=lambda p: ({"mu": p["mu"], "mul": 1.0, "div": p["sigma"], "c": 0.5},
                       p["scale"] / (p["sigma"] * _SQRT_2PI)),
    references=("Yin2021", "STBP"),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: 1.0 / p["sigma"],
    peak_at=lambda p: (p["mu"],),
    boundaries=lambda p: (p["mu"],),
    extra={"row": 11},
)


def multi_gaussian_derivative(x: Array, /, *, xp: Any, h: float, s: float, sigma: float,
                              mu: float) -> Array:
    """``(1+h) N(x; mu, sigma) - h N(x; sigma, s sigma) - h N(x; -sigma, s sigma)``."""
    centre = gauss_derivative(x, xp=xp, mu=mu, mul=1.0, div=sigma, c=0.5)
    wide = s * sigma
    right = gauss_derivative(x, xp=xp, mu=sigma, mul=1.0, div=wide, c=0.5)
    left = gauss_derivative(x, xp=xp, mu=-sigma, mul=1.0, div=wide, c=0.5)
    return ((1.0 + h) / (sigma * _SQRT_2PI)) * centre - (h / (wide * _SQRT_2PI)) * (right + left)


def multi_gaussian_primitive(x: Array, /, *, xp: Any, h: float, s: float, sigma: float,
                             mu: float) -> Array:
    wide = s * sigma
    centre = gauss_primitive(x, xp=xp, mu=mu, mul=1.0, div=sigma, c=0.5)
    right = gauss_primitive(x, xp=xp, mu=sigma, mul=1.0, div=wide, c=0.5)
    left = gauss_primitive(x, xp=xp, mu=-sigma, mul=1.0, div=wide, c=0.5)
    return ((1.0 + h) / (sigma * _SQRT_2PI)) * centre - (h / (wide * _SQRT_2PI)) * (right + left)


MULTI_GAUSS = Formula("multi_gaussian", multi_gaussian_derivative, multi_gaussian_primitive)

canonical(
    "multi_gaussian", MULTI_GAUSS,
    (P("h", 0.15, nonneg(), "Weight of the two negative side lobes."),
     P("s", 6.0, pos(), "Width of the side lobes relative to sigma."),
     P("sigma", 0.5, pos(), "Width of the central lobe (also the side lobes' offset)."),
     P("scale", 0.5, nonneg(), "Overall scale; the area is scale·(1 − h).")),
    summary="Central Gaussian minus two wide side lobes (Yin et al. 2021); negative in "
    "the lobes.",
    latex_primitive=r"g(x) = s_c\left[(1+h)\Phi_{0,\sigma} - h\Phi_{\sigma,s\sigma} - "
    r"h\Phi_{-\sigma,s\sigma}\right](x)",
    latex_derivative=r"g'(x) = s_c\left[(1+h)\,\mathcal N(x;0,\sigma) - h\,\mathcal N(x;\sigma,"
    r"s\sigma) - h\,\mathcal N(x;-\sigma,s\sigma)\right]",
    mapping=lambda p: ({"h": p["h"], "s": p["s"], "sigma": p["sigma"], "mu": 0.0},
                       p["scale"]),
    references=("Yin2021",),
    monotone=False,
    sign_changing=True,
    limits="g' → 0 at ±inf",
    x_scale=lambda p: 1.0 / p["sigma"],
    # the side lobes (near ±sigma) outweigh the centre when h is large
    peak_at=lambda p: (0.0, p["sigma"], -p["sigma"]),
    extra={"row": 12},
)


# -- Dspike ------------------------------------------------------------------------------
def dspike_derivative(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``alpha / (2 tanh(alpha/2)) sech^2(alpha x)`` on ``|x| <= 1/2``, else 0.  The core
    range ``|alpha x| <= 10`` reaches ``exp(-20)``: the argument is formed exactly in every
    dtype (a rounded one costs ``|arg| / 2`` ULP)."""
    e = exp_neg(*scaled_abs(x, 2.0 * alpha, 1.0, xp), xp)
    one_e = 1.0 + e
    amp = 2.0 * alpha / host_or_array("tanh", 0.5 * alpha, xp)
    return xp.where(xp.abs(x) <= 0.5, amp * e / (one_e * one_e), xp.zeros_like(x))


def dspike_primitive(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """Left tail ``e (1 - exp(-alpha (1 - 2|x|))) / ((1 - exp(-alpha)) (1 + e))``,
    ``e = exp(-2 alpha |x|)``, 0 past ``|x| = 1/2`` (the clamped
    ``tanh(alpha x) / (2 tanh(alpha/2)) + 1/2``).  Every exponent is <= 0: the form
    ``sinh(alpha (1/2 - |x|)) / (2 sinh(alpha/2) cosh(alpha |x|))`` overflowed in its
    denominator (inf from alpha ~ 90 in float32, ~ 710 in float64: its alpha-derivative
    was NaN inside the domain) and lost digits on the way (float64: 56 ULP at
    alpha = 400, every digit of the tail at 1000)."""
    a = xp.clip(magnitude(x, xp), max=0.5)
    e = exp_neg_scaled(a, 2.0 * alpha, 1.0, xp)
    rest = -xp.expm1(-(alpha * (1.0 - 2.0 * a)))
    whole = -host_or_array("expm1", -alpha, xp)
    return _mirror(x, e * rest / (whole * (1.0 + e)), 1.0, xp)


DSPIKE = Formula("dspike", dspike_derivative, dspike_primitive, version=2)

canonical(
    "dspike", DSPIKE,
    (P("alpha", 3.0, up_to(1000.0),
       "Temperature: sharpness of the tanh inside |x| <= 1/2."),),
    summary="Differentiable spike (Li et al. 2021), centred: rescaled tanh on |x| ≤ 1/2.",
    latex_primitive=r"g(x) = \frac{\tanh(\alpha x)}{2\tanh(\alpha/2)} + \frac12 "
    r"\text{ on } |x|\le\tfrac12,\ \text{clamped to } [0, 1]",
    latex_derivative=r"g'(x) = \frac{\alpha}{2\tanh(\alpha/2)}\operatorname{sech}^2(\alpha x)"
    r"\,\mathbb 1[|x| \le \tfrac12]",
    boundary="g' is taken from the inside at |x| = 1/2 (inclusive).",
    references=("Li2021",),
    limits="g' = 0 for |x| > 1/2",
    x_scale=lambda p: p["alpha"],
    boundaries=lambda p: (-0.5, 0.5),
    extra={"row": 14},
)


# -- heavi_circ --------------------------------------------------------------------------
def circ_derivative(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``alpha^2 / (2 (x^2 + alpha^2)^{3/2})`` as ``1 / (2 alpha q sqrt(q))``,
    ``q = 1 + (x/alpha)^2``."""
    r = xp.abs(x) / alpha
    q = 1.0 + r * r
    return 1.0 / ((2.0 * alpha) * q * xp.sqrt(q))


def circ_primitive(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``1/2 + x / (2 sqrt(x^2 + alpha^2))`` with the left tail ``1 / (2 s (s + r))``."""
    r = magnitude(x, xp) / alpha
    sq = xp.sqrt(1.0 + r * r)
    return _mirror(x, 1.0 / (2.0 * sq * (sq + r)), 1.0, xp)


CIRC = Formula("heavi_circ", circ_derivative, circ_primitive)

canonical(
    "heavi_circ", CIRC,
    (P("alpha", 0.5, pos(), "Width: g'(0) = 1 / (2 alpha)."),),
    summary="Algebraic sigmoid x/√(x² + α²): heavy x⁻³ tails.",
    latex_primitive=r"g(x) = \frac12 + \frac{x}{2\sqrt{x^2 + \alpha^2}}",
    latex_derivative=r"g'(x) = \frac{\alpha^2}{2\,(x^2 + \alpha^2)^{3/2}}",
    notes="norse's HeaviCirc backward is 2α times this derivative (right only for α = 1/2) "
    "and NaN at ±inf; the norse aliases give this derivative.",
    references=("Norse2021",),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: 1.0 / p["alpha"],
    extra={"row": 30},
)
