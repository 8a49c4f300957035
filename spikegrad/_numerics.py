"""Error-free transformations and compensated kernels over the array API.

The array API has no fused multiply-add, so products are split exactly with Veltkamp's
method (Dekker's ``two_prod``); a namespace with an exact one (the kernel tracer) forms the
same error in one operation.  Surrogates whose value is ill-conditioned in a scaled
argument (``exp(-a|x|)``, ``exp(-(a x)^2)``, ``1 - a|x|`` near a support edge) form that
argument as an unevaluated sum ``hi + lo`` so the only rounding left is the kernel's own.

All functions take the array namespace ``xp`` explicitly and work for float32 and
float64 arrays.  The products and quotients whose rounding the transformations rely on go
through ``xp.multiply`` and ``xp.divide``, so that a namespace for a compiler that contracts
products into fused multiply-adds or divides by reciprocals (XLA on CPU) can keep them
IEEE (the jax adapter's ``exact_namespace``).

A parameter is either a Python number (a host constant: rounded and split in double
precision on the host, so the kernels generated from a trace see the same constants) or an
array in the compute dtype (a tensor, a traced value), which is split
like any other array.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import special

Array = Any

__all__ = [
    "HOST_FLOATS",
    "HostValue",
    "compare",
    "exp_neg",
    "exp_neg_abs",
    "exp_neg_scaled",
    "exp_neg_square",
    "host_or_array",
    "is_host",
    "magnitude",
    "one_minus",
    "one_plus_pow",
    "round_to_dtype",
    "safe",
    "scaled",
    "scaled_abs",
    "two_prod",
    "two_prod_arrays",
    "widened",
]


class HostValue:
    """A host number whose arithmetic is recorded rather than done: the kernel
    generator's stand-in for a parameter (:class:`spikegrad.codegen.replay.HostScalar`).
    It takes the host paths here; the two operations below that need a host number's
    value (a math function, the rounding to a dtype) ask it to record them."""

    __slots__ = ()

    def apply(self, name: str) -> Any:
        """``math.<name>`` of this value, recorded."""
        raise NotImplementedError

    def rounded(self, bits: int) -> Any:
        """This value rounded to the float type of ``bits`` bits and back, recorded."""
        raise NotImplementedError


def is_host(value: Any) -> bool:
    """Whether a parameter is a host number (as opposed to an array or traced value)."""
    return isinstance(value, (int, float, HostValue))


def host_or_array(name: str, value: Any, xp: Any) -> Any:
    """``math.<name>(value)`` for a host number, ``xp.<name>(value)`` for an array: the one
    place formulas apply a function to a parameter alone."""
    if isinstance(value, HostValue):
        return value.apply(name)
    if is_host(value):
        return getattr(math, name)(value)
    return getattr(xp, name)(value)


def magnitude(x: Array, xp: Any) -> Array:
    """``|x|`` for a formula that autodiff differentiates: ``-x`` where ``x < 0``, else
    ``x``.  The value is ``abs(x)`` (``-0.0`` at ``x = -0.0``; every formula maps it as
    ``+0.0``), and its derivative is ``+1`` at ``±0`` in every framework: the right-hand
    slope a primitive mirrored as ``g(x) = C - T(|x|)`` for ``x >= 0`` needs at its
    threshold (torch's ``abs`` has derivative 0 at 0, which made those primitives' slope
    0 there)."""
    return xp.where(x < 0, -x, x)


def safe(cond: Array, x: Array, value: float, xp: Any) -> Array:
    """``x`` where ``cond``, else the harmless constant ``value``: the input of a branch
    that is selected only where ``cond`` holds (the double-``where`` idiom).  Autodiff
    differentiates both sides of a ``where`` and multiplies the side not taken by 0; an
    ``inf`` or NaN there (``1/|x|`` or ``log|x|`` at ``x = 0``) would turn that 0 into NaN."""
    return xp.where(cond, x, value * xp.ones_like(x))


def _rounded(v: Array, xp: Any) -> Array:
    """``v`` as rounded, kept from algebraic rewriting: ``t - (t - a)`` is not ``a`` in
    floating point, but XLA simplifies it so.  A namespace marks the values the
    transformations rely on with its ``keep_rounded`` (the jax adapter's
    ``exact_namespace``: an optimization barrier); elsewhere this is ``v``."""
    keep = getattr(type(xp), "keep_rounded", None)
    return v if keep is None else keep(v)


def _mantissa_bits(xp: Any, dtype: Any) -> int:
    eps = float(xp.finfo(dtype).eps)
    return 1 - round(math.log2(eps))


def _splittable(a: Array, xp: Any) -> Array:
    """Elements whose Veltkamp split does not overflow (``|a| < max / (2^s + 1) / 2``)."""
    c = float(2 ** ((_mantissa_bits(xp, a.dtype) + 1) // 2) + 1)
    return xp.abs(a) < float(xp.finfo(a.dtype).max) / c / 2


def _exact_scaling(b: float) -> bool:
    """Whether ``a * b`` is exact for every ``a`` whose product does not overflow: ``b``
    is a power of two of magnitude at least 1 (no result can become subnormal)."""
    m, _ = math.frexp(b)
    return abs(m) == 0.5 and abs(b) >= 1.0


def _fused_multiply_add(xp: Any) -> Any:
    """The namespace's exact fused multiply-add ``f(xp, a, b, c) = fl(a*b + c)``, or None.

    The array API has none; a namespace that has one offers it as its type's
    ``fused_multiply_add`` (the tracer does: C and CUDA have ``fma``).  The error of a
    product is then one operation, ``fma(a, b, -fl(a*b))``, instead of the split's ten."""
    return getattr(type(xp), "fused_multiply_add", None)


def _split_array(a: Array, xp: Any) -> tuple[Array, Array, Array]:
    """Veltkamp split ``a = hi + lo`` with half-width mantissas; also returns a mask of
    elements small enough for the split not to overflow."""
    bits = _mantissa_bits(xp, a.dtype)
    c = float(2 ** ((bits + 1) // 2) + 1)
    ok = _splittable(a, xp)
    safe = xp.where(ok, a, xp.zeros_like(a))
    t = _rounded(xp.multiply(safe, c), xp)  # rounded before it is reused
    hi = t - (t - safe)
    lo = safe - hi
    return hi, lo, ok


def _split_scalar(b: float, bits: int) -> tuple[float, float]:
    # split a host float to `bits`-wide halves; exact in double precision
    s = (bits + 1) // 2
    if b == 0.0 or not math.isfinite(b):
        return b, 0.0
    m, e = math.frexp(b)  # b = m * 2**e, 0.5 <= |m| < 1
    hi = math.ldexp(round(m * 2**s) / 2**s, e)
    return hi, b - hi


#: the host float type of each width (a value rounded to a dtype on the host)
HOST_FLOATS = {16: np.float16, 32: np.float32, 64: np.float64}


def _round_to(b: float, xp: Any, dtype: Any) -> float:
    """Value of host float ``b`` after rounding to ``dtype`` (computed on the host, so it
    stays a constant under tracing)."""
    bits = int(xp.finfo(dtype).bits)
    if isinstance(b, HostValue):
        return b.rounded(bits)
    return float(HOST_FLOATS[bits](b))


def round_to_dtype(v: float, name: str) -> float:
    """``v`` rounded to the floating dtype ``name`` (to nearest, ties to even) and back, on
    the host; bfloat16 through the high half of float32's bits; beyond the dtype: ±inf."""
    if name != "bfloat16":
        with np.errstate(over="ignore"):  # 1e6 in float16: inf
            return float(np.asarray(v, dtype=name))
    bits = int(np.asarray(v, dtype=np.float32).view(np.uint32))
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return float(np.asarray(bits, dtype=np.uint32).view(np.float32))


def two_prod(a: Array, b: float, xp: Any) -> tuple[Array, Array]:
    """Exact product of array ``a`` and constant ``b``: ``a*b = p + e`` elementwise.

    ``b`` is first rounded to ``a``'s dtype, so the pair is exact for the constant the
    array arithmetic actually uses; the rounding of ``b`` itself is returned folded into
    ``e`` as ``a*(b - fl(b))``, so ``p + e`` approximates ``a*b`` for the exact host value.
    Non-finite or overflowing products get ``e = 0``.  An array ``b`` (already in ``a``'s
    dtype) is split like ``a``.
    """
    if not is_host(b):
        return two_prod_arrays(a, b, xp)
    dtype = a.dtype
    bits = _mantissa_bits(xp, dtype)
    b_r = _round_to(b, xp, dtype)
    b_err = b - b_r
    fma = _fused_multiply_add(xp)
    if fma is None and b_err == 0.0 and _exact_scaling(b_r):
        # a power of two >= 1: the product is exact, or overflows (where e is 0 anyway); an
        # exact product needs no protection from contraction (plain ``*``)
        p = a * b_r
        return p, xp.zeros_like(p)
    p = xp.multiply(a, b_r)
    if fma is not None:
        # The same exact error; the split's range kept, so every namespace gives one pair.
        # The kernel tracer (the namespace with a fused multiply-add) reads b as a run-time
        # constant, so this branch has one shape for every value of b: the rounding of b is
        # applied even when it is zero.
        e, ok = fma(xp, a, b_r, -p), _splittable(a, xp)
        e = e + a * b_err
    else:
        # b is a constant of the program here: terms that are exactly zero for every
        # finite a (b's low half, b's rounding) are left out (non-finite a has e = 0)
        ah, al, ok = _split_array(a, xp)
        bh, bl = _split_scalar(b_r, bits)
        e = ah * bh - p
        if bl != 0.0:
            e = e + ah * bl
        e = e + al * bh
        if bl != 0.0:
            e = e + al * bl
        if b_err != 0.0:
            e = e + a * b_err
    good = ok & xp.isfinite(p) & xp.isfinite(e)
    return p, xp.where(good, e, xp.zeros_like(e))


def two_prod_arrays(a: Array, b: Array, xp: Any) -> tuple[Array, Array]:
    """Exact product of two arrays: ``a*b = p + e`` (``e = 0`` where not finite)."""
    p = xp.multiply(a, b)
    fma = _fused_multiply_add(xp)
    if fma is not None:
        e, ok_a, ok_b = fma(xp, a, b, -p), _splittable(a, xp), _splittable(b, xp)
    else:
        ah, al, ok_a = _split_array(a, xp)
        bh, bl, ok_b = _split_array(b, xp)
        e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    good = ok_a & ok_b & xp.isfinite(p) & xp.isfinite(e)
    return p, xp.where(good, e, xp.zeros_like(e))


def _div_pair(hi: Array, lo: Array, d: float, xp: Any) -> tuple[Array, Array]:
    """``(hi + lo) / d`` as a pair, for a positive host constant or array ``d``."""
    if not is_host(d):
        q = xp.divide(hi, d)
        p, e = two_prod_arrays(q, d, xp)
        r = ((hi - p) - e) + lo
        r = xp.where(xp.isfinite(r), r, xp.zeros_like(r))
        return q, r / d
    d_r = _round_to(d, xp, hi.dtype)
    q = xp.divide(hi, d_r)
    p, e = two_prod(q, d_r, xp)
    r = ((hi - p) - e) + lo
    r = xp.where(xp.isfinite(r), r, xp.zeros_like(r))
    # correct for the rounding of d itself, to first order (a zero term when d is exact,
    # so the computation has one shape for every d); none where q is not finite
    q_lo = r / d_r - q * ((d - d_r) / d_r)
    return q, xp.where(xp.isfinite(q_lo), q_lo, xp.zeros_like(q_lo))


def _two_sum(a: Array, b: Array, xp: Any) -> tuple[Array, Array]:
    """``a + b = s + e`` exactly (Knuth); ``e = 0`` where not finite."""
    s = _rounded(a + b, xp)
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, xp.where(xp.isfinite(e), e, xp.zeros_like(e))


def scaled(x: Array, mul: float, div: float, xp: Any, shift: float = 0.0) -> tuple[Array, Array]:
    """``(x - shift) * mul / div`` as an unevaluated pair ``hi + lo``."""
    if not is_host(shift):
        hi, lo = _two_sum(x, -shift, xp)
    elif shift != 0.0:
        s_r = _round_to(shift, xp, x.dtype)
        hi, lo = _two_sum(x, -s_r, xp)
        if s_r != shift:
            # the shift's own rounding can exceed hi's last place (hi = x - fl(shift) may be
            # tiny): renormalise so that |lo| <= ulp(hi) / 2
            hi, lo = _two_sum(hi, lo - (shift - s_r), xp)
    else:
        hi, lo = x, xp.zeros_like(x)
    if not is_host(mul) or mul != 1.0:
        p, e = two_prod(hi, mul, xp)
        hi, lo = p, e + lo * mul
    if not is_host(div) or div != 1.0:
        hi, lo = _div_pair(hi, lo, div, xp)
    return hi, lo


def scaled_abs(x: Array, mul: float, div: float, xp: Any) -> tuple[Array, Array]:
    """``|x| * mul / div`` (``mul, div > 0``) as an unevaluated pair ``hi + lo``."""
    return scaled(xp.abs(x), mul, div, xp)


def exp_neg(hi: Array, lo: Array, xp: Any) -> Array:
    """``exp(-(hi + lo))`` with the low part applied to first order."""
    return xp.exp(-hi) * (1.0 - lo)


def exp_neg_abs(x: Array, mul: float, div: float, xp: Any) -> Array:
    """``exp(-|x| mul / div)`` (see :func:`exp_neg_scaled`)."""
    return exp_neg_scaled(xp.abs(x), mul, div, xp)


def exp_neg_scaled(a: Array, mul: float, div: float, xp: Any) -> Array:
    """``exp(-a mul / div)`` for ``a >= 0`` (``|x|``, or :func:`magnitude` in a primitive).

    The result's relative error is the argument's absolute error, ``|arg|`` times its
    relative rounding, so the argument is formed exactly (:func:`scaled`) in every dtype:
    in float32 the plain product ``a * fl(-mul/div)`` carries two roundings, up to one ULP
    of ``arg``, which is ``|arg|`` ULP of the result (the fuzzer's 17 ULP for sigmoid at
    ``alpha |x|`` near 10; 25 ULP for the periodic exponential at ``arg`` near 20).
    """
    return exp_neg(*scaled(a, mul, div, xp), xp)


def exp_neg_square(hi: Array, lo: Array, c: float, xp: Any) -> Array:
    """``exp(-c (hi + lo)^2)`` for ``c`` a power of two, with an exact square (``lo * lo``
    included: after a shift ``hi`` may be 0 or small and carry little of the value)."""
    s, se = two_prod_arrays(hi, hi, xp)
    tail = se + (2.0 * hi + lo) * lo
    tail = xp.where(xp.isfinite(tail), tail, xp.zeros_like(tail))
    return exp_neg(c * s, c * tail, xp)


def widened(x: Array, xp: Any, *params: Any) -> Array:
    """``x`` in float64 where an edge must be located from host parameters that ``x``'s
    dtype cannot hold exactly; else ``x`` itself.

    Near a support edge ``|x| * den = num`` the residual of the product is smaller than the
    rounding of ``den`` to float32 times ``|x|``: the exact side is only known in float64
    (where ``x`` is exact and the host value is the parameter).  Used by cheap piecewise
    formulas; namespaces without float64 (jax without ``jax_enable_x64``) keep ``x``.
    """
    if (x.dtype == xp.float64 or not all(is_host(p) for p in params)
            or not special.has_float64(xp)):
        return x
    if all(_round_to(p, xp, x.dtype) == p for p in params):
        return x
    return xp.astype(x, xp.float64)


def compare(x: Array, op: str, b: Any, xp: Any) -> Array:
    """``x op b`` (``op`` one of ``<``, ``<=``, ``>``, ``>=``) against the exact value of a
    host constant ``b``, not its rounding to ``x``'s dtype: a support edge or a window end
    sits where the parameter says in every dtype.  Between ``b`` and its nearest neighbour
    ``fl(b)`` lies no value of the dtype, so each comparison with ``b`` is one with
    ``fl(b)``, strict or not depending on which side ``fl(b)`` fell.  An array ``b`` (a
    value in the compute dtype) is compared as it is."""
    if is_host(b):
        b_r = _round_to(b, xp, x.dtype)
        if b_r > b:  # rounded up: x > b iff x >= fl(b); x <= b iff x < fl(b)
            op = {">": ">=", "<=": "<"}.get(op, op)
        elif b_r < b:  # rounded down: x >= b iff x > fl(b); x < b iff x <= fl(b)
            op = {">=": ">", "<": "<="}.get(op, op)
        b = b_r
    if op == "<":
        return x < b
    if op == "<=":
        return x <= b
    if op == ">":
        return x > b
    if op == ">=":
        return x >= b
    raise ValueError(f"unknown comparison {op!r}")


def one_plus_pow(hi: Array, lo: Array, q: Any, xp: Any) -> Array:
    """``(1 + hi + lo)^q`` for ``hi + lo >= 0``.

    ``pow`` of the rounded base alone is off by ``|q|`` times the base's rounding, and by
    ``|q log b|`` times the exponent's when a host ``q`` is rounded to the array's dtype
    (966 ULP at ``q = -1000`` in float32).  Both roundings are put back as factors
    ``exp(q r / b)`` and ``b^(q - fl(q))``, computed from the exact residuals.
    """
    b, r = _two_sum(1.0, hi, xp)
    r = r + lo  # the whole residual of 1 + hi + lo against b
    out = xp.pow(b, q) * xp.exp(q * (r / b))
    if is_host(q):
        q_r = _round_to(q, xp, b.dtype)
        if q_r != q:
            out = out * xp.exp((q - q_r) * xp.log(b))
    return out


def one_minus(hi: Array, lo: Array) -> Array:
    """``1 - (hi + lo)``, exact in the subtraction wherever ``hi`` is in [1/2, 2]."""
    return (1.0 - hi) - lo
