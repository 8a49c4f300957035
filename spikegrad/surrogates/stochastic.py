"""Surrogates with a stochastic or non-binary forward, or a stochastic backward.

Randomness always comes from an explicit ``key`` passed by the caller; formulas receive
uniform draws as ``noise``.
"""

from __future__ import annotations

from typing import Any

from .._numerics import compare
from ._define import Domain, Formula, P, canonical, nonneg, real
from .piecewise import STRAIGHT_THROUGH

Array = Any


def sso_derivative(x: Array, /, *, xp: Any, mean: float, variance: float,
                   noise: Array) -> Array:
    """1 for ``x > 0``; ``(u - 1/2 + mean) * variance`` for ``x <= 0``, ``u ~ U[0, 1)``."""
    return xp.where(x > 0, xp.ones_like(x), (noise - 0.5 + mean) * variance)


canonical(
    "stochastic_spike_operator",
    Formula("stochastic_spike_operator", sso_derivative, stochastic_backward=True),
    (P("mean", 0.0, real(), "Offset of the uniform noise."),
     P("variance", 0.2, nonneg(), "Multiplier of the noise (snntorch's name; not a variance).")),
    summary="Stochastic spike operator: 1 above threshold, uniform noise at and below.",
    latex_derivative=r"g'(x) = \begin{cases}1 & x > 0\\ (U - \tfrac12 + \mu)\,v & x \le 0,"
    r"\ U\sim\mathcal U[0,1)\end{cases}",
    boundary="x = 0 takes the noise branch.",
    notes="The backward draws fresh noise from the key passed to derivative()/backward().",
    references=("Eshraghian2023",),
    monotone=False,
    limits="g' = 1 at +inf, noise at -inf",
    boundaries=lambda p: (0.0,),
    peak_at=lambda p: (1.0,),
    area_fn=lambda p: None,
    extra={"row": 27},
)


def _count_forward(x: Array, /, *, xp: Any, max_count: int, low: float,
                   high: float) -> Array:
    """``round(clip(x, 0, K))`` with round-half-to-even; NaN stays NaN."""
    return xp.round(xp.clip(x, min=0.0, max=float(max_count)))


def _count_derivative(x: Array, /, *, xp: Any, max_count: int, low: float,
                      high: float) -> Array:
    """1 on ``low <= x <= high`` (inclusive), else 0."""
    inside = compare(x, ">=", low, xp) & compare(x, "<=", high, xp)
    return xp.where(inside, xp.ones_like(x), xp.zeros_like(x))


def _count_primitive(x: Array, /, *, xp: Any, max_count: int, low: float,
                     high: float) -> Array:
    """``clip(x, low, high) - low``."""
    return xp.clip(x, min=low, max=high) - low


def _count_mapping(p: dict[str, Any]) -> tuple[dict[str, Any], float]:
    window = p["grad_window"]
    low, high = (0.0, float(p["max_spike_count"])) if window is None else window
    return {"max_count": p["max_spike_count"], "low": low, "high": high}, 1.0


canonical(
    "multi_level_spike_count",
    Formula("multi_level_spike_count", _count_derivative, _count_primitive,
            forward=_count_forward),
    (P("max_spike_count", 1, Domain.integer(1), "Largest spike count K per step."),
     P("grad_window", None, Domain.window(), "Window (low, high) where g' = 1; "
       "None means (0, K).")),
    summary="Multi-level spike count round(clip(x, 0, K)) with a straight-through window.",
    latex_primitive=r"g(x) = \operatorname{clip}(x, a, b) - a",
    latex_derivative=r"g'(x) = \mathbb 1[a \le x \le b],\ (a, b) = (0, K)\ \text{by default}",
    mapping=_count_mapping,
    forward="formula",
    boundary="Both window ends are inside; the forward rounds half to even.",
    references=("Luo2024",),
    limits="g' = 0 outside the window",
    boundaries=lambda p: tuple(_count_mapping(p)[0][k] for k in ("low", "high")),
    peak_at=lambda p: (_count_mapping(p)[0]["low"],),
    extra={"row": 32},
)

canonical(
    "poisson_pass", STRAIGHT_THROUGH, (),
    summary="Bernoulli forward 1[u < x] (x is a firing probability), straight-through "
    "backward.",
    latex_primitive=r"g(x) = x",
    latex_derivative=r"g'(x) = 1",
    forward="bernoulli_input",
    notes="The forward is 1[u < x] with u uniform from the key, i.e. Bernoulli(clip(x, 0, 1));"
    " the spike keeps the input dtype.",
    references=("Tang2020",),
    limits="g' = 1 everywhere",
    extra={"row": 33},
)
