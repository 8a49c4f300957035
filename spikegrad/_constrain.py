"""Constraints that keep a learnable parameter inside its domain: the value a surrogate
reads is a function of an unconstrained stored one, so an optimizer step cannot leave the
domain.  Written once against the array API; the torch module registers them as
``torch.nn.utils.parametrize`` parametrizations, the jax pytree applies them to its
leaves.

``"clamp"``
    ``value = clip(raw, low, high)`` (an open bound by the next representable number
    inside it): snntorch and spikingjelly users' ``alpha.data.clamp_(...)`` after each
    step, done at every call.  The stored value is the value; outside the domain its
    gradient is 0.
``"softplus"``
    A smooth map from the reals: ``low + softplus(raw)`` above a lower bound (clipped at
    an upper bound too, such as a magnitude's ``1e6``), ``high - softplus(-raw)`` below an
    upper bound alone, the identity on the reals.  The stored value is ``raw`` (the
    inverse of the initial value); inside the bounds its gradient never vanishes.  Where
    the map rounds onto or past a bound in the parameter's dtype (softplus underflows
    far out, ``1e-6`` rounds below itself in float32) the value is clipped as by
    ``"clamp"``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ._numerics import round_to_dtype
from ._spec import Domain

#: the constraints, with what each does (error messages and docs list them)
CONSTRAINTS = {
    "clamp": "clip to the domain at every call (the stored value is the value)",
    "softplus": "a smooth map from an unconstrained stored value onto the domain",
}


def check_name(owner: str, constrain: str | None) -> None:
    """``ValueError`` naming ``owner`` unless ``constrain`` is None or a known one."""
    if constrain is not None and constrain not in CONSTRAINTS:
        raise ValueError(f"{owner}: constrain={constrain!r} is not a constraint; use one of "
                         + ", ".join(repr(k) for k in CONSTRAINTS) + " (or None)")


def _softplus(t: Any, xp: Any) -> Any:
    # log(1 + e^t) without overflow: max(t, 0) + log1p(e^-|t|)
    return xp.where(t > 0, t, xp.zeros_like(t)) + xp.log1p(xp.exp(-xp.abs(t)))


def _step(v: float, name: str, up: bool) -> float:
    """The representable number of dtype ``name`` next to the representable ``v``."""
    if name != "bfloat16":
        t = np.dtype(name).type
        return float(np.nextafter(t(v), t(np.inf if up else -np.inf)))
    bits = int(np.asarray(v, dtype=np.float32).view(np.uint32)) >> 16
    bits += 1 if (up == (v >= 0)) else -1
    return float(np.asarray(bits << 16, dtype=np.uint32).view(np.float32))


def _inner(bound: float, inward: float, name: str, inclusive: bool) -> float:
    """The number of dtype ``name`` nearest ``bound`` inside the domain (towards
    ``inward``): ``bound`` itself when it belongs and is representable, else the next
    representable one inwards — the smallest normal one next to 0 (a subnormal would be
    read as 0 where subnormals are flushed)."""
    up = inward > bound
    if bound == 0.0 and not inclusive:
        tiny = float(np.finfo("float32" if name == "bfloat16" else name).smallest_normal)
        return tiny if up else -tiny
    b = round_to_dtype(bound, name)
    if (b < bound if up else b > bound) or (b == bound and not inclusive):
        b = _step(b, name, up)
    return b


#: the floating dtypes parameters take
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


@functools.cache
def edges(domain: Domain, name: str) -> tuple[float | None, float | None]:
    """The smallest and largest numbers of dtype ``name`` inside ``domain`` (None where
    unbounded): host numbers, constants of a traced or compiled graph."""
    lo = _inner(domain.low, math.inf, name, domain.low_inclusive) \
        if math.isfinite(domain.low) else None
    hi = _inner(domain.high, -math.inf, name, domain.high_inclusive) \
        if math.isfinite(domain.high) else None
    return lo, hi


def apply(kind: str, domain: Domain, raw: Any, xp: Any,
          bounds: tuple[float | None, float | None] | None = None) -> Any:
    """The parameter value ``kind`` maps the stored ``raw`` (an array of namespace ``xp``)
    to, inside ``domain``; ``bounds`` are :func:`edges` for ``raw``'s dtype (looked up by
    its name when not given)."""
    lo_edge, hi_edge = bounds if bounds is not None else edges(
        domain, str(raw.dtype).rpartition(".")[2])

    def clip(out: Any) -> Any:
        # the edges are numbers of raw's dtype: a Python float keeps that dtype exactly
        if lo_edge is not None:
            out = xp.where(out < lo_edge, lo_edge, out)
        if hi_edge is not None:
            out = xp.where(out > hi_edge, hi_edge, out)
        return out

    if kind == "clamp":
        return clip(raw)
    if kind != "softplus":
        raise ValueError(f"unknown constraint {kind!r}")
    # clipped too: where the map rounds onto or past a bound in raw's dtype (softplus
    # underflowing far out, 1e-6 rounding below itself in float32), and at an upper
    # bound besides a lower one (a magnitude's 1e6)
    if math.isfinite(domain.low):
        return clip(domain.low + _softplus(raw, xp))
    if math.isfinite(domain.high):
        return clip(domain.high - _softplus(-raw, xp))
    return raw


def invert(kind: str, domain: Domain, value: Any) -> np.ndarray:
    """The stored value (float64, elementwise) that ``kind`` maps onto ``value`` (numbers
    inside ``domain``; a bound that belongs to the domain is reached only by ``"clamp"``).

    Raises
    ------
    ValueError
        For ``"softplus"`` and a value on a bound, which it never reaches.
    """
    v = np.asarray(value, dtype=np.float64)
    if kind == "clamp":
        return v
    lo, hi = domain.low, domain.high
    with np.errstate(divide="ignore", invalid="ignore"):
        if math.isfinite(lo) or math.isfinite(hi):
            d = v - lo if math.isfinite(lo) else hi - v
            r = d + np.log(-np.expm1(-d))  # log(expm1(d)), stable for large d
            out, inside = (r if math.isfinite(lo) else -r), d > 0
            where = f"values beyond {lo if math.isfinite(lo) else hi:g}"
        else:
            return v
    if not np.all(inside):
        raise ValueError(f"constrain='softplus' reaches {where} only; the initial value "
                         f"{value!r} is not there: start inside it, or use "
                         "constrain='clamp'")
    return out
