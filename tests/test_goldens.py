"""The numpy reference engine against the shipped golden vectors (mpmath, 50 digits)."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad
from spikegrad.adapters import reference
from spikegrad.conformance import goldens
from spikegrad.conformance.accuracy import LIMIT_REL_NORMAL, LIMITS_CORE_ULP, evaluate

from .conftest import DETERMINISTIC

CASES = list(goldens.cases())
IDS = [c.id for c in CASES]

#: float32 inputs computed natively in float32 (``Bound.derivative``): looser, declared.
NATIVE_CORE_ULP = {"float64": 16.0, "float32": 16.0, "float16": 1.0}


def test_every_deterministic_surrogate_has_goldens() -> None:
    assert sorted(goldens.names()) == sorted(DETERMINISTIC)
    for name in DETERMINISTIC:
        n_sets = len({c.index for c in goldens.cases(name)})
        distinct = len(spikegrad.entry(name).params) > 0
        assert n_sets >= (3 if distinct else 1), name


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_derivative_matches_goldens(case: goldens.Case) -> None:
    m = evaluate(case, "d")
    assert m.bad_special == []
    assert m.max_ulp_core <= LIMITS_CORE_ULP[case.dtype], (m.max_ulp_core, m.worst_x)
    assert m.max_rel_normal <= LIMIT_REL_NORMAL


@pytest.mark.parametrize("case", [c for c in CASES if c.g_hi is not None],
                         ids=[c.id for c in CASES if c.g_hi is not None])
def test_primitive_matches_goldens(case: goldens.Case) -> None:
    m = evaluate(case, "g")
    assert m.bad_special == []
    assert m.max_ulp_core <= LIMITS_CORE_ULP[case.dtype], (m.max_ulp_core, m.worst_x)
    assert m.max_rel_normal <= LIMIT_REL_NORMAL


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_native_precision_derivative(case: goldens.Case) -> None:
    """``Bound.derivative`` in the default compute dtype (float32 for 16/32-bit input)."""
    m = evaluate(case, "d", native=True)
    assert m.bad_special == []
    assert m.max_ulp_core <= NATIVE_CORE_ULP[case.dtype], (m.max_ulp_core, m.worst_x)


def test_metric_rejects_the_naive_sigmoid() -> None:
    """``s (1 - s)`` cancels in the tails: the ULP metric must see it (> 1e4 ULP)."""
    case = next(c for c in goldens.cases("sigmoid", "float64") if c.params["alpha"] == 4.0)
    x = case.inputs()
    with np.errstate(over="ignore"):
        s = 1.0 / (1.0 + np.exp(-4.0 * x))
        naive = 4.0 * s * (1.0 - s)
    m = goldens.compare(naive, case.d_hi, case.d_lo, case.x, "float64", 4.0)
    assert m.max_ulp_core > 1e4


def test_metric_rejects_a_perturbed_derivative() -> None:
    case = next(goldens.cases("atan", "float32"))
    x = case.inputs()
    s = spikegrad.get("atan", **case.params)
    got = reference.derivative_values(s, x) * np.float32(1 + 1e-5)
    m = goldens.compare(got, case.d_hi, case.d_lo, case.x, "float32", 3.14)
    assert m.max_ulp_core > LIMITS_CORE_ULP["float32"]


def test_metric_flags_nan_for_finite_truth() -> None:
    case = next(goldens.cases("sigmoid", "float64"))
    got = reference.derivative_values(spikegrad.get("sigmoid", **case.params), case.inputs())
    got[np.isinf(case.x)] = np.nan
    assert goldens.compare(got, case.d_hi, case.d_lo, case.x, "float64", 4.0).bad_special


def test_golden_grid_covers_the_special_points() -> None:
    for case in goldens.cases("atan"):
        x = case.x
        assert np.isnan(x).any() and np.isposinf(x).any() and np.isneginf(x).any()
        assert (np.signbit(x) & (x == 0)).any() and (~np.signbit(x) & (x == 0)).any()
        tiny = np.finfo(case.dtype).smallest_subnormal
        assert (np.abs(x) == tiny).any()
        assert (np.abs(x) == np.finfo(case.dtype).max).any()
