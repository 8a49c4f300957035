"""Conformance of the multi-step surrogates (DSR-IF, DSR-LIF) against shipped goldens.

The goldens (``data/multistep.npz`` + ``data/multistep.json``) hold inputs ``x``, upstream
gradients ``G``, the bit-exact output sequence, the exact input gradient and the exact
threshold gradient (with its range over the mask choices at elements whose rate lies
within rounding of a boundary, marked ambiguous), computed by an oracle written from the
paper's equations (``conformance/dsr_oracle.py`` in the source tree).

Checks per case: ``forward`` (bit for bit, ties included, in the input's dtype),
``grad_x`` (``|error| <= rtol * max|G|`` away from ambiguous elements) and ``grad_v``
(inside the exact range, widened by ``rtol`` times the sum of its terms' magnitudes).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from .._registry import get
from .results import Result

__all__ = ["RTOL", "MultiStepCase", "cases", "compare", "run"]

#: Declared tolerance of the multi-step gradients per input dtype (relative to max|G|):
#: float16 inputs compute in float32 and round dL/dx to float16.
RTOL = {"float64": 1e-12, "float32": 1e-5, "float16": 1e-3}


@dataclass(frozen=True)
class MultiStepCase:
    """One golden case of a multi-step surrogate."""

    id: str
    surrogate: str
    params: dict[str, Any]
    dtype: str
    x: np.ndarray
    g: np.ndarray
    y: np.ndarray
    grad_x: np.ndarray
    grad_v: float
    grad_v_lo: float
    grad_v_hi: float
    grad_v_scale: float  # the sum of the threshold gradient's terms' magnitudes
    ambiguous: np.ndarray

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x, G)`` in the case's dtype."""
        return self.x.astype(self.dtype), self.g.astype(self.dtype)


@functools.cache
def _load() -> tuple[MultiStepCase, ...]:
    data = resources.files("spikegrad.conformance") / "data"
    meta = json.loads((data / "multistep.json").read_text())
    with resources.as_file(data / "multistep.npz") as path, np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    out = []
    for m in meta:
        k = m["key"]
        out.append(MultiStepCase(m["id"], m["surrogate"], m["params"], m["dtype"],
                                 arrays[f"{k}_x"], arrays[f"{k}_g"], arrays[f"{k}_y"],
                                 arrays[f"{k}_gx"], m["grad_v"], m["grad_v_lo"],
                                 m["grad_v_hi"], m["grad_v_scale"], arrays[f"{k}_amb"]))
    return tuple(out)


def cases(only: str | None = None, dtype: str | None = None) -> list[MultiStepCase]:
    """The shipped cases (optionally of one surrogate and one dtype)."""
    return [c for c in _load() if (only is None or c.surrogate == only)
            and (dtype is None or c.dtype == dtype)]


def compare(case: MultiStepCase, y: np.ndarray, grad_x: np.ndarray, grad_v: float
            ) -> dict[str, tuple[bool, str]]:
    """``check -> (passed, detail)`` for an adapter's results on ``case``."""
    out: dict[str, tuple[bool, str]] = {}
    y = np.asarray(y)
    if y.dtype != np.dtype(case.dtype):
        out["forward"] = (False, f"output dtype {y.dtype} for {case.dtype} input")
    else:
        bad = int(np.sum(y.astype(np.float64) != case.y))
        out["forward"] = (bad == 0, f"{bad} outputs differ" if bad else "")
    scale = float(np.abs(case.g).max()) if case.g.size else 0.0
    tol = RTOL[case.dtype] * scale
    gx = np.asarray(grad_x, dtype=np.float64)
    clear = np.broadcast_to(~case.ambiguous, gx.shape)
    err = np.abs(gx - case.grad_x)[clear]
    worst = float(err.max()) if err.size else 0.0
    ok = bool(err.size == 0 or worst <= tol)
    out["grad_x"] = (ok, "" if ok else f"max error {worst:.3g} > {tol:.3g}")
    vtol = RTOL[case.dtype] * case.grad_v_scale + 1e-300
    gv = float(grad_v)
    ok = case.grad_v_lo - vtol <= gv <= case.grad_v_hi + vtol
    out["grad_v"] = (ok, "" if ok else f"{gv!r} outside [{case.grad_v_lo!r}, "
                                       f"{case.grad_v_hi!r}] ± {vtol:.3g}")
    return out


def run(adapter: Any, only: str | None = None, dtype: str | None = None) -> Iterator[Any]:
    """Yield a :class:`~spikegrad.conformance.checks.Result` per case and check."""
    for case in cases(only, dtype):
        if case.dtype not in adapter.dtypes:
            continue
        base = {"adapter": adapter.name, "surrogate": case.surrogate, "params": case.params,
                "dtype": case.dtype}
        fn = getattr(adapter, "multistep_vjp", None)
        if fn is None:
            yield Result(**base, check="multistep", status="not claimed")
            continue
        x, g = case.inputs()
        try:
            y, gx, gv = fn(get(case.surrogate, **case.params), adapter.from_numpy(x),
                           adapter.from_numpy(g))
            results = compare(case, adapter.to_numpy(y), adapter.to_numpy(gx),
                              float(adapter.to_numpy(gv)))
        except Exception as exc:  # a crash is a failure, reported with its message
            results = {c: (False, f"{type(exc).__name__}: {exc}")
                       for c in ("forward", "grad_x", "grad_v")}
        for check, (ok, detail) in results.items():
            yield Result(**base, check=f"multistep {check}", status="pass" if ok else "fail",
                         detail=f"{case.id}: {detail}" if detail else "",
                         repro="" if ok else f"spikegrad conformance {adapter.name} --only "
                                             f"{case.surrogate} --dtype {case.dtype}")
