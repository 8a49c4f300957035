"""Side-by-side benchmark of surrogate spike functions in JAX, all jitted.

Contenders: spikegrad.jax (atan, sigmoid), braintools 0.3 (Arctan, Sigmoid) when
installed, and a minimal hand-written ``custom_vjp`` baseline (the smallest correct
binding, for reference).  Memory floor: ``jax.jit(x + g)`` (3 streams).  Modes:

* ``fwd``  inference: ``jit(spike)``                                  8 B/element
* ``bwd``  the jitted pullback of ``vjp`` applied to a cotangent       12 B/element
* ``fb``   ``jit`` of forward + pullback in one function (XLA fuses)  16 B/element

Every contender's repeats are interleaved (one round times each once), so a slow spell of
the shared machine does not decide a ratio.  Printed: per-call time, the speed-up over
braintools for the same surrogate, and the time as a multiple of the ``jit(x + g)`` floor
measured in the same run.  Every contender runs under one glibc allocator policy (heap
trimming off; ``--malloc default`` keeps glibc's own), as in ``bench_torch.py``.

Usage::

    python benchmarks/bench_jax.py [--sizes 10 14 18 22 24] [--json out.json]
    python benchmarks/bench_jax.py --malloc default    # glibc's own heap trimming
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from _tables import fmt_time, ratio_table
from _timing import MALLOC_CHOICES, interleaved_medians, steady_allocator


def _hand(derivative: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    """The minimal custom_vjp binding: Heaviside forward, saved x, ``g * derivative(x)``."""

    @jax.custom_vjp
    def f(x):
        return (x >= 0).astype(x.dtype)

    def fwd(x):
        return f(x), x

    def bwd(x, g):
        return (g * derivative(x),)

    f.defvjp(fwd, bwd)
    return f


def _hand_atan(alpha: float = 2.0) -> Callable[[jax.Array], jax.Array]:
    return _hand(lambda x: (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2))


def _hand_sigmoid(alpha: float = 4.0) -> Callable[[jax.Array], jax.Array]:
    def d(x):
        s = jax.nn.sigmoid(alpha * x)
        return alpha * s * (1 - s)

    return _hand(d)


@jax.custom_vjp
def _hand_learnable_atan(x: jax.Array, alpha: jax.Array) -> jax.Array:
    """A hand-written learnable atan (the baseline a user would write): Heaviside forward,
    ``grad_x = G g'(x)`` and ``grad_alpha = sum_to_shape(G dg/dalpha)`` in jnp."""
    return (x >= 0).astype(x.dtype)


def _hand_learnable_fwd(x: jax.Array, alpha: jax.Array) -> tuple[jax.Array, Any]:
    return _hand_learnable_atan(x, alpha), (x, alpha)


def _hand_learnable_bwd(res: Any, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, alpha = res
    h = (math.pi / 2) * alpha * x
    inv = 1 / (1 + h * h)
    ga = g * (x / 2) * inv
    lead = ga.ndim - alpha.ndim
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(alpha.shape) if d == 1)
    return g * (alpha / 2) * inv, ga.sum(axis=axes).reshape(alpha.shape)


_hand_learnable_atan.defvjp(_hand_learnable_fwd, _hand_learnable_bwd)


def contenders() -> dict[str, tuple[str, Callable[[jax.Array], jax.Array]]]:
    import spikegrad.jax as sgj

    out = {
        "spikegrad.atan": ("atan", sgj.Surrogate("atan", alpha=2.0)),
        "spikegrad.sigmoid": ("sigmoid", sgj.Surrogate("sigmoid", alpha=4.0)),
        "hand.custom_vjp.atan": ("atan", _hand_atan()),
        "hand.custom_vjp.sigmoid": ("sigmoid", _hand_sigmoid()),
    }
    try:
        import braintools.surrogate as bt

        out["braintools.Arctan"] = ("atan", bt.Arctan(alpha=2.0))
        out["braintools.Sigmoid"] = ("sigmoid", bt.Sigmoid(alpha=4.0))
    except ImportError as exc:
        print(f"# braintools not installed: {exc}")
    return out


def run(sizes: list[int], repeats: int) -> dict[str, Any]:
    res: dict[str, Any] = {"jax": jax.__version__, "devices": str(jax.devices()), "cells": []}
    cands = contenders()
    for p in sizes:
        n = 2**p
        x = jax.random.normal(jax.random.key(0), (n,), jnp.float32)
        g = jnp.ones_like(x)
        floor_fn = jax.jit(lambda a, b: a + b)
        calls: dict[tuple[str, str], Callable[[], Any]] = {
            ("floor", "t"): lambda: floor_fn(x, g)}
        for name, (_, spike) in cands.items():
            fwd = jax.jit(spike)
            _, pullback = jax.vjp(spike, x)
            bwd = jax.jit(pullback)
            fb = jax.jit(lambda a, c, s=spike: jax.vjp(s, a)[1](c)[0])
            calls[name, "fwd"] = lambda f=fwd: f(x)
            calls[name, "bwd"] = lambda f=bwd: f(g)
            calls[name, "fb"] = lambda f=fb: f(x, g)
        # every contender's repeats interleaved: a slow spell of the machine lands on all
        t = interleaved_medians(calls, repeats, jax.block_until_ready)
        floor = t["floor", "t"]
        res["cells"].append({"n": n, "contender": "floor.jit(x+g)", "t": floor})
        for name, (family, _) in cands.items():
            res["cells"].append({"n": n, "contender": name, "family": family, "floor": floor,
                                 **{m: t[name, m] for m in ("fwd", "bwd", "fb")}})
    return res


def learnable(sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    """Two shapes of the learnable-alpha gradient, interleaved medians:

    * ``jit(grad)`` of ``sum(atan(x; alpha))`` with respect to ``x`` only (alpha a number)
      against ``x`` and alpha (0-d, per channel (256,), per neuron (N/256, 256)), a
      hand-written learnable ``custom_vjp`` per layout, and braintools' fixed Arctan;
    * the pullback of a given cotangent ``G`` (what a layer inside a network receives) at
      the same layouts.

    The row with ``jax.numpy`` is the 0-d function traced with the fused CPU custom call
    off (``spikegrad.adapters.jax_kernels.set_enabled(False)``)."""
    import spikegrad.jax as sgj
    from spikegrad.adapters import jax_kernels

    cells = []
    for p in sizes:
        n = 2**p
        x = jax.random.normal(jax.random.key(0), (n // 256, 256), jnp.float32)
        G = jax.random.uniform(jax.random.key(1), x.shape, jnp.float32)
        calls: dict[str, Callable[[], Any]] = {}

        def add(name: str, f: Any, *args: Any) -> None:
            # compiled now, under the current switch (set_enabled clears jax's caches: a
            # jitted function would be traced again at its next call)
            compiled = f.lower(*args).compile()
            jax.block_until_ready(compiled(*args))
            calls[name] = lambda c=compiled, args=args: c(*args)

        add("spikegrad.atan[number alpha]",
            jax.jit(jax.grad(lambda v: sgj.atan(v, alpha=2.0).sum())), x)
        add("G: spikegrad.atan[number alpha]",
            jax.jit(lambda v, g: jax.vjp(lambda u: sgj.atan(u, alpha=2.0), v)[1](g)), x, G)
        for kind, a in (("0-d", jnp.asarray(2.0)), ("per channel", jnp.full((256,), 2.0)),
                        ("per neuron", jnp.full((n // 256, 256), 2.0))):
            # the custom call serves one-value parameters; the others are jax.numpy anyway
            for fused, tag in ((True, ""), (False, ", jax.numpy"))[:2 if kind == "0-d" else 1]:
                jax_kernels.set_enabled(fused)
                try:
                    add(f"spikegrad.atan[{kind} alpha learns{tag}]",
                        jax.jit(jax.grad(lambda v, al: sgj.atan(v, alpha=al).sum(),
                                         argnums=(0, 1))), x, a)
                    add(f"G: spikegrad.atan[{kind} alpha learns{tag}]",
                        jax.jit(lambda v, al, g: jax.vjp(
                            lambda u, b: sgj.atan(u, alpha=b), v, al)[1](g)), x, a, G)
                finally:
                    jax_kernels.set_enabled(True)
            add(f"hand.custom_vjp[{kind} alpha learns]",
                jax.jit(jax.grad(lambda v, al: _hand_learnable_atan(v, al).sum(),
                                 argnums=(0, 1))), x, a)
        try:
            import braintools.surrogate as bt

            s = bt.Arctan(alpha=2.0)
            add("braintools.Arctan[fixed]", jax.jit(jax.grad(lambda v: s(v).sum())), x)
        except ImportError as exc:
            print(f"# braintools not installed: {exc}")
        t = interleaved_medians(calls, repeats, jax.block_until_ready)
        cells += [{"n": n, "contender": k, "t": v} for k, v in t.items()]
    return cells


def report_learnable(cells: list[dict[str, Any]]) -> str:
    grad = [c for c in cells if not c["contender"].startswith("G: ")]
    given = [{**c, "contender": c["contender"][3:]} for c in cells
             if c["contender"].startswith("G: ")]
    return (ratio_table(grad, "t", "learnable alpha, jit(grad) of sum(spikes): per-call time "
                        "[x the number-alpha path]", ("spikegrad.atan[number alpha]",))
            + "\n\n" + ratio_table(given, "t", "learnable alpha, jit(vjp) of a given cotangent "
                                   "G: per-call time [x the number-alpha path]",
                                   ("spikegrad.atan[number alpha]",)))


def report(res: dict[str, Any]) -> str:
    cells = [c for c in res["cells"] if "family" in c]
    sizes = sorted({c["n"] for c in cells})
    lines = [f"# jax {res['jax']} on {res['devices']}"]
    for mode in ("fwd", "bwd", "fb"):
        lines.append(f"\n## {mode}: per-call time [speed-up vs braintools, x floor jit(x+g)]")
        lines.append(f"{'contender':26s}" + "".join(f"{'2^' + str(n.bit_length() - 1):>26s}"
                                                    for n in sizes))
        for name in dict.fromkeys(c["contender"] for c in cells):
            row = f"{name:26s}"
            for n in sizes:
                c = next(d for d in cells if d["contender"] == name and d["n"] == n)
                peers = [d[mode] for d in cells if d["n"] == n and d["family"] == c["family"]
                         and d["contender"].startswith("braintools")]
                sp = f"{peers[0] / c[mode]:4.2f}x" if peers and name.startswith("spikegrad") \
                    else "     "
                t = c[mode]
                tt = fmt_time(t)
                row += f"{tt:>10s} [{sp} {t / c['floor']:5.2f}]"
            lines.append(row)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--malloc", **MALLOC_CHOICES)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 14, 18, 22, 24])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json")
    ap.add_argument("--learnable-sizes", type=int, nargs="*", default=[10, 18, 22],
                    help="log2 of the element counts of the learnable-alpha rows (none: "
                    "skip them)")
    args = ap.parse_args()
    steady_allocator(args.malloc)
    print(f"# allocator: {args.malloc}")
    res = run(args.sizes, args.repeats)
    print(report(res))
    if args.learnable_sizes:
        res["learnable"] = learnable(args.learnable_sizes, args.repeats)
        print(report_learnable(res["learnable"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
