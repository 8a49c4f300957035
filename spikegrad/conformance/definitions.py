"""Conformance of a surrogate definition that has no golden vectors (a user's own).

What can be checked without high-precision goldens is checked:

* ``self_consistency``: ``g' = dg/dx``, by Richardson-extrapolated central differences of
  the float64 primitive (where one is given), away from kinks;
* ``limits``: the reference ``g'`` is NaN at NaN and not NaN at ±inf;
* ``forward``: the adapter's spike is bit-identical to the reference's, in the input's
  dtype and shape;
* ``backward``: the adapter's ``g'`` against the float64 reference engine rounded to the
  dtype, within the adapter's declared tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .._spec import Bound
from ..adapters.reference import derivative_values
from .checks import Result
from .goldens import compare
from .harness import Harness, flushes

__all__ = ["grid", "run_definition"]


def grid(bound: Bound, dtype: str) -> np.ndarray:
    """Inputs of a definition check: the core range, both tails, and the special values."""
    scale = float(bound.entry.x_scale(bound.params)) or 1.0
    info = np.finfo(dtype)
    core = np.linspace(-10.0, 10.0, 401) / scale
    tails = np.logspace(-30, np.log10(float(info.max)) - 1, 60)
    special = [0.0, -0.0, float(info.smallest_normal), -float(info.smallest_normal),
               float(info.smallest_subnormal), -float(info.smallest_subnormal),
               np.inf, -np.inf, np.nan]
    with np.errstate(over="ignore"):
        x = np.concatenate([core, tails, -tails, special]).astype(dtype)
    return x


def _richardson(bound: Bound, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = float(bound.entry.x_scale(bound.params)) or 1.0
    h = 1e-3 / scale

    def g(v: np.ndarray) -> np.ndarray:
        return np.asarray(bound.primitive(v), dtype=np.float64)

    d1 = (g(xs + h) - g(xs - h)) / (2 * h)
    d2 = (g(xs + h / 2) - g(xs - h / 2)) / h
    rich = (4 * d2 - d1) / 3  # error O(h^4) where g is smooth
    return rich, np.abs(rich - d2)


def _self_consistency(bound: Bound) -> tuple[bool, str]:
    scale = float(bound.entry.x_scale(bound.params)) or 1.0
    xs = np.linspace(-5.0, 5.0, 201) / scale + 0.37e-3 / scale
    fd, spread = _richardson(bound, xs)
    d = np.asarray(bound.derivative(xs), dtype=np.float64)
    peak = float(np.max(np.abs(d))) or 1.0
    smooth = spread <= 1e-4 * peak  # kinks (box edges, ...) make the stencils disagree
    err = np.abs(d - fd)
    bad = smooth & (err > 1e-6 * np.abs(fd) + 1e-8 * peak)
    if smooth.sum() < xs.size // 2:
        return False, "the primitive is not smooth at most sample points: is it g?"
    if bad.any():
        i = int(np.flatnonzero(bad)[np.argmax(err[bad])])
        return False, (f"g' is not dg/dx at x={xs[i]!r}: derivative {d[i]!r}, finite "
                       f"difference of the primitive {fd[i]!r}")
    return True, ""


def _limits(bound: Bound) -> tuple[bool, str]:
    d = np.asarray(bound.derivative(np.array([np.nan, np.inf, -np.inf])), dtype=np.float64)
    if not np.isnan(d[0]):
        return False, f"g'(NaN) = {d[0]!r}, expected NaN"
    if np.isnan(d[1:]).any() and "periodic" not in bound.entry.limits:
        return False, f"g'(±inf) = {d[1:].tolist()}: expected the limits, not NaN"
    return True, ""


def run_definition(adapter: Harness, bound: Bound,
                   dtypes: tuple[str, ...] | None = None) -> Iterator[Result]:
    """Every definition check of ``bound`` on ``adapter`` (see the module docstring)."""

    base: dict[str, Any] = {"adapter": adapter.name, "surrogate": bound.name,
                            "params": dict(bound.param_items)}
    repro = f"spikegrad conformance {adapter.name} --only {bound.name}"
    if bound.has_primitive:
        ok, detail = _self_consistency(bound)
        yield Result(**base, dtype="float64", check="self_consistency",
                     status="pass" if ok else "fail", detail=detail,
                     repro="" if ok else repro)
    ok, detail = _limits(bound)
    yield Result(**base, dtype="float64", check="limits", status="pass" if ok else "fail",
                 detail=detail, repro="" if ok else repro)
    scale = float(bound.entry.x_scale(bound.params)) or 1.0
    for dtype in dtypes or adapter.dtypes:
        if dtype not in adapter.dtypes:
            continue
        xn = grid(bound, dtype)
        x = adapter.from_numpy(xn)
        try:
            y = adapter.to_numpy(adapter.forward(bound, x))
            ref = bound.spike(xn)
            same = (y == ref) | (np.isnan(y) & np.isnan(ref))
            if y.dtype != xn.dtype or y.shape != xn.shape:
                ok, detail = False, f"spike {y.dtype}{y.shape} for input {xn.dtype}{xn.shape}"
            elif bound.stochastic or same.all():
                ok, detail = True, ""
            else:
                i = int(np.flatnonzero(~same)[0])
                ok, detail = False, f"spike at x={xn[i]!r}: expected {ref[i]!r}, got {y[i]!r}"
        except Exception as exc:  # a crash is a failure, reported with its message
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        yield Result(**base, dtype=dtype, check="forward", status="pass" if ok else "fail",
                     detail=detail, repro="" if ok else f"{repro} --dtype {dtype}")
        if bound.formula.stochastic_backward:
            continue
        ulp = None
        try:
            got = adapter.to_numpy(adapter.vjp(bound, x, adapter.from_numpy(np.ones_like(xn))))
            got_dtype = got.dtype  # before the flush handling below compares in float64
            ref64 = np.asarray(derivative_values(bound, xn.astype(np.float64)))
            if flushes(adapter, dtype):  # flushed inputs act as zeros, as in the goldens
                tiny = float(np.finfo("float32" if dtype == "float16" else dtype)
                             .smallest_normal)
                sub = (xn != 0) & (np.abs(xn.astype(np.float64)) < tiny)
                zeros = np.where(np.signbit(xn), -0.0, 0.0)
                ref64 = np.where(sub, derivative_values(bound, zeros), ref64)
                got = np.where((got == 0) & (np.abs(ref64) < 16 * tiny), ref64, got)
            floor = float(np.nanmax(np.abs(ref64[np.isfinite(ref64)]), initial=0.0)) \
                if bound.entry.sign_changing else 0.0
            m = compare(np.asarray(got), ref64, np.zeros_like(ref64), xn.astype(np.float64),
                        dtype, scale, floor)
            tol = adapter.tolerance_ulp[dtype]
            ulp = m.max_ulp_core
            if got_dtype != xn.dtype:
                ok, detail = False, f"grad dtype {got_dtype} for {dtype} input"
            elif m.bad_special:
                ok, detail = False, m.bad_special[0]
            elif m.max_ulp_core > tol:
                ok, detail = False, (f"{m.max_ulp_core:.3g} ULP > {tol:g} against the float64 "
                                     f"reference near x={m.worst_x!r}")
            else:
                ok, detail = True, ""
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        yield Result(**base, dtype=dtype, check="backward", status="pass" if ok else "fail",
                     max_ulp=ulp, detail=detail,
                     repro="" if ok else f"{repro} --dtype {dtype}")
