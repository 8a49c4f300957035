"""Helpers that declare formulas, canonical entries and aliases, and register them.

Parameter domains
-----------------
A real parameter's domain is derived from the entry's formulas, as written: it holds the
values at which ``g'`` and ``g`` (where the entry has one) are finite at every finite
input, return their limits in ``x`` at ``±inf``, propagate NaN, and are computed by every
adapter within its declared tolerance in every dtype.  Each parameter's role decides the
edges:

* **0** is accepted where the formulas evaluate at 0 (no division by the parameter, no
  ``0/0``) to a surrogate of the same entry, the limit of the formula as the parameter
  goes to 0:

  - a factor of ``g'`` or of one of its branches (an amplitude or a weight: a triangle's
    height, a Gaussian's scale, S2NN's ``beta``, a leak): ``g' = 0 * h(x)`` and
    ``g = 0 * H(x)`` exactly, with ``0 * inf = 0`` at infinite inputs (:func:`nonneg`,
    :func:`real`);
  - a slope whose 0 leaves a nonzero ``g'`` (fast_sigmoid's ``k``, SuperSpike's
    ``beta``): ``g' = 1``, the straight-through estimator (:func:`pos_or_zero`).  A
    constant of ``g`` that diverges there (fast_sigmoid's anchor ``1/k``, which puts
    ``g(-inf)`` at 0) has no value at 0: ``g`` is the rest, ``x``.

  0 is refused where a formula divides by the parameter (a width, a period, a standard
  deviation: a pole), forms ``0/0`` (dspike's ``alpha / tanh(alpha/2)``), or where it
  would reduce a normalised shape to ``g' = 0`` and a constant ``g`` (the slope of
  ``sigma(alpha x)``, ``atan``, ``erf``, the Laplace and soft-sign densities: the
  transition is gone, and ``g(+inf) - g(-inf)`` drops from 1 to 0).
* **Negative values** are accepted only where the catalogue gives them a meaning:
  offsets (``mu``, ``B``), leak and outer slopes, signed window scales (:func:`real`).
  A negative slope or amplitude flips the sign of ``g'`` (sigmoid, atan, a Gaussian's
  scale) or puts a pole at ``|x| = -1/k`` (fast_sigmoid, soft sign): refused.
* **Nonzero magnitudes** stay in ``[1e-6, 1e6]`` (:data:`MAGNITUDE`), or down to
  ``1e-30`` (:data:`TINY`) for a factor or an offset, which no formula divides by.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._registry import _register as register
from .._registry import entry as _lookup
from .._spec import Domain, Entry, Formula, Param

__all__ = ["MAGNITUDE", "Domain", "Formula", "P", "alias", "canonical", "greater", "nonneg", "pos",
           "pos_or_zero", "real", "up_to"]

#: The catalogue's real parameters are bounded in magnitude.  Over ``[1e-6, 1e6]`` every
#: adapter and dtype (float16 and bfloat16 are computed in float32) computes ``g'`` within
#: its declared tolerance (the range the parameter fuzzer holds them to); beyond it,
#: intermediates leave single precision's range for some formulas: ``alpha**2`` (erf,
#: the Gaussians, heavi_circ) past 1.8e19, the slope ``1/k**2`` of fast_sigmoid's anchor
#: (a learnable slope's gradient) below 5e-20, ``alpha`` itself past 3.4e38.
MAGNITUDE = (1e-6, 1e6)
WHY = "beyond it single precision cannot hold the computation"


#: Why an offset or weight has a smallest nonzero magnitude as well.
WHY_TINY = ("a smaller nonzero value is read as 0 by backends that flush subnormals; "
            "beyond it single precision cannot hold the computation")


def _bounded(text: str, low: float, high: float, low_inclusive: bool = True,
             min_magnitude: float = 0.0, why: str | None = None) -> Domain:
    if why is None:
        why = WHY_TINY if min_magnitude else WHY
    return Domain(f"{text} ({why})", low=low, high=high, low_inclusive=low_inclusive,
                  high_inclusive=True, min_magnitude=min_magnitude)


def pos() -> Domain:
    """A positive scale or width, in ``[1e-6, 1e6]`` (:meth:`Domain.magnitude`)."""
    return Domain.magnitude(*MAGNITUDE)


#: Smallest nonzero magnitude of a weight or an offset: a subnormal one is read as 0 by
#: the backends that flush subnormals (XLA, CuPy), and no smaller value means anything else.
TINY = 1e-30


def nonneg() -> Domain:
    """A nonnegative weight or amplitude (a factor of ``g'``): 0 or in ``[1e-30, 1e6]``."""
    return _bounded("0 or in [1e-30, 1e+06]", 0.0, MAGNITUDE[1], min_magnitude=TINY)


def pos_or_zero() -> Domain:
    """A slope whose 0 the formulas compute exactly (``g' = 1``): 0 or in ``[1e-6, 1e6]``.

    Nonzero values keep :func:`pos`'s range: the primitive's anchor ``1/k`` and its slope
    in ``k``, ``1/k**2`` (a learnable slope's gradient), grow without bound as ``k`` goes
    to 0 and leave single precision below 5e-20; at 0 itself the anchor is dropped.
    """
    return _bounded("0 or in [1e-06, 1e+06]", 0.0, MAGNITUDE[1], min_magnitude=MAGNITUDE[0],
                    why=WHY)


def real() -> Domain:
    """A real offset: 0 or ``1e-30 <= |value| <= 1e6``."""
    return _bounded("0 or 1e-30 <= |value| <= 1e+06", -MAGNITUDE[1], MAGNITUDE[1],
                    min_magnitude=TINY)


def greater(bound: float, gap: float = MAGNITUDE[0]) -> Domain:
    """A real greater than ``bound`` by at least ``gap``, at most ``1e6``."""
    low = bound + gap
    return _bounded(f"in [{low:.12g}, 1e+06]", low, MAGNITUDE[1])


def up_to(high: float) -> Domain:
    """A positive value in ``[1e-6, high]``."""
    return _bounded(f"in [1e-06, {high:g}]", MAGNITUDE[0], high)


def P(name: str, default: Any, domain: Domain, doc: str) -> Param:
    """Shorthand for :class:`~spikegrad._spec.Param`."""
    return Param(name, default, domain, doc)


def canonical(name: str, formula: Formula, params: tuple[Param, ...], **fields: Any) -> Entry:
    """Register the canonical entry ``name`` over ``formula``."""
    return register(Entry(name=name, canonical=name, params=params, formula=formula, **fields))


def alias(
    library: str,
    library_name: str,
    canonical_name: str,
    params: tuple[Param, ...],
    *,
    to: Callable[[dict[str, Any]], tuple[dict[str, Any], float]] | None = None,
    formula: Formula | None = None,
    **fields: Any,
) -> Entry:
    """Register ``library:library_name`` as an alias of ``canonical_name``.

    ``to(params) -> (canonical_params, scale)`` maps the library's parameters onto the
    canonical surrogate (omitted canonical parameters keep their defaults); the result
    is composed with the canonical entry's own mapping.  Where the library computes a
    function that is not a rescaling of the canonical one, pass ``formula`` and a
    formula-level ``mapping`` instead.
    """
    base = _lookup(canonical_name)
    if to is not None:
        if formula is not None or "mapping" in fields:
            raise ValueError("give either `to` or `formula` + `mapping`, not both")
        fields["mapping"] = _compose(base, to)
        _inherit_placement(base, to, fields)
    elif formula is None or "mapping" not in fields:
        raise ValueError(f"{library}:{library_name}: needs `to`, or `formula` and `mapping`")
    fields.setdefault("summary", base.summary)
    for inherit in ("references", "monotone", "sign_changing", "limits"):
        fields.setdefault(inherit, getattr(base, inherit))
    return register(
        Entry(
            name=f"{library}:{library_name}",
            canonical=base.canonical,
            params=params,
            formula=formula if formula is not None else base.formula,
            library=library,
            library_name=library_name,
            base=base,
            **fields,
        )
    )


def _inherit_placement(
    base: Entry, to: Callable[[dict[str, Any]], tuple[dict[str, Any], float]],
    fields: dict[str, Any],
) -> None:
    """Peak location, boundary points, core scale and area of a rescaling alias follow
    from the canonical entry's, through the parameter map."""

    def canon(p: Mapping[str, Any]) -> dict[str, Any]:
        full = base.defaults()
        full.update(to(dict(p))[0])
        return full

    fields.setdefault("peak_at", lambda p: base.peak_at(canon(p)))
    fields.setdefault("boundaries", lambda p: base.boundaries(canon(p)))
    fields.setdefault("x_scale", lambda p: base.x_scale(canon(p)))
    fields.setdefault("ulp_factor", lambda p: base.ulp_factor(canon(p)))
    if base.area_fn is not None and "area_fn" not in fields:
        area_fn = base.area_fn

        def area(p: Mapping[str, Any]) -> float | None:
            a = area_fn(canon(p))
            return None if a is None else a * abs(to(dict(p))[1])

        fields["area_fn"] = area


def _compose(
    base: Entry, to: Callable[[dict[str, Any]], tuple[dict[str, Any], float]]
) -> Callable[[Mapping[str, Any]], tuple[dict[str, Any], float]]:
    def mapping(p: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        cparams, outer = to(dict(p))
        full = base.defaults()
        full.update(cparams)
        fparams, inner = base.mapping(full)
        return fparams, outer * inner

    return mapping
