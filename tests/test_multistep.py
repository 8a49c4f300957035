"""Multi-step surrogates (DSR-IF, DSR-LIF): every adapter against the independent oracle of
``tests/dsr_oracle.py`` (forward bits, input and threshold gradients), the definition's
contracts, and the bindings' behaviour (dtypes, clamping, NaN, pickling, bad input)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import spikegrad

from . import dsr_oracle

CASES = dsr_oracle.cases()
NAMES = {"if": "dsr_if", "lif": "dsr_lif"}

#: Declared tolerances of the multi-step gradients, per input dtype: |error| <= rtol * max|G|
#: for dL/dx, and <= rtol * max|G| * (number of elements) * T for dL/dV (sums of rounded
#: terms in the compute dtype; float16 inputs compute in float32 and round dL/dx to float16).
RTOL = {"float64": 1e-12, "float32": 1e-5, "float16": 1e-3}


def _bound(case: dsr_oracle.Case, v: object = None) -> object:
    params = dict(case.params)
    if v is not None:
        params["v_threshold"] = v
    return spikegrad.get(NAMES[case.kind], **params)


def _reference(case: dsr_oracle.Case) -> tuple[np.ndarray, np.ndarray, float]:
    b = _bound(case)
    y = b.forward(case.x)
    gx, gv = b.backward(case.x, case.g)
    return y, np.asarray(gx, np.float64), float(gv)


def _torch(case: dsr_oracle.Case, fused: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    torch = pytest.importorskip("torch")
    from spikegrad.adapters import torch_multistep

    x = torch.from_numpy(case.x.copy()).requires_grad_(True)
    v = torch.nn.Parameter(torch.tensor(case.params["v_threshold"], dtype=torch.float64))
    g = torch.from_numpy(case.g.copy())
    saved = torch_multistep._fused_ok
    if not fused:
        torch_multistep._fused_ok = lambda x: False
    try:
        y = torch_multistep.apply(_bound(case, v), x)
        gx, gv = torch.autograd.grad(y, (x, v), g)
    finally:
        torch_multistep._fused_ok = saved
    assert y.dtype == x.dtype and gx.dtype == x.dtype and gv.dtype == v.dtype
    return y.detach().numpy(), gx.double().numpy(), float(gv)


def _torch_ops(case: dsr_oracle.Case) -> tuple[np.ndarray, np.ndarray, float]:
    return _torch(case, fused=False)


def _jax(case: dsr_oracle.Case) -> tuple[np.ndarray, np.ndarray, float]:
    jax = pytest.importorskip("jax")
    with jax.enable_x64(case.dtype == "float64"):
        return _jax_run(case)


def _jax_run(case: dsr_oracle.Case) -> tuple[np.ndarray, np.ndarray, float]:
    import jax
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    name = NAMES[case.kind]
    params = {k: v for k, v in case.params.items() if k != "v_threshold"}
    x = jnp.asarray(case.x)
    g = jnp.asarray(case.g)
    acc = jnp.float64 if case.dtype == "float64" else jnp.float32
    v = jnp.asarray(case.params["v_threshold"], dtype=acc)

    def loss(x, v):
        y = sgj.multistep(x, name, v_threshold=v, **params)
        return jnp.sum(y.astype(acc) * g.astype(acc)), y

    (_, y), (gx, gv) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(x, v)
    assert y.dtype == x.dtype and gx.dtype == x.dtype
    return np.asarray(y), np.asarray(gx, np.float64), float(gv)


ADAPTERS = {"reference": _reference, "torch": _torch, "torch-ops": _torch_ops, "jax": _jax}


@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.name for c in CASES])
def test_matches_the_oracle(adapter: str, index: int) -> None:
    case = CASES[index]
    gold = dsr_oracle.golden(index)
    y, gx, gv = ADAPTERS[adapter](case)
    assert y.dtype == case.x.dtype
    np.testing.assert_array_equal(y, gold.y)  # forward bit for bit, ties included
    scale = float(np.abs(case.g.astype(np.float64)).max())
    tol = RTOL[case.dtype] * scale
    if adapter == "jax" and case.dtype == "float16":
        tol = RTOL["float16"] * scale  # jax's float16 gradient is computed in float32 too
    clear = np.broadcast_to(~gold.ambiguous, gx.shape)
    err = np.abs(gx - gold.grad_x)[clear]
    assert err.size == 0 or err.max() <= tol, (err.max(), tol)
    n = case.x[0].size
    vtol = RTOL[case.dtype] * scale * n * case.x.shape[0] + 1e-12
    assert gold.grad_v_lo - vtol <= gv <= gold.grad_v_hi + vtol, (gv, gold.grad_v_lo,
                                                                  gold.grad_v_hi)


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
