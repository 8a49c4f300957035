"""Independent high-precision oracles for the golden vectors.

Every surrogate's derivative ``g'`` (and primitive ``g`` where it exists) is restated here
**on purpose**, straight from the published formulas, in mpmath at 50 significant digits.
This module never calls spikegrad's formulas: a wrong formula in the package cannot
certify itself.  Periodic reductions use exact rational arithmetic on the binary value of
``x`` (``fractions.Fraction``), so the oracles are exact for any ``|x|``.

Each oracle is ``fn(x, p) -> mpf`` where ``x`` is an ``mpf`` (finite) and ``p`` a dict of
``mpf``/int/bool parameters.  ``LIMITS`` says what ±inf gives where no limit exists.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import mpmath as mp

mp.mp.dps = 50

Oracle = Callable[[Any, dict[str, Any]], Any]
pi = mp.pi
half = mp.mpf(1) / 2


def _sig(z: Any) -> Any:
    return 1 / (1 + mp.exp(-z))


def _erfc(z: Any) -> Any:
    # mpmath's series check overflows for astronomically large |z|; past |z| = 1e5 the
    # value is exactly representable as its limit in any float format (erfc(1e5) < 1e-10**9)
    if z > 100000:
        return mp.mpf(0) if mp.isinf(z) else mp.exp(-z * z) / (z * mp.sqrt(pi))
    if z < -100000:
        return mp.mpf(2)
    return mp.erfc(z)


def _phi(z: Any) -> Any:  # standard normal CDF
    return _erfc(-z / mp.sqrt(2)) / 2


def _npdf(x: Any, m: Any, s: Any) -> Any:
    return mp.exp(-((x - m) ** 2) / (2 * s * s)) / (s * mp.sqrt(2 * pi))


def _frac_mod(x: Any, period: Any) -> Fraction:
    """Exact ``(x / period) mod 1`` for binary floats ``x`` and ``period``."""
    q = Fraction(float(x)) / Fraction(float(period))
    return q - (q.numerator // q.denominator)


def _dist_to_multiple(x: Any, period: Any) -> Any:
    f = _frac_mod(x, period)
    d = min(f, 1 - f) * Fraction(float(period))
    return mp.mpf(d.numerator) / d.denominator


# -- derivatives ----------------------------------------------------------------------------
def d_sigmoid(x, p):
    a = p["alpha"]
    return a * _sig(a * x) * _sig(-a * x)


def g_sigmoid(x, p):
    return _sig(p["alpha"] * x)


def d_tanh(x, p):
    k = p["k"]
    return k / 2 * mp.sech(k * x) ** 2


def g_tanh(x, p):
    return (1 + mp.tanh(p["k"] * x)) / 2


def d_atan(x, p):
    a = p["alpha"]
    return (a / 2) / (1 + (pi / 2 * a * x) ** 2)


def g_atan(x, p):
    return mp.atan(pi / 2 * p["alpha"] * x) / pi + half


def d_pq(x, p):
    a = p["alpha"]
    return max(mp.mpf(0), a - a * a * abs(x))


def g_pq(x, p):
    a = p["alpha"]
    if x < -1 / a:
        return mp.mpf(0)
    if x > 1 / a:
        return mp.mpf(1)
    return -a * a * abs(x) * x / 2 + a * x + half


def d_triangle(x, p):
    h, w = p["height"], p["half_width"]
    return h * max(mp.mpf(0), 1 - abs(x) / w)


def g_triangle(x, p):
    h, w = p["height"], p["half_width"]
    if x <= -w:
        return mp.mpf(0)
    if x < 0:
        return h * (x + w) ** 2 / (2 * w)
    if x < w:
        return h * w - h * (w - x) ** 2 / (2 * w)
    return h * w


def d_pexp(x, p):
    a = p["alpha"]
    return a / 2 * mp.exp(-a * abs(x))


def g_pexp(x, p):
    a = p["alpha"]
    return mp.exp(a * x) / 2 if x < 0 else 1 - mp.exp(-a * x) / 2


def d_softsign(x, p):
    a = p["alpha"]
    return a / (2 * (1 + a * abs(x)) ** 2)


def g_softsign(x, p):
    a = p["alpha"]
    return (a * x / (1 + a * abs(x)) + 1) / 2


def d_fast(x, p, key="k"):
    k = p[key]
    return 1 / (1 + k * abs(x)) ** 2


def g_fast(x, p, key="k"):
    k = p[key]
    return 1 / k + x / (1 + k * abs(x))


def d_erf(x, p):
    a = p["alpha"]
    return a / mp.sqrt(pi) * mp.exp(-(a * x) ** 2)


def g_erf(x, p):
    return _erfc(-p["alpha"] * x) / 2


def d_gauss(x, p):
    return p["scale"] * _npdf(x, p["mu"], p["sigma"])


def g_gauss(x, p):
    return p["scale"] * _phi((x - p["mu"]) / p["sigma"])


def d_mgauss(x, p):
    h, s, sg = p["h"], p["s"], p["sigma"]
    return p["scale"] * ((1 + h) * _npdf(x, 0, sg) - h * _npdf(x, sg, s * sg)
                         - h * _npdf(x, -sg, s * sg))


def g_mgauss(x, p):
    h, s, sg = p["h"], p["s"], p["sigma"]
    return p["scale"] * ((1 + h) * _phi(x / sg) - h * _phi((x - sg) / (s * sg))
                         - h * _phi((x + sg) / (s * sg)))


def d_qps(x, p):
    a = p["alpha"]
    return (1 + 2 * abs(x) / (a - 1)) ** (-a)


def g_qps(x, p):
    a = p["alpha"]
    t = (1 + 2 * abs(x) / (a - 1)) ** (1 - a) / 2
    return t if x < 0 else 1 - t


def d_dspike(x, p):
    a = p["alpha"]
    if abs(x) > half:
        return mp.mpf(0)
    return a / (2 * mp.tanh(a / 2)) * mp.sech(a * x) ** 2


def g_dspike(x, p):
    a = p["alpha"]
    if x < -half:
        return mp.mpf(0)
    if x > half:
        return mp.mpf(1)
    return mp.tanh(a * x) / (2 * mp.tanh(a / 2)) + half


def d_rect(x, p):
    a = p["alpha"]
    return a if abs(x) < 1 / (2 * a) else mp.mpf(0)


def g_rect(x, p):
    return min(mp.mpf(1), max(mp.mpf(0), p["alpha"] * x + half))


def d_nsla(x, p):
    a = p["alpha"]
    return a / (1 + a * abs(x))


def g_nsla(x, p):
    v = mp.log1p(p["alpha"] * abs(x))
    return -v if x < 0 else v


def d_plr(x, p):
    w, c = p["w"], p["c"]
    return 1 / (2 * w) if abs(x) < w else c


def g_plr(x, p):
    w, c = p["w"], p["c"]
    if x < -w:
        return c * x + c * w
    if x > w:
        return c * x - c * w + 1
    return x / (2 * w) + half


def d_square(x, p):
    n, T = p["n_terms"], p["t_period"]
    return 4 / T * mp.fsum(
        mp.cos(2 * pi * mp.mpf(_frac_mod(x, T).numerator * (2 * i - 1))
               / _frac_mod(x, T).denominator)
        for i in range(1, n + 1))


def g_square(x, p):
    n, T = p["n_terms"], p["t_period"]
    f = _frac_mod(x, T)
    return half + 2 / pi * mp.fsum(
        mp.sin(2 * pi * mp.mpf(f.numerator * (2 * i - 1)) / f.denominator) / (2 * i - 1)
        for i in range(1, n + 1))


def d_s2nn(x, p):
    if x < 0:
        return d_sigmoid(x, p)
    return p["beta"] / (x + 1)


def g_s2nn(x, p):
    if x < 0:
        return _sig(p["alpha"] * x)
    return p["beta"] * mp.log1p(x) + half


def d_lkr(x, p):
    return p["k"] if x >= 0 else p["leak"]


def g_lkr(x, p):
    return p["k"] * x if x >= 0 else p["leak"] * x


def d_ltr(x, p):
    if x <= 0:
        return p["alpha"]
    return mp.mpf(1) if x <= 1 else 1 / x


def g_ltr(x, p):
    if x <= 0:
        return p["alpha"] * x
    return x if x <= 1 else mp.log(x) + 1


def d_fng(x, p):
    return p["alpha"] if x == 0 else min(1 / abs(x), p["alpha"])


def d_ste(x, p):
    return mp.mpf(1)


def g_ste(x, p):
    return x


def d_window(x, p):
    inside = x >= -p["window"] if p["inclusive"] else x > -p["window"]
    return p["scale"] if inside else mp.mpf(0)


def g_window(x, p):
    return p["scale"] * max(mp.mpf(0), x + p["window"])


def d_sre(x, p):
    return p["slope"] * mp.exp(-p["beta"] * abs(x))


def g_sre(x, p):
    k, b = p["slope"], p["beta"]
    return 2 * k / b * (mp.exp(b * x) / 2 if x < 0 else 1 - mp.exp(-b * x) / 2)


def d_sfs(x, p):
    return d_fast(x, p, "slope") if x > p["B"] else mp.mpf(0)


def d_lso(x, p):
    return mp.mpf(1) if x > 0 else p["slope"]


def g_lso(x, p):
    return x if x > 0 else p["slope"] * x


def d_signtri(x, p):
    return p["threshold"] if x < 0 else -p["threshold"]


def g_signtri(x, p):
    return -p["threshold"] * abs(x)


def d_circ(x, p):
    a = p["alpha"]
    return a * a / (2 * (x * x + a * a) ** mp.mpf(1.5))


def g_circ(x, p):
    a = p["alpha"]
    return half + x / (2 * mp.sqrt(x * x + a * a))


def d_pexp_periodic(x, p):
    w, s = p["width"], p["scale"]
    if x < 0:
        return s * mp.exp(x / w)
    return s * mp.exp(-2 * _dist_to_multiple(x, p["period"]) / w)


def _window(p):
    if p["grad_window"] is None:
        return mp.mpf(0), mp.mpf(p["max_spike_count"])
    return mp.mpf(p["grad_window"][0]), mp.mpf(p["grad_window"][1])


def d_mlsc(x, p):
    lo, hi = _window(p)
    return mp.mpf(1) if lo <= x <= hi else mp.mpf(0)


def g_mlsc(x, p):
    lo, hi = _window(p)
    return min(hi, max(lo, x)) - lo


#: name -> (derivative oracle, primitive oracle or None)
ORACLES: dict[str, tuple[Oracle, Oracle | None]] = {
    "sigmoid": (d_sigmoid, g_sigmoid),
    "tanh": (d_tanh, g_tanh),
    "atan": (d_atan, g_atan),
    "piecewise_quadratic": (d_pq, g_pq),
    "triangle": (d_triangle, g_triangle),
    "piecewise_exp": (d_pexp, g_pexp),
    "soft_sign": (d_softsign, g_softsign),
    "fast_sigmoid": (d_fast, g_fast),
    "super_spike": (lambda x, p: d_fast(x, p, "beta"), lambda x, p: g_fast(x, p, "beta")),
    "erf": (d_erf, g_erf),
    "gaussian": (d_gauss, g_gauss),
    "multi_gaussian": (d_mgauss, g_mgauss),
    "q_pseudo_spike": (d_qps, g_qps),
    "dspike": (d_dspike, g_dspike),
    "rect": (d_rect, g_rect),
    "nonzero_sign_log_abs": (d_nsla, g_nsla),
    "piecewise_leaky_relu": (d_plr, g_plr),
    "squarewave_fourier_series": (d_square, g_square),
    "s2nn": (d_s2nn, g_s2nn),
    "leaky_k_relu": (d_lkr, g_lkr),
    "log_tailed_relu": (d_ltr, g_ltr),
    "fake_numerical_gradient": (d_fng, None),
    "straight_through": (d_ste, g_ste),
    "heaviside_window": (d_window, g_window),
    "spike_rate_escape": (d_sre, g_sre),
    "sparse_fast_sigmoid": (d_sfs, None),
    "leaky_spike_operator": (d_lso, g_lso),
    "sign_triangular": (d_signtri, g_signtri),
    "heavi_circ": (d_circ, g_circ),
    "periodic_exponential": (d_pexp_periodic, None),
    "multi_level_spike_count": (d_mlsc, g_mlsc),
    "poisson_pass": (d_ste, g_ste),
}

#: Surrogates whose value at +inf / -inf has no limit (the golden is NaN there).
NO_LIMIT: dict[str, tuple[int, ...]] = {
    "squarewave_fourier_series": (-1, 1),
    "periodic_exponential": (1,),
}

#: Two parameter sets per surrogate besides its defaults.
PARAM_SETS: dict[str, list[dict[str, Any]]] = {
    "sigmoid": [{"alpha": 1.0}, {"alpha": 25.0}],
    "tanh": [{"k": 0.5}, {"k": 3.0}],
    "atan": [{"alpha": 1.0}, {"alpha": 3.7}],
    "piecewise_quadratic": [{"alpha": 2.5}, {"alpha": 3.0}],
    "triangle": [{"height": 1.0, "half_width": 0.3}, {"height": 0.5, "half_width": 2.0}],
    "piecewise_exp": [{"alpha": 2.0}, {"alpha": 0.3}],
    "soft_sign": [{"alpha": 1.0}, {"alpha": 10.0}],
    "fast_sigmoid": [{"k": 10.0}, {"k": 100.0}],
    "super_spike": [{"beta": 10.0}, {"beta": 0.7}],
    "erf": [{"alpha": 1.0}, {"alpha": 3.3}],
    "gaussian": [{"sigma": 2.0, "scale": 1.0, "mu": 0.0},
                 {"sigma": 0.3, "scale": 0.5, "mu": 0.25}],
    "multi_gaussian": [{"h": 0.15, "s": 6.0, "sigma": 0.5, "scale": 1.0},
                       {"h": 0.3, "s": 3.0, "sigma": 0.7, "scale": 0.5}],
    "q_pseudo_spike": [{"alpha": 3.0}, {"alpha": 1.5}],
    "dspike": [{"alpha": 1.0}, {"alpha": 20.0}],
    "rect": [{"alpha": 2.0}, {"alpha": 3.0}],
    "nonzero_sign_log_abs": [{"alpha": 2.0}, {"alpha": 0.3}],
    "piecewise_leaky_relu": [{"w": 0.5, "c": 0.1}, {"w": 0.3, "c": 0.0}],
    "squarewave_fourier_series": [{"n_terms": 3, "t_period": 8.0},
                                  {"n_terms": 2, "t_period": 3.0}],
    "s2nn": [{"alpha": 2.0, "beta": 1.0}, {"alpha": 8.0, "beta": 0.5}],
    "leaky_k_relu": [{"leak": 0.1, "k": 2.0}, {"leak": -0.2, "k": 0.5}],
    "log_tailed_relu": [{"alpha": 0.1}, {"alpha": 0.3}],
    "fake_numerical_gradient": [{"alpha": 1.0}, {"alpha": 0.05}],
    "straight_through": [{}, {}],
    "heaviside_window": [{"window": 1.0, "scale": 1.0, "inclusive": True},
                         {"window": 0.5, "scale": 2.0, "inclusive": False}],
    "spike_rate_escape": [{"beta": 2.0, "slope": 25.0}, {"beta": 0.5, "slope": 1.0}],
    "sparse_fast_sigmoid": [{"slope": 25.0, "B": -0.5}, {"slope": 10.0, "B": 0.0}],
    "leaky_spike_operator": [{"slope": 0.0}, {"slope": 0.3}],
    "sign_triangular": [{"threshold": 0.5}, {"threshold": 2.0}],
    "heavi_circ": [{"alpha": 0.1}, {"alpha": 2.0}],
    "periodic_exponential": [{"width": 0.25, "scale": 2.0, "period": 1.0},
                             {"width": 0.5, "scale": 1.0, "period": 3.0}],
    "multi_level_spike_count": [{"max_spike_count": 3, "grad_window": None},
                                {"max_spike_count": 2, "grad_window": (-0.5, 1.5)}],
    "poisson_pass": [{}, {}],
}
