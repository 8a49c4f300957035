"""The spec is self-consistent: g' = dg/dx, limits, area, monotonicity."""

from __future__ import annotations

import math

import numpy as np
import pytest

import spikegrad
from spikegrad.adapters.reference import derivative_values, primitive_values
from spikegrad.conformance import goldens

WITH_PRIMITIVE = [
    (c.name, c.params) for c in goldens.cases(dtype="float64") if c.g_hi is not None
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(WITH_PRIMITIVE)]


def _finite_area(name: str, params: dict) -> bool:
    area = spikegrad.get(name, **params).area
    return area is not None and math.isfinite(area)


FINITE_AREA = [(n, p) for n, p in WITH_PRIMITIVE if _finite_area(n, p)]
MONOTONE = [(n, p) for n, p in WITH_PRIMITIVE if spikegrad.entry(n).monotone]

#: Normalised surrogates (catalogue column "norm"): g runs from 0 to 1.
NORMALISED = {"sigmoid", "tanh", "atan", "piecewise_quadratic", "piecewise_exp", "soft_sign",
              "erf", "q_pseudo_spike", "dspike", "rect", "heavi_circ"}

#: Closed-form areas from the catalogue, for surrogates that are not normalised.
AREAS = {
    "fast_sigmoid": lambda p: 2 / p["k"],
    "super_spike": lambda p: 2 / p["beta"],
    "spike_rate_escape": lambda p: 2 * p["slope"] / p["beta"],
    "multi_gaussian": lambda p: p["scale"] * (1 - p["h"]),
    "triangle": lambda p: p["height"] * p["half_width"],
    "gaussian": lambda p: p["scale"],
    "sparse_fast_sigmoid": lambda p: (1 / p["slope"]) * (
        1 / (1 + p["slope"] * p["B"]) if p["B"] >= 0
        else 2 - 1 / (1 + p["slope"] * abs(p["B"]))),
    "multi_level_spike_count": lambda p: (
        p["max_spike_count"] if p["grad_window"] is None
        else p["grad_window"][1] - p["grad_window"][0]),
}


def _smooth_points(s: spikegrad.Bound) -> np.ndarray:
    e = s.entry
    scale = float(e.x_scale(s.params))
    x = np.linspace(-5 / scale, 5 / scale, 401)
    avoid = [0.0, *e.boundaries(s.params)]
    if e.name == "log_tailed_relu":
        avoid.append(1.0)
    keep = np.ones_like(x, dtype=bool)
    for b in avoid:
        keep &= np.abs(x - b) > 1e-2 / scale
    return x[keep]


@pytest.mark.parametrize(("name", "params"), WITH_PRIMITIVE, ids=IDS)
def test_derivative_is_dg_dx(name: str, params: dict) -> None:
    s = spikegrad.get(name, **params)
    x = _smooth_points(s)
    h = 1e-3 / float(s.entry.x_scale(s.params))

    def central(step: float) -> np.ndarray:
        return (primitive_values(s, x + step) - primitive_values(s, x - step)) / (2 * step)

    richardson = (4 * central(h / 2) - central(h)) / 3
    dg = derivative_values(s, x)
    tol = 1e-7 * np.maximum(np.abs(dg), s.peak) + 1e-9 * np.abs(primitive_values(s, x))
    assert np.all(np.abs(richardson - dg) <= tol), np.max(np.abs(richardson - dg))


@pytest.mark.parametrize("name", sorted(NORMALISED))
def test_normalised_limits(name: str) -> None:
    for params in [c.params for c in goldens.cases(name, "float64")]:
        s = spikegrad.get(name, **params)
        lo, hi = primitive_values(s, np.array([-np.inf, np.inf]))
        assert lo == 0.0 and hi == pytest.approx(1.0, abs=4e-16)
        assert s.area == pytest.approx(1.0, abs=4e-16)


@pytest.mark.parametrize("name", sorted(AREAS))
def test_declared_area(name: str) -> None:
    for params in [c.params for c in goldens.cases(name, "float64")]:
        s = spikegrad.get(name, **params)
        assert s.area == pytest.approx(AREAS[name](params), rel=1e-13)


@pytest.mark.parametrize(("name", "params"), FINITE_AREA,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(FINITE_AREA)])
def test_area_by_quadrature(name: str, params: dict) -> None:
    """``∫ g'`` by the trapezoid rule over the bulk, plus the primitive's tail masses."""
    s = spikegrad.get(name, **params)
    area = s.area
    scale = float(s.entry.x_scale(s.params))
    jumps = [np.nextafter(b, [-np.inf, np.inf]) for b in s.entry.boundaries(s.params)]
    edges = np.unique(np.concatenate([np.linspace(-200 / scale, 200 / scale, 400_001),
                                      *jumps]))
    bulk = np.trapezoid(derivative_values(s, edges), edges)
    g_lo, g_l, g_r, g_hi = primitive_values(s, np.array([-np.inf, edges[0], edges[-1], np.inf]))
    total = bulk + (g_l - g_lo) + (g_hi - g_r)
    assert total == pytest.approx(area, rel=2e-5, abs=1e-9)


@pytest.mark.parametrize(("name", "params"), MONOTONE,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(MONOTONE)])
def test_monotone_where_claimed(name: str, params: dict) -> None:
    s = spikegrad.get(name, **params)
    scale = float(s.entry.x_scale(s.params))
    x = np.concatenate([-np.logspace(3, -6, 300) / scale, [0.0],
                        np.logspace(-6, 3, 300) / scale])
    assert np.all(derivative_values(s, x) >= 0)
    g = primitive_values(s, x)
    assert np.all(np.diff(g) >= 0)


def test_sign_changing_surrogates_do_change_sign() -> None:
    for name in ("multi_gaussian", "squarewave_fourier_series", "sign_triangular"):
        s = spikegrad.get(name)
        assert s.entry.sign_changing and not s.entry.monotone
        x = np.linspace(-10, 10, 2001)
        d = derivative_values(s, x)
        assert (d < 0).any() and (d > 0).any(), name
