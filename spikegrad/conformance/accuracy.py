"""Accuracy of the numpy reference engine against the golden vectors.

``spikegrad accuracy`` prints, per surrogate and input dtype, the largest error in ULPs
over the core range ``|x * scale| <= 10`` (all parameter sets), for ``g'`` and ``g``, and
flags any point of the whole grid where the engine returns NaN/inf for a finite truth or
a relative error above 1e-3 where the truth is a normal float.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._registry import entry as _entry
from .._registry import get
from ..adapters import reference
from .goldens import DTYPES, Case, Metrics, cases, compare, names

__all__ = ["LIMITS_CORE_ULP", "Row", "accuracy_table", "evaluate", "format_table"]

#: The reference engine's guarantee for g' in the core range (ULPs, per input dtype).
LIMITS_CORE_ULP = {"float64": 16.0, "float32": 4.0, "float16": 1.0}
#: Whole-grid guarantee: relative error where the truth is a normal float.
LIMIT_REL_NORMAL = 1e-3


def _floor(case: Case) -> float:
    """Peak magnitude for sign-changing surrogates (ULPs measured relative to it)."""
    e = _entry(case.name)
    return get(case.name, **case.params).peak if e.sign_changing else 0.0


def evaluate(case: Case, which: str = "d", native: bool = False) -> Metrics:
    """Metrics of the reference engine's ``g'`` (``which="d"``) or ``g`` on ``case``.

    ``native=True`` evaluates through ``Bound.derivative`` in the default compute dtype
    (float32 for float16/float32 inputs) instead of the float64 reference.
    """
    s = get(case.name, **case.params)
    x = case.inputs()
    if which == "d":
        if native:
            got = s.derivative(x)
        else:
            key = np.random.default_rng(0)
            got = reference.backward(s, reference.forward(s, x, key=key)[1], np.ones_like(x))
        hi, lo = case.d_hi, case.d_lo
    else:
        got = s.primitive(x) if native else reference.primitive_values(s, x)
        hi, lo = case.g_hi, case.g_lo
    scale = float(_entry(case.name).x_scale(case.params))
    return compare(got, hi, lo, case.x, case.dtype, scale, _floor(case))


@dataclass
class Row:
    name: str
    d: dict[str, float] = field(default_factory=dict)
    g: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def accuracy_table(native: bool = False) -> list[Row]:
    rows = []
    for name in names():
        row = Row(name)
        for case in cases(name):
            for which, store in (("d", row.d), ("g", row.g)):
                if which == "g" and case.g_hi is None:
                    continue
                m = evaluate(case, which, native)
                store[case.dtype] = max(store.get(case.dtype, 0.0), m.max_ulp_core)
                where = f"{which} {case.id}"
                row.problems += [f"{where}: {b}" for b in m.bad_special]
                if m.max_rel_normal > LIMIT_REL_NORMAL:
                    row.problems.append(f"{where}: relative error {m.max_rel_normal:.3g}")
        rows.append(row)
    return rows


def format_table(rows: list[Row]) -> str:
    head = f"{'surrogate':28s} " + " ".join(f"g' {d[5:]:>4s}" for d in DTYPES) + "  " + \
        " ".join(f"g {d[5:]:>6s}" for d in DTYPES) + "  grid"
    lines = [head, "-" * len(head)]
    for r in rows:
        dd = " ".join(f"{r.d.get(d, 0):7.2f}" for d in DTYPES)
        gg = " ".join(f"{r.g[d]:8.2f}" if d in r.g else f"{'-':>8s}" for d in DTYPES)
        lines.append(f"{r.name:28s} {dd}  {gg}  {'ok' if not r.problems else 'FAIL'}")
    lines.append("max ULP over the core range |x*scale| <= 10, all parameter sets; "
                 "sign-changing surrogates relative to their peak")
    for r in rows:
        lines += [f"  {p}" for p in r.problems[:5]]
    return "\n".join(lines)
