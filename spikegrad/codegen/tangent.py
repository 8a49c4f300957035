"""Forward-mode derivatives of a traced expression graph.

:func:`tangent` walks a graph recorded by :class:`~spikegrad.codegen.trace.TraceNamespace`
and builds, in the same namespace, the graph of its derivative with respect to one of its
inputs: one rule per operation the tracer records, applied node by node (the chain rule in
forward mode), with zero tangents pruned.  Tracing a surrogate's primitive ``g(x; θ)``
with ``θ`` as an input and taking the tangent in ``θ`` gives ``∂g/∂θ`` as generated code
from the one definition of ``g``: no second formula is written.

Selects differentiate branchwise (the branch taken), as autodiff does; comparisons,
``isnan``/``isfinite`` and rounding have no tangent.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._evaluate import evaluate_formula
from .trace import Node, TraceNamespace, UnsupportedTrace

__all__ = ["param_graph", "tangent"]

_NO_TANGENT = frozenset({"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not", "isnan",
                         "isfinite", "round", "floor", "const"})


def tangent(out: Node, wrt: Node) -> Node | None:
    """``d out / d wrt`` as a node of ``out``'s graph, or ``None`` where it is zero."""
    ns = out.ns
    memo: dict[int, Node | None] = {}

    def add(a: Node | None, b: Node | None) -> Node | None:
        if a is None:
            return b
        return a if b is None else a + b

    def scale(a: Node | None, f: Any) -> Node | None:
        return None if a is None else a * f

    def zero_if_none(a: Node | None, like: Node) -> Any:
        return ns.zeros_like(like) if a is None else a

    def t(n: Any) -> Node | None:
        if not isinstance(n, Node):
            return None  # a constant
        key = id(n)
        if key not in memo:
            memo[key] = rule(n)
        return memo[key]

    def rule(n: Node) -> Node | None:
        op, args = n.op, n.args
        if op == "input":
            return ns.ones_like(n) if n is wrt else None
        if op in _NO_TANGENT or n.dtype == "bool":
            return None
        if op == "cast":
            ta = t(args[0])
            return None if ta is None else ns.astype(ta, n.dtype)
        if op == "neg":
            ta = t(args[0])
            return None if ta is None else -ta
        a = args[0]
        ta = t(a)
        if op == "add":
            return add(ta, t(args[1]))
        if op == "sub":
            tb = t(args[1])
            return add(ta, None if tb is None else -tb)
        if op == "mul":
            b = args[1]
            return add(scale(ta, b), None if t(b) is None else a * t(b))
        if op == "div":
            b, tb = args[1], t(args[1])
            num = add(ta, None if tb is None else -(n * tb))
            if num is None:
                return None
            inv = _reciprocal(b, n.dtype)
            # a tangent is summed or compared to a tolerance, never held to the primal's
            # rounding: a division by a constant becomes a product (a division costs a
            # vector loop several multiplications: atan's alpha tangent at 2^18 float32,
            # 80 -> 60 us on 2 threads)
            return num / b if inv is None else num * inv
        if op == "fma":
            b, c = args[1], args[2]
            return add(add(scale(ta, b), None if t(b) is None else a * t(b)), t(c))
        if op == "where":
            tb, tc = t(args[1]), t(args[2])
            if tb is None and tc is None:
                return None
            return ns.where(args[0], zero_if_none(tb, n), zero_if_none(tc, n))
        if op in ("clip_min", "clip_max", "minimum", "maximum"):
            b, tb = args[1], t(args[1])
            if ta is None and tb is None:
                return None
            # the value is b where clip_min(v, lo) = lo (v < lo), clip_max(v, hi) = hi
            # (v > hi), minimum(a, b) = b (b <= a), maximum(a, b) = b (b >= a)
            take_b = (a < b if op == "clip_min" else a > b if op == "clip_max"
                      else b <= a if op == "minimum" else b >= a)
            return ns.where(take_b, zero_if_none(tb, n), zero_if_none(ta, n))
        if op == "pow":
            b, tb = args[1], t(args[1])
            out_t = None
            if ta is not None:
                out_t = ta * (b * ns.pow(a, b - 1.0))
            if tb is not None:
                out_t = add(out_t, tb * (n * ns.log(a)))
            return out_t
        if op == "atan2":
            b, tb = args[1], t(args[1])
            if ta is None and tb is None:
                return None
            num = add(scale(ta, b), None if tb is None else -(a * tb))
            return num / (a * a + b * b)
        if op == "remainder":  # a - floor(a / b) b
            b, tb = args[1], t(args[1])
            return add(ta, None if tb is None else -(ns.floor(a / b) * tb))
        if ta is None:
            return None
        unary = {
            "exp": lambda: n * ta,
            "expm1": lambda: (n + 1.0) * ta,
            "log": lambda: ta / a,
            "log1p": lambda: ta / (1.0 + a),
            "sqrt": lambda: ta / (2.0 * n),
            "sinh": lambda: ns.cosh(a) * ta,
            "cosh": lambda: ns.sinh(a) * ta,
            "tanh": lambda: (1.0 - n * n) * ta,
            "sin": lambda: ns.cos(a) * ta,
            "cos": lambda: -(ns.sin(a) * ta),
            "atan": lambda: ta / (1.0 + a * a),
            "abs": lambda: ns.where(a < 0.0, -ta, ta),
            "erfc": lambda: -(2.0 / math.sqrt(math.pi)) * ns.exp(-(a * a)) * ta,
        }
        if op not in unary:
            raise UnsupportedTrace(f"no tangent rule for op {op!r}")
        return unary[op]()

    return t(out)


def _reciprocal(b: Any, dtype: str) -> float | None:
    """``1 / b`` for a constant divisor ``b`` (a number or a ``const`` node) whose reciprocal
    is a normal number of ``dtype`` (so the product stays within an ULP or so of the
    quotient), else ``None``."""
    if isinstance(b, Node):
        if b.op != "const":
            return None
        b = b.args[0]
    if isinstance(b, bool) or not isinstance(b, (int, float)):
        return None
    b = float(b)
    info = np.finfo(np.dtype(dtype)) if dtype in ("float32", "float64") else None
    if info is None or b == 0.0 or not math.isfinite(b):
        return None
    inv = 1.0 / b
    tiny, big = float(info.tiny), float(info.max)
    return inv if tiny <= abs(inv) <= big and abs(b) >= tiny else None


def param_graph(entry: Any, static: tuple[tuple[str, Any], ...], dtype: str
                ) -> tuple[list[str], tuple[Node, ...]]:
    """The graph every parameter-gradient kernel (CPU, CUDA) emits: ``(names, outs)`` with
    ``outs = (g'(x; θ), ∂g/∂θ_0, ...)`` traced in ``dtype`` for a definition whose array
    parameters (``None`` in ``static``, the bound's items with arrays left out) are the
    graph's inputs ``p0, p1, ...`` beside ``x``: ``g'`` from the formula's derivative,
    each ``∂g/∂θ_k`` the forward-mode tangent of its traced primitive (a parameter the
    primitive does not read has the constant 0).

    Raises
    ------
    NotImplementedError
        For a stochastic backward or a definition without a primitive.
    """
    f = entry.formula
    if f.stochastic_backward or f.primitive is None:
        raise NotImplementedError(f"{entry.name}: no fused parameter gradient (stochastic "
                                  "backward or no primitive)")
    names = [k for k, v in static if v is None]
    ns = TraceNamespace(dtype, distinct_constants=True)
    x = ns.input("x")
    thetas = {name: ns.input(f"p{k}") for k, name in enumerate(names)}
    kwargs, scale = entry.map_params({k: thetas.get(k, v) for k, v in static})
    d = evaluate_formula(f.derivative, x, ns, kwargs, scale)
    g = evaluate_formula(f.primitive, x, ns, kwargs, scale)
    tangents = [tangent(g, thetas[name]) for name in names]
    outs = (d, *(ns.zeros_like(x) if t is None else t for t in tangents))
    if any(not isinstance(o, Node) for o in outs):
        raise UnsupportedTrace(f"{entry.name}: a traced output is not an array")
    return names, outs
