"""GPU benchmark: generated cupy kernels vs the unfused array-API path vs torch CUDA.

Contenders (float32, 2^20 ... 2^28 elements):

* ``spikegrad.cupy`` forward / backward / ``forward_backward`` (generated ElementwiseKernels)
* the unfused array-API path: the same formulas through cupy's namespace, op by op
  (``Bound.derivative``, float32 computed in float32)
* ``spikegrad.torch`` on CUDA (autograd forward + backward)
* spikingjelly's surrogate on CUDA tensors when importable (``surrogate.ATan`` etc.: torch
  ops; spikingjelly 2.0's native CUDA code applies surrogates only inside its fused neuron
  kernels, which have no standalone surrogate entry point)
* the floor: a device-to-device copy (``cupy.copyto``), whose bandwidth is the reference

Each result is printed as time and as a fraction of the measured copy bandwidth for its
must-move bytes: forward 8 B/element (read x, write the spike), backward 12 (read x and
the gradient, write the result), fused forward+backward 16, autograd forward+backward 20.

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


def timeit(fn: Any, n: int, repeats: int = 15) -> float:
    """Median seconds per call of ``fn`` on the device (CUDA events around ``inner``
    back-to-back calls, so launch overhead overlaps with the kernels as in a training
    loop; the first call, which compiles, is not timed)."""
    inner = max(4, 2**28 // n)
    fn()
    cupy.cuda.Device().synchronize()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(repeats):
        start.record()
        for _ in range(inner):
            fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3 / inner)
    times.sort()
    return times[len(times) // 2]


#: spikingjelly class for a canonical name (its defaults equal ours for these).
_SPIKINGJELLY = {"atan": "ATan", "sigmoid": "Sigmoid"}


def _torch_cells(name: str, x: Any, g: Any) -> dict[str, tuple[float, int]]:
    try:
        import torch

        import spikegrad.torch as sgt
    except ImportError:
        return {}
    if not torch.cuda.is_available():
        print("# torch has no CUDA here: the torch contenders are left out")
        return {}
    xt = torch.from_dlpack(x).requires_grad_(True)
    gt = torch.from_dlpack(g)
    contenders = {"torch_fb": sgt.Surrogate(name)}
    try:
        from spikingjelly.activation_based import surrogate as sj
    except ImportError:
        sj = None
    if sj is not None and name in _SPIKINGJELLY:
        contenders["spikingjelly_torch_fb"] = getattr(sj, _SPIKINGJELLY[name])()
    n = x.size
    return {k: (timeit(lambda m=m: torch.autograd.grad(m(xt), xt, gt), n), 20)
            for k, m in contenders.items()}


def run(sizes: list[int], names: list[str]) -> dict[str, Any]:
    res: dict[str, Any] = {"device": cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(),
                           "cells": []}
    for p in sizes:
        n = 2**p
        x = cupy.random.standard_normal(n, dtype=cupy.float32)
        g = cupy.ones_like(x)
        out = cupy.empty_like(x)
        copy_t = timeit(lambda: cupy.copyto(out, x), n)
        bw = 8 * n / copy_t
        for name in names:
            s = spikegrad.get(name)
            cells = {
                "fwd": (timeit(lambda: sgc.forward(s, x), n), 8),
                "bwd": (timeit(lambda: sgc.backward(s, x, g), n), 12),
                "fb_fused": (timeit(lambda: sgc.forward_backward(s, x, g), n), 16),
                "bwd_unfused_array_api": (timeit(lambda: s.derivative(x) * g, n), 12),
            }
            cells.update(_torch_cells(name, x, g))
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
    target = [c for c in res["cells"] if c["n"] == 2**26 and c["mode"] == "fb_fused"]
    for c in target:  # the acceptance figure: fused forward+backward, 2^26 float32
        verdict = "meets" if c["fraction_of_copy_bw"] >= 0.8 else "MISSES"
        print(f"fused fb 2^26 {c['surrogate']}: {c['fraction_of_copy_bw']:.2f} of copy "
              f"bandwidth ({verdict} the 0.80 target)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
