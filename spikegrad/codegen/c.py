"""Emit portable C from a traced expression graph.

The generated code is one straight-line expression per element: branches of the formula
are already ``where`` selects in the graph, so they become ternaries (never mask
products), and both sides are computed from safe inputs exactly as in the array-API code.
The same emitter serves the CPU kernels (compiled with the system C compiler and loaded
with ctypes) and, with another prelude, GPU kernels.

Floating-point contraction is disabled when compiling (``-ffp-contract=off``) so the
error-free products of :mod:`spikegrad._numerics` stay exact.
"""

from __future__ import annotations

import math
from typing import Any

from .trace import Node, UnsupportedTrace, nan_follows

__all__ = ["C_PRELUDE", "emit_expression", "emit_expressions", "helpers"]

_CTYPE = {"float32": "float", "float64": "double", "bool": "int"}
_SUFFIX = {"float32": "f", "float64": ""}
_LIBM = {"exp": "exp", "log": "log", "log1p": "log1p", "expm1": "expm1", "sqrt": "sqrt",
         "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "sin": "sin", "cos": "cos",
         "atan": "atan", "abs": "fabs", "round": "nearbyint", "floor": "floor",
         "erfc": "erfc"}
_BINOP = {"add": "+", "sub": "-", "mul": "*", "div": "/", "lt": "<", "le": "<=", "gt": ">",
          "ge": ">=", "eq": "==", "ne": "!=", "and": "&", "or": "|"}

_HELPERS = r"""
{q} float sg_clip_minf(float v, float lo) {{ return isnan(v) ? v : (v < lo ? lo : v); }}
{q} float sg_clip_maxf(float v, float hi) {{ return isnan(v) ? v : (v > hi ? hi : v); }}
{q} double sg_clip_min(double v, double lo) {{ return isnan(v) ? v : (v < lo ? lo : v); }}
{q} double sg_clip_max(double v, double hi) {{ return isnan(v) ? v : (v > hi ? hi : v); }}
{q} float sg_minimumf(float a, float b) {{
    return isnan(a) ? a : (isnan(b) ? b : (a < b ? a : b)); }}
{q} double sg_minimum(double a, double b) {{
    return isnan(a) ? a : (isnan(b) ? b : (a < b ? a : b)); }}
{q} float sg_maximumf(float a, float b) {{
    return isnan(a) ? a : (isnan(b) ? b : (a > b ? a : b)); }}
{q} double sg_maximum(double a, double b) {{
    return isnan(a) ? a : (isnan(b) ? b : (a > b ? a : b)); }}
{q} float sg_remainderf(float a, float b) {{
    float r = fmodf(a, b); return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r; }}
{q} double sg_remainder(double a, double b) {{
    double r = fmod(a, b); return (r != 0.0 && ((r < 0.0) != (b < 0.0))) ? r + b : r; }}
"""


def helpers(qualifier: str) -> str:
    """The helper functions with array-API semantics (NaN propagation, Python-style
    remainder), declared with ``qualifier`` (``static inline`` for C,
    ``static __device__ __forceinline__`` for CUDA)."""
    return _HELPERS.format(q=qualifier)


#: C prelude: headers and the helpers.
C_PRELUDE = "#include <math.h>\n#include <stdint.h>\n" + helpers("static inline")


def _const(v: float, dtype: str) -> str:
    if math.isnan(v):
        return "NAN" if dtype == "float32" else "(double)NAN"
    if math.isinf(v):
        s = "INFINITY" if v > 0 else "(-INFINITY)"
        return s if dtype == "float32" else f"(double){s}"
    text = repr(float(v))
    if "e" not in text and "." not in text and "inf" not in text:
        text += ".0"
    return f"{text}f" if dtype == "float32" else f"({text})"


def _redundant_nan_rule(node: Node) -> bool:
    """``node`` is ``where(isnan(a), a, d)`` with ``d`` NaN wherever ``a`` is."""
    cond, then, other = node.args
    return (isinstance(cond, Node) and cond.op == "isnan" and then is cond.args[0]
            and isinstance(then, Node) and nan_follows(other, then))


def emit_expression(out: Node, inputs: dict[str, str],
                    constants: list[float] | None = None,
                    constants_name: str = "c",
                    origins: list[tuple[int, int]] | None = None) -> tuple[list[str], str]:
    """Statements computing ``out`` and the name of its variable (see
    :func:`emit_expressions`)."""
    lines, (var,) = emit_expressions((out,), inputs, constants, constants_name, origins)
    return lines, var


def emit_expressions(outs: tuple[Node, ...], inputs: dict[str, str],
                     constants: list[float] | None = None,
                     constants_name: str = "c",
                     origins: list[tuple[int, int]] | None = None
                     ) -> tuple[list[str], tuple[str, ...]]:
    """Statements computing every node of ``outs`` (shared subexpressions computed once)
    and the names of their variables.

    ``inputs`` maps the graph's input names to C expressions (e.g. ``{"x": "x[i]"}``).
    With a ``constants`` list, every floating constant of the formula is appended to it and
    read at run time from the ``double`` array ``constants_name`` (rounded to the
    operation's dtype as the array API rounds a Python float), so one compiled kernel
    serves every parameter value.  With an ``origins`` list too, each constant's place in
    the graph, ``(node index, operand index)``, is appended to it: a later trace of the
    same :meth:`~spikegrad.codegen.trace.TraceNamespace.structure` reads its constants
    there without emitting again.
    """
    lines: list[str] = []
    names: dict[int, str] = {}
    if any(out.dtype == "bool" for out in outs):
        raise UnsupportedTrace("the traced output is boolean; kernels return floats")

    at = [(-1, -1)]  # the operand being referenced: (node index, operand index)

    def lifted(v: float, dtype: str) -> str:
        assert constants is not None
        constants.append(v)
        if origins is not None:
            origins.append(at[0])
        slot = f"{constants_name}[{len(constants) - 1}]"
        return f"((float){slot})" if dtype == "float32" else slot

    def ref(a: Any, dtype: str) -> str:
        if isinstance(a, Node):
            return visit(a)
        if isinstance(a, bool):
            return "1" if a else "0"
        dt = dtype if dtype != "bool" else "float64"
        if constants is not None:
            return lifted(float(a), dt)
        return _const(float(a), dt)

    def visit(node: Node) -> str:
        key = id(node)
        if key in names:
            return names[key]
        op, args, dt = node.op, node.args, node.dtype

        def arg(i: int, dtype: str) -> str:
            at[0] = (node.index, i)
            return ref(args[i], dtype)

        # the dtype constants adopt: that of a node operand, else the result's
        odt = next((a.dtype for a in args if isinstance(a, Node) and a.dtype != "bool"), dt)
        sfx = _SUFFIX.get(odt, "")
        if op == "input":
            expr = inputs[args[0]]
        elif op == "const":
            expr = _const(args[0], dt)
        elif op == "cast":
            expr = f"({_CTYPE[dt]}){arg(0, dt)}"
        elif op == "neg":
            expr = f"-{arg(0, dt)}"
        elif op == "not":
            expr = f"!{arg(0, dt)}"
        elif op in _BINOP:
            expr = f"{arg(0, odt)} {_BINOP[op]} {arg(1, odt)}"
        elif op in _LIBM:
            expr = f"{_LIBM[op]}{sfx}({arg(0, odt)})"
        elif op in ("pow", "atan2"):
            expr = f"{op}{sfx}({arg(0, odt)}, {arg(1, odt)})"
        elif op == "fma":  # one rounding, whatever the contraction flags
            expr = f"fma{sfx}({', '.join(arg(i, odt) for i in range(len(args)))})"
        elif op in ("clip_min", "clip_max", "minimum", "maximum", "remainder"):
            expr = f"sg_{op}{sfx}({arg(0, odt)}, {arg(1, odt)})"
        elif op == "isnan":
            expr = f"isnan({arg(0, odt)})"
        elif op == "isfinite":
            expr = f"isfinite({arg(0, odt)})"
        elif op == "where" and _redundant_nan_rule(node):
            # the NaN rule's select where the value is NaN at a NaN x anyway: the value
            # (one compare and blend fewer per element; 41.7 -> 36.8 us for atan's
            # one-value parameter kernel at 2^18, float32, one thread)
            names[key] = visit(args[2])
            return names[key]
        elif op == "where":
            cond = arg(0, "bool")
            expr = f"{cond} ? {arg(1, dt)} : {arg(2, dt)}"
        else:
            raise UnsupportedTrace(f"no C emission for op {op!r}")
        if dt == "bool":
            # conditions stay inline expressions: compilers if-convert (and vectorise)
            # selects on direct comparisons, not on materialised integer flags
            names[key] = f"({expr})"
            return names[key]
        name = f"v{len(names)}"
        names[key] = name
        lines.append(f"const {_CTYPE[dt]} {name} = {expr};")
        return name

    return lines, tuple(visit(out) for out in outs)
