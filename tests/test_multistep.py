"""Multi-step surrogates (DSR-IF, DSR-LIF): every adapter against the shipped goldens of the
independent oracle ``conformance/dsr_oracle.py`` (forward bits, input and threshold
gradients), the definition's contracts (clamping, NaN, the LIF factor, bad input)."""

from __future__ import annotations

import copy
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

import spikegrad
from spikegrad.conformance import multistep

ROOT = Path(__file__).resolve().parent.parent

CASES = multistep.cases()
NAMES = {"if": "dsr_if", "lif": "dsr_lif"}


def _torch(case: multistep.MultiStepCase, fused: bool = True) -> tuple:
    torch = pytest.importorskip("torch")
    from spikegrad.adapters import torch_multistep

    x, g = (torch.from_numpy(a.copy()) for a in case.inputs())
    x.requires_grad_(True)
    v = torch.nn.Parameter(torch.tensor(case.params["v_threshold"], dtype=torch.float64))
    saved = torch_multistep._fused_ok
    if not fused:
        torch_multistep._fused_ok = lambda x: False
    try:
        y = torch_multistep.apply(spikegrad.get(case.surrogate, **{**case.params,
                                                                   "v_threshold": v}), x)
        gx, gv = torch.autograd.grad(y, (x, v), g)
    finally:
        torch_multistep._fused_ok = saved
    assert gx.dtype == x.dtype and gv.dtype == v.dtype
    return y.detach().numpy(), gx.numpy(), float(gv)


def _adapter(name: str) -> object:
    from spikegrad.conformance.adapter import load_adapter

    try:
        return load_adapter(name)
    except ImportError as exc:
        pytest.skip(str(exc))


def _run(name: str, case: multistep.MultiStepCase) -> tuple:
    if name == "torch-kernels":
        return _torch(case)
    if name == "torch-ops":
        return _torch(case, fused=False)
    a = _adapter(name)
    x, g = case.inputs()
    y, gx, gv = a.multistep_vjp(spikegrad.get(case.surrogate, **case.params),
                                a.from_numpy(x), a.from_numpy(g))
    return a.to_numpy(y), a.to_numpy(gx), float(a.to_numpy(gv))


@pytest.mark.parametrize("adapter", ["numpy", "torch-kernels", "torch-ops", "jax"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_matches_the_goldens(adapter: str, case: multistep.MultiStepCase) -> None:
    """Forward bit for bit (ties included), input and threshold gradients within the
    declared tolerance, for every adapter and path."""
    y, gx, gv = _run(adapter, case)
    assert np.asarray(gx).dtype == np.dtype(case.dtype)
    failed = {k: d for k, (ok, d) in multistep.compare(case, y, gx, gv).items() if not ok}
    assert not failed, failed


def test_shipped_goldens_are_the_oracles() -> None:
    """The shipped multi-step goldens are what the independent oracle gives today."""
    sys.path.insert(0, str(ROOT / "conformance"))
    import generate_multistep_goldens as gen

    meta, arrays = gen.build()
    assert [m["id"] for m in meta] == [c.id for c in CASES]
    for m, c in zip(meta, CASES, strict=True):
        k = m["key"]
        np.testing.assert_array_equal(arrays[f"{k}_x"], c.x)
        np.testing.assert_array_equal(arrays[f"{k}_y"], c.y)
        np.testing.assert_array_equal(arrays[f"{k}_gx"], c.grad_x)
        assert (m["grad_v_lo"], m["grad_v_hi"]) == (c.grad_v_lo, c.grad_v_hi)


def test_a_wrong_rule_is_caught() -> None:
    """The comparison is not vacuous: a threshold gradient off by 0.1 %, an input gradient
    off by 1e-4 of max|G|, and a flipped spike each fail."""
    case = next(c for c in CASES if c.dtype == "float32" and c.grad_v != 0.0
                and c.x.shape[0] > 1)
    b = spikegrad.get(case.surrogate, **case.params)
    x, g = case.inputs()
    y = b.forward(x)
    gx, gv = b.backward(x, g)
    assert all(ok for ok, _ in multistep.compare(case, y, gx, gv).values())
    assert not multistep.compare(case, y, gx, float(gv) * 1.001)["grad_v"][0]
    bumped = np.asarray(gx, np.float64) + 1e-4 * float(np.abs(case.g).max())
    assert not multistep.compare(case, y, bumped.astype(gx.dtype), gv)["grad_x"][0]
    flipped = y.copy()
    flipped.flat[0] = 0 if flipped.flat[0] else 1
    assert not multistep.compare(case, flipped, gx, gv)["forward"][0]


# -- the definition ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dsr_if", "dsr_lif"])
def test_get_and_show(name: str) -> None:
    b = spikegrad.get(name)
    assert spikegrad.get(name) == b and hash(spikegrad.get(name)) == hash(b)
    assert name in spikegrad.multistep_names()
    assert name not in spikegrad.names()  # elementwise names only
    assert pickle.loads(pickle.dumps(b)) == b
    assert copy.deepcopy(b) == b
    from spikegrad._references import bibtex

    assert "Meng" in bibtex(("Meng2022",))


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="alpha"):
        spikegrad.get("dsr_if", alpha=1.5)
    with pytest.raises(ValueError, match="v_threshold_lower_bound"):
        spikegrad.get("dsr_if", v_threshold_lower_bound=0.0)
    with pytest.raises(ValueError, match="threshold_grad_factor"):
        spikegrad.get("dsr_lif", threshold_grad_factor="dt2")
    with pytest.raises(TypeError, match="tau"):
        spikegrad.get("dsr_lif", tau=np.ones(3))
    with pytest.raises(TypeError, match="unexpected parameter 'T'"):
        spikegrad.get("dsr_if", T=4)


def test_bad_input_raises() -> None:
    b = spikegrad.get("dsr_if")
    with pytest.raises(ValueError, match="time first"):
        b.forward(np.float32(1.0) * np.ones((), np.float32))
    with pytest.raises(TypeError):
        b.forward(np.ones((3, 2), np.int32))
    with pytest.raises(ValueError, match="grad has shape"):
        b.backward(np.ones((3, 2)), np.ones((3, 3)))


def test_nan_input_gives_nan_gradients_for_its_element() -> None:
    x = np.full((4, 3), 3.0)
    x[1, 2] = np.nan
    gx, gv = spikegrad.get("dsr_if", v_threshold=1.0).backward(x, np.ones_like(x))
    assert np.isnan(gx[:, 2]).all() and np.isfinite(gx[:, :2]).all()
    assert np.isnan(gv)


def test_threshold_below_the_lower_bound_is_clamped() -> None:
    x = np.full((4, 3), 5.0)
    low = spikegrad.get("dsr_if", v_threshold=-1.0, v_threshold_lower_bound=0.5)
    at = spikegrad.get("dsr_if", v_threshold=0.5, v_threshold_lower_bound=0.5)
    np.testing.assert_array_equal(low.forward(x), at.forward(x))
    assert float(low.backward(x, np.ones_like(x))[1]) == 0.0
    assert float(at.backward(x, np.ones_like(x))[1]) > 0.0


def test_lif_threshold_grad_factor_option() -> None:
    x = np.full((5, 2), 200.0)  # saturated: r > V tau / dt
    g = np.ones_like(x)
    dt = spikegrad.get("dsr_lif").backward(x, g)[1]
    inv = spikegrad.get("dsr_lif", threshold_grad_factor="1/dt").backward(x, g)[1]
    assert float(inv) == pytest.approx(float(dt) / 0.05**2, rel=1e-12)


def test_lif_threshold_factor_one_over_dt_is_the_forward_derivative() -> None:
    """In saturation the mean output is V/dt, so d mean(y)/dV = 1/dt: the '1/dt' option
    agrees with a finite difference of the forward, the default ('dt') is dt^2 of it."""
    steps, x = 64, np.full((64, 1), 300.0)
    b = spikegrad.get("dsr_lif", v_threshold=1.0, threshold_grad_factor="1/dt")
    h = 1e-6
    fd = (b.replace(v_threshold=1.0 + h).forward(x).mean()
          - b.replace(v_threshold=1.0 - h).forward(x).mean()) / (2 * h)
    g = np.full_like(x, 1.0 / x.size)  # dL/dy of L = mean(y)
    assert float(b.backward(x, g)[1]) == pytest.approx(fd, rel=1e-6)
    assert steps == x.shape[0]
