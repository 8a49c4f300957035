"""Periodic surrogates: Fourier square wave and periodic exponential.

Periodic arguments are reduced with the array API's exact ``remainder`` before any
trigonometric or exponential function, so values stay right for large ``|x|``.
"""

from __future__ import annotations

import math
from typing import Any

from .. import special
from .._numerics import _round_to, exp_neg, exp_neg_abs, is_host, magnitude, scaled, two_prod
from ._define import Domain, Formula, P, canonical, nonneg, pos

Array = Any


def _exact_period(x: Array, xp: Any, period: Any) -> bool:
    """Whether to reduce in float64: ``x`` below double precision and a host period its
    dtype cannot hold (rounding the period would shift the phase by ``x/period`` times the
    rounding: thousands of ULPs a few hundred periods out)."""
    return (is_host(period) and x.dtype != xp.float64 and special.has_float64(xp)
            and _round_to(period, xp, x.dtype) != period)


def _turns(x: Array, xp: Any, multiple: int, period: float) -> Array:
    """Fraction of a period ``(multiple * x / period) mod 1`` in [0, 1), reduced exactly
    (in float64 where the period is not a value of ``x``'s dtype): the product
    ``multiple * r`` is split exactly (``p + e``), ``p`` reduced, and ``e`` added back (a
    rounded product would shift harmonic ``m``'s phase by ``m`` ULPs)."""
    if _exact_period(x, xp, period):
        r64 = special.remainder(xp.astype(x, xp.float64), period, xp)
        return xp.astype(special.remainder(multiple * r64, period, xp) / period, x.dtype)
    r = special.remainder(x, period, xp)  # exact, in [0, period)
    if multiple == 1:
        return r / period
    p, e = two_prod(r, float(multiple), xp)
    return (special.remainder(p, period, xp) + e) / period


def _distance_to_multiple(x: Array, xp: Any, period: Any) -> tuple[Array, Array]:
    """Distance from ``x >= 0`` to the nearest multiple of ``period`` as a pair
    ``hi + lo``.  In ``x``'s dtype the distance is exact (``period - r`` is, by Sterbenz,
    wherever it is the smaller); reduced in float64, its rounding back to ``x``'s dtype is
    kept as ``lo`` (it costs ``|arg|/2`` ULP of the exponential otherwise)."""
    if _exact_period(x, xp, period):
        r64 = special.remainder(xp.astype(x, xp.float64), period, xp)
        d64 = xp.minimum(r64, period - r64)
        hi = xp.astype(d64, x.dtype)
        lo = xp.astype(d64 - xp.astype(hi, xp.float64), x.dtype)
        return hi, xp.where(xp.isfinite(lo), lo, xp.zeros_like(lo))
    r = special.remainder(x, period, xp)
    return xp.minimum(r, period - r), xp.zeros_like(x)


#: Most harmonics a square-wave surrogate sums.  Every term is evaluated per element (the
#: domain once accepted 2**70, which never finished), and the terms' roundings add up: the
#: declared tolerance grows as N/4.  (The 2.5 N to 4.7 N ULP once measured came from
#: reducing negative ``x``, whose remainder ``T - |x|`` is rounded; reduced from ``|x|``,
#: numpy, torch and jax stay within 10 ULP of the peak for every N up to 100.)
MAX_TERMS = 100


def squarewave_derivative(x: Array, /, *, xp: Any, n_terms: int, t_period: float) -> Array:
    """``(4/T) sum_{i=1}^{N} cos((2i-1) 2 pi x / T)``, even: reduced from ``|x|`` (the
    remainder of a negative ``x`` is ``T - |x|``, rounded, and harmonic ``m`` multiplies
    that rounding by ``m``: 131 ULP at N = 56 just below 0 in float32)."""
    a = xp.abs(x)
    total = xp.zeros_like(x)
    for i in range(1, n_terms + 1):
        total = total + xp.cos((2.0 * math.pi) * _turns(a, xp, 2 * i - 1, t_period))
    return (4.0 / t_period) * total


def squarewave_primitive(x: Array, /, *, xp: Any, n_terms: int, t_period: float) -> Array:
    """``1/2 + (2/pi) sum_{i=1}^{N} sin((2i-1) 2 pi x / T) / (2i-1)``, odd about 1/2:
    reduced from ``|x|`` (see :func:`squarewave_derivative`)."""
    a = magnitude(x, xp)
    total = xp.zeros_like(x)
    for i in range(1, n_terms + 1):
        m = 2 * i - 1
        total = total + xp.sin((2.0 * math.pi) * _turns(a, xp, m, t_period)) / m
    half = (2.0 / math.pi) * total
    return xp.where(x < 0, 0.5 - half, 0.5 + half)


canonical(
    "squarewave_fourier_series",
    Formula("squarewave_fourier_series", squarewave_derivative, squarewave_primitive),
    (P("n_terms", 1, Domain.integer(1, MAX_TERMS), "Number N of odd harmonics summed (each "
       "is evaluated, and their roundings add up: at most 100)."),
     P("t_period", 8.0, pos(), "Period T of the square wave.")),
    summary="Fourier partial sum of a square wave of period T (N odd harmonics).",
    latex_primitive=r"g(x) = \frac12 + \frac2\pi\sum_{i=1}^{N}\frac{\sin((2i-1)\omega x)}{2i-1},"
    r"\quad \omega = \frac{2\pi}{T}",
    latex_derivative=r"g'(x) = \frac4T\sum_{i=1}^{N}\cos((2i-1)\omega x)",
    notes="n_terms = N is the number of harmonics: spikingjelly's and brainstate's "
    "SquarewaveFourierSeries(n) sum n-1 terms, braintools' sums n.  The N harmonics' "
    "roundings add up, so every adapter's ULP tolerance is scaled by max(1, N/4).",
    references=("Fang2023",),
    ulp_factor=lambda p: max(1.0, p["n_terms"] / 4.0),
    monotone=False,
    sign_changing=True,
    limits="periodic: no limit at ±inf (NaN)",
    x_scale=lambda p: 2.0 * math.pi * (2 * p["n_terms"] - 1) / p["t_period"],
    peak_at=lambda p: (0.0,),
    extra={"row": 18},
)


def periodic_exp_derivative(x: Array, /, *, xp: Any, width: float, period: float,
                            right_factor: float) -> Array:
    """``exp(-|x|/width)`` for ``x < 0``; ``exp(-right_factor d/width)`` for ``x >= 0``
    with ``d`` the distance from ``x`` to the nearest multiple of ``period``."""
    left = exp_neg_abs(x, 1.0, width, xp)
    d_hi, d_lo = _distance_to_multiple(xp.abs(x), xp, period)
    hi, lo = scaled(d_hi, right_factor, width, xp)
    right = exp_neg(hi, lo + d_lo * (right_factor / width), xp)
    return xp.where(x < 0, left, right)


PERIODIC_EXP = Formula("_periodic_exp", periodic_exp_derivative)

canonical(
    "periodic_exponential", PERIODIC_EXP,
    (P("width", 0.5, pos(), "Decay length of each peak."),
     P("scale", 1.0, nonneg(), "Peak value."),
     P("period", 1.0, pos(), "Spacing of the peaks above threshold (the threshold itself).")),
    summary="Exponential peak at every multiple of the period above threshold (multi-spike).",
    latex_derivative=r"g'(x) = s\begin{cases}e^{-|x|/w} & x < 0\\ e^{-2 d(x)/w} & x \ge 0"
    r"\end{cases},\ d(x) = \operatorname{dist}(x, \theta\mathbb Z)",
    mapping=lambda p: ({"width": p["width"], "period": p["period"], "right_factor": 2.0},
                       p["scale"]),
    notes="Follows sinabs' PeriodicExponential; rockpool's differs (distance not doubled, "
    "divided by the threshold) and is the alias 'rockpool:PeriodicExponential'.",
    references=("Weidel2021",),
    monotone=True,
    limits="g' → 0 at -inf; periodic (NaN) at +inf",
    x_scale=lambda p: 1.0 / p["width"],
    boundaries=lambda p: (0.0, 0.5 * p["period"], p["period"]),
    area_fn=lambda p: math.inf,
    extra={"row": 31},
)
