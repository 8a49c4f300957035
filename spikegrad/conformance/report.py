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
    lines = [f"conformance of adapter {adapter!r}. Each cell: ok/FAIL (xfail: a known "
             "failure), the max ULP error of g' against the golden vectors (a definition without "
             "goldens: against the float64 reference engine) in the core range "
             "|x*scale| <= 10 (within the adapter's declared tolerance when ok), and the "
             "transforms: j=jit v=vmap f=forward mode d=double backward passed, ! failed, "
             ". not claimed or not run (float16: none; double backward: float64 only)",
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
                     masks: dict[tuple[str, int, str], np.ndarray] | None = None,
                     core: dict[tuple[str, int, str], np.ndarray] | None = None,
                     tolerances: dict[str, dict[str, float]] | None = None,
                     floors: dict[tuple[str, int, str], float] | None = None) -> str:
    """Pairwise agreement of g' between adapters on the same inputs.

    The same metric as each adapter's check against the goldens: differences are measured
    relative to ``max(|g'|, floor)``, ``floor`` the peak for sign-changing surrogates
    (``floors``; 0 otherwise).  In the core range (``core`` masks, ``|x * scale| <= 10``):
    the largest difference in ULPs of the dtype, against the sum of the two adapters'
    declared core tolerances
    (``tolerances[adapter][dtype]``: each is within its own of the goldens, so two may
    differ by both).  Outside it: the largest relative difference, against twice the
    declared 1e-3 relative limit.  ``masks`` excludes points per case (subnormal inputs
    where a backend flushes them)."""
    names = list(values)
    lines = ["pairwise agreement of g' on the golden inputs (measured as each adapter is "
             "against the goldens, relative to |g'|, or to the peak for sign-changing "
             "surrogates): in the core range |x*scale| <= 10 the max difference in ULPs, "
             "allowed the sum of the two adapters' declared tolerances; outside it the max "
             "relative difference where g' is a normal float, allowed 2e-3"]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            worst_core, worst_tail, where_core, where_tail = 0.0, 0.0, "", ""
            verdict_core = True
            for key, va in values[a].items():
                vb = values[b].get(key)
                if vb is None:
                    continue
                finite = np.isfinite(va) & np.isfinite(vb)
                if masks is not None and key in masks:
                    finite &= masks[key]
                    # a flushing backend may return 0 for results within 16x the
                    # smallest normal, as its own check allows
                    small = np.maximum(np.abs(va), np.abs(vb)) < 16 * np.finfo(key[2]).tiny
                    finite &= ~(((va == 0) | (vb == 0)) & small)
                if not finite.any():
                    continue
                inside = core[key] & finite if core is not None and key in core else finite
                outside = finite & ~inside
                eps = np.finfo(key[2]).eps
                floor = floors.get(key, 0.0) if floors else 0.0
                tiny = np.finfo(key[2]).tiny
                if inside.any():
                    ref = np.maximum(np.maximum(np.abs(va[inside]), floor), tiny)
                    ulp = float(np.max(np.abs(va[inside] - vb[inside]) / (eps * ref)))
                    allowed = (tolerances[a][key[2]] + tolerances[b][key[2]]
                               if tolerances else float("inf"))
                    verdict_core &= ulp <= allowed
                    if ulp > worst_core:
                        worst_core, where_core = ulp, f"{key[0]} set {key[1]} {key[2]}"
                normal = outside & (np.abs(va) >= tiny)
                if normal.any():
                    rel = float(np.max(np.abs(va[normal] - vb[normal])
                                       / np.maximum(np.abs(va[normal]), floor)))
                    if rel > worst_tail:
                        worst_tail, where_tail = rel, f"{key[0]} set {key[1]} {key[2]}"
            ok = verdict_core and worst_tail <= 2e-3
            lines.append(f"  {a:>8s} vs {b:<8s} core {worst_core:8.3g} ULP "
                         f"(worst: {where_core or '-'}), tails {worst_tail:8.2g} relative "
                         f"(worst: {where_tail or '-'}): "
                         f"{'within' if ok else 'OUTSIDE'} the declared tolerances")
    return "\n".join(lines)
