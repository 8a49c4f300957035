"""CUDA kernels generated from the spec (for the cupy adapter).

The same traced graph and emitter as the CPU kernels (:mod:`spikegrad.codegen.c`), with a
device prelude.  Two forms are produced:

* :func:`param_elementwise` — the same for tensor parameters: ``g g'`` and each
  parameter's ``g ∂g/∂θ`` per element from one read of ``x``;
* :func:`elementwise` — the pieces of a ``cupy.ElementwiseKernel`` (parameters, body,
  preamble, compile options): ``out = g * g'(x)``, ``g'(x)`` alone, or the fused spike and
  ``g * g'(x)`` from one read of ``x``; :func:`spike_kernel` — the spike alone.  float16 and
  bfloat16 (CuPy ≥ 14 with ml_dtypes) are computed in float32 and rounded once;
* :func:`module_source` — a standalone ``.cu`` translation unit with ``extern "C"``
  kernels, which ``nvcc`` can compile without a GPU;
* :func:`statements` — plain C statements computing ``g'(x)`` into a variable, with the
  parameter values written in as literals, for inlining in another generator's kernel
  (spikingjelly's fused neurons, ``dtype`` ``"float"`` or ``"half2"``).

Parameters are run-time arguments, as in the CPU kernels: the formula's constants are read
from a ``raw float64 c`` array (:attr:`Elementwise.constants`), so the kernel text and name
depend on the formula's shape only and a new parameter value compiles nothing.

CuPy compiles with ``-ftz=true`` (float32 subnormal inputs and results flush to zero), so
the spike is decided on the bits of ``x`` (:func:`spike_condition`): a plain ``x >= 0``
would fire on negative subnormals.  Contraction into FMA is switched off
(:data:`OPTIONS`) so the error-free products of :mod:`spikegrad._numerics` stay exact, as
on the CPU.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from .._spec import Bound
from . import replay
from .c import emit_expression, emit_expressions, helpers
from .tangent import param_graph
from .trace import UnsupportedTrace

__all__ = ["INLINE_DTYPES", "OPTIONS", "Elementwise", "elementwise", "module_source",
           "param_elementwise", "spike_condition", "spike_kernel", "statements"]

_DEVICE_PRELUDE = helpers("static __device__ __forceinline__")
#: C type of the computation for each storage dtype (half types are computed in float32).
_CTYPE = {"float16": "float", "bfloat16": "float", "float32": "float", "float64": "double"}
#: C type of the storage (CuPy's ``float16`` and ``bfloat16`` classes for the half types).
_STORAGE = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float",
            "float64": "double"}
_DTYPES = "float16, bfloat16, float32, float64"
#: NVRTC options of every generated kernel: no multiply-add contraction.
OPTIONS = ("--fmad=false",)


@dataclass(frozen=True)
class Elementwise:
    """Arguments of ``cupy.ElementwiseKernel`` for one kernel and dtype.

    ``in_params``/``out_params`` name NumPy dtypes (``float32 x``), as ElementwiseKernel
    requires; ``operation`` reads the inputs and assigns the outputs by those names.
    """

    in_params: str
    out_params: str
    operation: str
    name: str
    preamble: str
    options: tuple[str, ...] = OPTIONS
    #: run-time constants of the surrogate, passed as the ``raw float64 c`` argument
    constants: tuple[float, ...] = ()


def spike_condition(kind: str, dtype: str, var: str = "x") -> str:
    """CUDA boolean expression ``var >= 0`` (``kind="ge"``) or ``var > 0`` (``"gt"``),
    false for NaN, exact under flush-to-zero.

    float32 and float64 compare the bits as unsigned integers (``x >= 0`` is "sign clear
    and not NaN, or -0.0"; ``x > 0`` is "sign clear, not zero, not NaN"); bfloat16 compares
    the bits of its exact widening to float32 (its subnormals are float32 subnormals);
    float16 widens exactly to float32, where its subnormals are normal numbers.
    """
    if kind not in ("ge", "gt"):
        raise ValueError(f"spike kind must be 'ge' or 'gt', got {kind!r}")
    if dtype == "float16":
        return f"((float){var} {'>=' if kind == 'ge' else '>'} 0.0f)"
    if dtype in ("float32", "bfloat16"):
        v = var if dtype == "float32" else f"(float){var}"
        bits, inf, sign, one = f"__float_as_uint({v})", "0x7f800000u", "0x80000000u", "1u"
    elif dtype == "float64":
        bits, inf = f"(unsigned long long)__double_as_longlong({var})", "0x7ff0000000000000ull"
        sign, one = "0x8000000000000000ull", "1ull"
    else:
        raise ValueError(f"no CUDA spike for dtype {dtype!r}")
    if kind == "ge":
        return f"({bits} <= {inf} || {bits} == {sign})"
    return f"({bits} - {one} < {inf})"


def _body(bound: Bound, dtype: str, var_in: str) -> tuple[str, str, tuple[float, ...]]:
    if bound.has_array_params:
        raise NotImplementedError(f"{bound.name}: array parameters are evaluated with the "
                                  "framework's ops, not a generated kernel")
    compute = "float64" if dtype == "float64" else "float32"

    def emit(ns: Any, out: Any) -> tuple[tuple[str, str], list[float],
                                          tuple[tuple[int, int], ...]]:
        constants: list[float] = []
        places: list[tuple[int, int]] = []
        lines, var = emit_expression(out, {"x": var_in}, constants, origins=places)
        return ("\n".join(lines), var), constants, tuple(places)

    f = bound.formula
    (text, var), constants = REPLAYS.emitted((f, var_in), f.derivative, bound.formula_params,
                                             bound.scale, compute, emit,
                                             replayable=not bound.entry.user)
    return text, var, tuple(constants)


#: the kernel text of each formula, input name and branch, and the host program of its
#: constants (:mod:`spikegrad.codegen.replay`): a new parameter value is not traced
REPLAYS = replay.Replays()


def _kernel_name(bound: Bound, dtype: str, what: str, text: str) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in bound.formula.name).strip("_")
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]  # the shape: stable across processes
    return f"sg_{stem}_{digest}_{dtype}_{what}"


def _spike_value(kind: str, dtype: str) -> str:
    s = _STORAGE[dtype]
    return f"{spike_condition(kind, dtype)} ? ({s})1.0f : ({s})0.0f"


def elementwise(bound: Bound, dtype: str, with_grad: bool = True,
                with_spike: bool = False) -> Elementwise:
    """``cupy.ElementwiseKernel`` pieces for ``bound`` and ``dtype``.

    * default: inputs ``x, g``, output ``out = g * g'(x)``;
    * ``with_grad=False``: input ``x``, output ``out = g'(x)``;
    * ``with_spike=True``: inputs ``x, g``, outputs ``spike`` (the forward) and
      ``gx = g * g'(x)``, from one read of ``x`` (spike forward kinds only).
    """
    if bound.formula.stochastic_backward:
        raise NotImplementedError(f"{bound.name}: stochastic backward has no fused kernel")
    if dtype not in _CTYPE:
        raise ValueError(f"no CUDA kernel for dtype {dtype!r} ({_DTYPES})")
    if with_spike and (not with_grad or bound.forward_kind not in ("ge", "gt")):
        raise ValueError(f"{bound.name}: a fused spike needs a gradient input and a "
                         f"ge/gt forward (forward kind {bound.forward_kind!r})")
    t, s = _CTYPE[dtype], _STORAGE[dtype]
    body, var, constants = _body(bound, dtype, "xv")
    result = f"(({t})g) * {var}" if with_grad else var
    target = "gx" if with_spike else "out"
    lines = [f"const {t} xv = ({t})x;", body, f"{target} = ({s})({result});"]
    if with_spike:
        lines.append(f"spike = {_spike_value(bound.forward_kind, dtype)};")
    what = "fb" if with_spike else ("bwd" if with_grad else "d")
    operation = "\n".join(lines)
    return Elementwise(
        in_params=(f"{dtype} x, {dtype} g" if with_grad else f"{dtype} x")
        + ", raw float64 c",
        out_params=f"{dtype} spike, {dtype} gx" if with_spike else f"{dtype} out",
        operation=operation,
        name=_kernel_name(bound, dtype, what, operation),
        preamble=_DEVICE_PRELUDE,
        constants=constants,
    )


@functools.lru_cache(maxsize=256)
def param_elementwise(entry: Any, static: tuple[tuple[str, Any], ...], dtype: str
                      ) -> Elementwise:
    """``cupy.ElementwiseKernel`` pieces of the parameter gradients of a definition whose
    array parameters (``None`` in ``static``) are run-time inputs: inputs ``x, g, p0, ...``
    (the parameters broadcast against ``x`` by the kernel, in the compute dtype: float32
    for the half types), outputs ``gx = g g'(x; θ)`` in ``x``'s dtype and
    ``gp_k = g ∂g(x; θ)/∂θ_k`` per element in the compute dtype, to be summed to each
    parameter's shape; the graph of :func:`~spikegrad.codegen.tangent.param_graph` (the
    CPU kernels' own)."""
    if dtype not in _CTYPE:
        raise ValueError(f"no CUDA kernel for dtype {dtype!r} ({_DTYPES})")
    compute = "float64" if dtype == "float64" else "float32"
    names, outs = param_graph(entry, static, compute)
    t, s = _CTYPE[dtype], _STORAGE[dtype]
    constants: list[float] = []
    inputs = {"x": "xv", **{f"p{k}": f"pv{k}" for k in range(len(names))}}
    lines, (dvar, *tvars) = emit_expressions(outs, inputs, constants)
    reads = [f"const {t} xv = ({t})x;", *(f"const {t} pv{k} = ({t})p{k};"
                                          for k in range(len(names)))]
    writes = [f"gx = ({s})((({t})g) * {dvar});",
              *(f"gp{k} = (({t})g) * {tv};" for k, tv in enumerate(tvars))]
    operation = "\n".join([*reads, *lines, *writes])
    stem = "".join(c if c.isalnum() else "_" for c in entry.formula.name).strip("_")
    digest = hashlib.sha1(operation.encode()).hexdigest()[:10]
    return Elementwise(
        in_params=", ".join([f"{dtype} x", f"{dtype} g",
                             *(f"{compute} p{k}" for k in range(len(names))),
                             "raw float64 c"]),
        out_params=", ".join([f"{dtype} gx",
                              *(f"{compute} gp{k}" for k in range(len(names)))]),
        operation=operation,
        name=f"sg_{stem}_{digest}_{dtype}_params",
        preamble=_DEVICE_PRELUDE,
        constants=tuple(constants),
    )


def spike_kernel(kind: str, dtype: str) -> Elementwise:
    """``cupy.ElementwiseKernel`` pieces of the spike ``out = 1[x >= 0]`` (or ``> 0``)."""
    if dtype not in _CTYPE:
        raise ValueError(f"no CUDA kernel for dtype {dtype!r} ({_DTYPES})")
    return Elementwise(f"{dtype} x", f"{dtype} out", f"out = {_spike_value(kind, dtype)};",
                       f"sg_spike_{kind}_{dtype}", "")


def module_source(bound: Bound, dtype: str, name: str = "sg_backward",
                  prelude: bool = True) -> str:
    """A standalone CUDA translation unit with kernel ``name`` for ``dtype``
    (``prelude=False`` omits the shared helpers, to concatenate several kernels); the
    surrogate's constants are its last argument, ``c``."""
    if dtype not in ("float32", "float64"):
        raise ValueError("the standalone module covers float32 and float64")
    t = _CTYPE[dtype]
    body, var, _ = _body(bound, dtype, "x[i]")
    body = body.replace("\n", "\n        ")
    head = f"#include <stdint.h>\n{_DEVICE_PRELUDE}" if prelude else ""
    return f"""{head}
/* {bound!r}, {dtype}; generated from the spec, do not edit */
extern "C" __global__ void {name}(const {t}* __restrict__ x, const {t}* __restrict__ g,
                                       {t}* __restrict__ out, int64_t n,
                                       const double* __restrict__ c) {{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)blockDim.x * gridDim.x) {{
        {body}
        out[i] = g[i] * {var};
    }}
}}
"""


# -- statements for inlining in another generator's kernel ----------------------------------

#: Element types of :func:`statements`: ``float``, and ``half2`` (two float16 lanes).
INLINE_DTYPES = ("float", "half2")
#: The output of :func:`statements`: optional declaration words, then a name, optionally
#: indexed (``const float g``, ``g``, ``grad[t]``).
_OUTPUT = re.compile(r"\s*(?P<decl>(?:[A-Za-z_]\w*\s+)*?)"
                     r"(?P<target>[A-Za-z_]\w*(?:\s*\[[^\[\];]*\])*)\s*")
_IDENT = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?!\w)")
_VAR = re.compile(r"(?<![\w.])v(\d+)(?!\w)")  # the variables of emit_expression
_CONSTANT = re.compile(r"(?<![\w.])c\[(\d+)\]")  # its run-time constants
_HELPER_CALL = re.compile(r"const (\w+) (\w+) = (sg_\w+)\((.*)\);")
_HELPER_DEF = re.compile(r"(\w+)\s+(sg_\w+)\(([^)]*)\)\s*\{([^{}]*)\}")
_ANY_HELPER = re.compile(r"(?<![\w.])sg_\w+\s*\(")


def statements(bound: Bound, y: str, x: str, dtype: str = "float") -> str:
    """C statements computing ``g'(x)`` of ``bound`` into ``y``, for inlining in a CUDA
    kernel (spikingjelly's ``cuda_codes(y, x, dtype)`` contract).

    Parameters
    ----------
    bound : Bound
        The surrogate with Python-number parameters; their values are written into the
        code as ``double`` literals that round-trip, rounded to float exactly as the
        generated kernels round their run-time constants (``(float)2.0``).
    y : str
        The output: a variable name, optionally with its declaration (``"const float
        grad_s_to_h"``) or an index (``"grad[t]"``); the last statement assigns it once.
    x : str
        A C expression of the input (of type ``dtype``), evaluated once.
    dtype : {"float", "half2"}
        ``"float"``: the float32 formula of the generated kernels.  ``"half2"``: both
        float16 lanes widened exactly to float (``__half22float2``), each computed with the
        float formula, and rounded once to float16 (``__floats2half2_rn``; needs
        ``cuda_fp16.h``), as the generated float16 kernels compute: accurate to one
        float16 rounding, unlike half arithmetic.

    Returns
    -------
    str
        Plain statements, one per line, without comments, blocks or helper functions, so
        a kernel generator may join or split them at ``;``.  Every local variable is named
        after ``y`` (``grad_s_to_h_sg_x``, ``grad_s_to_h_sg_v3``), so calls with distinct
        outputs can share one scope.  The text depends only on the arguments (a kernel
        cache may key on it).

    Raises
    ------
    ValueError
        ``dtype`` is not ``"float"`` or ``"half2"``, or ``y`` is not a variable.
    NotImplementedError
        ``bound`` has array parameters or a stochastic backward.

    Notes
    -----
    The values match the generated kernels' where the caller compiles without contraction
    into FMA and without fast math (:data:`OPTIONS`); spikingjelly compiles its kernels
    with ``-use_fast_math``, which swaps in the approximate intrinsics.
    """
    if dtype not in INLINE_DTYPES:
        raise ValueError(f"no inline CUDA code for dtype {dtype!r} (float or half2)")
    out = _OUTPUT.fullmatch(y)
    if out is None:
        raise ValueError("y must be a variable name, optionally declared or indexed "
                         f"('const float grad', 'grad[t]'), got {y!r}")
    if not x.strip() or ";" in x:
        raise ValueError(f"x must be one C expression, got {x!r}")
    if bound.has_array_params:
        raise NotImplementedError(f"{bound.name}: array parameters are evaluated with the "
                                  "framework's ops, not a generated kernel")
    if bound.formula.stochastic_backward:
        raise NotImplementedError(f"{bound.name}: stochastic backward has no fused kernel")
    return _statements(bound, y.strip(), x.strip(), dtype, out["target"])


@functools.lru_cache(maxsize=1024)
def _statements(bound: Bound, y: str, x: str, dtype: str, target: str) -> str:
    p = _local_prefix(target)
    if dtype == "float":
        arg = x if _IDENT.fullmatch(x) else f"({x})"
        lines = [f"const float {p}_sg_x = {arg};"]
        body, var = _lane(bound, f"{p}_sg_x", f"{p}_sg_")
        lines += [*body, f"{y} = {var};"]
    else:
        lines = [f"const float2 {p}_sg_x = __half22float2({x});"]
        lo, lo_var = _lane(bound, f"{p}_sg_x.x", f"{p}_sg_lo_")
        hi, hi_var = _lane(bound, f"{p}_sg_x.y", f"{p}_sg_hi_")
        lines += [*lo, *hi, f"{y} = __floats2half2_rn({lo_var}, {hi_var});"]
    return "\n".join(lines)


def _local_prefix(target: str) -> str:
    """The stem of the local names: ``target`` itself when it is a name, else its letters
    and a digest of it (so distinct outputs never share a local)."""
    if _IDENT.fullmatch(target):
        return target
    stem = re.sub(r"\W+", "_", target).strip("_")
    return f"{stem}_{hashlib.sha1(target.encode()).hexdigest()[:6]}"


def _lane(bound: Bound, var_in: str, prefix: str) -> tuple[list[str], str]:
    """The float32 statements of the generated kernels for one input, their variables
    renamed with ``prefix``, constants written as literals and helpers inlined."""
    text, var, constants = _body(bound, "float32", var_in)

    def rename(s: str) -> str:
        s = _VAR.sub(lambda m: f"{prefix}v{m[1]}", s)
        return _CONSTANT.sub(lambda m: _double_literal(constants[int(m[1])]), s)

    lines = [out for line in rename(text).splitlines() for out in _inline_helper(line)]
    leftover = [line for line in lines if _ANY_HELPER.search(line)]
    if leftover:
        raise UnsupportedTrace(f"{bound.name}: no inline form of {leftover[0]!r}")
    return lines, rename(var)


def _double_literal(v: float) -> str:
    """A C ``double`` expression equal to ``v`` (repr round-trips; non-finite values as
    bits, with no header needed)."""
    if math.isnan(v):
        return "__longlong_as_double(0x7ff8000000000000LL)"
    if math.isinf(v):
        inf = "__longlong_as_double(0x7ff0000000000000LL)"
        return inf if v > 0 else f"(-{inf})"
    text = repr(float(v))
    return f"({text})" if text.startswith("-") else text


@functools.cache
def _helper_table() -> dict[str, tuple[list[tuple[str, str]], list[tuple[str, str, str]],
                                       str]]:
    """The helper functions of :func:`spikegrad.codegen.c.helpers`, parsed: name ->
    (parameters, local declarations, returned expression)."""
    table = {}
    for _rtype, name, plist, body in _HELPER_DEF.findall(helpers("")):
        params = [(p.split()[0], p.split()[1]) for p in plist.split(",")]
        local: list[tuple[str, str, str]] = []
        returned = None
        for stmt in filter(None, (s.strip() for s in body.split(";"))):
            if stmt.startswith("return "):
                returned = stmt.removeprefix("return ").strip()
            else:
                decl, _, expr = stmt.partition("=")
                ltype, lname = decl.split()
                local.append((ltype, lname, expr.strip()))
        if returned is not None:
            table[name] = (params, local, returned)
    return table


def _inline_helper(line: str) -> list[str]:
    """``line``, or, when it calls a helper, the helper's body as statements (arguments
    and locals named after the line's variable)."""
    m = _HELPER_CALL.fullmatch(line)
    if m is None or m[3] not in _helper_table():
        return [line]
    ctype, var, fn, args = m.groups()
    params, local, returned = _helper_table()[fn]
    names: dict[str, str] = {}
    out = []

    def sub(expr: str) -> str:
        return _IDENT.sub(lambda t: names.get(t[1], t[1]), expr)

    for (ptype, pname), arg in zip(params, _split_arguments(args), strict=True):
        names[pname] = f"{var}_{pname}"
        out.append(f"const {ptype} {var}_{pname} = {arg};")
    for ltype, lname, expr in local:
        value = sub(expr)
        names[lname] = f"{var}_{lname}"
        out.append(f"const {ltype} {var}_{lname} = {value};")
    out.append(f"const {ctype} {var} = {sub(returned)};")
    return out


def _split_arguments(text: str) -> list[str]:
    """The comma-separated arguments of a call, split at depth 0."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts
