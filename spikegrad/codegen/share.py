"""A parameter tangent's division shared with ``g'``.

A parameter kernel (:func:`spikegrad.codegen.cpu.param_source_and_constants`) computes
``g'(x; θ)`` from the formula's derivative and ``∂g/∂θ`` as the tangent of its primitive,
two graphs of one trace.  Both often divide by the same quantity: atan's
``g' = (α/2) / (1 + t²)`` and its ``α``-tangent ``(∂t/∂α) / (t² + 1)``.  A vector
division costs several multiplications (at 2^18 float32 values, one division pass is as
long as the whole fixed-parameter kernel), so the tangent's ``n / d`` becomes
``n * (q * (1 / m))`` where ``q = m / d`` is the quotient ``g'`` computes anyway and
``m`` does not change along the loop (a one-value parameter, constants): ``1 / m`` is
computed once, before the loop.

Two divisors are the same when they compute the same value bit for bit, which
:func:`value_number` decides on the graph with the exact identities of IEEE arithmetic
(``a + b = b + a``, ``a b = b a``, ``(-a)(-b) = a b``, ``1 a = a``, constants folded in
the operation's dtype); nothing else is assumed.  The product differs from the quotient
by an ULP or two where ``q`` is a normal number; a tangent is summed or compared to a
tolerance, never held to the primal's rounding (as
:func:`spikegrad.codegen.tangent.tangent` divides by a constant).  The caller runs the
shared form only where ``m`` is of moderate magnitude (:data:`LIMIT`), so that ``q``
overflows only where ``|d| < |m| / max`` (no built-in divisor comes near: they are at
least 1 or an in-domain parameter); where ``|d|`` exceeds ``|m|`` by 2^126 (float32),
``q`` is subnormal and the term, then below ``2^-126 |n / m|``, keeps its sign and
finiteness but not all its digits (float32 atan at ``|x| ~ 1e22``: relative error 2e-4
of a term of 1e-17).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .trace import Node

__all__ = ["LIMIT", "share_divisions", "value_number"]

#: the shared form runs where ``2**-LIMIT <= |m| <= 2**LIMIT`` (checked before the loop)
LIMIT = 16

_COMMUTATIVE = frozenset({"add", "mul"})
_ONE = ("k", 1.0, 1.0)


def value_number(node: Any, dtype: str, memo: dict[int, Any]) -> Any:
    """A key equal for two operands exactly when the identities above make their values
    equal bit for bit (``dtype``: the dtype a plain number operand is rounded to)."""
    if not isinstance(node, Node):
        if isinstance(node, bool):
            return ("b", node)
        return _constant(float(np.dtype(dtype).type(node)))
    found = memo.get(id(node))
    if found is not None:
        return found
    op, args = node.op, node.args
    if op == "const":
        key: Any = _constant(float(np.dtype(node.dtype).type(args[0])))
    elif op == "input":
        key = ("in", args[0], node.dtype)
    else:
        # a number operand is rounded to the dtype the emitter gives it: that of a node
        # operand, else the result's (spikegrad.codegen.c.emit_expressions)
        odt = next((a.dtype for a in args if isinstance(a, Node) and a.dtype != "bool"),
                   node.dtype)
        keys = [value_number(a, odt if odt != "bool" else "float64", memo) for a in args]
        key = _canonical(op, node.dtype, keys)
    memo[id(node)] = key
    return key


def _constant(v: float) -> Any:
    """A constant's key: its value and sign (``0.0`` and ``-0.0`` are not one value; a NaN
    key equals no other, as NaN equals nothing)."""
    return ("k", v, math.copysign(1.0, v))


def _canonical(op: str, dtype: str, keys: list[Any]) -> Any:
    if op == "neg" and keys[0][0] == "neg":  # -(-a) = a; a key is (op, dtype, *operands)
        return keys[0][2]
    if op in _COMMUTATIVE:
        a, b = keys
        if a[0] == "k" and b[0] == "k" and dtype in ("float32", "float64"):
            t = np.dtype(dtype).type
            value = t(a[1]) * t(b[1]) if op == "mul" else t(a[1]) + t(b[1])
            return _constant(float(value))
        if op == "mul":
            if a[0] == "neg" and b[0] == "neg":
                a, b = a[2], b[2]
            if a == _ONE:
                return b
            if b == _ONE:
                return a
        return (op, dtype, *sorted((a, b), key=repr))
    return (op, dtype, *keys)


def _inputs(node: Any, memo: dict[int, frozenset[str]]) -> frozenset[str]:
    """The names of the graph inputs ``node`` depends on."""
    if not isinstance(node, Node):
        return frozenset()
    found = memo.get(id(node))
    if found is None:
        if node.op == "input":
            found = frozenset({node.args[0]})
        else:
            found = frozenset().union(*(_inputs(a, memo) for a in node.args))
        memo[id(node)] = found
    return found


def _reachable(outs: tuple[Node, ...]) -> list[Node]:
    seen: dict[int, Node] = {}
    stack = list(outs)
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen[id(n)] = n
        stack.extend(a for a in n.args if isinstance(a, Node))
    return sorted(seen.values(), key=lambda n: n.index)


def share_divisions(derivative: Node, tangents: tuple[Node, ...], invariant: set[str],
                    dtype: str) -> tuple[tuple[Node, ...], list[Node]]:
    """``(tangents', ms)``: ``tangents`` with every division ``n / d`` whose divisor
    computes the value of the divisor of a division ``m / d'`` of ``derivative``, ``m``
    depending only on the inputs ``invariant``, as ``n * (q * inv_j)`` (``q`` that
    division of ``derivative``; ``inv_j`` a new input ``sg_inv{j}`` standing for
    ``1 / m_j``), and the ``m_j`` (``ms``; empty where nothing is shared: then
    ``tangents'`` is ``tangents``)."""
    ns = derivative.ns
    vn: dict[int, Any] = {}
    deps: dict[int, frozenset[str]] = {}
    quotients: dict[Any, Node] = {}
    for n in _reachable((derivative,)):
        if (n.op == "div" and isinstance(n.args[1], Node) and n.dtype == dtype
                and not isinstance(n.args[0], bool)
                and _inputs(n.args[0], deps) <= invariant):
            quotients.setdefault(value_number(n.args[1], dtype, vn), n)
    if not quotients:
        return tangents, []
    ms: list[Node] = []
    inverses: dict[int, Node] = {}
    rebuilt: dict[int, Any] = {}

    def inverse(q: Node) -> Node:
        if id(q) not in inverses:
            m = q.args[0]
            ms.append(m if isinstance(m, Node) else ns._node("const", (float(m),), q.dtype))
            inverses[id(q)] = ns.input(f"sg_inv{len(ms) - 1}", q.dtype)
        return inverses[id(q)]

    def make(n: Node) -> Node:
        args = tuple(new(a) for a in n.args)
        q = (quotients.get(value_number(n.args[1], dtype, vn))
             if n.op == "div" and isinstance(n.args[1], Node) else None)
        if q is not None and q is not n and n.dtype == q.dtype:
            return args[0] * (q * inverse(q))
        return _with_args(n, args)

    def new(n: Any) -> Any:
        return _memoized(n, rebuilt, make)

    shared = tuple(new(t) for t in tangents)
    return (shared, ms) if ms else (tangents, [])


def _memoized(n: Any, rebuilt: dict[int, Any], make: Any) -> Any:
    """``make(n)`` once per node of a graph being rewritten (numbers as they are)."""
    if not isinstance(n, Node):
        return n
    found = rebuilt.get(id(n))
    if found is None:
        found = rebuilt[id(n)] = make(n)
    return found


def _with_args(n: Node, args: tuple[Any, ...]) -> Node:
    """``n`` with its operands ``args`` (``n`` itself where none changed)."""
    if all(a is b for a, b in zip(args, n.args, strict=True)):
        return n
    return n.ns._node(n.op, args, n.dtype)


def _uses(outs: tuple[Node, ...]) -> dict[int, int]:
    """How many operand slots of the graph of ``outs`` read each node (an output counts
    once more)."""
    count: dict[int, int] = {}
    for n in _reachable(outs):
        for a in n.args:
            if isinstance(a, Node):
                count[id(a)] = count.get(id(a), 0) + 1
    for o in outs:
        count[id(o)] = count.get(id(o), 0) + 1
    return count


def group_invariant_factors(tangents: tuple[Node, ...], others: tuple[Node, ...],
                            invariant: set[str], dtype: str) -> tuple[Node, ...]:
    """``tangents`` with each product's factors that do not change along the loop (numbers,
    constants, expressions of the inputs ``invariant``) multiplied together first: ``c1 x
    q c2`` becomes ``(x q) (c1 c2)``, and the compiler computes ``c1 c2`` once, before the
    loop (atan's alpha tangent: two multiplications of eleven per element fewer).

    A product is followed through its factors' products and negations (a negation is a
    factor ``-1``) where nothing else reads them, so a shared intermediate is still
    computed once; the graph of ``others`` (the kernel's other outputs: ``g'``) is left
    as it is.  Reassociating changes the rounding by an ULP or so, as the tangent's
    shared divisions do; ``g'`` is never rewritten."""
    if not tangents:
        return tangents
    uses = _uses((*others, *tangents))
    deps: dict[int, frozenset[str]] = {}
    # what the other outputs compute is kept as it is (computed once, read as it is)
    rebuilt: dict[int, Any] = {id(n): n for n in _reachable(others)}

    def flatten(n: Node, out: list[Any]) -> int:
        """Append ``n``'s factors to ``out``; the sign of the product (1 or -1)."""
        sign = 1
        for a in (n.args if n.op == "mul" else ()):
            if (isinstance(a, Node) and a.op in ("mul", "neg") and a.dtype == n.dtype
                    and uses.get(id(a), 0) == 1):
                sign *= flatten(a, out)
            else:
                out.append(a)
        if n.op == "neg":
            a = n.args[0]
            if (isinstance(a, Node) and a.op in ("mul", "neg") and a.dtype == n.dtype
                    and uses.get(id(a), 0) == 1):
                sign = -flatten(a, out)
            else:
                out.append(a)
                sign = -1
        return sign

    def moves(a: Any) -> bool:
        return isinstance(a, Node) and not _inputs(a, deps) <= invariant

    def product(factors: list[Any]) -> Any:
        out = factors[0]
        for f in factors[1:]:
            out = out * f
        return out

    def make(n: Node) -> Node:
        if n.op in ("mul", "neg") and n.dtype == dtype:
            raw: list[Any] = []
            sign = flatten(n, raw)
            factors = [new(a) for a in raw]
            fixed = [a for a in factors if not moves(a)]
            varying = [a for a in factors if moves(a)]
            if varying and (len(fixed) >= 2 or (fixed and sign < 0)):
                k = product(fixed)
                if sign < 0:
                    k = -k
                # (numbers only: their product, a number the emitter reads from c[] as
                # it does every number: never a literal, so the source stays one per
                # structure)
                return product(varying) * k
        return _with_args(n, tuple(new(a) for a in n.args))

    def new(n: Any) -> Any:
        return _memoized(n, rebuilt, make)

    return tuple(new(t) for t in tangents)


def split_invariant_factor(tangent: Node, invariant: set[str], dtype: str
                           ) -> tuple[Node, Any]:
    """``(v, k)`` with ``tangent = v k`` (or ``where(c, 0, v k)``, then ``v`` is
    ``where(c, 0, v)``) and ``k`` a factor that does not change along the loop, as
    :func:`group_invariant_factors` leaves it (the product's last operand); ``(tangent,
    None)`` where there is none.  A one-value parameter's gradient is then ``k Σ v``:
    one product per sum, not one per element.  (With ``k`` not finite both forms are not
    finite, though one may be an infinity where the other is a NaN; otherwise they differ
    by rounding, as reassociation does.)"""
    deps: dict[int, frozenset[str]] = {}

    def fixed(a: Any) -> bool:
        return not isinstance(a, Node) or _inputs(a, deps) <= invariant

    def split(n: Any) -> tuple[Node, Any] | None:
        if (isinstance(n, Node) and n.op == "mul" and n.dtype == dtype
                and not fixed(n.args[0]) and fixed(n.args[1])):
            return n.args[0], n.args[1]
        return None

    found = split(tangent)
    if found is not None:
        return found
    if tangent.op == "where" and tangent.dtype == dtype:
        cond, zero, value = tangent.args
        inner = split(value)
        if inner is not None and isinstance(zero, Node) and zero.op == "const" \
                and zero.args[0] == 0.0:
            return _with_args(tangent, (cond, zero, inner[0])), inner[1]
    return tangent, None
