"""The reference engine and the bound-surrogate API: dtypes, shapes, namespaces,
forward conventions, stochastic draws."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad
from spikegrad.adapters import reference

from .conftest import CANONICAL

FLOATS = [np.float16, np.float32, np.float64]
X = np.array([-np.inf, -3.0, -0.5, -1e-8, -0.0, 0.0, 1e-8, 0.5, 3.0, np.inf, np.nan])


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", CANONICAL)
def test_forward_backward_keep_dtype_and_shape(name: str, dtype: type,
                                               rng: np.random.Generator) -> None:
    s = spikegrad.get(name)
    x = X.astype(dtype).reshape(11, 1)
    spikes, res = reference.forward(s, x, key=rng)
    assert spikes.dtype == dtype and spikes.shape == x.shape
    grad = np.full_like(x, 2.0)
    gx = reference.backward(s, res, grad, key=rng)
    assert gx.dtype == dtype and gx.shape == x.shape
    if not s.entry.formula.stochastic_backward:
        np.testing.assert_array_equal(gx, (2.0 * reference.derivative_values(
            s, x.astype(np.float64))).astype(dtype))
        assert np.isnan(gx[-1, 0])  # NaN in, NaN out


@pytest.mark.parametrize("name", CANONICAL)
def test_zero_dim_and_non_contiguous(name: str, rng: np.random.Generator) -> None:
    s = spikegrad.get(name)
    key = np.random.default_rng(0)
    x0 = np.asarray(0.25)
    out = s.derivative(x0, key=key)
    assert out.shape == () and out.dtype == np.float64
    base = np.linspace(-2, 2, 40).reshape(5, 8)
    view = base[:, ::3].T
    assert not view.flags.c_contiguous
    got = s.derivative(view, key=np.random.default_rng(1))
    expected = s.derivative(np.ascontiguousarray(view), key=np.random.default_rng(1))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", CANONICAL)
def test_array_api_strict_matches_numpy(name: str) -> None:
    xs = pytest.importorskip("array_api_strict")
    s = spikegrad.get(name)
    xn = X.copy()
    xa = xs.asarray(xn)
    for method in ("derivative", "primitive", "spike"):
        if method == "primitive" and not s.has_primitive:
            continue
        kw = {"key": np.random.default_rng(3)} if method != "primitive" else {}
        kn = {"key": np.random.default_rng(3)} if method != "primitive" else {}
        a = getattr(s, method)(xa, **kw)
        n = getattr(s, method)(xn, **kn)
        assert type(a).__module__.startswith("array_api_strict")
        assert a.dtype == xs.float64
        np.testing.assert_array_equal(np.from_dlpack(a), n)
    _, res = reference.forward(s, xa, key=np.random.default_rng(3))
    gx = reference.backward(s, res, xs.ones_like(xa), key=np.random.default_rng(4))
    assert gx.dtype == xs.float64 and tuple(gx.shape) == tuple(xa.shape)


@pytest.mark.parametrize("name", ["atan", "sigmoid", "erf", "rect", "squarewave_fourier_series"])
def test_bfloat16_is_computed_in_float32_and_rounded_once(name: str) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf16 = ml_dtypes.bfloat16
    s = spikegrad.get(name)
    x = np.linspace(-3, 3, 61).astype(bf16)
    got = s.derivative(x)
    assert got.dtype == bf16
    expected = s.derivative(x.astype(np.float32)).astype(bf16)
    np.testing.assert_array_equal(got.astype(np.float32), expected.astype(np.float32))
    assert s.spike(x).dtype == bf16
    _, res = reference.forward(s, x)
    assert reference.backward(s, res, np.ones_like(x)).dtype == bf16


def test_float16_rounds_once_from_float32() -> None:
    s = spikegrad.get("sigmoid", alpha=25.0)
    x = np.linspace(-1, 1, 2001).astype(np.float16)
    got = s.derivative(x)
    once = s.derivative(x.astype(np.float32)).astype(np.float16)
    np.testing.assert_array_equal(got, once)


def test_spike_conventions_and_special_values() -> None:
    ge = spikegrad.get("atan").spike(X)
    gt = spikegrad.get("snntorch:atan").spike(X)
    np.testing.assert_array_equal(ge, [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(gt, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0])


def test_backward_multiplies_the_incoming_gradient() -> None:
    s = spikegrad.get("atan")
    x = np.linspace(-2, 2, 9)
    grad = np.linspace(-1, 3, 9)
    spikes, res = reference.forward(s, x)
    np.testing.assert_allclose(reference.backward(s, res, grad),
                               grad * reference.derivative_values(s, x), rtol=1e-15)
    out, vjp = reference.spike_and_vjp(spikegrad.get("atan"), x)
    np.testing.assert_array_equal(out, spikes)
    np.testing.assert_array_equal(vjp(grad), reference.backward(s, res, grad))


def test_the_engine_takes_a_bound_value_not_a_name() -> None:
    """A binding never looks a name up: the message says how to bind one."""
    x = np.array([0.0])
    for call in (lambda: reference.forward("atan", x),
                 lambda: reference.backward("atan", x, np.ones(1)),
                 lambda: reference.derivative_values("atan", x)):
        with pytest.raises(TypeError, match=r"spikegrad.get\('atan'\)"):
            call()


def test_poisson_pass_fires_with_probability_x() -> None:
    s = spikegrad.get("poisson_pass")
    x = np.full(100_000, 0.3)
    spikes = s.spike(x, key=np.random.default_rng(1))
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    assert abs(spikes.mean() - 0.3) < 0.01
    np.testing.assert_array_equal(s.derivative(x), np.ones_like(x))


def test_bernoulli_of_the_primitive() -> None:
    s = spikegrad.get("norse:logistic_fn", k=2.0)
    x = np.full(100_000, 0.25)
    p = s.primitive(np.array([0.25]))[0]
    assert p == pytest.approx((1 + np.tanh(0.5)) / 2)
    spikes = s.spike(x, key=np.random.default_rng(2))
    assert abs(spikes.mean() - p) < 0.01


def test_multi_level_count_forward_keeps_nan() -> None:
    s = spikegrad.get("multi_level_spike_count", max_spike_count=3)
    out = s.spike(np.array([np.nan, -np.inf, np.inf, 1.2], dtype=np.float32))
    assert out.dtype == np.float32
    assert np.isnan(out[0]) and list(out[1:]) == [0, 3, 1]


def test_compute_dtype_override() -> None:
    s = spikegrad.get("erf")
    x = np.linspace(-2, 2, 101).astype(np.float32)
    hi = s.derivative(x, compute_dtype=np.float64)
    assert hi.dtype == np.float32
    np.testing.assert_array_equal(hi, reference.derivative_values(s, x))
