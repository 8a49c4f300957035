"""Golden vectors shipped with the package, and error metrics against them.

The vectors (``data/goldens.npz`` + ``data/goldens.json``) hold, per deterministic
canonical surrogate, per parameter set and per input dtype, the inputs ``x`` and the
true ``g'(x)`` (and ``g(x)``) computed with mpmath at 50 digits from independent oracle
formulas (``conformance/oracles.py`` in the source tree), stored as float64 pairs
``hi + lo``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["Case", "Metrics", "cases", "compare", "finfo", "np_dtype", "ulp_error"]

DTYPES = ("float16", "float32", "float64")
_BITS = {"float16": (11, -14), "bfloat16": (8, -126), "float32": (24, -126),
         "float64": (53, -1022)}


def np_dtype(name: str) -> Any:
    """The NumPy dtype of ``name``; ``"bfloat16"`` through ``ml_dtypes`` (a dependency of
    the frameworks that have bfloat16)."""
    if name == "bfloat16":
        import ml_dtypes  # optional (test extra): bfloat16 in NumPy

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def finfo(name: str) -> Any:
    """``np.finfo`` of ``name``, bfloat16 included."""
    if name == "bfloat16":
        import ml_dtypes  # optional (test extra): bfloat16 in NumPy

        return ml_dtypes.finfo(ml_dtypes.bfloat16)
    return np.finfo(name)


@dataclass(frozen=True)
class Case:
    """One golden vector: a surrogate, one parameter set and one input dtype."""

    name: str
    index: int
    params: dict[str, Any]
    dtype: str
    x: np.ndarray
    d_hi: np.ndarray
    d_lo: np.ndarray
    g_hi: np.ndarray | None
    g_lo: np.ndarray | None

    @property
    def id(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}[{inner}]-{self.dtype}"

    def inputs(self) -> np.ndarray:
        """``x`` in its dtype."""
        return self.x.astype(self.dtype)


@functools.cache
def _load() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    data = resources.files("spikegrad.conformance") / "data"
    meta = json.loads((data / "goldens.json").read_text())
    with resources.as_file(data / "goldens.npz") as path, np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return meta, arrays


def _params(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items()}


def cases(name: str | None = None, dtype: str | None = None) -> Iterator[Case]:
    """Iterate over the golden cases (optionally of one surrogate and/or dtype)."""
    meta, arrays = _load()
    for sname, info in meta["surrogates"].items():
        if name is not None and sname != name:
            continue
        for i, raw in enumerate(info["param_sets"]):
            for dt in DTYPES:
                if dtype is not None and dt != dtype:
                    continue
                key = f"{sname}/{i}/{dt}"
                zeros = np.zeros_like(arrays[key + "/d"])
                yield Case(
                    name=sname, index=i, params=_params(raw), dtype=dt,
                    x=arrays[key + "/x"], d_hi=arrays[key + "/d"],
                    d_lo=arrays.get(key + "/d_lo", zeros),
                    g_hi=arrays.get(key + "/g"),
                    g_lo=arrays.get(key + "/g_lo", zeros) if key + "/g" in arrays else None,
                )


def names() -> list[str]:
    """Surrogates that have golden vectors."""
    return list(_load()[0]["surrogates"])


def ulp_of(value: np.ndarray, dtype: str) -> np.ndarray:
    """Size of one unit in the last place of ``dtype`` at ``|value|`` (subnormal-aware)."""
    p, emin = _BITS[dtype]
    a = np.abs(value)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    e = np.maximum(np.where(a > 0, e, emin), emin)
    return np.ldexp(1.0, (e - (p - 1)).astype(np.int64))


def ulp_error(got: np.ndarray, hi: np.ndarray, lo: np.ndarray, dtype: str,
              floor: float = 0.0) -> np.ndarray:
    """``|got - (hi + lo)|`` in ULPs of the true value in ``dtype``.

    ``floor`` raises the reference magnitude (``ulp(max(|true|, floor))``), which measures
    sign-changing surrogates relative to their peak near their roots.
    """
    g = got.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs((g - hi) - lo)
        same_inf = np.isinf(g) & (g == hi)
        diff = np.where(same_inf, 0.0, diff)
        ref = np.maximum(np.abs(hi), floor)
        return diff / ulp_of(ref, dtype)


@dataclass(frozen=True)
class Metrics:
    """Errors of computed values against one golden case."""

    max_ulp_core: float
    worst_x: float
    bad_special: list[str]
    max_rel_normal: float

    @property
    def ok_special(self) -> bool:
        return not self.bad_special


def compare(got: np.ndarray, hi: np.ndarray, lo: np.ndarray, x: np.ndarray, dtype: str,
            core_scale: float, floor: float = 0.0, amplitude: float = 1.0) -> Metrics:
    """Compare ``got`` with the golden ``hi + lo`` at inputs ``x``.

    Returns the max ULP error in the core range ``|x * core_scale| <= 10`` and, over the
    whole grid, the points where the result is NaN/inf while the truth is finite (or the
    reverse), and the max relative error where the truth is a normal float of ``dtype``.

    ``amplitude`` (a surrogate's peak ``|g'|``, when above 1) declares that a result is an
    amplitude times a shape in [0, 1]: below ``amplitude`` times the smallest normal
    number the shape is subnormal, with a subnormal's absolute precision, so there errors
    are measured in ULPs of ``amplitude * smallest_normal`` and the relative check stops.
    """
    tiny_scaled = float(finfo(dtype).smallest_normal) * max(1.0, amplitude)
    floor = max(floor, tiny_scaled) if amplitude > 1.0 else floor
    g = got.astype(np.float64)
    bad: list[str] = []
    with np.errstate(over="ignore"):
        # the truth as the dtype can hold it: beyond its largest value it is ±inf
        held = hi.astype(np_dtype(dtype)).astype(np.float64)
        hi = np.where(np.isfinite(held), hi, held)
    true_nan = np.isnan(hi)
    for i in np.flatnonzero(true_nan != np.isnan(g)):
        bad.append(f"x={x[i]!r}: expected {hi[i]!r}, got {g[i]!r}")
    finite = np.isfinite(hi)
    for i in np.flatnonzero(finite & ~np.isfinite(g)):
        bad.append(f"x={x[i]!r}: expected {hi[i]!r}, got {g[i]!r}")
    for i in np.flatnonzero(np.isinf(hi) & (g != hi)):
        bad.append(f"x={x[i]!r}: expected {hi[i]!r}, got {g[i]!r}")
    err = ulp_error(got, hi, lo, dtype, floor)
    with np.errstate(over="ignore", invalid="ignore"):
        core = finite & (np.abs(x * core_scale) <= 10.0) & np.isfinite(x)
    core_err = np.where(core, err, 0.0)
    i = int(np.nanargmax(core_err)) if core.any() else 0
    normal = finite & (np.abs(hi) >= tiny_scaled) & (np.abs(hi) <= float(finfo(dtype).max))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs((g - hi) - lo) / np.maximum(np.abs(hi), floor)
    rel = np.where(normal & np.isfinite(g), rel, 0.0)
    return Metrics(
        max_ulp_core=float(core_err[i]) if core.any() else 0.0,
        worst_x=float(x[i]),
        bad_special=bad,
        max_rel_normal=float(np.max(rel)) if rel.size else 0.0,
    )

