"""Piecewise surrogates: triangles, boxes, exponential (Laplace) and linear pieces.

Support edges are located exactly: a half-width given as ``num/den`` is tested as
``|x| * den`` against ``num`` with an exact product, so ``rect(alpha=3)`` and spyx's
``boxcar(width=3)`` both put their edge where the parameters say.
"""

from __future__ import annotations

import math
from typing import Any

from .._numerics import (
    compare,
    exp_neg_abs,
    exp_neg_scaled,
    is_host,
    magnitude,
    one_minus,
    safe,
    scaled,
    scaled_abs,
    two_prod,
    widened,
)
from ._define import Domain, Formula, P, canonical, nonneg, pos, real
from .smooth import sigmoid_derivative, sigmoid_primitive

Array = Any
_INF = math.inf


def _scaled_mul(c: float, x: Array, xp: Any) -> Array:
    """``c * x`` with ``0 * ±inf = 0`` (a zero slope stays zero at infinity)."""
    if is_host(c):
        return xp.zeros_like(x) if c == 0.0 else c * x
    # finite x: the plain product (differentiable in c); infinite x: 0 when c is 0
    finite = xp.isfinite(x)
    plain = c * xp.where(finite, x, xp.zeros_like(x))
    return xp.where(finite, plain, xp.where(c == 0.0, xp.zeros_like(x), c * x))


# -- triangle / piecewise quadratic -----------------------------------------------------
def triangle_derivative(x: Array, /, *, xp: Any, height: float, num: float,
                        den: float) -> Array:
    """``height * max(0, 1 - |x| den/num)`` (half-width ``num/den``), the support's edge
    located from the exact parameters (see :func:`widened`)."""
    xw = widened(x, xp, den, num)
    z = xp.astype(xp.clip(one_minus(*scaled_abs(xw, den, num, xp)), min=0.0), x.dtype)
    return height * z


def triangle_primitive(x: Array, /, *, xp: Any, height: float, num: float,
                       den: float) -> Array:
    """Left tail ``height * w * max(0, 1 - |x|/w)^2 / 2``; total area ``height * w``."""
    z = xp.clip(one_minus(*scaled(magnitude(x, xp), den, num, xp)), min=0.0)
    half_width = num / den
    tail = (0.5 * height * half_width) * (z * z)
    return xp.where(x < 0, tail, height * half_width - tail)


TRIANGLE = Formula("_triangle", triangle_derivative, triangle_primitive)

canonical(
    "piecewise_quadratic", TRIANGLE,
    (P("alpha", 1.0, pos(), "Peak alpha, support |x| < 1/alpha."),),
    summary="Piecewise quadratic g (Esser et al.): triangular g' of peak α on |x| ≤ 1/α.",
    latex_primitive=r"g(x) = \begin{cases}0 & x < -\frac1\alpha\\ -\frac12\alpha^2|x|x + \alpha x"
    r" + \frac12 & |x| \le \frac1\alpha\\ 1 & x > \frac1\alpha\end{cases}",
    latex_derivative=r"g'(x) = \max\left(0,\ \alpha - \alpha^2|x|\right)",
    mapping=lambda p: ({"height": p["alpha"], "num": 1.0, "den": p["alpha"]}, 1.0),
    mapping_doc="triangle(height = alpha, half_width = 1/alpha)",
    references=("Esser2016", "STBP", "LSNN", "Neftci2019"),
    limits="g' = 0 for |x| >= 1/alpha",
    x_scale=lambda p: p["alpha"],
    boundaries=lambda p: (-1.0 / p["alpha"], 1.0 / p["alpha"]),
    extra={"row": 4},
)

canonical(
    "triangle", TRIANGLE,
    (P("height", 0.3, nonneg(), "Peak value g'(0) (LSNN's dampening factor)."),
     P("half_width", 1.0, pos(), "Half-width w of the support |x| < w.")),
    summary="Triangle g' = h·max(0, 1 − |x|/w); area h·w.",
    latex_primitive=r"g(x) = \int_{-\infty}^x h\max(0, 1 - |t|/w)\,dt",
    latex_derivative=r"g'(x) = h\,\max\left(0,\ 1 - \frac{|x|}{w}\right)",
    mapping=lambda p: ({"height": p["height"], "num": p["half_width"], "den": 1.0}, 1.0),
    references=("LSNN", "Esser2016"),
    limits="g' = 0 for |x| >= w",
    x_scale=lambda p: 1.0 / p["half_width"],
    boundaries=lambda p: (-p["half_width"], p["half_width"]),
    extra={"row": 5},
)


# -- rect / boxcar ----------------------------------------------------------------------
def box_derivative(x: Array, /, *, xp: Any, height: float, num: float, den: float) -> Array:
    """``height`` where ``|x| < num/den`` (strict, tested exactly), else 0."""
    p, e = two_prod(xp.abs(widened(x, xp, den, num)), den, xp)
    # |x| den - num = (p - num) + e: p - num is exact wherever p is near num (Sterbenz),
    # and elsewhere e cannot change its sign
    inside = ((p - num) + e) < 0
    return xp.where(inside, height, xp.zeros_like(x))


def box_primitive(x: Array, /, *, xp: Any, height: float, num: float, den: float) -> Array:
    """``height * clip(x + num/den, 0, 2 num/den)`` with ``x + num/den`` formed exactly."""
    p, e = two_prod(x, den, xp)
    u = ((p + num) + e) / den
    return height * xp.clip(u, min=0.0, max=2.0 * num / den)


BOX = Formula("_box", box_derivative, box_primitive)

canonical(
    "rect", BOX,
    (P("alpha", 1.0, pos(), "Height alpha, support |x| < 1/(2 alpha)."),),
    summary="Rectangular (boxcar) g' = α on |x| < 1/(2α); g = clip(αx + 1/2, 0, 1).",
    latex_primitive=r"g(x) = \operatorname{clip}\left(\alpha x + \tfrac12,\ 0,\ 1\right)",
    latex_derivative=r"g'(x) = \alpha\,\mathbb 1\!\left[|x| < \tfrac{1}{2\alpha}\right]",
    mapping=lambda p: ({"height": p["alpha"], "num": 1.0, "den": 2.0 * p["alpha"]}, 1.0),
    boundary="|x| = 1/(2 alpha) is outside (g' = 0).",
    references=("STBP",),
    limits="g' = 0 outside the box",
    x_scale=lambda p: 2.0 * p["alpha"],
    boundaries=lambda p: (-0.5 / p["alpha"], 0.5 / p["alpha"]),
    extra={"row": 15},
)


# -- piecewise exponential (Laplace) -----------------------------------------------------
def laplace_derivative(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``(alpha/2) exp(-alpha |x|)``."""
    return (0.5 * alpha) * exp_neg_abs(x, alpha, 1.0, xp)


def laplace_primitive(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """Left tail ``exp(-alpha |x|) / 2``."""
    tail = 0.5 * exp_neg_scaled(magnitude(x, xp), alpha, 1.0, xp)
    return xp.where(x < 0, tail, 1.0 - tail)


LAPLACE = Formula("piecewise_exp", laplace_derivative, laplace_primitive)

canonical(
    "piecewise_exp", LAPLACE,
    (P("alpha", 1.0, pos(), "Decay rate; g'(0) = alpha / 2."),),
    summary="Laplace density (α/2)e^{−α|x|} (SLAYER family).",
    latex_primitive=r"g(x) = \begin{cases}\frac12 e^{\alpha x} & x < 0\\ 1 - \frac12 "
    r"e^{-\alpha x} & x \ge 0\end{cases}",
    latex_derivative=r"g'(x) = \frac{\alpha}{2}\,e^{-\alpha|x|}",
    references=("SLAYER", "Neftci2019"),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: p["alpha"],
    extra={"row": 6},
)

canonical(
    "spike_rate_escape", LAPLACE,
    (P("beta", 1.0, pos(), "Escape-noise decay rate."),
     P("slope", 25.0, nonneg(), "Peak value g'(0).")),
    summary="Escape-noise rate k·e^{−β|x|}, peaked at the threshold; area 2k/β.",
    latex_primitive=r"g(x) = \frac{2k}{\beta}\,\mathrm{pe}_\beta(x)",
    latex_derivative=r"g'(x) = k\,e^{-\beta|x|}",
    mapping=lambda p: ({"alpha": p["beta"]}, 2.0 * p["slope"] / p["beta"]),
    mapping_doc="(2 slope / beta) * piecewise_exp(alpha = beta)",
    notes="snntorch 1.0's spike_rate_escape computes k·e^{−β|x−1|}, peaked one unit above "
    "threshold; this entry is centred at the threshold.",
    references=("Gerstner2002",),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: p["beta"],
    extra={"row": 25},
)


# -- piecewise linear (leaky) -------------------------------------------------------------
def piecewise_leaky_derivative(x: Array, /, *, xp: Any, w: float, c: float, inside: float,
                               inclusive: bool, offset: float) -> Array:
    """``inside`` on ``|x| < w`` (``<=`` if inclusive), ``c`` outside."""
    mask = compare(xp.abs(x), "<=" if inclusive else "<", w, xp)
    return xp.where(mask, inside, c * xp.ones_like(x))


def piecewise_leaky_primitive(x: Array, /, *, xp: Any, w: float, c: float, inside: float,
                              inclusive: bool, offset: float) -> Array:
    """Continuous primitive with ``g(-w) = offset``: slope ``inside`` on ``|x| <= w``,
    slope ``c`` outside (``offset = 1/2 - inside w``, passed exactly by the mapping)."""
    top = offset + 2.0 * inside * w
    centre = xp.where(x < 0, inside * (x + w) + offset, top - inside * (w - x))
    right = _scaled_mul(c, x - w, xp) + top
    left = _scaled_mul(c, x + w, xp) + offset
    return xp.where(x > w, right, xp.where(x < -w, left, centre))


PIECEWISE_LEAKY = Formula("_piecewise_leaky", piecewise_leaky_derivative,
                          piecewise_leaky_primitive)

canonical(
    "piecewise_leaky_relu", PIECEWISE_LEAKY,
    (P("w", 1.0, pos(), "Half-width of the central window."),
     P("c", 0.01, real(), "Slope outside the window.")),
    summary="Piecewise leaky ReLU: 1/(2w) inside |x| < w, c outside.",
    latex_primitive=r"g(x) = \begin{cases}cx + cw & x < -w\\ \frac{x}{2w} + \frac12 & |x| \le w"
    r"\\ cx - cw + 1 & x > w\end{cases}",
    latex_derivative=r"g'(x) = \begin{cases}\frac{1}{2w} & |x| < w\\ c & |x| \ge w\end{cases}",
    mapping=lambda p: ({"w": p["w"], "c": p["c"], "inside": 0.5 / p["w"],
                        "inclusive": False, "offset": 0.0}, 1.0),
    boundary="|x| = w takes the outer slope c (strict window, spikingjelly's rule).",
    notes="The inside value 1/(2w) is dg/dx; spikingjelly before August 2023 and brainstate "
    "used 1/w (alias 'spikingjelly_legacy:PiecewiseLeakyReLU').",
    references=("Yin2017", "STBP", "Huh2018"),
    monotone=True,
    limits="g' → c at ±inf",
    x_scale=lambda p: 1.0 / p["w"],
    boundaries=lambda p: (-p["w"], p["w"]),
    extra={"row": 17},
)


def two_slope_derivative(x: Array, /, *, xp: Any, k: float, leak: float,
                         inclusive: bool) -> Array:
    """``k`` for ``x >= 0`` (``x > 0`` if not inclusive), ``leak`` otherwise."""
    mask = (x >= 0) if inclusive else (x > 0)
    return xp.where(mask, k, leak * xp.ones_like(x))


def two_slope_primitive(x: Array, /, *, xp: Any, k: float, leak: float,
                        inclusive: bool) -> Array:
    """``k x`` for ``x >= 0``, ``leak x`` for ``x < 0`` (``g(0) = 0``)."""
    return xp.where(x >= 0, _scaled_mul(k, x, xp), _scaled_mul(leak, x, xp))


TWO_SLOPE = Formula("_two_slope", two_slope_derivative, two_slope_primitive)

canonical(
    "leaky_k_relu", TWO_SLOPE,
    (P("leak", 0.0, real(), "Gradient below threshold."),
     P("k", 1.0, real(), "Gradient at and above threshold.")),
    summary="Two constant slopes: k for x ≥ 0, leak for x < 0.",
    latex_primitive=r"g(x) = \begin{cases}kx & x \ge 0\\ \text{leak}\cdot x & x < 0\end{cases}",
    latex_derivative=r"g'(x) = \begin{cases}k & x \ge 0\\ \text{leak} & x < 0\end{cases}",
    mapping=lambda p: ({"k": p["k"], "leak": p["leak"], "inclusive": True}, 1.0),
    boundary="x = 0 takes k.",
    references=("Yin2017", "STBP", "SuperSpike"),
    monotone=False,
    limits="g' = k at +inf, leak at -inf",
    boundaries=lambda p: (0.0,),
    peak_at=lambda p: (-1.0, 0.0),
    extra={"row": 20},
)

canonical(
    "leaky_spike_operator", TWO_SLOPE,
    (P("slope", 0.1, real(), "Gradient at and below threshold."),),
    summary="Leaky spike operator: 1 for x > 0, slope for x ≤ 0.",
    latex_primitive=r"g(x) = \begin{cases}x & x > 0\\ \text{slope}\cdot x & x \le 0\end{cases}",
    latex_derivative=r"g'(x) = \begin{cases}1 & x > 0\\ \text{slope} & x \le 0\end{cases}",
    mapping=lambda p: ({"k": 1.0, "leak": p["slope"], "inclusive": False}, 1.0),
    mapping_doc="leaky_k_relu(leak = slope, k = 1) with x = 0 on the leak side",
    boundary="x = 0 takes slope.",
    notes="snntorch 1.0's LSO() cannot run (it builds the stochastic operator); this is the "
    "intended definition.",
    references=("Eshraghian2023",),
    monotone=False,
    limits="g' = 1 at +inf, slope at -inf",
    boundaries=lambda p: (0.0,),
    peak_at=lambda p: (-1.0, 1.0),
    extra={"row": 28},
)


# -- logarithmic tail --------------------------------------------------------------------
def log_tailed_relu_derivative(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``alpha`` (x <= 0), ``1`` (0 < x <= 1), ``1/x`` (x > 1)."""
    safe = xp.where(x > 1, x, xp.ones_like(x))
    return xp.where(x <= 0, alpha * xp.ones_like(x), 1.0 / safe)


def log_tailed_relu_primitive(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``alpha x``, ``x``, ``log x + 1`` (continuous at 0 and 1)."""
    safe = xp.where(x > 1, x, xp.ones_like(x))
    return xp.where(x <= 0, _scaled_mul(alpha, x, xp),
                    xp.where(x <= 1, x, xp.log(safe) + 1.0))


canonical(
    "log_tailed_relu",
    Formula("log_tailed_relu", log_tailed_relu_derivative, log_tailed_relu_primitive),
    (P("alpha", 0.0, real(), "Gradient at and below threshold."),),
    summary="Log-tailed ReLU (HWGQ): α below 0, 1 up to 1, 1/x beyond.",
    latex_primitive=r"g(x) = \begin{cases}\alpha x & x \le 0\\ x & 0 < x \le 1\\ \log x + 1 & "
    r"x > 1\end{cases}",
    latex_derivative=r"g'(x) = \begin{cases}\alpha & x \le 0\\ 1 & 0 < x \le 1\\ 1/x & x > 1"
    r"\end{cases}",
    boundary="x = 0 takes alpha; x = 1 takes 1.",
    references=("Cai2017",),
    monotone=False,
    limits="g' → 0 at +inf, alpha at -inf",
    boundaries=lambda p: (0.0, 1.0),
    peak_at=lambda p: (-1.0, 1.0),
    extra={"row": 21},
)


def fake_numerical_gradient_derivative(x: Array, /, *, xp: Any, alpha: float) -> Array:
    """``min(1/|x|, alpha)``; ``alpha`` at ``x = ±0``.  The reciprocal's branch sees
    ``|x| = 1`` where it is capped (``1/|x|`` overflows near 0, and autodiff through the
    cap turned its infinite slope into a NaN ``g''``)."""
    r = xp.abs(x)
    capped = (1.0 / r) >= alpha
    return xp.where(capped, alpha * xp.ones_like(x), 1.0 / safe(~capped, r, 1.0, xp))


canonical(
    "fake_numerical_gradient",
    Formula("fake_numerical_gradient", fake_numerical_gradient_derivative),
    (P("alpha", 0.3, pos(), "Cap on the gradient."),),
    summary="min(1/|x|, α): the finite difference of the step from the threshold, capped.",
    latex_derivative=r"g'(x) = \min\left(\frac{1}{|x|},\ \alpha\right)",
    boundary="x = 0 and x = -0.0 give alpha.",
    notes="spikingjelly returns -inf at x = -0.0 (sign test on -0.0); this gives alpha.",
    references=("Fang2023",),
    limits="g' → 0 at ±inf",
    area_fn=lambda p: _INF,
    extra={"row": 22},
)


# -- straight-through and one-sided windows -----------------------------------------------
def straight_through_derivative(x: Array, /, *, xp: Any) -> Array:
    return xp.ones_like(x)


def straight_through_primitive(x: Array, /, *, xp: Any) -> Array:
    return x


STRAIGHT_THROUGH = Formula("straight_through", straight_through_derivative,
                           straight_through_primitive)

canonical(
    "straight_through", STRAIGHT_THROUGH, (),
    summary="Straight-through estimator: g' = 1.",
    latex_primitive=r"g(x) = x",
    latex_derivative=r"g'(x) = 1",
    references=("Bengio2013",),
    limits="g' = 1 everywhere",
    extra={"row": 23},
)


def window_derivative(x: Array, /, *, xp: Any, window: float, scale: float,
                      inclusive: bool) -> Array:
    """``scale`` where ``x >= -window`` (``>`` if not inclusive), else 0."""
    mask = compare(x, ">=" if inclusive else ">", -window, xp)
    return xp.where(mask, scale, xp.zeros_like(x))


def window_primitive(x: Array, /, *, xp: Any, window: float, scale: float,
                     inclusive: bool) -> Array:
    """``scale * max(0, x + window)`` (0 at ``scale = 0``, at ``x = +inf`` too)."""
    return _scaled_mul(scale, xp.clip(x + window, min=0.0), xp)


canonical(
    "heaviside_window",
    Formula("heaviside_window", window_derivative, window_primitive),
    (P("window", 0.0, nonneg(), "Gradient flows from x = -window upward."),
     P("scale", 1.0, real(), "Gradient value inside the window."),
     P("inclusive", True, Domain.boolean(), "Whether x = -window itself is inside.")),
    summary="One-sided box: g' = scale·1[x ≥ −window] (the gradient is the spike when "
    "window = 0).",
    latex_primitive=r"g(x) = s\,\max(0,\ x + w)",
    latex_derivative=r"g'(x) = s\,\mathbb 1[x \ge -w]",
    boundary="x = -window is inside when inclusive (default), outside otherwise.",
    references=("Sinabs2020", "Eshraghian2023"),
    limits="g' = scale at +inf, 0 at -inf",
    boundaries=lambda p: (-p["window"],),
    extra={"row": 24},
)


def sign_triangular_derivative(x: Array, /, *, xp: Any, threshold: float) -> Array:
    """``+threshold`` for ``x < 0``, ``-threshold`` for ``x >= 0``."""
    return xp.where(x < 0, threshold, (0.0 - threshold) * xp.ones_like(x))


def sign_triangular_primitive(x: Array, /, *, xp: Any, threshold: float) -> Array:
    """``-threshold |x|`` (a tent; 0 at ``threshold = 0``, at ``x = ±inf`` too)."""
    return _scaled_mul(-threshold, xp.abs(x), xp)


canonical(
    "sign_triangular",
    Formula("sign_triangular", sign_triangular_derivative, sign_triangular_primitive),
    (P("threshold", 1.0, nonneg(), "Magnitude of the gradient."),),
    summary="snntorch's 'triangular': ±threshold, negative above threshold (a tent's slope).",
    latex_primitive=r"g(x) = -\theta\,|x|",
    latex_derivative=r"g'(x) = \begin{cases}\theta & x < 0\\ -\theta & x \ge 0\end{cases}",
    boundary="x = 0 takes -threshold.",
    notes="Kept for compatibility with snntorch.surrogate.triangular; it is not the "
    "triangle surrogate (see 'triangle').",
    references=("Eshraghian2023",),
    monotone=False,
    sign_changing=True,
    limits="g' = -threshold at +inf, +threshold at -inf",
    boundaries=lambda p: (0.0,),
    extra={"row": 29},
)


# -- S2NN ----------------------------------------------------------------------------------
def s2nn_derivative(x: Array, /, *, xp: Any, alpha: float, beta: float) -> Array:
    """Sigmoid derivative for ``x < 0``, ``beta / (x + 1)`` for ``x >= 0``."""
    safe = xp.where(x >= 0, x, xp.zeros_like(x))
    return xp.where(x < 0, sigmoid_derivative(x, xp=xp, alpha=alpha), beta / (safe + 1.0))


def s2nn_primitive(x: Array, /, *, xp: Any, alpha: float, beta: float) -> Array:
    """``sigma(alpha x)`` for ``x < 0``, ``beta log(1 + x) + 1/2`` for ``x >= 0`` (1/2 at
    ``beta = 0``, at ``x = +inf`` too)."""
    safe = xp.where(x >= 0, x, xp.zeros_like(x))
    return xp.where(x < 0, sigmoid_primitive(x, xp=xp, alpha=alpha),
                    _scaled_mul(beta, xp.log1p(safe), xp) + 0.5)


canonical(
    "s2nn",
    Formula("s2nn", s2nn_derivative, s2nn_primitive),
    (P("alpha", 4.0, pos(), "Sigmoid slope below threshold."),
     P("beta", 1.0, nonneg(), "Log-tail scale above threshold.")),
    summary="S2NN: sigmoid gradient below threshold, β/(x + 1) above (continuous iff α = 4β).",
    latex_primitive=r"g(x) = \begin{cases}\sigma(\alpha x) & x < 0\\ \beta\log(x + 1) + "
    r"\frac12 & x \ge 0\end{cases}",
    latex_derivative=r"g'(x) = \begin{cases}\alpha\sigma(\alpha x)\sigma(-\alpha x) & x < 0\\ "
    r"\frac{\beta}{x + 1} & x \ge 0\end{cases}",
    boundary="x = 0 takes beta (the log branch).",
    notes="spikingjelly/braintools add a small epsilon inside the primitive's log; the "
    "primitive here is exact, so g' = dg/dx.",
    references=("Suetake2023",),
    limits="g' → 0 at ±inf",
    x_scale=lambda p: p["alpha"],
    boundaries=lambda p: (0.0,),
    peak_at=lambda p: (-0.0, 0.0),
    extra={"row": 19},
)
