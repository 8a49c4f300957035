"""Terminal matrix and cross-adapter comparison for conformance results."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .checks import Result

__all__ = ["compare_adapters", "matrix", "summary"]

_DTYPES = ("float16", "float32", "float64")


def matrix(results: list[Result]) -> str:
    """Surrogate × dtype: ``ok``/``FAIL`` with the max backward ULP, plus transforms."""
    cells: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        cells[(r.surrogate, r.dtype)].append(r)
    names = list(dict.fromkeys(r.surrogate for r in results))
    adapter = results[0].adapter if results else "?"
    lines = [f"conformance of adapter {adapter!r}: max ULP of g' (core range), "
             "transforms j=jit v=vmap f=forward mode d=double backward",
             f"{'surrogate':28s}" + "".join(f"{d:>22s}" for d in _DTYPES)]
    for n in names:
        row = f"{n:28s}"
        for d in _DTYPES:
            rs = cells.get((n, d), [])
            if not rs:
                row += f"{'-':>22s}"
                continue
            status = "FAIL" if any(r.status == "fail" for r in rs) else (
                "xfail" if any(r.status == "xfail" for r in rs) else "ok")
            ulps = [r.max_ulp for r in rs if r.check == "backward" and r.max_ulp is not None]
            tr = "".join(c[0] if any(r.check == c and r.status == "pass" for r in rs) else
                         ("!" if any(r.check == c and r.status == "fail" for r in rs) else ".")
                         for c in ("jit", "vmap", "forward_mode", "double_backward"))
            ulp = f"{max(ulps):.2f}" if ulps else "-"
            row += f"{status:>6s} {ulp:>8s} {tr:>6s}"
        lines.append(row)
    return "\n".join(lines)


def summary(results: list[Result]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for r in results:
        counts[r.status] += 1
    head = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    fails = [r for r in results if r.status == "fail"]
    lines = [head]
    for r in fails[:50]:
        lines.append(f"FAIL {r.surrogate}{r.params} {r.dtype} {r.check}: {r.detail}\n"
                     f"     repro: {r.repro}")
    if len(fails) > 50:
        lines.append(f"... and {len(fails) - 50} more (see --json)")
    return "\n".join(lines)


def compare_adapters(values: dict[str, dict[tuple[str, int, str], np.ndarray]],
                     masks: dict[tuple[str, int, str], np.ndarray] | None = None) -> str:
    """Pairwise agreement of g' between adapters on the same inputs, in ULPs of the dtype
    at ``max(|g'|, peak / 1024)`` (so roots of sign-changing surrogates do not dominate).
    ``masks`` excludes points per case (subnormal inputs where a backend flushes them)."""
    names = list(values)
    lines = ["pairwise agreement of g' on the golden inputs (max ULP at max(|g'|, peak/1024)):"]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            worst = 0.0
            where = ""
            for key, va in values[a].items():
                vb = values[b].get(key)
                if vb is None:
                    continue
                finite = np.isfinite(va) & np.isfinite(vb)
                if masks is not None and key in masks:
                    finite &= masks[key]
                if not finite.any():
                    continue
                eps = np.finfo(key[2]).eps
                ref = np.maximum(np.abs(va[finite]), np.max(np.abs(va[finite])) / 1024)
                rel = float(np.max(np.abs(va[finite] - vb[finite]) / (eps * ref)))
                if rel > worst:
                    worst, where = float(rel), f"{key[0]} set {key[1]} {key[2]}"
            lines.append(f"  {a:>8s} vs {b:<8s} {worst:10.3g}  (worst: {where or '-'})")
    return "\n".join(lines)
