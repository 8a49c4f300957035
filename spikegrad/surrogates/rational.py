"""Algebraic (heavy-tailed) surrogates: inverse-square family, power laws, logarithmic."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._numerics import (
    compare,
    host_or_array,
    is_host,
    magnitude,
    one_plus_pow,
    safe,
    scaled,
    scaled_abs,
)
from ._define import Formula, P, canonical, greater, pos, pos_or_zero, real

Array = Any


# -- inverse-square family (fast sigmoid / SuperSpike / soft sign) -----------------------
def _one_plus(x: Array, xp: Any, k: float) -> Array:
    hi, lo = scaled_abs(x, k, 1.0, xp)
    return (1.0 + hi) + lo


def _finite_at_zero_slope(a: Array, xp: Any, k: Any) -> Array:
    """``a = |x|`` with ``±inf`` read as 0 where the slope ``k`` is 0: ``k |x|`` is then
    ``0 * inf``, and the limit of ``1 / (1 + 0 |x|)`` at infinity is its value, 1."""
    if is_host(k) and k != 0.0:
        return a
    infinite = ~(xp.isfinite(a) | xp.isnan(a))
    if is_host(k):
        return safe(~infinite, a, 0.0, xp)
    return xp.where((k == 0.0) & infinite, xp.zeros_like(a), a)


def fast_sigmoid_derivative(x: Array, /, *, xp: Any, k: float) -> Array:
    """``1 / (1 + k|x|)^2``; at ``k = 0`` the constant 1 (the straight-through
    estimator), at ``x = ±inf`` too."""
    q = _one_plus_k_times(xp.abs(x), xp, k)
    return 1.0 / (q * q)


def _one_plus_k_times(a: Array, xp: Any, k: Any) -> Array:
    """``1 + k a`` for ``a = |x| >= 0``, the product's rounding error kept (one rounding
    in all); at ``k = 0`` exactly 1, ``a = inf`` included."""
    hi, lo = scaled(_finite_at_zero_slope(a, xp, k), k, 1.0, xp)
    return (1.0 + hi) + lo


def fast_sigmoid_primitive(x: Array, /, *, xp: Any, k: float) -> Array:
    """Left tail ``1 / (k (1 + k|x|))``; ``g(+inf) = 2/k``.

    At ``k = 0`` the anchor ``g(-inf) = 0`` has no finite value (it is the constant
    ``1/k``): ``g`` is then the rest, ``x / (1 + k|x|) = x``, the straight-through
    primitive (an array ``k`` keeps that form's slope in ``k``, ``-x|x|``)."""
    if is_host(k):
        return x if k == 0.0 else _fast_sigmoid_anchored(x, xp, k)
    zero = k == 0.0
    anchored = _fast_sigmoid_anchored(x, xp, xp.where(zero, xp.ones_like(k), k))
    rest = x / _one_plus_k_times(magnitude(x, xp), xp, k)
    return xp.where(zero, rest, anchored)


def _fast_sigmoid_anchored(x: Array, xp: Any, k: Any) -> Array:
    """``1/k + x / (1 + k|x|)`` for ``k > 0``, anchored at ``g(-inf) = 0``."""
    a = magnitude(x, xp)
    hi, lo = scaled(a, k, 1.0, xp)
    q = (1.0 + hi) + lo
    near = xp.isfinite(q)
    # where k|x| overflows, 1/(k q) = 1/(k^2 |x|) to within 1/(k|x|); elsewhere that branch
    # sees |x| = 1 (at x = 0 it was inf, and a parameter's gradient NaN)
    tail = xp.where(near, (1.0 / k) / q, (1.0 / (k * k)) / safe(~near, a, 1.0, xp))
    return xp.where(x < 0, tail, 2.0 / k - tail)


FAST_SIGMOID = Formula("fast_sigmoid", fast_sigmoid_derivative, fast_sigmoid_primitive)

canonical(
    "fast_sigmoid", FAST_SIGMOID,
    (P("k", 25.0, pos_or_zero(), "Slope; g'(0) = 1, area 2/k."),),
    summary="Fast sigmoid / SuperSpike slope form: g' = 1/(1 + k|x|)², peak 1.",
    latex_primitive=r"g(x) = \frac{1}{k} + \frac{x}{1 + k|x|}",
    latex_derivative=r"g'(x) = \frac{1}{(1 + k|x|)^2}",
    notes="The primitive is anchored at g(-inf) = 0; snntorch documents x/(1+k|x|), which "
    "differs by the constant 1/k. At k = 0 (g' = 1, the straight-through estimator) that "
    "anchor has no value, and g = x.",
    references=("SuperSpike",),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: p["k"],
    extra={"row": 8},
)

canonical(
    "soft_sign", FAST_SIGMOID,
    (P("alpha", 2.0, pos(), "Slope; g'(0) = alpha / 2."),),
    summary="Normalised soft sign: g = (αx/(1 + α|x|) + 1)/2 = (α/2)·fast_sigmoid(α).",
    latex_primitive=r"g(x) = \frac12\left(\frac{\alpha x}{1 + \alpha|x|} + 1\right)",
    latex_derivative=r"g'(x) = \frac{\alpha}{2\,(1 + \alpha|x|)^2}",
    mapping=lambda p: ({"k": p["alpha"]}, 0.5 * p["alpha"]),
    mapping_doc="(alpha/2) * fast_sigmoid(k = alpha)",
    references=("SuperSpike", "Neftci2019"),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: p["alpha"],
    extra={"row": 7},
)

canonical(
    "super_spike", FAST_SIGMOID,
    (P("beta", 1.0, pos_or_zero(), "Sharpness β of the paper (a slope): g'(0) = 1."),),
    summary="SuperSpike surrogate of Zenke & Ganguli: g' = 1/(1 + β|x|)² (β is a slope).",
    latex_primitive=r"g(x) = \frac{1}{\beta} + \frac{x}{1 + \beta|x|}",
    latex_derivative=r"g'(x) = \frac{1}{(1 + \beta|x|)^2}",
    mapping=lambda p: ({"k": p["beta"]}, 1.0),
    mapping_doc="fast_sigmoid(k = beta)",
    notes="spikingjelly's SuperSpike(alpha) uses alpha as an amplitude, alpha/(1+|x|)^2; "
    "that form is the alias 'spikingjelly:SuperSpike'.",
    references=("SuperSpike",),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: p["beta"],
    extra={"row": 9},
)


def sparse_fast_sigmoid_derivative(x: Array, /, *, xp: Any, k: float, B: float) -> Array:
    """``fast_sigmoid(k)`` masked to ``x > B``."""
    return xp.where(compare(x, ">", B, xp), fast_sigmoid_derivative(x, xp=xp, k=k),
                    xp.zeros_like(x))


def _sfs_area(p: dict[str, Any]) -> float:
    xs = np.asarray([p["B"], np.inf])
    with np.errstate(divide="ignore", invalid="ignore"):  # inf arithmetic, then selected
        lo, hi = fast_sigmoid_primitive(xs, xp=np, k=p["slope"])
    return float(hi - lo)


canonical(
    "sparse_fast_sigmoid",
    Formula("sparse_fast_sigmoid", sparse_fast_sigmoid_derivative),
    (P("slope", 25.0, pos_or_zero(), "Slope k of the fast sigmoid."),
     P("B", 1.0, real(), "Gradient is kept only where x > B.")),
    summary="Fast sigmoid gradient kept only above x = B (sparse backward).",
    latex_derivative=r"g'(x) = \frac{\mathbb 1[x > B]}{(1 + k|x|)^2}",
    mapping=lambda p: ({"k": p["slope"], "B": p["B"]}, 1.0),
    boundary="x = B gives 0 (strict).",
    notes="With snntorch's default B = 1 the gradient is zero at and just above the "
    "threshold (x = mem − thr); choose B < 0 to keep a band below threshold.",
    references=("PerezNieves2021",),
    limits="g' → 0 at +inf, 0 below B",
    x_scale=lambda p: p["slope"],
    boundaries=lambda p: (p["B"],),
    peak_at=lambda p: (float(np.nextafter(max(p["B"], -0.0), np.inf)) if p["B"] >= 0
                       else 0.0,),
    area_fn=_sfs_area,
    extra={"row": 26},
)


# -- power law (q-PseudoSpike family) ------------------------------------------------------
def _base(a: Array, xp: Any, length: float) -> Array:
    """``1 + a/length`` for ``a = |x|`` (rounded once)."""
    hi, lo = scaled(a, 1.0, length, xp)
    return (1.0 + hi) + lo


def _log_far(a: Array, finite: Array, xp: Any, length: float) -> Array:
    """``log(a / length)``, the base's logarithm where ``a/length`` overflows (selected
    only where ``finite`` is false; elsewhere it sees ``a = 1``: ``log 0`` was ``-inf``
    at ``x = 0``, and the gradients through the branch not taken NaN)."""
    return xp.log(safe(~finite, a, 1.0, xp)) - host_or_array("log", length, xp)


def _base_pow(a: Array, base: Array, q: float, xp: Any, length: float) -> Array:
    """``base^q``; where ``a/length`` overflows, ``exp(q (log a - log length))``."""
    finite = xp.isfinite(base)
    direct = xp.pow(safe(finite, base, 1.0, xp), q)
    far = xp.exp(q * _log_far(a, finite, xp, length))
    return xp.where(finite, direct, far)


def _log_base(a: Array, base: Array, xp: Any, length: float) -> Array:
    finite = xp.isfinite(base)
    return xp.where(finite, xp.log(safe(finite, base, 1.0, xp)),
                    _log_far(a, finite, xp, length))


def power_law_derivative(x: Array, /, *, xp: Any, length: float, power: float) -> Array:
    """``(1 + |x|/length)^(-power)``, the base's and the exponent's roundings put back."""
    a = xp.abs(x)
    hi, lo = scaled(a, 1.0, length, xp)
    finite = xp.isfinite(hi)
    far = xp.exp(-power * _log_far(a, finite, xp, length))
    near = one_plus_pow(hi, lo, -power, xp)
    return xp.where(finite, near, far)


def power_law_primitive(x: Array, /, *, xp: Any, length: float, power: float) -> Array:
    """For ``power > 1``: left tail ``length/(power-1) (1 + |x|/length)^(1-power)``
    (anchored at ``g(-inf) = 0``).  Otherwise the odd integral from 0 (``g(0) = 0``)."""
    a = magnitude(x, xp)
    base = _base(a, xp, length)
    if not is_host(power):  # array power: every case, selected (safe inputs in each)
        one = xp.ones_like(power)
        above = power > 1.0
        p_hi = xp.where(above, power, 2.0 * one)
        c = length / (p_hi - 1.0)
        tail = c * _base_pow(a, base, 1.0 - p_hi, xp, length)
        upper = xp.where(x < 0, tail, 2.0 * c - tail)
        log_base = _log_base(a, base, xp, length)
        p_lo = xp.where(power == 1.0, 0.5 * one, power)
        half = xp.where(power == 1.0, length * log_base,
                        length * xp.expm1((1.0 - p_lo) * log_base) / (1.0 - p_lo))
        return xp.where(above, upper, xp.where(x < 0, -half, half))
    if power > 1.0:
        c = length / (power - 1.0)
        tail = c * _base_pow(a, base, 1.0 - power, xp, length)
        return xp.where(x < 0, tail, 2.0 * c - tail)
    log_base = _log_base(a, base, xp, length)
    if power == 1.0:
        half = length * log_base
    else:
        half = length * xp.expm1((1.0 - power) * log_base) / (1.0 - power)
    return xp.where(x < 0, -half, half)


POWER_LAW = Formula("_power_law", power_law_derivative, power_law_primitive)

canonical(
    "q_pseudo_spike", POWER_LAW,
    (P("alpha", 2.0, greater(1.0), "Tail fatness q: larger is thinner."),),
    summary="q-PseudoSpike (Herranz-Celotti & Rouat): normalised power-law tails.",
    latex_primitive=r"g(x) = \tfrac12\left(1 + \tfrac{2|x|}{\alpha-1}\right)^{1-\alpha} "
    r"\text{ for } x<0,\quad 1 - \tfrac12\left(1 + \tfrac{2|x|}{\alpha-1}\right)^{1-\alpha}"
    r"\text{ for } x\ge0",
    latex_derivative=r"g'(x) = \left(1 + \frac{2|x|}{\alpha - 1}\right)^{-\alpha}",
    mapping=lambda p: ({"length": 0.5 * (p["alpha"] - 1.0), "power": p["alpha"]}, 1.0),
    mapping_doc="power law (1 + |x|/s)^(-p) with s = (alpha-1)/2, p = alpha",
    notes="braintools >= 0.2 computes (1 + 2|x|/(alpha+1))^(-alpha), a different function "
    "(area (alpha+1)/(alpha-1)); it is the alias 'braintools:QPseudoSpike'.",
    references=("HerranzCelotti2022",),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: 2.0 / (p["alpha"] - 1.0),
    extra={"row": 13},
)


# -- logarithmic ---------------------------------------------------------------------------
def nonzero_sign_log_abs_derivative(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``alpha / (1 + alpha |x|)``."""
    return alpha / _one_plus(x, xp, alpha)


def nonzero_sign_log_abs_primitive(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``NonzeroSign(x) log(1 + alpha |x|)`` (``NonzeroSign(0) = +1``)."""
    a = magnitude(x, xp)
    hi, lo = scaled(a, alpha, 1.0, xp)
    finite = xp.isfinite(hi)
    hs = safe(finite, hi, 0.0, xp)
    near = xp.log1p(hs) + safe(finite, lo, 0.0, xp) / (1.0 + hs)
    # alpha |x| overflows: log1p ~ log (|x| = 1 where not selected: log 0 is -inf)
    far = xp.log(safe(~finite, a, 1.0, xp)) + host_or_array("log", alpha, xp)
    mag = xp.where(finite, near, far)
    return xp.where(x < 0, -mag, mag)


canonical(
    "nonzero_sign_log_abs",
    Formula("nonzero_sign_log_abs", nonzero_sign_log_abs_derivative,
            nonzero_sign_log_abs_primitive),
    (P("alpha", 1.0, pos(), "Slope at 0: g'(0) = alpha."),),
    summary="Signed logarithm: unbounded g, 1/|x| tails (area infinite).",
    latex_primitive=r"g(x) = \operatorname{NonzeroSign}(x)\,\log(1 + \alpha|x|)",
    latex_derivative=r"g'(x) = \frac{\alpha}{1 + \alpha|x|}",
    notes="The primitive is not a CDF (range is the real line); it is anchored at g(0) = 0.",
    references=("Yin2017", "STBP", "SuperSpike"),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: p["alpha"],
    extra={"row": 16},
)

__all__ = [
    "FAST_SIGMOID",
    "POWER_LAW",
    "fast_sigmoid_derivative",
    "fast_sigmoid_primitive",
]
