"""Generate the multi-step golden cases shipped in ``spikegrad/conformance/data``.

Every value comes from :mod:`dsr_oracle` (the DSR equations evaluated bit-exactly for the
forward and in exact / 60-digit arithmetic for the backward, written independently of
spikegrad).  Run ``python conformance/generate_multistep_goldens.py`` from the repository
root.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dsr_oracle

NAMES = {"if": "dsr_if", "lif": "dsr_lif"}
OUT = Path(__file__).resolve().parent.parent / "spikegrad" / "conformance" / "data"


def build() -> tuple[list[dict], dict[str, np.ndarray]]:
    """(metadata per case, arrays by key)."""
    meta, arrays = [], {}
    for i, case in enumerate(dsr_oracle.cases()):
        gold = dsr_oracle.golden(i)
        key = f"c{i}"
        # the threshold gradient's condition scale: the sum of its terms' magnitudes
        lo, hi = dsr_oracle.grad_v_bounds(case.kind, case.x, np.abs(case.g), case.params)
        meta.append({"id": case.name, "surrogate": NAMES[case.kind], "params": case.params,
                     "dtype": case.dtype, "key": key, "grad_v": gold.grad_v,
                     "grad_v_lo": gold.grad_v_lo, "grad_v_hi": gold.grad_v_hi,
                     "grad_v_scale": max(abs(lo), abs(hi))})
        arrays[f"{key}_x"] = case.x.astype(np.float64)
        arrays[f"{key}_g"] = case.g.astype(np.float64)
        arrays[f"{key}_y"] = gold.y.astype(np.float64)
        arrays[f"{key}_gx"] = gold.grad_x
        arrays[f"{key}_amb"] = gold.ambiguous
    return meta, arrays


def main() -> None:
    meta, arrays = build()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "multistep.json").write_text(json.dumps(meta, indent=1) + "\n")
    np.savez_compressed(OUT / "multistep.npz", **arrays)
    print(f"{len(meta)} multi-step cases written to {OUT}")


if __name__ == "__main__":
    main()
