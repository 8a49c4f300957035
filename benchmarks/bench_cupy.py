"""GPU benchmark: generated cupy kernels vs the unfused array-API path vs torch CUDA.

Contenders (float32, 2^20 ... 2^28 elements):

* ``spikegrad.cupy`` forward / backward / ``forward_backward`` (generated ElementwiseKernels)
* the unfused array-API path: the same formulas through cupy's namespace, op by op
* ``spikegrad.torch`` on CUDA (autograd), and spikingjelly's CUDA surrogate when importable
* the floor: a device-to-device copy of the same bytes (``cupy.copyto``)

Each result is printed as time and as a fraction of the measured copy bandwidth for its
must-move bytes (forward 8 B/element, backward 12, fused forward+backward 12).

Usage (needs CuPy and a CUDA device)::

    python benchmarks/bench_cupy.py [--sizes 20 22 24 26 28] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import cupy

import spikegrad
import spikegrad.cupy as sgc
from spikegrad.adapters import numpy as engine


def timeit(fn: Any, repeats: int = 20) -> float:
    fn()
    cupy.cuda.Device().synchronize()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(repeats):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    times.sort()
    return times[len(times) // 2]


def run(sizes: list[int], names: list[str]) -> dict[str, Any]:
    res: dict[str, Any] = {"device": cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(),
                           "cells": []}
    for p in sizes:
        n = 2**p
        x = cupy.random.standard_normal(n, dtype=cupy.float32)
        g = cupy.ones_like(x)
        out = cupy.empty_like(x)
        copy_t = timeit(lambda: cupy.copyto(out, x))
        bw = 8 * n / copy_t
        for name in names:
            s = spikegrad.get(name)
            cells = {
                "fwd": (timeit(lambda: sgc.forward(s, x)), 8),
                "bwd": (timeit(lambda: sgc.backward(s, x, g)), 12),
                "fb_fused": (timeit(lambda: sgc.forward_backward(s, x, g)), 12),
                "bwd_unfused_array_api": (timeit(lambda: engine.derivative_values(s, x) * g),
                                          12),
            }
            try:
                import torch

                import spikegrad.torch as sgt

                xt = torch.from_dlpack(x).requires_grad_(True)
                gt = torch.from_dlpack(g)
                m = sgt.Surrogate(name)
                cells["torch_fb"] = (timeit(lambda: torch.autograd.grad(m(xt), xt, gt)), 20)
            except ImportError:
                pass
            for mode, (t, nbytes) in cells.items():
                res["cells"].append({"n": n, "surrogate": name, "mode": mode, "s": t,
                                     "fraction_of_copy_bw": nbytes * n / t / bw})
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 22, 24, 26, 28])
    ap.add_argument("--surrogates", nargs="+", default=["atan", "sigmoid", "fast_sigmoid"])
    ap.add_argument("--json")
    args = ap.parse_args()
    res = run(args.sizes, args.surrogates)
    print(f"# {res['device']}")
    for c in res["cells"]:
        print(f"2^{c['n'].bit_length() - 1:<3d} {c['surrogate']:14s} {c['mode']:24s} "
              f"{c['s'] * 1e6:10.1f} us  {c['fraction_of_copy_bw']:5.2f} of copy bandwidth")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
