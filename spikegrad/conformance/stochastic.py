"""Conformance of the surrogates with a stochastic backward (the stochastic spike operator).

Their ``g'`` is a random variable, so no golden vector can hold it; what holds instead is
checked per adapter, parameter set and dtype, reported as the matrix's ``forward`` and
``backward`` checks (the latter passes when all of the backward's checks below do, and its
detail gives the measured statistics):

``forward``
    The spike equals the reference's bit for bit (the forward is deterministic).
``backward_mean`` / ``backward_variance``
    Over ``N_DRAWS`` elements below threshold, the sample mean and variance of ``g'``
    against their exact values: ``g' = (U - 1/2 + mean) * variance`` with ``U ~ U[0, 1)``
    has mean ``mean * variance`` and variance ``variance**2 / 12``.  The bound is ``Z``
    standard errors (the variance's from the uniform's fourth moment,
    ``Var(s^2) = 4 sigma^4 / (5 n)``), plus the dtype's rounding: with ``Z = 6`` a correct
    adapter fails each check with probability below 2e-9 (normal approximation, excellent
    at this ``n``).  Above threshold ``g'`` must be exactly 1, and every draw must lie in
    the support ``[(mean - 1/2) v, (mean + 1/2) v]``.
``determinism``
    Two backward passes with the same key give the same bits.
``dtype_shape``
    The gradient keeps the input's dtype and (2-D) shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._registry import all_entries, get
from .goldens import finfo
from .results import Result

__all__ = ["N_DRAWS", "PARAM_SETS", "Z", "run"]

#: Elements below threshold per check (the draws of the backward's noise).
N_DRAWS = 40_000
#: Standard errors allowed (false-failure probability < 2e-9 per check).
Z = 6.0
#: Parameter sets checked besides the defaults.
PARAM_SETS: dict[str, list[dict[str, float]]] = {
    "stochastic_spike_operator": [{"mean": 0.3, "variance": 1.0},
                                  {"mean": -0.5, "variance": 0.05}],
}


def _moments(params: dict[str, Any]) -> tuple[float, float, float, float]:
    """(mean, variance, support low, support high) of ``g'`` below threshold."""
    m, v = float(params["mean"]), float(params["variance"])
    return m * v, v * v / 12.0, (m - 0.5) * v, (m + 0.5) * v


def _inputs(dtype: str) -> np.ndarray:
    """A (200, N_DRAWS / 200 + 50) array: N_DRAWS values at or below 0, then 50 columns
    above (the exact branch)."""
    rng = np.random.default_rng(2024)
    below = -rng.exponential(1.0, size=N_DRAWS)
    below[::997] = 0.0  # the boundary takes the noise branch
    above = rng.exponential(1.0, size=200 * 50) + 1e-3
    return np.concatenate([below, above]).reshape(200, -1).astype(dtype)


def stochastic_names() -> list[str]:
    """Canonical surrogates whose backward is stochastic."""
    return [e.name for e in all_entries()
            if not e.is_alias and not e.user and e.formula.stochastic_backward]


def _check(adapter: Any, s: Any, dtype: str, x: np.ndarray) -> dict[str, tuple[bool, str]]:
    out: dict[str, tuple[bool, str]] = {}
    xa = adapter.from_numpy(x)
    y = adapter.to_numpy(adapter.forward(s, xa))
    ref = s.spike(x)
    out["forward"] = (bool(np.array_equal(y, ref) and y.dtype == x.dtype),
                      "" if np.array_equal(y, ref) else "spike differs from the reference")
    g = adapter.from_numpy(np.ones_like(x))
    first = adapter.to_numpy(adapter.vjp(s, xa, g))
    second = adapter.to_numpy(adapter.vjp(s, xa, g))
    ok_shape = first.dtype == x.dtype and first.shape == x.shape
    out["dtype_shape"] = (ok_shape, "" if ok_shape else
                          f"gradient {first.dtype}{first.shape} for {x.dtype}{x.shape}")
    same = np.array_equal(first, second, equal_nan=True)
    out["determinism"] = (same, "" if same else "two passes with one key differ")
    d = first.astype(np.float64).ravel()
    xf = x.astype(np.float64).ravel()
    noise, exact = d[xf <= 0], d[xf > 0]
    mean, var, lo, hi = _moments(s.params)
    eps = float(finfo(dtype).eps)
    slack = eps * max(abs(lo), abs(hi))  # rounding of each draw to the dtype
    problems = []
    if not np.all(exact == 1.0):
        problems.append("g' above threshold is not 1")
    if noise.size and not np.all((noise >= lo - slack) & (noise <= hi + slack)):
        problems.append(f"draws outside the support [{lo:g}, {hi:g}]")
    n = noise.size
    m_hat = float(noise.mean())
    m_bound = Z * math.sqrt(var / n) + slack
    ok_m = not problems and abs(m_hat - mean) <= m_bound
    out["backward_mean"] = (ok_m, "; ".join(problems) if problems else (
        "" if ok_m else f"mean {m_hat:.6g}, exact {mean:.6g} (bound {m_bound:.3g})"))
    v_hat = float(noise.var(ddof=1))
    v_bound = Z * var * math.sqrt(0.8 / n) + 2.0 * slack * max(abs(lo), abs(hi))
    ok_v = abs(v_hat - var) <= v_bound
    out["backward_variance"] = (ok_v, "" if ok_v else
                                f"variance {v_hat:.6g}, exact {var:.6g} (bound {v_bound:.3g})")
    out["_stats"] = (True, f"{n} draws: mean {m_hat:.6g} (exact {mean:.6g} ± {m_bound:.2g}), "
                           f"variance {v_hat:.6g} (exact {var:.6g} ± {v_bound:.2g}); "
                           "deterministic for one key; dtype and shape kept")
    return out


def run(adapter: Any, only: str | None = None, dtype: str | None = None) -> Iterator[Any]:
    """Yield the results (``checks.Result``) of every stochastic check of ``adapter``."""
    for name in stochastic_names():
        if only is not None and only != name:
            continue
        sets = [get(name).params, *PARAM_SETS.get(name, [])]
        for raw in sets:
            s = get(name, **raw)
            for dt in adapter.dtypes:
                if dt not in ("float16", "float32", "float64") or (dtype and dt != dtype):
                    continue
                base = {"adapter": adapter.name, "surrogate": name, "params": dict(s.params),
                        "dtype": dt}
                try:
                    results = _check(adapter, s, dt, _inputs(dt))
                except Exception as exc:  # a crash is a failure, reported with its message
                    results = {"backward_mean": (False, f"{type(exc).__name__}: {exc}")}
                # the matrix's two columns: the forward, and the backward's statistics
                fwd_ok, fwd_detail = results.pop("forward", (False, "not run"))
                stats = results.pop("_stats", (True, ""))[1]
                bad = [f"{k}: {d}" for k, (ok, d) in results.items() if not ok]
                for check, ok, detail in (("forward", fwd_ok, fwd_detail),
                                          ("backward", not bad, "; ".join(bad) or stats)):
                    yield Result(**base, check=check, status="pass" if ok else "fail",
                                 detail=detail,
                                 repro="" if ok else f"spikegrad conformance {adapter.name} "
                                 f"--only {name} --dtype {dt}  # {check}")
