"""The conformance checks: one adapter against the reference and the golden vectors."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .._registry import get
from ..adapters.reference import derivative_values
from . import multistep, stochastic
from .goldens import Case, cases, compare, finfo
from .harness import Harness, flushes
from .results import Result

__all__ = ["Result", "apply_xfails", "check_backward_values", "load_xfails", "run"]

TRANSFORMS = ("jit", "vmap", "forward_mode", "double_backward")


def _repro(adapter: str, case: Case, check: str) -> str:
    return (f"spikegrad conformance {adapter} --only {case.name} --dtype {case.dtype} "
            f"--param-set {case.index}  # {check}")


def flushable_inputs(case: Case) -> tuple[np.ndarray, float]:
    """Mask of the case's nonzero inputs that are subnormal in its compute dtype (float32
    for float16), and that dtype's smallest normal: what a flushing backend sees as zero."""
    cdt = "float32" if case.dtype in ("float16", "bfloat16") else case.dtype
    tiny = float(np.finfo(cdt).smallest_normal)
    return (case.x != 0) & (np.abs(case.x) < tiny), tiny


def relative_limit(dtype: str) -> float:
    """Largest relative error allowed anywhere the truth is a normal number: 1e-3, or one
    unit of ``dtype``'s precision where that is coarser (bfloat16: 2**-7)."""
    return max(1e-3, float(finfo(dtype).eps))


def check_backward_values(case: Case, got: np.ndarray, tolerance_ulp: float,
                          flushes_subnormals: bool = False,
                          bound: Any = None) -> tuple[bool, float, str]:
    """``got`` (``g'`` at the case's inputs) against the goldens.

    Returns (ok, max ULP in the core range, detail of the worst point or problem).
    ``bound`` is the case's surrogate when it is not registered under ``case.name``.
    With ``flushes_subnormals``, subnormal inputs are expected to act as signed zeros
    (in the compute dtype: float32 for float16 and bfloat16 input) and results within 16x the
    smallest normal float (times the peak ``|g'|`` where above 1: an amplitude times a
    subnormal shape) may be flushed to zero.  Results below the peak times the smallest
    normal are measured in ULPs of that product (see :func:`goldens.compare`).
    """
    s = bound if bound is not None else get(case.name, **case.params)
    tolerance_ulp = tolerance_ulp * float(s.entry.ulp_factor(s.params))
    amplitude = abs(float(s.peak))
    hi, lo = case.d_hi.copy(), case.d_lo.copy()
    g = np.asarray(got, dtype=np.float64)
    if flushes_subnormals:
        sub, tiny = flushable_inputs(case)
        for i in np.flatnonzero(sub):
            z = np.flatnonzero((case.x == 0) & (np.signbit(case.x) == np.signbit(case.x[i])))
            hi[i], lo[i] = hi[z[0]], lo[z[0]]
        flushed = (g == 0) & (np.abs(hi) < 16 * tiny * max(1.0, amplitude))
        g = np.where(flushed, hi, g)
    floor = s.peak if s.entry.sign_changing else 0.0
    m = compare(g, hi, lo, case.x, case.dtype, float(s.entry.x_scale(s.params)), floor,
                amplitude)
    if m.bad_special:
        return False, m.max_ulp_core, m.bad_special[0]
    if m.max_rel_normal > relative_limit(case.dtype):
        return False, m.max_ulp_core, f"relative error {m.max_rel_normal:.3g} (premature zero?)"
    if m.max_ulp_core > tolerance_ulp:
        i = int(np.nanargmin(np.abs(case.x - m.worst_x)))
        return False, m.max_ulp_core, (f"{m.max_ulp_core:.3g} ULP > {tolerance_ulp:g} at "
                                        f"x={case.x[i]!r}: expected {hi[i]!r}, got {g[i]!r}")
    return True, m.max_ulp_core, ""


def _forward_check(adapter: Harness, case: Case, x: Any) -> tuple[bool, str]:
    s = get(case.name, **case.params)
    y = adapter.forward(s, x)
    if type(y) is not type(x):
        return False, f"output type {type(y).__name__} differs from input {type(x).__name__}"
    yn = adapter.to_numpy(y)
    if yn.dtype != case.inputs().dtype:
        return False, f"spike dtype {yn.dtype} for {case.dtype} input"
    if yn.shape != case.x.shape:
        return False, f"spike shape {yn.shape} for input shape {case.x.shape}"
    if s.entry.forward.startswith("bernoulli"):
        return True, ""
    ref = s.spike(case.inputs())
    bad = np.flatnonzero(~((yn == ref) | (np.isnan(yn) & np.isnan(ref))))
    if bad.size:
        i = bad[0]
        return False, f"spike at x={case.x[i]!r}: expected {ref[i]!r}, got {yn[i]!r}"
    return True, ""


def _smooth_points(case: Case) -> np.ndarray:
    s = get(case.name, **case.params)
    scale = float(s.entry.x_scale(s.params))
    xs = np.linspace(-3 / scale, 3 / scale, 25)
    keep = np.ones_like(xs, dtype=bool)
    for b in (0.0, *s.entry.boundaries(s.params)):
        keep &= np.abs(xs - b) > 2e-2 / scale
    return xs[keep]


def _transform(adapter: Harness, case: Case, cap: str, x: Any, g: Any) -> tuple[bool, float,
                                                                               str]:
    s = get(case.name, **case.params)
    tol = adapter.tolerance_ulp[case.dtype]
    if cap == "jit":
        out = adapter.jit_vjp(s, x, g)  # type: ignore[attr-defined]
    elif cap == "vmap":
        out = adapter.vmap_vjp(s, x, g)  # type: ignore[attr-defined]
    elif cap == "forward_mode":
        out = adapter.jvp(s, x, g)  # type: ignore[attr-defined]
    else:
        xs = _smooth_points(case)
        d2 = adapter.to_numpy(adapter.second_derivative(  # type: ignore[attr-defined]
            s, adapter.from_numpy(xs)))
        h = 1e-5 / float(s.entry.x_scale(s.params))
        fd = (derivative_values(s, xs + h) - derivative_values(s, xs - h)) / (2 * h)
        err = np.abs(d2 - fd)
        limit = 1e-5 * np.abs(fd) + 1e-6 * s.peak * float(s.entry.x_scale(s.params))
        if np.all(err <= limit):
            return True, 0.0, ""
        i = int(np.argmax(err - limit))
        return False, float("nan"), f"g'' at x={xs[i]!r}: expected {fd[i]!r}, got {d2[i]!r}"
    return check_backward_values(case, adapter.to_numpy(out), tol,
                                 flushes(adapter, case.dtype))


def run(adapter: Harness, only: str | None = None, dtype: str | None = None,
        param_set: int | None = None, thorough: bool = False) -> Iterator[Result]:
    """Yield every check of ``adapter`` (all surrogates × parameter sets × dtypes).

    Transforms are checked on the default parameter set (all sets with ``thorough``) for
    float32 and float64; the double backward on float64.
    """
    for case in cases(only, dtype):
        if case.dtype not in adapter.dtypes:
            continue
        if param_set is not None and case.index != param_set:
            continue
        base = {"adapter": adapter.name, "surrogate": case.name, "params": case.params,
                "dtype": case.dtype}
        x = adapter.from_numpy(case.inputs())
        g = adapter.from_numpy(np.ones_like(case.inputs()))
        for check in ("forward", "backward"):
            try:
                if check == "forward":
                    ok, detail = _forward_check(adapter, case, x)
                    ulp = None
                else:
                    gx = adapter.vjp(get(case.name, **case.params), x, g)
                    gn = adapter.to_numpy(gx)
                    if gn.dtype != case.inputs().dtype:
                        ok, ulp, detail = False, None, f"grad dtype {gn.dtype} for {case.dtype}"
                    else:
                        ok, ulp, detail = check_backward_values(
                            case, gn, adapter.tolerance_ulp[case.dtype],
                            flushes(adapter, case.dtype))
            except Exception as exc:  # a crash is a failure, reported with its message
                ok, ulp, detail = False, None, f"{type(exc).__name__}: {exc}"
            yield Result(**base, check=check, status="pass" if ok else "fail", max_ulp=ulp,
                         detail=detail, repro="" if ok else _repro(adapter.name, case, check))
        if case.dtype == "float16" or (case.index != 0 and not thorough):
            continue
        for cap in TRANSFORMS:
            if cap == "double_backward" and case.dtype != "float64":
                continue
            if cap not in adapter.capabilities:
                yield Result(**base, check=cap, status="not claimed")
                continue
            try:
                ok, ulp, detail = _transform(adapter, case, cap, x, g)
            except NotImplementedError as exc:
                yield Result(**base, check=cap, status="n/a", detail=str(exc))
                continue
            except Exception as exc:
                ok, ulp, detail = False, None, f"{type(exc).__name__}: {exc}"
            yield Result(**base, check=cap, status="pass" if ok else "fail",
                         max_ulp=None if ulp is None or math.isnan(ulp) else ulp,
                         detail=detail, repro="" if ok else _repro(adapter.name, case, cap))
    if param_set is None:
        yield from stochastic.run(adapter, only, dtype)
        yield from multistep.run(adapter, only, dtype)


def load_xfails(path: str | Path) -> set[tuple[str, str, str]]:
    """Known failures: one ``surrogate dtype check`` per line (``#`` comments)."""
    out = set()
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            parts = line.split()
            if len(parts) != 3:
                raise ValueError(f"{path}: expected 'surrogate dtype check', got {line!r}")
            out.add((parts[0], parts[1], parts[2]))
    return out


def apply_xfails(results: list[Result], xfails: set[tuple[str, str, str]]) -> list[str]:
    """Mark known failures as ``xfail``; return the stale entries (they now pass)."""
    matched = set()
    for r in results:
        if r.key in xfails:
            matched.add(r.key)
            if r.status == "fail":
                r.status = "xfail"
    stale = [" ".join(k) for k in sorted(xfails) if k not in matched
             or all(r.status == "pass" for r in results if r.key == k)]
    for s in stale:
        warnings.warn(f"stale known-failure entry (it passes now): {s}", stacklevel=2)
    return stale


def to_json(results: list[Result], path: str | Path) -> None:
    data = [asdict(r) for r in results]
    Path(path).write_text(json.dumps(data, indent=1, default=str) + "\n")

