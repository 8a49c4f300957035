"""Side-by-side benchmark of surrogate spike functions in torch (CPU or CUDA).

Contenders: spikegrad.torch (atan, sigmoid, fast_sigmoid) against snntorch 1.0
(atan, fast_sigmoid, sigmoid) and spikingjelly 2.0 (ATan, Sigmoid) when installed, plus
the memory floor (``copy_`` into an existing buffer and ``clone``).  Modes:

* ``fwd``  training forward (requires-grad input, graph built)      8 B/element must move
* ``bwd``  ``autograd.grad`` through a retained graph                12 B/element
* ``fb``   forward then backward                                     20 B/element

Each time is the median over repeats of a calibrated inner loop (>= 20 ms per repeat), the
repeats of all contenders interleaved (one round times each once), so a slow spell of the
shared machine does not decide a ratio.
Printed: per-call time, the speed-up over the faster peer of the same surrogate, and the
fraction of the streaming ceiling (must-move bytes at the ``copy_`` bandwidth measured in
the same run).  Also printed: bytes saved for backward per element
(``torch.autograd.graph.saved_tensors_hooks``).

Usage::

    python benchmarks/bench_torch.py                       # 2^10 ... 2^24, all contenders
    python benchmarks/bench_torch.py --sizes 10 18 --json out.json
    python benchmarks/bench_torch.py --malloc default    # glibc's own heap trimming
    python benchmarks/bench_torch.py --sizes 18 --learnable-sizes 10 18 22

A last table times learnable alpha (0-d, per channel, per neuron) against the number-alpha
path, the peers' fixed atan and a hand-written learnable ``autograd.Function``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import torch
from _tables import fmt_time, ratio_table
from _timing import MALLOC_CHOICES, calibrated_median, interleaved_medians, steady_allocator

MUST_MOVE = {"fwd": 8, "bwd": 12, "fb": 20}  # bytes per float32 element


def contenders() -> dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """name -> (surrogate family, spike function)."""
    import spikegrad
    import spikegrad.torch as sgt
    from spikegrad.adapters import torch as adapter

    print(f"# spikegrad C++ autograd node: {sgt.build_fast_path()}")
    atan = spikegrad.get("atan", alpha=2.0)
    pad = (None,) * adapter.MAX_TENSOR_PARAMS
    out: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {
        "spikegrad.atan": ("atan", sgt.Surrogate("atan", alpha=2.0)),
        "spikegrad.sigmoid": ("sigmoid", sgt.Surrogate("sigmoid", alpha=4.0)),
        "spikegrad.fast_sigmoid": ("fast_sigmoid", sgt.Surrogate("fast_sigmoid", k=25.0)),
        # the per-call name form, and alpha as a learnable tensor (torch-ops backward plus
        # the parameter gradient from the primitive)
        "spikegrad.atan[by name]": ("atan", lambda v: sgt.spike(v, "atan", alpha=2.0)),
        "spikegrad.atan[alpha learns]": ("atan", sgt.Surrogate("atan", alpha=2.0,
                                                               learnable=True)),
        # the other eager route: the Python autograd.Function whose backward calls the same
        # generated kernel through ctypes (the C++ node is the default route)
        "spikegrad.atan[Function+ctypes]": (
            "atan", lambda v: adapter.function_for().apply(v, atan, None, *pad)),
    }
    try:
        from snntorch import surrogate as st

        out["snntorch.atan"] = ("atan", st.atan(alpha=2.0))
        out["snntorch.fast_sigmoid"] = ("fast_sigmoid", st.fast_sigmoid(slope=25))
        out["snntorch.sigmoid"] = ("sigmoid", st.sigmoid(slope=4))
    except ImportError as exc:
        print(f"# snntorch not installed: {exc}")
    try:
        from spikingjelly.activation_based import surrogate as sj

        out["spikingjelly.ATan"] = ("atan", sj.ATan(alpha=2.0))
        out["spikingjelly.Sigmoid"] = ("sigmoid", sj.Sigmoid(alpha=4.0))
    except ImportError as exc:
        print(f"# spikingjelly not installed: {exc}")
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timeit(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Median seconds per call of ``fn`` (CUDA work synchronised)."""
    return calibrated_median(fn, repeats, lambda out: _sync(device))


def saved_bytes_per_element(spike: Callable[[torch.Tensor], torch.Tensor], n: int,
                            device: torch.device) -> float:
    x = torch.linspace(-2, 2, n, device=device, requires_grad=True)
    seen: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: seen.append(t) or t, lambda t: t):
        spike(x)
    new = sum(t.numel() * t.element_size() for t in seen if t.data_ptr() != x.data_ptr())
    total = sum(t.numel() * t.element_size() for t in seen)
    return total / n, new / n


def run(sizes: list[int], device: torch.device, repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {"device": str(device), "threads": torch.get_num_threads(),
                               "torch": torch.__version__, "cells": []}
    cands = contenders()
    for p in sizes:
        n = 2**p
        x0 = torch.randn(n, device=device)
        buf = torch.empty_like(x0)
        copy_t = timeit(lambda: buf.copy_(x0), device, repeats)
        clone_t = timeit(lambda: x0.clone(), device, repeats)
        ceiling = 8 * n / copy_t  # bytes/s of a 2-stream copy
        results["cells"].append({"n": n, "contender": "floor.copy_", "fwd": copy_t})
        results["cells"].append({"n": n, "contender": "floor.clone", "fwd": clone_t})
        calls: dict[tuple[str, str], Callable[[], Any]] = {}
        for name, (_, spike) in cands.items():
            x = x0.clone().requires_grad_(True)
            y = spike(x)
            g = torch.ones_like(y)

            def fwd(spike=spike, x=x) -> None:
                spike(x)

            def bwd(y=y, x=x, g=g) -> None:
                torch.autograd.grad(y, x, g, retain_graph=True)

            def fb(spike=spike, x=x, g=g) -> None:
                out = spike(x)
                torch.autograd.grad(out, x, g)

            calls[name, "fwd"], calls[name, "bwd"], calls[name, "fb"] = fwd, bwd, fb
        # every contender's repeats interleaved: a slow spell of the machine lands on all
        t = interleaved_medians(calls, repeats, lambda out: _sync(device))
        for name, (family, spike) in cands.items():
            cell = {"n": n, "contender": name, "family": family, "ceiling_Bps": ceiling,
                    **{m: t[name, m] for m in ("fwd", "bwd", "fb")}}
            cell["saved_B_per_elt"], cell["new_saved_B_per_elt"] = saved_bytes_per_element(
                spike, min(n, 4096), device)
            results["cells"].append(cell)
    return results


def parameter_sweep(n: int, steps: int, device: torch.device,
                    chunks: int = 15) -> dict[str, Any]:
    """A training loop that changes alpha (a Python number) at every step, against one
    with a fixed alpha: medians over ``chunks`` interleaved runs of ``steps`` steps (every
    step of the sweep a value not seen before), and kernels compiled after the first.
    The garbage collector runs once before (a full collection owed by the imports would
    otherwise land in one chunk of whichever loop allocates objects that stay); the mean
    of the chunks is reported beside the median."""
    import gc
    import statistics
    import time

    import spikegrad.torch as sgt
    from spikegrad.codegen import cpu

    x = torch.randn(n, device=device, requires_grad=True)
    g = torch.ones_like(x)
    sgt.build_fast_path()  # the C++ node serves both loops from the first step
    torch.autograd.grad(sgt.atan(x, alpha=1.01), x, g)  # warm: the formula's kernel exists
    before = cpu.compiled_count()
    gc.collect()
    k = 0
    swept, fixed = [], []
    for _ in range(chunks):
        t0 = time.perf_counter()
        for _ in range(steps):
            k += 1
            torch.autograd.grad(sgt.atan(x, alpha=1.5 + 1e-6 * k), x, g)
        _sync(device)
        t1 = time.perf_counter()
        for _ in range(steps):
            torch.autograd.grad(sgt.atan(x, alpha=2.0), x, g)
        _sync(device)
        t2 = time.perf_counter()
        swept.append((t1 - t0) / steps)
        fixed.append((t2 - t1) / steps)
    return {"n": n, "steps": steps * chunks, "per_step_s": statistics.median(swept),
            "fixed_alpha_s": statistics.median(fixed),
            "mean_ratio": statistics.fmean(swept) / statistics.fmean(fixed),
            "new_kernels": cpu.compiled_count() - before}


def report(results: dict[str, Any]) -> str:
    lines = [f"# device {results['device']}, torch {results['torch']}, "
             f"{results['threads']} threads"]
    cells = [c for c in results["cells"] if "family" in c]
    for mode in ("fwd", "bwd", "fb"):
        lines.append(f"\n## {mode}: per-call time, [speed-up vs faster peer, "
                     f"fraction of streaming ceiling at {MUST_MOVE[mode]} B/elt]")
        sizes = sorted({c["n"] for c in cells})
        head = f"{'contender':26s}" + "".join(f"{'2^' + str(n.bit_length() - 1):>24s}"
                                              for n in sizes)
        lines.append(head)
        for name in dict.fromkeys(c["contender"] for c in cells):
            row = f"{name:26s}"
            for n in sizes:
                c = next(c for c in cells if c["contender"] == name and c["n"] == n)
                t = c[mode]
                peers = [d[mode] for d in cells if d["n"] == n and d["family"] == c["family"]
                         and not d["contender"].startswith("spikegrad")]
                frac = MUST_MOVE[mode] * n / t / c["ceiling_Bps"]
                extra = f"{min(peers) / t:4.1f}x" if name.startswith("spikegrad") and peers \
                    else "     "
                row += f"{fmt_time(t):>10s} [{extra} {frac:4.2f}]"
            lines.append(row)
    for sweep in results.get("sweeps", ()):
        lines.append(f"\n## alpha changed at every step (2^{sweep['n'].bit_length() - 1}, "
                     f"{sweep['steps']} steps): {fmt_time(sweep['per_step_s'])} per step, "
                     f"{fmt_time(sweep['fixed_alpha_s'])} with a fixed alpha "
                     f"({sweep['per_step_s'] / sweep['fixed_alpha_s']:.2f}x, medians; "
                     f"{sweep['mean_ratio']:.2f}x, means); "
                     f"{sweep['new_kernels']} kernels compiled after the first")
    lines.append("\n## saved for backward, bytes per element (new bytes beyond the input)")
    for name in dict.fromkeys(c["contender"] for c in cells):
        c = next(c for c in cells if c["contender"] == name)
        lines.append(f"{name:26s} {c['saved_B_per_elt']:.1f} ({c['new_saved_B_per_elt']:.1f} new)")
    return "\n".join(lines)




class _HandLearnableAtan(torch.autograd.Function):
    """A hand-written learnable atan (the baseline a user would write): Heaviside forward,
    ``grad_x = G g'(x)`` and ``grad_alpha = sum_to_size(G dg/dalpha)`` in torch ops."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, alpha)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, alpha = ctx.saved_tensors
        h = (torch.pi / 2) * alpha * x
        inv = 1 / (1 + h * h)
        return g * (alpha / 2) * inv, (g * (x / 2) * inv).sum_to_size(alpha.shape)


def learnable(sizes: list[int], device: torch.device, repeats: int) -> dict[str, Any]:
    """Forward + backward of atan with alpha a number (gradient for x only) against alpha
    learnable (gradients for x and alpha): 0-d, per channel (256,) and per neuron (the
    shape of x, (N/256, 256)); the peers' fixed atan and a hand-written learnable Function
    for reference.  Interleaved medians."""
    import spikegrad.torch as sgt

    cells: list[dict[str, Any]] = []
    for p in sizes:
        n = 2**p
        x = torch.randn(n // 256, 256, device=device, requires_grad=True)
        g = torch.ones_like(x)
        alphas = {"0-d": torch.tensor(2.0, device=device),
                  "per channel": torch.full((256,), 2.0, device=device),
                  "per neuron": torch.full((n // 256, 256), 2.0, device=device)}
        calls: dict[str, Callable[[], Any]] = {
            "spikegrad.atan[number alpha]":
                lambda: torch.autograd.grad(sgt.atan(x, alpha=2.0), x, g)}
        for kind, a0 in alphas.items():
            a = a0.clone().requires_grad_(True)
            calls[f"spikegrad.atan[{kind} alpha learns]"] = (
                lambda a=a: torch.autograd.grad(sgt.atan(x, alpha=a), (x, a), g))
        for kind in ("clamp", "softplus"):  # a module whose alpha stays in its domain
            mod = sgt.Surrogate("atan", alpha=2.0, learnable=True, constrain=kind).to(device)
            calls[f"spikegrad.Surrogate[0-d alpha learns, constrain={kind}]"] = (
                lambda mod=mod: torch.autograd.grad(
                    mod(x), (x, mod.parametrizations.alpha.original), g))
        a = alphas["0-d"].clone().requires_grad_(True)
        calls["hand.Function[0-d alpha learns]"] = (
            lambda a=a: torch.autograd.grad(_HandLearnableAtan.apply(x, a), (x, a), g))
        try:
            from snntorch import surrogate as st

            s_atan = st.atan(alpha=2.0)
            calls["snntorch.atan[fixed]"] = lambda: torch.autograd.grad(s_atan(x), x, g)
        except ImportError as exc:
            print(f"# snntorch not installed: {exc}")
        try:
            from spikingjelly.activation_based import surrogate as sj

            j_atan = sj.ATan(alpha=2.0)
            calls["spikingjelly.ATan[fixed]"] = lambda: torch.autograd.grad(j_atan(x), x, g)
        except ImportError as exc:
            print(f"# spikingjelly not installed: {exc}")
        t = interleaved_medians(calls, repeats, lambda out: _sync(device))
        cells += [{"n": n, "contender": k, "fb": v} for k, v in t.items()]
    return {"cells": cells}


def report_learnable(res: dict[str, Any]) -> str:
    return ratio_table(res["cells"], "fb", "learnable alpha, forward + backward: per-call "
                       "time [x the number-alpha path, x snntorch's fixed atan]",
                       ("spikegrad.atan[number alpha]", "snntorch.atan[fixed]"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--malloc", **MALLOC_CHOICES)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 14, 18, 22, 24],
                    help="log2 of the element counts")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--learnable-sizes", type=int, nargs="*", default=[10, 18, 22],
                    help="log2 of the element counts of the learnable-alpha rows (none: "
                    "skip them)")
    args = ap.parse_args()
    steady_allocator(args.malloc)
    print(f"# allocator: {args.malloc}"
          + (" (MALLOC_TRIM_THRESHOLD_ = MALLOC_MMAP_THRESHOLD_ = 256 MiB)"
             if args.malloc == "steady" else ""))
    results = run(args.sizes, torch.device(args.device), args.repeats)
    results["sweeps"] = [parameter_sweep(2**p, 100, torch.device(args.device))
                         for p in (14, 18)]
    print(report(results))
    if args.learnable_sizes:
        results["learnable"] = learnable(args.learnable_sizes, torch.device(args.device),
                                         args.repeats)
        print(report_learnable(results["learnable"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
