"""Side-by-side benchmark of the multi-step DSR neurons in torch: spikegrad against
spikingjelly 2.0's ``DSRIFNode``/``DSRLIFNode`` (when installed), in one run.

For each node and number of steps T, at ``[T, 32, 128, 16, 16]`` float32 (a conv layer's
output over T steps) by default: forward+backward time per call (median of a calibrated
loop; a requires-grad input and a learnable threshold), the ratio to the peer, and the
memory each keeps for its backward (``saved_tensors_hooks``: bytes per input element,
beyond the input itself) and allocates during forward+backward (the peak of torch's CPU
allocator profile).

Usage::

    python benchmarks/bench_dsr.py                     # T = 4, 8, 16, 32
    python benchmarks/bench_dsr.py --steps 8 --shape 32 128 16 16 --json out.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import torch
from _timing import calibrated_median


def contenders(kind: str, steps: int) -> dict[str, torch.nn.Module]:
    import spikegrad.torch as sgt

    ours = {"if": sgt.DSRIFNode, "lif": sgt.DSRLIFNode}[kind]
    out: dict[str, torch.nn.Module] = {f"spikegrad.dsr_{kind}": ours(T=steps)}
    try:
        from spikingjelly.activation_based import neuron

        peer = {"if": neuron.DSRIFNode, "lif": neuron.DSRLIFNode}[kind]
        out[f"spikingjelly.DSR{kind.upper()}Node"] = peer(T=steps)
    except ImportError as exc:
        print(f"# spikingjelly not installed: {exc}")
    return out


def saved_bytes(node: torch.nn.Module, x: torch.Tensor) -> float:
    """Bytes per element of ``x`` saved for backward beyond ``x`` itself."""
    seen: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: seen.append(t) or t, lambda t: t):
        node(x)
    return sum(t.numel() * t.element_size() for t in seen
               if t.data_ptr() != x.data_ptr()) / x.numel()


def peak_bytes(fn: Callable[[], Any], numel: int) -> float:
    """Peak bytes allocated by torch's CPU allocator during ``fn``, per element."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # leaf events only: an allocation is reported by every enclosing op as well
    events = sorted((e for e in prof.events() if e.cpu_memory_usage != 0
                     and not e.cpu_children), key=lambda e: e.time_range.start)
    level = peak = 0
    for e in events:
        level += e.cpu_memory_usage
        peak = max(peak, level)
    return peak / numel


def run(steps_list: list[int], shape: list[int], repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {"threads": torch.get_num_threads(),
                               "torch": torch.__version__, "shape": shape, "cells": []}
    for kind in ("if", "lif"):
        for steps in steps_list:
            g0 = torch.Generator().manual_seed(0)
            centre = 6.0 if kind == "if" else 20.0
            x0 = torch.randn(steps, *shape, generator=g0) * centre + centre / 2
            gy = torch.randn(steps, *shape, generator=g0)
            for name, node in contenders(kind, steps).items():
                x = x0.clone().requires_grad_(True)

                def fb(node: torch.nn.Module = node, x: torch.Tensor = x) -> None:
                    torch.autograd.grad(node(x), (x, node.v_threshold), gy)

                cell = {"kind": kind, "T": steps, "contender": name,
                        "fb": calibrated_median(fb, repeats),
                        "saved_B_per_elt": saved_bytes(node, x),
                        "peak_B_per_elt": peak_bytes(fb, x.numel())}
                results["cells"].append(cell)
    return results


def report(results: dict[str, Any]) -> str:
    lines = [f"# torch {results['torch']}, {results['threads']} threads, "
             f"x = [T, {', '.join(map(str, results['shape']))}] float32",
             "", f"{'contender':28s} {'T':>3s} {'fwd+bwd':>10s} {'speed-up':>9s} "
             f"{'saved B/elt':>12s} {'peak B/elt':>11s}"]
    cells = results["cells"]
    for c in cells:
        peers = [d["fb"] for d in cells if d["kind"] == c["kind"] and d["T"] == c["T"]
                 and not d["contender"].startswith("spikegrad")]
        ratio = f"{min(peers) / c['fb']:8.2f}x" if peers and c["contender"].startswith(
            "spikegrad") else " " * 9
        t = c["fb"]
        shown = f"{t * 1e3:.2f}ms" if t >= 1e-3 else f"{t * 1e6:.1f}us"
        lines.append(f"{c['contender']:28s} {c['T']:3d} {shown:>10s} {ratio} "
                     f"{c['saved_B_per_elt']:12.2f} {c['peak_B_per_elt']:11.2f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--shape", type=int, nargs="+", default=[32, 128, 16, 16],
                    help="the per-step shape")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    results = run(args.steps, args.shape, args.repeats)
    print(report(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
