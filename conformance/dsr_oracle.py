"""Independent oracle for the multi-step DSR-IF and DSR-LIF surrogates.

Written straight from the equations of Meng et al. (CVPR 2022, "Training High-Performance
Low-Latency Spiking Neural Networks by Differentiation on Spike Representation"), as stated
in the catalogue (§d), and never from spikegrad's implementation: this module does not import
spikegrad, so a wrong formula in the package cannot certify itself.

* Forward: the spike train is simulated step by step with numpy scalars of the input's dtype,
  each operation rounded on its own and in the stated order (no fused multiply-add), so spikes
  are bit-exact, ties included.  float16 computes in float32 and rounds the output once.
  bfloat16 is not supported (numpy has no native bfloat16).
* Backward: exact rational arithmetic (``fractions.Fraction``) on the binary values of ``x``
  and ``G`` for DSR-IF; mpmath at 60 significant digits for DSR-LIF's exponential weights.
  Results are rounded to float64 once.
* An element is *ambiguous* where its exact rate ``r`` lies within ``ambiguity * max(|b|,
  mean|x|)`` of a mask boundary ``b``, so that a float computation of ``r`` may land on either
  side.  An exact DSR-IF tie is not ambiguous when every partial sum of the column is exact in
  the compute dtype (``r`` formed as a sum divided by ``T``); an all-zero column is not either.
  :func:`grad_v_bounds` gives ``dL/dV`` over both mask choices at ambiguous elements.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath as mp
import numpy as np

_AMBIGUITY = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5, np.dtype(np.float16): 1e-2}
_DPS = 60


def default_ambiguity(dtype: Any) -> float:
    """Relative ambiguity width for inputs of ``dtype`` (float64, float32 or float16)."""
    return _AMBIGUITY[np.dtype(dtype)]


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    if dtype not in _AMBIGUITY:
        raise TypeError(f"unsupported dtype {dtype}: use float16, float32 or float64")
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def forward_if(x: np.ndarray, v: float, alpha: float) -> np.ndarray:
    """DSR-IF spikes ``y`` (``[T, *shape]``, ``x``'s dtype), bit-exact.

    ``m += x[t]``; spike where ``m >= alpha * V`` (one rounded product); ``y[t] = V`` there
    and ``m -= V``.
    """
    x = np.asarray(x)
    ct = _compute_dtype(x.dtype).type
    xs = x.astype(ct)
    vv = ct(v)
    threshold = ct(alpha) * vv
    zero = ct(0)
    m = np.zeros(x.shape[1:], dtype=ct)
    y = np.empty(x.shape, dtype=ct)
    for t in range(x.shape[0]):
        m = m + xs[t]
        spike = m >= threshold
        y[t] = np.where(spike, vv, zero)
        m = np.where(spike, m - vv, m)
    return y.astype(x.dtype)


def forward_lif(x: np.ndarray, v: float, alpha: float, tau: float, delta_t: float) -> np.ndarray:
    """DSR-LIF spikes ``y`` (``[T, *shape]``, ``x``'s dtype), bit-exact.

    ``m = c1 * m + c2 * x[t]`` with ``c1 = beta``, ``c2 = 1 - beta``, ``beta = exp(-dt/tau)``
    (float64, then rounded); spike where ``m >= alpha * V``; ``y[t] = V / dt`` there and
    ``m -= V``.
    """
    x = np.asarray(x)
    ct = _compute_dtype(x.dtype).type
    xs = x.astype(ct)
    beta = math.exp(-delta_t / tau)
    c1, c2 = ct(beta), ct(1.0 - beta)
    vv = ct(v)
    threshold = ct(alpha) * vv
    amplitude = vv / ct(delta_t)
    zero = ct(0)
    m = np.zeros(x.shape[1:], dtype=ct)
    y = np.empty(x.shape, dtype=ct)
    for t in range(x.shape[0]):
        m = c1 * m + c2 * xs[t]
        spike = m >= threshold
        y[t] = np.where(spike, amplitude, zero)
        m = np.where(spike, m - vv, m)
    return y.astype(x.dtype)


Backward = tuple[np.ndarray, float, float, float, np.ndarray]  # grad_x, grad_v, lo, hi, ambiguous


def _columns(a: np.ndarray) -> list[list[float]]:
    return [[float(u) for u in col] for col in a.reshape(a.shape[0], -1).T]


def _exact_sums(col: list[Fraction], bits: int) -> bool:
    """Every partial sum of ``col``, in any order, is exact with a ``bits``-bit significand."""
    denominator = max(c.denominator for c in col)  # powers of two: the largest is the lcm
    return sum(abs(c) for c in col) * denominator <= 2**bits


def _finish(x: np.ndarray, rows: list[tuple[Any, Any, Any, bool, bool]]) -> Backward:
    """Per element: grad_x, dL/dV term, term if masked in, ambiguous, ambiguous at the top."""
    total = sum(r[1] for r in rows)
    lo = sum(min(0, r[2]) if r[4] else r[1] for r in rows)
    hi = sum(max(0, r[2]) if r[4] else r[1] for r in rows)
    grad = np.array([float(r[0]) for r in rows], dtype=np.float64).reshape(x.shape[1:])
    ambiguous = np.array([r[3] for r in rows], dtype=bool).reshape(x.shape[1:])
    return np.broadcast_to(grad, x.shape).copy(), float(total), float(lo), float(hi), ambiguous


def _backward_if(x: np.ndarray, g: np.ndarray, v: float, scale: float,
                 ambiguity: float | None) -> Backward:
    x, g = np.asarray(x), np.asarray(g)
    steps = x.shape[0]
    width = Fraction(default_ambiguity(x.dtype) if ambiguity is None else ambiguity)
    bits = np.finfo(_compute_dtype(x.dtype)).nmant + 1
    vf, sf = Fraction(v), Fraction(scale)
    rows = []
    for xc, gc in zip(_columns(x), _columns(g), strict=True):
        col = [Fraction(u) for u in xc]
        r = sum(col, Fraction(0)) / steps
        gsum = sum((Fraction(u) for u in gc), Fraction(0))  # T * gbar
        spread = sum((abs(c) for c in col), Fraction(0)) / steps
        exact = _exact_sums(col, bits)
        near = [abs(r - b) <= width * max(b, spread) and not (r == b and exact) for b in (0, vf)]
        grad = gsum / steps if 0 <= r <= vf else 0
        rows.append((grad, sf * gsum if r > vf else 0, sf * gsum, any(near), near[1]))
    return _finish(x, rows)


def _backward_lif(x: np.ndarray, g: np.ndarray, v: float, tau: float, delta_t: float,
                  scale: float, factor: str, ambiguity: float | None) -> Backward:
    if factor not in ("dt", "1/dt"):
        raise ValueError(f"factor must be 'dt' or '1/dt', not {factor!r}")
    x, g = np.asarray(x), np.asarray(g)
    steps = x.shape[0]
    width = default_ambiguity(x.dtype) if ambiguity is None else ambiguity
    rows = []
    with mp.workdps(_DPS):
        tau_m, dt_m = mp.mpf(tau), mp.mpf(delta_t)
        w = [mp.exp(-(steps - i) * dt_m / tau_m) for i in range(1, steps + 1)]
        wsum = mp.fsum(w)
        mean = lambda col: mp.fsum(wi * mp.mpf(u) for wi, u in zip(w, col, strict=True)) / wsum
        upper = mp.mpf(v) * tau_m / dt_m
        weight = mp.mpf(scale) * (dt_m if factor == "dt" else 1 / dt_m) * steps
        for xc, gc in zip(_columns(x), _columns(g), strict=True):
            r, gbar, spread = mean(xc), mean(gc), mean([abs(u) for u in xc])
            zero = all(u == 0 for u in xc)
            near = [not zero and abs(r - b) <= width * max(b, spread) for b in (0, upper)]
            grad = gbar / tau_m if 0 < r < upper else 0
            c = weight * gbar
            rows.append((grad, c if r > upper else 0, c, any(near), near[1]))
        return _finish(x, rows)


def backward_if(x: np.ndarray, g: np.ndarray, v: float, alpha: float, scale: float, *,
                ambiguity: float | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """DSR-IF ``(dL/dx, dL/dV, ambiguous)``; ``alpha`` does not enter the backward.

    ``dL/dx_t = gbar`` where ``0 <= r <= V`` (closed), else 0, with ``r``/``gbar`` the plain
    time means of ``x``/``g``; ``dL/dV = scale * sum(T * gbar * [r > V])`` (open).
    """
    grad_x, grad_v, _, _, ambiguous = _backward_if(x, g, v, scale, ambiguity)
    return grad_x, grad_v, ambiguous


def backward_lif(x: np.ndarray, g: np.ndarray, v: float, alpha: float, tau: float,
                 delta_t: float, scale: float, factor: str = "dt", *,
                 ambiguity: float | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """DSR-LIF ``(dL/dx, dL/dV, ambiguous)``; ``alpha`` does not enter the backward.

    Weights ``w_i = exp(-(T - i) dt / tau)``; ``dL/dx_t = gbar / tau`` where
    ``0 < r < V tau / dt`` (open), else 0; ``dL/dV = scale * F * sum(T * gbar * [r > V tau /
    dt])`` with ``F = dt`` (``factor="dt"``) or ``1 / dt`` (``factor="1/dt"``).
    """
    grad_x, grad_v, _, _, ambiguous = _backward_lif(x, g, v, tau, delta_t, scale, factor,
                                                    ambiguity)
    return grad_x, grad_v, ambiguous


def grad_v_bounds(kind: str, x: np.ndarray, g: np.ndarray, params: Mapping[str, Any], *,
                  ambiguity: float | None = None) -> tuple[float, float]:
    """Least and greatest ``dL/dV`` over both mask choices at ambiguous elements.

    ``kind`` is ``"if"`` or ``"lif"``; ``params`` as in :attr:`Case.params`.
    """
    return _backward(kind, x, g, params, ambiguity)[2:4]


def _backward(kind: str, x: np.ndarray, g: np.ndarray, p: Mapping[str, Any],
              ambiguity: float | None) -> Backward:
    if kind == "if":
        return _backward_if(x, g, p["v_threshold"], p["v_threshold_grad_scaling"], ambiguity)
    return _backward_lif(x, g, p["v_threshold"], p["tau"], p["delta_t"],
                         p["v_threshold_grad_scaling"], p["threshold_grad_factor"], ambiguity)


# ---------------------------------------------------------------------------------------------
# golden cases

@dataclass(frozen=True, eq=False)
class Case:
    """One golden case: inputs ``x``, upstream gradient ``g`` (both ``[T, *shape]``)."""

    name: str
    kind: str
    x: np.ndarray
    g: np.ndarray
    params: dict[str, Any]
    dtype: str


@dataclass(frozen=True, eq=False)
class Golden:
    """Oracle values of one case (``y`` in the case dtype, the rest float64)."""

    y: np.ndarray
    grad_x: np.ndarray
    grad_v: float
    grad_v_lo: float
    grad_v_hi: float
    ambiguous: np.ndarray


IF_PARAMS = (
    {"v_threshold": 6.0, "alpha": 0.5, "v_threshold_grad_scaling": 1.0},
    {"v_threshold": 1.0, "alpha": 0.3, "v_threshold_grad_scaling": 0.5},
    {"v_threshold": 0.25, "alpha": 1.0, "v_threshold_grad_scaling": 2.0},
)
LIF_PARAMS = (
    {"v_threshold": 1.0, "tau": 2.0, "delta_t": 0.05, "alpha": 0.3,
     "v_threshold_grad_scaling": 1.0, "threshold_grad_factor": "dt"},
    {"v_threshold": 0.5, "tau": 5.0, "delta_t": 0.1, "alpha": 0.5,
     "v_threshold_grad_scaling": 1.0, "threshold_grad_factor": "1/dt"},
    {"v_threshold": 2.0, "tau": 1.5, "delta_t": 0.2, "alpha": 1.0,
     "v_threshold_grad_scaling": 0.25, "threshold_grad_factor": "dt"},
)
#: (parameter set, T, shape, also float16)
_LAYOUT = (
    (0, 1, (), True), (0, 7, (3, 4), False), (0, 32, (5,), True), (0, 2, (2, 3, 4), False),
    (1, 2, (5,), False), (1, 7, (2, 3, 4), True), (1, 32, (3, 4), False),
    (2, 1, (3, 4), False), (2, 7, (), False), (2, 32, (2, 3, 4), False),
)
_IF_RECIPES = ("tie", "zero", "upper", "inside", "above", "below", "random")
_LIF_RECIPES = ("tie", "zero", "near_zero", "upper", "near_upper", "inside", "above", "below",
                "random")


def _dyadic_pairs(rng: np.random.Generator, steps: int, centre: float, span: float) -> np.ndarray:
    """``centre ± d`` in pairs (``d`` multiples of ``span / 8``), exact mean ``centre``."""
    d = rng.integers(1, 17, steps // 2) * (span / 8)
    col = np.concatenate([centre + d, centre - d, [centre] * (steps % 2)])
    return rng.permutation(col)


def _with_mean(rng: np.random.Generator, steps: int, mean: float, span: float) -> np.ndarray:
    col = rng.uniform(-span, span, steps)
    return col - col.mean() + mean


def _if_column(recipe: str, rng: np.random.Generator, steps: int, p: Mapping[str, Any],
               ct: Any) -> np.ndarray:
    v = p["v_threshold"]
    if recipe == "tie":  # m reaches alpha*V exactly at step 0 (T = 1) or 1
        av = float(ct(p["alpha"]) * ct(v))
        col = rng.uniform(-0.5 * v, 1.5 * v, steps)
        col[: min(steps, 2)] = av if steps == 1 else av / 2
        return col
    if recipe in ("zero", "upper"):
        return _dyadic_pairs(rng, steps, 0.0 if recipe == "zero" else v, 2 * v)
    lo, hi = {"inside": (0.2, 0.8), "above": (1.3, 2.5), "below": (-1.5, -0.2),
              "random": (-1.0, 2.0)}[recipe]
    return _with_mean(rng, steps, v * rng.uniform(lo, hi), 2 * v)


def _lif_tie(rng: np.random.Generator, steps: int, p: Mapping[str, Any], st: Any,
             ct: Any) -> np.ndarray | None:
    """A column whose membrane equals alpha*V exactly at step min(1, T - 1), or None."""
    beta = math.exp(-p["delta_t"] / p["tau"])
    c1, c2 = ct(beta), ct(1.0 - beta)
    thr = ct(p["alpha"]) * ct(p["v_threshold"])
    col = np.zeros(steps, dtype=st)
    m = ct(0)
    if steps > 1:
        col[0] = st(rng.uniform(0.1, 0.5) * float(thr) / float(c2))
        m = c1 * ct(0) + c2 * ct(col[0])
    guess = st((float(thr) - float(c1 * m)) / float(c2))
    for direction in (st(np.inf), st(-np.inf)):
        cand = guess
        for _ in range(256):
            if c1 * m + c2 * ct(cand) == thr:
                col[min(steps - 1, 1)] = cand
                col[2:] = rng.uniform(-0.5, 1.5, max(0, steps - 2)) * float(thr) / float(c2)
                return col
            cand = np.nextafter(cand, direction)
    return None


def _lif_column(recipe: str, rng: np.random.Generator, steps: int, p: Mapping[str, Any],
                st: Any, ct: Any) -> np.ndarray:
    upper = p["v_threshold"] * p["tau"] / p["delta_t"]
    if recipe == "tie":
        col = _lif_tie(rng, steps, p, st, ct)
        return col if col is not None else _with_mean(rng, steps, 0.5 * upper, upper)
    if recipe == "zero":
        return np.zeros(steps)
    if recipe == "near_zero":  # the newest step (weight 1) cancels the others
        col = rng.uniform(-upper, upper, steps)
        w = np.exp(-(steps - np.arange(1, steps + 1)) * p["delta_t"] / p["tau"])
        col[-1] = -np.dot(w[:-1], col[:-1])
        return col if steps > 1 else np.array([upper * 1e-3])
    if recipe == "upper":
        return np.full(steps, upper)
    if recipe == "near_upper":
        return np.full(steps, upper * (1 + rng.choice([-1e-3, 1e-3])))
    lo, hi = {"inside": (0.1, 0.9), "above": (1.1, 2.0), "below": (-1.0, -0.05),
              "random": (-0.5, 1.5)}[recipe]
    return _with_mean(rng, steps, upper * rng.uniform(lo, hi), upper)


@functools.lru_cache(maxsize=1)
def _cases() -> tuple[Case, ...]:
    out = []
    for kind, table in (("if", IF_PARAMS), ("lif", LIF_PARAMS)):
        recipes = _IF_RECIPES if kind == "if" else _LIF_RECIPES
        for p_index, steps, shape, half in _LAYOUT:
            for dtype in ("float32", "float64", *(("float16",) if half else ())):
                number = len(out)
                rng = np.random.default_rng((2022, number))
                st = np.dtype(dtype).type
                ct = _compute_dtype(np.dtype(dtype)).type
                p = dict(table[p_index])
                n = math.prod(shape)
                cols = [
                    _if_column(recipes[(e + number) % len(recipes)], rng, steps, p, ct)
                    if kind == "if" else
                    _lif_column(recipes[(e + number) % len(recipes)], rng, steps, p, st, ct)
                    for e in range(n)
                ]
                x = np.stack(cols, axis=-1).astype(dtype).reshape((steps, *shape))
                g = rng.normal(0.0, 1.0, (steps, *shape)).astype(dtype)
                x.flags.writeable = g.flags.writeable = False
                shape_id = ",".join(str(s) for s in shape)
                name = f"dsr_{kind}-T{steps}-shape({shape_id})-p{p_index}-{dtype}"
                out.append(Case(name, kind, x, g, p, dtype))
    return tuple(out)


def cases() -> list[Case]:
    """The golden cases, in a fixed order (inputs are read-only)."""
    return list(_cases())


@functools.cache
def golden(index: int) -> Golden:
    """Oracle values of ``cases()[index]`` (cached)."""
    return evaluate(_cases()[index])


def evaluate(case: Case) -> Golden:
    """Oracle values of ``case`` (uncached)."""
    p = case.params
    if case.kind == "if":
        y = forward_if(case.x, p["v_threshold"], p["alpha"])
    else:
        y = forward_lif(case.x, p["v_threshold"], p["alpha"], p["tau"], p["delta_t"])
    return Golden(y, *_backward(case.kind, case.x, case.g, p, None))


# ---------------------------------------------------------------------------------------------
# self-check: python tests/dsr_oracle.py

def _f32(a: float) -> float:
    return float(np.float32(a))  # float64 op then one rounding: exact for + - * / of float32


def _loop(x: np.ndarray, p: Mapping[str, Any], kind: str, rnd: Any) -> np.ndarray:
    """Scalar Python reference of the forward, ``rnd`` rounding after every operation."""
    beta = math.exp(-p.get("delta_t", 1.0) / p.get("tau", 1.0))
    c1, c2, v = rnd(beta), rnd(1.0 - beta), rnd(p["v_threshold"])
    thr = rnd(rnd(p["alpha"]) * v)
    amp = v if kind == "if" else rnd(v / rnd(p["delta_t"]))
    y = np.zeros(x.shape)
    for e, col in enumerate(_columns(x)):
        m = 0.0
        for t, u in enumerate(col):
            m = rnd(m + u) if kind == "if" else rnd(rnd(c1 * m) + rnd(c2 * u))
            if m >= thr:
                y.reshape(x.shape[0], -1)[t, e] = amp
                m = rnd(m - v)
    return y


def _main() -> None:
    import time

    start = time.perf_counter()
    all_cases = cases()
    for i, case in enumerate(all_cases):
        gold = golden(i)
        assert gold.y.dtype == case.x.dtype and gold.grad_x.shape == case.x.shape
        assert gold.grad_v_lo <= gold.grad_v <= gold.grad_v_hi
        print(f"{case.name:42s} ambiguous={int(gold.ambiguous.sum()):2d}/{gold.ambiguous.size:2d}"
              f"  spikes={int(np.count_nonzero(gold.y)):4d}  grad_v={gold.grad_v:+.6g}"
              f"  [{gold.grad_v_lo:+.6g}, {gold.grad_v_hi:+.6g}]")
        ref = _loop(case.x, case.params, case.kind, float if case.dtype == "float64" else _f32)
        assert np.array_equal(gold.y, ref.astype(case.dtype)), case.name
        p = case.params
        fn = backward_if if case.kind == "if" else functools.partial(
            backward_lif, tau=p["tau"], delta_t=p["delta_t"], factor=p["threshold_grad_factor"])
        grad_x, grad_v, ambiguous = fn(case.x, case.g, v=p["v_threshold"], alpha=p["alpha"],
                                       scale=p["v_threshold_grad_scaling"])
        assert np.array_equal(grad_x, gold.grad_x) and grad_v == gold.grad_v
        assert np.array_equal(ambiguous, gold.ambiguous)
    print(f"{len(all_cases)} cases in {time.perf_counter() - start:.2f} s")

    # rates: mean(y) follows r (IF) and x / tau (LIF) inside the linear range
    rng = np.random.default_rng(7)
    for v in (6.0, 1.0, 0.25):
        r = rng.uniform(0.05, 0.95, 6) * v
        y = forward_if(np.broadcast_to(r, (4096, 6)).copy(), v, 0.5)
        assert np.all(np.abs(y.mean(axis=0) - r) <= 2 * v / 4096)
    for p in LIF_PARAMS:
        v, tau, dt = p["v_threshold"], p["tau"], p["delta_t"]
        xs = rng.uniform(0.1, 0.9, 6) * v * tau / dt
        y = forward_lif(np.broadcast_to(xs, (20000, 6)).copy(), v, p["alpha"], tau, dt)
        assert np.all(np.abs(y[2000:].mean(axis=0) - xs / tau) <= 1.5 * v / tau)
    print("self-check passed")


if __name__ == "__main__":
    _main()
