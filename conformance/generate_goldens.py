"""Generate the golden vectors shipped in ``spikegrad/conformance/data``.

For every deterministic canonical surrogate, for its default parameters and the two sets
in :data:`oracles.PARAM_SETS`, and for each input dtype (float16, float32, float64), it
builds a grid of inputs representable in that dtype (0, -0.0, subnormals, the smallest
normal, points around each support boundary, a dense core range ``|x * scale| <= 10``,
log-spaced tails out to the largest finite value, ±inf and NaN) and evaluates the
independent mpmath oracles at 50 digits.  Values are stored as float64 pairs
``hi + lo`` (``lo`` only for float64 inputs), so float64 ULP errors can be measured
exactly.

Only grid *placement* (defaults, core scale, boundary points) is read from spikegrad;
every value comes from :mod:`oracles`.

Run ``python conformance/generate_goldens.py`` from the repository root.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import mpmath as mp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oracles import NO_LIMIT, ORACLES, PARAM_SETS

import spikegrad

OUT = Path(__file__).resolve().parents[1] / "spikegrad" / "conformance" / "data"
DTYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64}
N_CORE = 161
N_TAIL = 36


def grid(entry: spikegrad.Entry, params: dict, dtype: type) -> np.ndarray:
    fi = np.finfo(dtype)
    scale = float(entry.x_scale(params))
    core = np.linspace(-10.0 / scale, 10.0 / scale, N_CORE)
    lo_exp = math.log10(10.0 / scale)
    hi_exp = math.log10(float(fi.max))
    with np.errstate(over="ignore"):
        tail = np.logspace(lo_exp, hi_exp, N_TAIL)
    pts = [core, tail, -tail]
    for b in entry.boundaries(params):
        bd = np.asarray(b, dtype=dtype)
        near = [bd]
        up, down = bd, bd
        for _ in range(2):
            up = np.nextafter(up, dtype(np.inf))
            down = np.nextafter(down, dtype(-np.inf))
            near += [up, down]
        pts.append(np.asarray(near, dtype=np.float64))
    tiny = float(fi.smallest_subnormal)
    small = [tiny, 3 * tiny, float(fi.smallest_normal), float(fi.eps), 1e-3 / scale]
    pts.append(np.asarray(small + [-v for v in small] + [float(fi.max), -float(fi.max)]))
    with np.errstate(over="ignore"):
        x = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in pts]).astype(dtype)
    x = x[np.isfinite(x)]
    x = np.unique(x)
    x = x[x != 0]
    specials = np.asarray([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=dtype)
    return np.concatenate([specials, x])


def _pair(v: mp.mpf) -> tuple[float, float]:
    if mp.isnan(v):
        return math.nan, 0.0
    hi = float(v)
    if not math.isfinite(hi):
        return hi, 0.0
    return hi, float(v - mp.mpf(hi))


def evaluate(fn, name: str, x: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray]:
    mparams = {k: (mp.mpf(v) if isinstance(v, float) else v) for k, v in params.items()}
    hi = np.empty(x.shape, dtype=np.float64)
    lo = np.empty(x.shape, dtype=np.float64)
    for i, xv in enumerate(x.astype(np.float64)):
        if math.isnan(xv):
            v = mp.nan
        elif math.isinf(xv):
            sign = 1 if xv > 0 else -1
            if sign in NO_LIMIT.get(name, ()):
                v = mp.nan
            else:  # the limit: exact inf arithmetic, else far beyond any float
                v = fn(sign * mp.inf, mparams)
                if mp.isnan(v):  # inf - inf or 0 * inf: evaluate far out, precisely enough
                    with mp.workdps(1200):
                        v = +fn(mp.mpf(sign) * mp.mpf("1e1000"), mparams)
        else:
            v = fn(mp.mpf(xv), mparams)
        hi[i], lo[i] = _pair(mp.mpf(v))
    return hi, lo


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    index: dict[str, dict] = {}
    t0 = time.time()
    for name, (d_fn, g_fn) in ORACLES.items():
        entry = spikegrad.entry(name)
        sets = [entry.defaults()] + [dict(entry.defaults(), **p) for p in PARAM_SETS[name]]
        unique = []
        for s in sets:
            if s not in unique:
                unique.append(s)
        index[name] = {"param_sets": unique, "has_primitive": g_fn is not None}
        for i, params in enumerate(unique):
            for dname, dtype in DTYPES.items():
                x = grid(entry, params, dtype)
                key = f"{name}/{i}/{dname}"
                arrays[key + "/x"] = x.astype(np.float64)
                d_hi, d_lo = evaluate(d_fn, name, x, params)
                arrays[key + "/d"] = d_hi
                if dname == "float64":
                    arrays[key + "/d_lo"] = d_lo
                if g_fn is not None:
                    g_hi, g_lo = evaluate(g_fn, name, x, params)
                    arrays[key + "/g"] = g_hi
                    if dname == "float64":
                        arrays[key + "/g_lo"] = g_lo
        print(f"{name:28s} {len(unique)} sets  {time.time() - t0:6.1f} s", flush=True)
    meta = {"mp_dps": mp.mp.dps, "generator": "conformance/generate_goldens.py",
            "surrogates": index}
    (OUT / "goldens.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    np.savez_compressed(OUT / "goldens.npz", **arrays)
    n = sum(a.size for k, a in arrays.items() if k.endswith("/x"))
    size = (OUT / "goldens.npz").stat().st_size
    print(f"{n} points, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
