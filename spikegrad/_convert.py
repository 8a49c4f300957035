"""Translation between libraries: the parameters under which another library's surrogate
computes exactly the same ``g'`` (``spikegrad convert``).

Two aliases compute the same function when they share a formula and map onto the same
formula parameters and output scale.  The target's parameters are solved for from the
source's (Gauss-Newton on the mapping, in log space for positive parameters), and every
answer is verified on a dense grid in float64 before it is reported; where no parameter set
reproduces the source, the nearest candidate of the same shape is reported with the factor
it differs by.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _registry
from ._spec import Bound, Entry

__all__ = ["Conversion", "convert", "libraries"]

_GRID = np.concatenate([np.linspace(-6.0, 6.0, 4001), [-1e3, -50.0, 50.0, 1e3]])


@dataclass(frozen=True)
class Conversion:
    """One answer: ``target`` with ``params``; ``exact`` when ``g'`` agrees everywhere
    (``factor`` is then 1), else ``g'_target = factor * g'_source``."""

    target: str
    params: dict[str, Any]
    exact: bool
    factor: float
    forward_note: str = ""

    def call(self) -> str:
        inner = ", ".join(f"{k}={v:.12g}" if isinstance(v, float) else f"{k}={v!r}"
                          for k, v in self.params.items())
        return f"{self.target}({inner})"


def libraries() -> list[str]:
    """Library namespaces of the aliases."""
    return sorted({a.split(":", 1)[0] for a in _registry.aliases()})


def _real(e: Entry) -> list[Any]:
    return [p for p in e.params if not p.static]


def _residuals(target: Entry, values: dict[str, Any], goal: Bound) -> np.ndarray | None:
    try:
        b = target.bind(**values)
    except (ValueError, TypeError):
        return None
    if set(b.formula_params) != set(goal.formula_params):
        return None
    out = []
    for k, want in goal.formula_params.items():
        got = b.formula_params[k]
        if isinstance(want, (int, float)) and not isinstance(want, bool) \
                and isinstance(got, (int, float)) and not isinstance(got, bool):
            if want > 0 and got > 0:
                out.append(math.log(got / want))
            else:
                out.append(float(got) - float(want))
        elif got != want:
            return None
    out.append(math.log(abs(float(b.scale))) - math.log(abs(float(goal.scale)))
               if float(b.scale) and float(goal.scale) else 0.0)
    return np.asarray(out)


def _solve(target: Entry, goal: Bound, fit_scale: bool) -> tuple[dict[str, Any], float] | None:
    """Target parameters mapping onto ``goal``'s formula parameters (and scale, with
    ``fit_scale``): ``(values, residual scale factor)``, or ``None``.  A parameter whose
    domain holds 0 is also tried at exactly 0 (the Newton iteration runs in log space for
    nonnegative parameters and cannot reach it): ``norse:super(alpha=0)`` is
    ``snntorch:fast_sigmoid(slope=0)``."""
    real = _real(target)
    zeros = [p.name for p in real if p.domain.check(0.0)]
    found = _newton(target, goal, fit_scale, {})
    if found is not None or not zeros:
        return found
    for n in range(1, len(zeros) + 1):
        for fixed in itertools.combinations(zeros, n):
            found = _newton(target, goal, fit_scale, dict.fromkeys(fixed, 0.0))
            if found is not None:
                return found
    return None


def _newton(target: Entry, goal: Bound, fit_scale: bool,
            fixed: dict[str, float]) -> tuple[dict[str, Any], float] | None:
    """:func:`_solve` with the parameters in ``fixed`` held at their values."""
    real = [p for p in _real(target) if p.name not in fixed]
    values = {**target.defaults(), **fixed}
    logs = [p.domain.low >= 0 for p in real]
    x = np.array([math.log(values[p.name]) if lg and values[p.name] > 0
                  else float(values[p.name]) for p, lg in zip(real, logs, strict=True)])

    def unpack(v: np.ndarray) -> dict[str, Any]:
        out = dict(values)
        for p, lg, t in zip(real, logs, v, strict=True):
            out[p.name] = math.exp(t) if lg else float(t)
        return out

    def resid(v: np.ndarray) -> np.ndarray | None:
        r = _residuals(target, unpack(v), goal)
        if r is None:
            return None
        return r if fit_scale else r[:-1]

    r = resid(x)
    if r is None:
        return None
    for _ in range(60):
        if r.size == 0 or float(np.max(np.abs(r))) < 1e-13 or not real:
            break
        jac = np.empty((r.size, x.size))
        for j in range(x.size):
            h = 1e-7 * max(1.0, abs(x[j]))
            step = x.copy()
            step[j] += h
            rj = resid(step)
            if rj is None:
                return None
            jac[:, j] = (rj - r) / h
        dx = np.linalg.lstsq(jac, -r, rcond=None)[0]
        x = x + dx
        r = resid(x)
        if r is None:
            return None
    if r.size and float(np.max(np.abs(r))) > 1e-10:
        return None
    solved = unpack(x)
    full = _residuals(target, solved, goal)
    factor = math.exp(float(full[-1])) if full is not None else float("nan")
    return {p.name: solved[p.name] for p in target.params}, factor


def _tidy(v: Any) -> Any:
    if isinstance(v, float):
        r = round(v)
        if abs(v - r) < 1e-9 * max(1.0, abs(v)):
            return float(r)
        short = float(f"{v:.12g}")
        return short
    return v


def convert(source: str, params: dict[str, Any], library: str) -> list[Conversion]:
    """The surrogates of ``library`` that compute ``source(**params)``'s ``g'`` (exact
    ones), or else the nearest of the same shape (with the factor they differ by)."""
    if library not in libraries():
        raise ValueError(f"unknown library {library!r}; libraries: {', '.join(libraries())}")
    goal = _registry.get(source, **params)
    ref = goal.derivative(_GRID)
    exact, near = [], []
    for name in _registry.aliases():
        if not name.startswith(library + ":"):
            continue
        target = _registry.entry(name)
        if target.formula is not goal.formula:
            continue
        for fit in (True, False):
            found = _solve(target, goal, fit)
            if found is None:
                continue
            values, factor = found
            values = {k: _tidy(v) for k, v in values.items()}
            got = target.bind(**values).derivative(_GRID)
            note = ""
            if target.forward != goal.entry.forward:
                note = (f"the spike differs at x = 0: {source} fires where x "
                        f"{'>' if goal.entry.forward == 'gt' else '>='} 0, {name} where x "
                        f"{'>' if target.forward == 'gt' else '>='} 0")
            scale = float(np.nanmax(np.abs(ref))) or 1.0
            if fit and np.allclose(got, ref, rtol=1e-10, atol=1e-13 * scale, equal_nan=True):
                exact.append(Conversion(name, values, True, 1.0, note))
                break
            if not fit and math.isfinite(factor) and np.allclose(
                    got, factor * ref, rtol=1e-10, atol=1e-13 * scale * abs(factor),
                    equal_nan=True):
                near.append(Conversion(name, values, False, factor, note))
                break
    return exact or near
