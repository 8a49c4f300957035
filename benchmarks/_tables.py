"""Tables shared by the benchmarks: one row per contender, one column per size."""

from __future__ import annotations

from typing import Any


def fmt_time(t: float) -> str:
    return f"{t * 1e6:.1f}us" if t < 1e-3 else f"{t * 1e3:.2f}ms"


def ratio_table(cells: list[dict[str, Any]], key: str, title: str,
                references: tuple[str, ...]) -> str:
    """Per-call times (``cell[key]``) with, in brackets, the ratio to each reference
    contender of the same size (``-`` where that contender was not run)."""
    sizes = sorted({c["n"] for c in cells})
    width = max(len(c["contender"]) for c in cells) + 2
    col = 11 + 8 * len(references)
    lines = [f"\n## {title}",
             f"{'contender':{width}s}" + "".join(f"{'2^' + str(n.bit_length() - 1):>{col}s}"
                                                 for n in sizes)]
    for name in dict.fromkeys(c["contender"] for c in cells):
        row = f"{name:{width}s}"
        for n in sizes:
            here = {c["contender"]: c[key] for c in cells if c["n"] == n}
            t = here[name]
            ratios = " ".join(f"{t / here[r]:5.2f}x" if r in here else "    -"
                              for r in references)
            row += f"{fmt_time(t):>10s} [{ratios}]"
        lines.append(row)
    return "\n".join(lines)
