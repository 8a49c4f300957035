"""A traced kernel's constants for a new parameter value, without tracing again.

A kernel traced with ``distinct_constants`` reads its constants at run time, so a new
parameter value of an already emitted formula needs only those constants.  They are what
the formula computes on the host from its parameters (``0.5 * math.pi * alpha``) before
an array is touched.  :func:`record` traces the formula once more with each real
parameter a :class:`HostScalar`, which records that arithmetic instead of doing it, and
turns the recorded expressions into one Python function (a :class:`Program`) from the
parameter values to the constants.  Replaying it performs the same floating-point
operations on the same operands in the same order as a fresh trace, so its constants are
bit for bit a fresh trace's.

Anything that makes the traced graph depend on a parameter's value (a Python branch on
it, ``float(alpha)``, ``math.sqrt(alpha)``, ``np.asarray(alpha)``) makes the formula
not replayable: a :class:`HostScalar` refuses to become a Python number or a truth value,
:func:`record` then returns ``None``, and every new value is traced as before.
:func:`record` also checks its program once against the trace it came from (the same
graph shape, the same constants bit for bit).
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .._numerics import HOST_FLOATS, HostValue
from .trace import TraceNamespace, UnsupportedTrace, trace_formula

__all__ = ["HostBool", "HostScalar", "NotReplayable", "Program", "Replays", "branch", "leaves",
           "record"]


class NotReplayable(UnsupportedTrace):
    """A formula's graph depends on a parameter's value (it is traced per value)."""


#: the host operations recorded: Python operator, its source symbol
_BINARY = {"add": (operator.add, "+"), "sub": (operator.sub, "-"),
           "mul": (operator.mul, "*"), "truediv": (operator.truediv, "/"),
           "pow": (operator.pow, "**")}
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
            "==": operator.eq, "!=": operator.ne}


class HostScalar(HostValue):
    """A real parameter, or host arithmetic on parameters, recorded as an expression.

    ``expr`` is Python source over the leaves ``v[i]`` and the literals ``k[j]`` of the
    :class:`_Recorder` that made it; ``value`` is the value at the recorded parameters."""

    __slots__ = ("expr", "rec", "value")
    __array_ufunc__ = None  # numpy scalars defer to the reflected operation

    def __init__(self, value: Any, expr: str, rec: _Recorder) -> None:
        self.value = value
        self.expr = expr
        self.rec = rec

    def _operand(self, other: Any) -> tuple[Any, str] | None:
        if isinstance(other, HostScalar):
            return other.value, other.expr
        if isinstance(other, (int, float, np.floating, np.integer)):
            return other, self.rec.literal(other)
        return None

    def _bin(self, op: str, other: Any, reverse: bool) -> Any:
        found = self._operand(other)
        if found is None:
            return NotImplemented  # a traced array: its reflected operation records it
        ov, oe = found
        a, b = (ov, self.value) if reverse else (self.value, ov)
        ae, be = (oe, self.expr) if reverse else (self.expr, oe)
        fn, symbol = _BINARY[op]
        return HostScalar(fn(a, b), f"({ae} {symbol} {be})", self.rec)

    def __add__(self, o: Any) -> Any:
        return self._bin("add", o, False)

    def __radd__(self, o: Any) -> Any:
        return self._bin("add", o, True)

    def __sub__(self, o: Any) -> Any:
        return self._bin("sub", o, False)

    def __rsub__(self, o: Any) -> Any:
        return self._bin("sub", o, True)

    def __mul__(self, o: Any) -> Any:
        return self._bin("mul", o, False)

    def __rmul__(self, o: Any) -> Any:
        return self._bin("mul", o, True)

    def __truediv__(self, o: Any) -> Any:
        return self._bin("truediv", o, False)

    def __rtruediv__(self, o: Any) -> Any:
        return self._bin("truediv", o, True)

    def __pow__(self, o: Any) -> Any:
        return self._bin("pow", o, False)

    def __rpow__(self, o: Any) -> Any:
        return self._bin("pow", o, True)

    def __neg__(self) -> HostScalar:
        return HostScalar(-self.value, f"(-{self.expr})", self.rec)

    def __pos__(self) -> HostScalar:
        return HostScalar(+self.value, f"(+{self.expr})", self.rec)

    def __abs__(self) -> HostScalar:
        return HostScalar(abs(self.value), f"abs({self.expr})", self.rec)

    # the functions of spikegrad._numerics that act on a host number's value
    def apply(self, name: str) -> HostScalar:
        return HostScalar(getattr(math, name)(self.value), f"math.{name}({self.expr})",
                          self.rec)

    def rounded(self, bits: int) -> HostScalar:
        kind = HOST_FLOATS[bits]
        return HostScalar(float(kind(self.value)), f"float(np.{kind.__name__}({self.expr}))",
                          self.rec)

    # a comparison is a guard where the formula branches on it
    def _compare(self, op: str, other: Any) -> Any:
        found = self._operand(other)
        if found is None:
            return NotImplemented
        ov, oe = found
        return HostBool(bool(_COMPARE[op](self.value, ov)), f"({self.expr} {op} {oe})",
                        self.rec)

    def __lt__(self, o: Any) -> Any:
        return self._compare("<", o)

    def __le__(self, o: Any) -> Any:
        return self._compare("<=", o)

    def __gt__(self, o: Any) -> Any:
        return self._compare(">", o)

    def __ge__(self, o: Any) -> Any:
        return self._compare(">=", o)

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        return self._compare("==", o)

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        return self._compare("!=", o)

    # the graph would depend on the value in a way not recorded: refuse
    def _refuse(self, *_: Any) -> Any:
        raise NotReplayable("the formula turns a parameter into a Python number on the "
                            "host (a conversion, or a math function outside "
                            "spikegrad._numerics.host_or_array)")

    __float__ = __int__ = __index__ = __bool__ = __complex__ = _refuse
    __round__ = __trunc__ = __floor__ = __ceil__ = _refuse
    __mod__ = __rmod__ = __floordiv__ = __rfloordiv__ = _refuse
    __str__ = __repr__ = __format__ = _refuse  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]


class HostBool:
    """A comparison of host numbers: where the formula branches on it (``bool()``), the
    outcome is recorded as a guard of the replay."""

    __slots__ = ("expr", "rec", "value")

    def __init__(self, value: bool, expr: str, rec: _Recorder) -> None:
        self.value = value
        self.expr = expr
        self.rec = rec

    def __bool__(self) -> bool:
        self.rec.guards.append((self.expr, self.value))
        return self.value

    # read otherwise than as a truth value (``== True``, a dictionary key): not recorded
    def _refuse(self, *_: Any) -> Any:
        raise NotReplayable("the formula uses a comparison of a parameter otherwise than "
                            "as a truth value")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse  # type: ignore[assignment]
    __and__ = __or__ = __xor__ = __invert__ = __int__ = __float__ = __index__ = _refuse
    __hash__ = None  # type: ignore[assignment]


class _Recorder:
    """The literals of one recording (operands that are plain numbers keep their type)."""

    def __init__(self) -> None:
        self.literals: list[Any] = []
        #: the branches taken: (expression, outcome)
        self.guards: list[tuple[str, bool]] = []

    def literal(self, value: Any) -> str:
        self.literals.append(value)
        return f"k[{len(self.literals) - 1}]"


class Program:
    """The constants of a traced kernel as a function of its real parameters' values, or
    ``None`` for values that take another branch than the recorded ones (a guard)."""

    def __init__(self, exprs: list[str], literals: list[Any],
                 guards: list[tuple[str, bool]]) -> None:
        body = f"[{', '.join(f'float({e})' for e in exprs)}]"
        if guards:
            held = " and ".join(f"{'' if taken else 'not '}{e}" for e, taken in guards)
            body = f"({body} if {held} else None)"
        src = f"lambda v, k: {body}"
        self.source = src
        # the source is made here from the recorded operators, math functions, leaf and
        # literal indices alone (no user text): compiled once per formula
        env = {"abs": abs, "float": float, "math": math, "np": np}
        fn: Callable[[Any, Any], list[float] | None] = eval(
            compile(src, "<spikegrad replay>", "eval"), env)
        self._fn = fn
        self._k = tuple(literals)

    def __call__(self, values: tuple[float, ...]) -> list[float] | None:
        return self._fn(values, self._k)


def leaves(params: dict[str, Any], scale: Any) -> tuple[Any, tuple[float, ...]] | None:
    """``(key, values)``: which of a formula's parameters (and its output scale) are real
    numbers replayed as leaves, with every other value (booleans, integers, strings, a
    scale of exactly 1, which the trace skips) in ``key``; ``None`` where a value is not
    hashable."""
    key: list[Any] = []
    values: list[float] = []
    for name, v in params.items():
        if type(v) is float:
            key.append((name, None))
            values.append(v)
        else:
            key.append((name, type(v), v))
    one = isinstance(scale, (int, float)) and scale == 1.0
    if not one:
        values.append(float(scale))
    out = (tuple(key), one)
    try:
        hash(out)
    except TypeError:
        return None
    return out, tuple(values)


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1.0, x) ==
                                              math.copysign(1.0, y))
        for x, y in zip(a, b, strict=True))


def record(fn: Any, params: dict[str, Any], scale: Any, dtype: str,
           traced: TraceNamespace, out: Any, places: tuple[tuple[int, int], ...],
           constants: list[float]) -> Program | None:
    """The :class:`Program` of ``scale * fn(x, **params)`` traced for ``dtype``, given
    a trace of it with these parameters (``traced``, its output ``out``), where in that
    graph the kernel's constants sit (``places``: node and operand positions) and their
    values (``constants``); ``None`` where the graph depends on a value."""
    found = leaves(params, scale)
    if found is None:
        return None
    (_, one), values = found
    rec = _Recorder()
    hosts = iter(HostScalar(v, f"v[{i}]", rec) for i, v in enumerate(values))
    hparams = {name: next(hosts) if type(v) is float else v for name, v in params.items()}
    hscale = 1.0 if one else next(hosts)
    try:
        ns, hout = trace_formula(fn, hparams, dtype, hscale, distinct_constants=True)
    except Exception:  # whatever a formula's host code raises on a recorded value in place
        return None  # of a number (a dictionary key, an assertion): not replayable
    if ns.structure(hout) != traced.structure(out):
        return None
    exprs = []
    for n, i in places:
        arg = ns.nodes[n].args[i]
        exprs.append(arg.expr if isinstance(arg, HostScalar) else rec.literal(arg))
    try:
        program = Program(exprs, rec.literals, rec.guards)
        replayed = program(values)
    except (SyntaxError, RecursionError, MemoryError, TypeError, ValueError,
            ArithmeticError):  # an expression too deep to compile, or not replayable
        return None
    return program if replayed is not None and _same(replayed, constants) else None


def branch(recorded: tuple[tuple[Any, Program], ...], values: tuple[float, ...]
           ) -> tuple[int, Any, list[float]] | None:
    """``(index, payload, constants)`` of the first of the ``recorded`` ``(payload,
    program)`` branches whose program takes ``values`` (its guards hold and it raises
    nothing), or ``None`` where none does (then the value is traced)."""
    for i, (payload, program) in enumerate(recorded):
        try:
            constants = program(values)
        except (ArithmeticError, ValueError, TypeError):
            continue  # (the formula's own handling of such a value: traced)
        if constants is not None:  # (None: another branch than this program's)
            return i, payload, constants
    return None


class Replays:
    """What a code generator emitted for each traced formula shape, with the host program
    of its constants: a new parameter value of a recorded formula and branch is not
    traced (:meth:`emitted`).  Bounded: cleared past ``max_keys`` keys; at most
    ``max_branches`` branches recorded per key (a formula that branches on a value, such
    as ``alpha != 1`` or a value exact in float32, has one program per branch)."""

    def __init__(self, max_keys: int = 1024, max_branches: int = 16) -> None:
        self.max_keys = max_keys
        self.max_branches = max_branches
        self.programs: dict[tuple[Any, ...], tuple[tuple[Any, Program], ...]] = {}
        #: keys whose graph depends on a value in a way not recorded (traced per value)
        self.not_replayable: set[tuple[Any, ...]] = set()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.programs.clear()
            self.not_replayable.clear()

    def emitted(self, tag: Any, fn: Any, params: dict[str, Any], scale: Any, dtype: str,
                emit: Callable[[TraceNamespace, Any], tuple[Any, list[float],
                                                          tuple[tuple[int, int], ...]]],
                replayable: bool = True) -> tuple[Any, list[float]]:
        """``(payload, constants)`` of ``scale * fn(x, **params)`` traced for ``dtype``
        (``distinct_constants``), where ``emit(ns, out)`` turns a trace into
        ``(payload, constants, places)``; ``tag`` names the generator (its kind, the
        formula, anything its payload depends on besides the graph).  ``replayable=False``
        traces every value (a user definition: its host code may read a parameter in
        ways a recording cannot see, such as ``isinstance``; the built-in formulas are
        checked against fresh traces by the test suite)."""
        found = leaves(params, scale) if replayable else None
        key = None if found is None else (tag, dtype, found[0])
        recorded = () if key is None else self.programs.get(key, ())
        hit = branch(recorded, found[1]) if recorded else None  # type: ignore[index]
        if hit is not None:
            i, payload, constants = hit
            if i:  # the branch a sweep is in is tried first next time
                self.programs[key] = (recorded[i], *recorded[:i], *recorded[i + 1:])  # type: ignore[index]
            return payload, constants
        ns, out = trace_formula(fn, params, dtype, scale, distinct_constants=True)
        payload, constants, places = emit(ns, out)
        if (key is not None and len(recorded) < self.max_branches
                and key not in self.not_replayable):
            program = record(fn, params, scale, dtype, ns, out, places, constants)
            with self._lock:
                if len(self.programs) + len(self.not_replayable) >= self.max_keys:
                    self.programs.clear()
                    self.not_replayable.clear()
                if program is None:
                    self.not_replayable.add(key)
                else:
                    self.programs[key] = (*self.programs.get(key, ()), (payload, program))
        return payload, constants
