"""Trace array-API formulas into an expression graph.

:class:`TraceNamespace` is an array namespace whose "arrays" are :class:`Node` objects:
evaluating a formula on ``x = ns.input()`` records every operation instead of computing
it.  The recorded graph (hash-consed, so common subexpressions are shared) is what the
kernel generators turn into fused elementwise code.  Formulas need no change: they only
see another namespace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._evaluate import evaluate_formula
from .._numerics import HostValue

__all__ = ["Node", "TraceNamespace", "UnsupportedTrace", "nan_follows", "trace_formula"]


class UnsupportedTrace(TypeError):
    """A formula used an operation the tracer does not model."""


@dataclass(frozen=True, eq=False)
class Node:
    """One operation of the graph: ``op`` applied to ``args`` (nodes or Python scalars)."""

    op: str
    args: tuple[Any, ...]
    dtype: str  # "float32", "float64" or "bool"
    ns: TraceNamespace = field(repr=False, compare=False)
    #: position in :attr:`TraceNamespace.nodes` (the order of creation)
    index: int = field(default=-1, repr=False, compare=False)

    # array attributes the formulas read
    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    # arithmetic
    def _bin(self, op: str, other: Any, reverse: bool = False) -> Node:
        a, b = (other, self) if reverse else (self, other)
        return self.ns._node(op, (a, b))

    def __add__(self, o: Any) -> Node:
        return self._bin("add", o)

    def __radd__(self, o: Any) -> Node:
        return self._bin("add", o, True)

    def __sub__(self, o: Any) -> Node:
        return self._bin("sub", o)

    def __rsub__(self, o: Any) -> Node:
        return self._bin("sub", o, True)

    def __mul__(self, o: Any) -> Node:
        return self._bin("mul", o)

    def __rmul__(self, o: Any) -> Node:
        return self._bin("mul", o, True)

    def __truediv__(self, o: Any) -> Node:
        return self._bin("div", o)

    def __rtruediv__(self, o: Any) -> Node:
        return self._bin("div", o, True)

    def __pow__(self, o: Any) -> Node:
        return self._bin("pow", o)

    def __neg__(self) -> Node:
        return self.ns._node("neg", (self,))

    def __abs__(self) -> Node:
        return self.ns._node("abs", (self,))

    def __lt__(self, o: Any) -> Node:  # type: ignore[override]
        return self._bin("lt", o)

    def __le__(self, o: Any) -> Node:  # type: ignore[override]
        return self._bin("le", o)

    def __gt__(self, o: Any) -> Node:  # type: ignore[override]
        return self._bin("gt", o)

    def __ge__(self, o: Any) -> Node:  # type: ignore[override]
        return self._bin("ge", o)

    def __eq__(self, o: Any) -> Node:  # type: ignore[override]
        return self._bin("eq", o)

    def __ne__(self, o: Any) -> Node:  # type: ignore[override]
        return self._bin("ne", o)

    def __and__(self, o: Any) -> Node:
        return self._bin("and", o)

    def __or__(self, o: Any) -> Node:
        return self._bin("or", o)

    def __invert__(self) -> Node:
        return self.ns._node("not", (self,))

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        raise UnsupportedTrace("a formula branched in Python on array values; use where()")

    def __float__(self) -> float:
        raise UnsupportedTrace("a formula converted an array to a Python float")


_UNARY_FLOAT = ("exp", "log", "log1p", "expm1", "sqrt", "sinh", "cosh", "tanh", "sin", "cos",
                "atan", "abs", "round", "floor", "erfc")
_COMPARE = ("lt", "le", "gt", "ge", "eq", "ne")

#: Operations whose result is NaN wherever one floating operand is NaN: IEEE arithmetic,
#: the C library functions the kernels call, and the kernels' NaN-propagating minimum,
#: maximum and remainder.  Not ``pow`` (``pow(NaN, 0)`` is 1), ``clip_*`` (NaN only through
#: the clipped value), comparisons or constants.
_NAN_IN_NAN_OUT = frozenset({"add", "sub", "mul", "div", "neg", "cast", "fma", "atan2",
                             "remainder", "minimum", "maximum", *_UNARY_FLOAT})


class TraceNamespace:
    """An array namespace that records operations (one element, symbolically)."""

    __name__ = "spikegrad_trace"

    def __init__(self, dtype: str = "float64", distinct_constants: bool = False) -> None:
        if dtype not in ("float32", "float64"):
            raise ValueError(f"trace dtype must be float32 or float64, got {dtype}")
        self.dtype = dtype
        self.float32 = "float32"
        self.float64 = "float64"
        self.bool = "bool"
        self._memo: dict[tuple[Any, ...], Node] = {}
        # with distinct constants, operations are never merged because two constants
        # happen to be equal: the graph's shape then does not depend on parameter values
        # (the kernels take the constants as run-time arguments)
        self._distinct = distinct_constants
        self._count = 0
        self.inputs: dict[str, Node] = {}
        #: every node, in the order of creation
        self.nodes: list[Node] = []

    # graph construction ---------------------------------------------------------------
    def _key(self, a: Any) -> Any:
        if isinstance(a, Node):
            return ("n", id(a))
        if isinstance(a, (bool, np.bool_)):
            return ("b", bool(a))
        # a recorded host number (a parameter under replay) is a constant of its own
        if isinstance(a, (int, float, np.floating, np.integer)) or (
                self._distinct and isinstance(a, HostValue)):
            if self._distinct:
                self._count += 1
                return ("c", self._count)
            v = float(a)
            return ("c", v, math.copysign(1.0, v) if v == 0 else 0.0)
        raise UnsupportedTrace(f"unsupported operand {a!r} ({type(a).__name__})")

    def _dtype_of(self, op: str, args: tuple[Any, ...]) -> str:
        if op in _COMPARE or op in ("and", "or", "not", "isnan", "isfinite"):
            return "bool"
        if op == "where":
            args = args[1:]
        dts = {a.dtype for a in args if isinstance(a, Node) and a.dtype != "bool"}
        if not dts:
            return self.dtype
        if len(dts) > 1:
            raise UnsupportedTrace(f"mixed dtypes {sorted(dts)} in {op}")
        return dts.pop()

    def _node(self, op: str, args: tuple[Any, ...], dtype: str | None = None) -> Node:
        args = tuple(float(a) if isinstance(a, (np.floating, np.integer)) else a for a in args)
        key = (op, dtype, *(self._key(a) for a in args))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        node = Node(op, args, dtype or self._dtype_of(op, args), self, len(self.nodes))
        self._memo[key] = node
        self.nodes.append(node)
        return node

    def input(self, name: str = "x", dtype: str | None = None) -> Node:
        node = Node("input", (name,), dtype or self.dtype, self, len(self.nodes))
        self.inputs[name] = node
        self.nodes.append(node)
        return node

    def structure(self, *outs: Node) -> tuple[Any, ...]:
        """The graph's shape, parameter values left out: every node's operation, dtype and
        operands (other nodes by position, booleans and the values of ``const`` nodes as
        they are, other numbers as a placeholder), and the outputs' positions.  Two traces
        with equal structures emit the same code, and the same constants at the same
        operand positions (with ``distinct_constants``)."""
        def operand(a: Any) -> Any:
            if isinstance(a, Node):
                return a.index
            if isinstance(a, (bool, str)):
                return a
            return "#"

        return (tuple((n.op, n.dtype, n.args if n.op == "const" else
                       tuple(operand(a) for a in n.args)) for n in self.nodes),
                tuple(o.index for o in outs))

    # the array API surface the formulas use ----------------------------------------------
    def finfo(self, dtype: Any) -> Any:
        return np.finfo(np.dtype(dtype if isinstance(dtype, str) else str(dtype)))

    def asarray(self, value: Any, dtype: Any = None) -> Any:
        if isinstance(value, Node):
            return value if dtype in (None, value.dtype) else self.astype(value, dtype)
        return np.asarray(value, dtype=dtype or self.dtype)[()]

    def astype(self, x: Node, dtype: Any) -> Node:
        dtype = str(dtype)
        if x.dtype == dtype:
            return x
        return self._node("cast", (x,), dtype)

    def zeros_like(self, x: Node) -> Node:
        return self._node("const", (0.0,), x.dtype)

    def ones_like(self, x: Node) -> Node:
        return self._node("const", (1.0,), x.dtype)

    def where(self, cond: Node, a: Any, b: Any) -> Node:
        return self._node("where", (cond, a, b))

    def clip(self, x: Node, min: Any = None, max: Any = None) -> Node:
        out = x
        if min is not None:
            out = self._node("clip_min", (out, min))
        if max is not None:
            out = self._node("clip_max", (out, max))
        return out

    def minimum(self, a: Any, b: Any) -> Node:
        return self._node("minimum", (a, b))

    def maximum(self, a: Any, b: Any) -> Node:
        return self._node("maximum", (a, b))

    def add(self, a: Any, b: Any) -> Node:
        return self._node("add", (a, b))

    def multiply(self, a: Any, b: Any) -> Node:
        return self._node("mul", (a, b))

    def divide(self, a: Any, b: Any) -> Node:
        return self._node("div", (a, b))

    def pow(self, a: Any, b: Any) -> Node:
        return self._node("pow", (a, b))

    def atan2(self, a: Any, b: Any) -> Node:
        return self._node("atan2", (a, b))

    def remainder(self, a: Any, b: Any) -> Node:
        return self._node("remainder", (a, b))

    def isnan(self, x: Node) -> Node:
        return self._node("isnan", (x,))

    def fused_multiply_add(self, a: Any, b: Any, c: Any) -> Node:
        """``a * b + c`` with one rounding (C's ``fma``): the exact product error of
        :func:`spikegrad._numerics.two_prod` in one operation.  Not in the array API; the
        tracer offers it because every target it emits for (C, CUDA) has it."""
        return self._node("fma", (a, b, c))

    def isfinite(self, x: Node) -> Node:
        return self._node("isfinite", (x,))

    def __getattr__(self, name: str) -> Any:
        if name in _UNARY_FLOAT:
            return lambda x: self._node(name, (x,))
        raise UnsupportedTrace(f"the tracer has no array-API function {name!r}")


def nan_follows(node: Any, source: Node) -> bool:
    """Whether ``node`` is NaN wherever ``source`` is, whatever the constants' values (judged
    from the operations alone, so that every trace of one structure agrees): what lets an
    emitter drop the NaN rule's select ``where(isnan(x), x, d)`` where ``d`` is NaN there
    anyway.  ``False`` where it cannot tell."""
    memo: dict[int, bool] = {}

    def follows(n: Any) -> bool:
        if not isinstance(n, Node):
            return False
        if n is source:
            return True
        hit = memo.get(id(n))
        if hit is None:
            if n.op in _NAN_IN_NAN_OUT:
                hit = any(follows(a) for a in n.args)
            elif n.op in ("clip_min", "clip_max"):
                hit = follows(n.args[0])
            elif n.op == "where":
                hit = follows(n.args[1]) and follows(n.args[2])
            else:
                hit = False
            memo[id(n)] = hit
        return hit

    return follows(node)


def trace_formula(fn: Any, params: dict[str, Any], dtype: str, scale: float = 1.0,
                  nan_guard: bool = True, distinct_constants: bool = False
                  ) -> tuple[TraceNamespace, Node]:
    """Trace ``scale * fn(x, **params)`` (NaN-propagating) for one ``dtype``."""
    ns = TraceNamespace(dtype, distinct_constants)
    x = ns.input("x")
    if nan_guard:
        out = evaluate_formula(fn, x, ns, params, scale)
    else:
        out = fn(x, xp=ns, **params)
        if scale != 1.0:
            out = out * scale
    if not isinstance(out, Node):
        raise UnsupportedTrace(f"formula returned {type(out).__name__}, not an array")
    return ns, out
