"""DSR-IF and DSR-LIF (Differentiation on Spike Representation; Meng et al., CVPR 2022).

Multi-step surrogates over ``[T, ...]`` sequences (see :mod:`spikegrad._multistep` for
the shared recurrence and rule).  IF integrates ``m + x_t`` and emits ``V``; its
representation is ``a(r) = clamp(r, 0, V)`` with ``r`` the mean input.  LIF integrates
``beta * m + (1 - beta) * x_t`` with ``beta = exp(-delta_t / tau)`` and emits
``V / delta_t``; its representation is ``a(r) = clamp(r / tau, 0, V / delta_t)`` with
``r`` the exponentially weighted mean input (the newest step weighs 1).

The LIF threshold gradient carries a factor ``delta_t`` in the authors' reference code and
in spikingjelly, where the derivative of the representation in saturation is
``1 / delta_t``; ``threshold_grad_factor="dt"`` (default) reproduces them,
``"1/dt"`` is consistent with the forward.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from .._multistep import MultiStepEntry, RateFormula
from .._registry import _register_multistep
from ._define import Domain, P, pos, real

_alpha = Domain.interval(0.0, 1.0, name="alpha")


def _common(v: float, alpha: float, lower: float) -> tuple[Any, ...]:
    return (
        P("v_threshold", v, real(), "firing threshold V_th (learnable: a 0-d array); the "
          "effective threshold is max(V_th, v_threshold_lower_bound)"),
        P("alpha", alpha, _alpha, "a spike fires where the membrane reaches alpha * V"),
        P("v_threshold_grad_scaling", 1.0, real(), "factor on the threshold gradient"),
        P("v_threshold_lower_bound", lower, pos(), "lower bound of the effective threshold"),
    )


def _numbers(*params: Any) -> tuple[Any, ...]:
    return tuple(replace(p, array_ok=False) if p.name != "v_threshold" else p
                 for p in params)


# -- IF -----------------------------------------------------------------------------------
def _if_integrate(m: Any, x_t: Any, /, *, xp: Any, **_: Any) -> Any:
    return m + x_t


def _if_value(v: Any, /, *, xp: Any, **_: Any) -> Any:
    return v


def _if_rate_gradients(r: Any, v: Any, /, *, xp: Any, **_: Any) -> tuple[Any, Any]:
    one, zero = xp.ones_like(r), xp.zeros_like(r)
    da_dr = xp.where((r >= 0) & (r <= v), one, zero)  # closed interval
    da_dv = xp.where(r > v, one, zero)  # open
    return da_dr, da_dv


DSR_IF = _register_multistep(MultiStepEntry(
    name="dsr_if",
    params=_numbers(*_common(6.0, 0.5, 0.01)),
    formula=RateFormula("dsr_if", _if_integrate, _if_value, _if_rate_gradients),
    summary="DSR integrate-and-fire: soft-reset IF spikes; gradient of the clamped mean "
            "input rate",
    latex={
        "forward": r"m_t = m_{t-1} + x_t,\ y_t = V\,H(m_t - \alpha V),\ m_t \leftarrow m_t - y_t",
        "rate": r"r = \tfrac{1}{T}\sum_t x_t,\quad a(r) = \mathrm{clamp}(r, 0, V)",
        "grad_x": r"\partial L/\partial x_t = \bar G\,\mathbb{1}[0 \le r \le V]",
        "grad_v": r"\partial L/\partial V = s\,T\sum \bar G\,\mathbb{1}[r > V]",
    },
    references=("Meng2022",),
    notes="T is x.shape[0]. The threshold gradient is a sum over every element and the "
          "batch; data parallelism averages it like any other parameter's gradient.",
))


# -- LIF ----------------------------------------------------------------------------------
def _beta(tau: float, delta_t: float) -> float:
    return math.exp(-delta_t / tau)


def _lif_integrate(m: Any, x_t: Any, /, *, xp: Any, tau: float, delta_t: float,
                   **_: Any) -> Any:
    beta = _beta(tau, delta_t)
    # two rounded products, then a rounded sum (xp.multiply: a binding whose compiler would
    # contract the product into a fused multiply-add keeps it rounded)
    return xp.add(xp.multiply(m, beta), xp.multiply(x_t, 1.0 - beta))


def _lif_value(v: Any, /, *, xp: Any, delta_t: float, **_: Any) -> Any:
    return xp.divide(v, delta_t)


def _lif_rate_gradients(r: Any, v: Any, /, *, xp: Any, tau: float, delta_t: float,
                        threshold_grad_factor: str, **_: Any) -> tuple[Any, Any]:
    top = xp.divide(v, delta_t) * tau
    zero = xp.zeros_like(r)
    da_dr = xp.where((r > 0) & (r < top), zero + 1.0 / tau, zero)  # open interval
    factor = delta_t if threshold_grad_factor == "dt" else 1.0 / delta_t
    da_dv = xp.where(r > top, zero + factor, zero)
    return da_dr, da_dv


def _lif_weights(steps: int, *, tau: float, delta_t: float, **_: Any) -> tuple[float, ...]:
    # exp(-(T - i) * delta_t / tau), i = 1..T: the newest step weighs 1
    return tuple(math.exp(-1.0 / tau * (delta_t * steps - i * delta_t))
                 for i in range(1, steps + 1))


DSR_LIF = _register_multistep(MultiStepEntry(
    name="dsr_lif",
    params=_numbers(
        *_common(1.0, 0.3, 0.1),
        P("tau", 2.0, pos(), "membrane time constant"),
        P("delta_t", 0.05, pos(), "time step of the discretised LIF equation"),
        P("threshold_grad_factor", "dt", Domain.choice("dt", "1/dt"),
          "factor of the threshold gradient: 'dt' as the authors and spikingjelly, '1/dt' "
          "consistent with the forward"),
    ),
    formula=RateFormula("dsr_lif", _lif_integrate, _lif_value, _lif_rate_gradients,
                        time_weights=_lif_weights),
    summary="DSR leaky integrate-and-fire: soft-reset LIF spikes of height V/dt; gradient "
            "of the clamped exponentially weighted input rate",
    latex={
        "forward": r"m_t = \beta m_{t-1} + (1-\beta) x_t,\ s_t = V\,H(m_t - \alpha V),\ "
                   r"m_t \leftarrow m_t - s_t,\ y_t = s_t/\Delta t,\ \beta = e^{-\Delta t/\tau}",
        "rate": r"r = \frac{\sum_i w_i x_i}{\sum_i w_i},\ w_i = e^{-(T-i)\Delta t/\tau},\quad "
                r"a(r) = \mathrm{clamp}(r/\tau, 0, V/\Delta t)",
        "grad_x": r"\partial L/\partial x_t = \frac{\bar G}{\tau}\,"
                  r"\mathbb{1}[0 < r < V\tau/\Delta t]",
        "grad_v": r"\partial L/\partial V = s\,F\,T\sum \bar G\,\mathbb{1}[r > V\tau/\Delta t],"
                  r"\ F = \Delta t\ (\text{'dt'})\ \text{or}\ 1/\Delta t\ (\text{'1/dt'})",
    },
    references=("Meng2022",),
    notes="T is x.shape[0]. threshold_grad_factor='dt' reproduces the authors' code and "
          "spikingjelly (the derivative of the forward in saturation is 1/dt).",
))
