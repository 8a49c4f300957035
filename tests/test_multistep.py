"""Multi-step surrogates (DSR-IF, DSR-LIF): every adapter against the shipped goldens of the
independent oracle ``conformance/dsr_oracle.py`` (forward bits, input and threshold
gradients), the definition's contracts (clamping, NaN, the LIF factor, bad input)."""

from __future__ import annotations

import copy
import functools
import pickle
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
    from spikegrad.torch import set_fast_path

    set_fast_path(fused)  # the torch-ops path: the one public switch
    try:
        y = torch_multistep.apply(spikegrad.get(case.surrogate, **{**case.params,
                                                                   "v_threshold": v}), x)
        gx, gv = torch.autograd.grad(y, (x, v), g)
    finally:
        set_fast_path(True)
    assert gx.dtype == x.dtype and gv.dtype == v.dtype
    return y.detach().numpy(), gx.numpy(), float(gv)


def _adapter(name: str) -> object:
    from spikegrad.conformance.harness import load_harness

    try:
        return load_harness(name)
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


#: How far, in ULPs of its dtype, a regenerated golden *input* may lie from the shipped one.
#: The LIF ``near_zero`` recipe of ``conformance/dsr_oracle.py`` sets a column's newest step
#: to ``-np.dot(w, x[:-1])``, and numpy's ``dot`` goes through BLAS, whose kernel is chosen at
#: run time for the CPU and sums in its own order: the shipped inputs come from OpenBLAS's
#: Haswell kernel, and its SkylakeX kernel (AVX-512) gives inputs up to 23 ULPs away (float64,
#: T = 32: 31 products with cancellation; measured over OPENBLAS_CORETYPE = Prescott, Core2,
#: Nehalem, Sandybridge, Haswell, Zen, SkylakeX, Cooperlake, SapphireRapids: 0 to 23).  Only
#: that last step may differ: every other input (and every upstream gradient) is elementwise
#: numpy and is held bit for bit.  The oracle's outputs are held bit for bit too, on the
#: shipped inputs (it computes in exact rationals and mpmath, with no BLAS).
INPUT_ULPS = 64


def _ulps(a: np.ndarray, b: np.ndarray, dtype: str) -> np.ndarray:
    """``|a - b|`` in units in the last place of ``dtype`` (both hold values of ``dtype``),
    elementwise, as exact Python integers (distance between ordered bit patterns)."""
    dt = np.dtype(dtype)
    ints = {2: np.int16, 4: np.int32, 8: np.int64}[dt.itemsize]

    def ordered(v: np.ndarray) -> np.ndarray:
        bits = np.ascontiguousarray(np.asarray(v).astype(dt)).view(ints).astype(np.int64)
        magnitude = bits & np.int64(np.iinfo(ints).max)
        return np.where(bits < 0, -magnitude, magnitude).astype(object)

    return np.abs(ordered(a) - ordered(b))


def _input_problems(case_id: str, dtype: str, regenerated: np.ndarray, shipped: np.ndarray
                    ) -> list[str]:
    """Why a regenerated golden input is not the shipped one within :data:`INPUT_ULPS`."""
    if regenerated.shape != shipped.shape:
        return [f"{case_id}: shape {regenerated.shape} != {shipped.shape}"]
    ulps = _ulps(regenerated, shipped, dtype)
    out = []
    if ulps[:-1].size and ulps[:-1].max() > 0:
        at = tuple(int(i) for i in np.argwhere(ulps[:-1] > 0)[0])
        out.append(f"{case_id}: x{list(at)} differs by {ulps[at]} ULPs (only the last step "
                   "comes from BLAS)")
    last = ulps[-1:]  # keeps the step axis (a scalar sequence has shape (T,))
    if last.max() > INPUT_ULPS:
        at = tuple(int(i) for i in np.argwhere(last == last.max())[0])
        at = (ulps.shape[0] - 1, *at[1:])
        out.append(f"{case_id}: x{list(at)} differs by {ulps[at]} > {INPUT_ULPS} ULPs")
    return out


def _generator(monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.syspath_prepend(str(ROOT / "conformance"))
    import dsr_oracle
    import generate_multistep_goldens as gen

    return dsr_oracle, gen


def test_shipped_goldens_are_the_oracles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped multi-step goldens are what the generator and the independent oracle give
    today: the regenerated inputs within :data:`INPUT_ULPS` (BLAS), every output, flag and
    metadata bit for bit (the oracle evaluated on the shipped inputs)."""
    dsr_oracle, gen = _generator(monkeypatch)
    regenerated = dsr_oracle.cases()
    assert [c.name for c in regenerated] == [c.id for c in CASES]
    problems = []
    for r, c in zip(regenerated, CASES, strict=True):
        assert (r.dtype, NAMES[r.kind], r.params) == (c.dtype, c.surrogate, c.params), c.id
        np.testing.assert_array_equal(r.g.astype(np.float64), c.g, err_msg=c.id)
        problems += _input_problems(c.id, c.dtype, r.x.astype(np.float64), c.x)
    assert not problems, problems

    def shipped_inputs() -> tuple:
        out = []
        for r, c in zip(regenerated, CASES, strict=True):
            x, g = c.inputs()
            x.flags.writeable = g.flags.writeable = False
            out.append(dsr_oracle.Case(r.name, r.kind, x, g, dict(r.params), r.dtype))
        return tuple(out)

    dsr_oracle.golden.cache_clear()
    monkeypatch.setattr(dsr_oracle, "_cases", functools.cache(shipped_inputs))
    try:
        meta, arrays = gen.build()
    finally:
        dsr_oracle.golden.cache_clear()
    assert [m["id"] for m in meta] == [c.id for c in CASES]
    for m, c in zip(meta, CASES, strict=True):
        k = m["key"]
        for field, want in (("x", c.x), ("g", c.g), ("y", c.y), ("gx", c.grad_x),
                            ("amb", c.ambiguous)):
            np.testing.assert_array_equal(arrays[f"{k}_{field}"], want, err_msg=f"{c.id} {field}")
            assert arrays[f"{k}_{field}"].dtype == want.dtype, (c.id, field)
        assert (m["grad_v"], m["grad_v_lo"], m["grad_v_hi"], m["grad_v_scale"]) == (
            c.grad_v, c.grad_v_lo, c.grad_v_hi, c.grad_v_scale), c.id


def test_the_input_bound_catches_a_real_difference() -> None:
    """:data:`INPUT_ULPS` is a bound, not a pass: a BLAS-made input a few ULPs beyond it,
    or any earlier input off by one ULP, is a difference."""
    case = next(c for c in CASES if c.id == "dsr_lif-T32-shape(5)-p0-float64")
    assert not _input_problems(case.id, case.dtype, case.x, case.x)

    def moved(index: tuple, ulps: int) -> np.ndarray:
        x = case.x.copy()
        for _ in range(ulps):
            x[index] = np.nextafter(x[index], np.inf)
        return x

    last = (case.x.shape[0] - 1, 0)
    assert not _input_problems(case.id, case.dtype, moved(last, INPUT_ULPS), case.x)
    assert _input_problems(case.id, case.dtype, moved(last, INPUT_ULPS + 3), case.x)
    assert _input_problems(case.id, case.dtype, moved((3, 0), 1), case.x)
    half = next(c for c in CASES if c.dtype == "float16" and c.x.shape[0] > 1)
    x = half.x.astype(np.float16)
    x[0].flat[0] = np.nextafter(x[0].flat[0], np.float16(np.inf))
    assert _input_problems(half.id, half.dtype, x.astype(np.float64), half.x)
    assert _ulps(np.array([-0.0, 1.0]), np.array([0.0, -1.0]), "float64").tolist() == [
        0, 2 * 0x3FF0000000000000]


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
