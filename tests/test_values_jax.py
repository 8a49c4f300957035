"""The jax side of "a surrogate is a value": traced parameters, pytrees, pickling, g''."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import spikegrad

from .conftest import CANONICAL, LEARNABLE, theta_derivative

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import spikegrad.jax as sgj  # noqa: E402

_WITH_LIMIT = [n for n in CANONICAL if not spikegrad.entry(n).stochastic
               and "periodic" not in spikegrad.entry(n).limits]


def test_array_and_traced_parameters() -> None:
    """Finding: a jnp.array alpha gave `unhashable type`; a traced alpha under grad/vmap a
    raw ConcretizationTypeError."""
    x = jnp.linspace(-1.0, 1.0, 7)
    w = jnp.arange(7.0)

    def loss(a):
        return (sgj.atan(x, alpha=a) * w).sum()

    xn = np.asarray(x, dtype=np.float64)
    want = float((np.arange(7.0) * xn / (2 * (1 + (np.pi * 2.0 * xn / 2) ** 2))).sum())
    np.testing.assert_allclose(float(jax.grad(loss)(2.0)), want, rtol=1e-6)
    np.testing.assert_allclose(float(jax.jit(jax.grad(loss))(jnp.asarray(2.0))), want, rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(jax.grad(loss))(jnp.array([2.0, 2.0])), [want, want],
                               rtol=1e-6)
    np.testing.assert_allclose(float(jax.jacfwd(loss)(2.0)), want, rtol=1e-6)
    per_channel = jax.grad(lambda a: (sgj.atan(x, alpha=a) * w).sum())(jnp.full((7,), 2.0))
    np.testing.assert_allclose(float(per_channel.sum()), want, rtol=1e-6)


def test_surrogate_is_a_pytree_and_pickles() -> None:
    s = sgj.Surrogate("sigmoid", alpha=jnp.asarray(3.0))
    leaves, tree = jax.tree_util.tree_flatten(s)
    assert len(leaves) == 1
    x = jnp.linspace(-1.0, 1.0, 5)
    back = jax.tree_util.tree_unflatten(tree, leaves)
    np.testing.assert_array_equal(back(x), s(x))
    g = jax.grad(lambda m: (m(x) * jnp.arange(5.0)).sum())(s)
    assert isinstance(g, sgj.Surrogate) and np.isfinite(float(jax.tree_util.tree_leaves(g)[0]))
    clone = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(jax.grad(lambda v: clone(v).sum())(x),
                                  jax.grad(lambda v: s(v).sum())(x))


def test_bound_spike_on_a_jax_array_is_differentiable() -> None:
    x = jnp.linspace(-1.0, 1.0, 5)
    g = jax.grad(lambda v: spikegrad.get("atan").spike(v).sum())(x)
    np.testing.assert_allclose(np.asarray(g), spikegrad.get("atan").derivative(
        np.asarray(x)), rtol=1e-6)


@pytest.mark.parametrize("name", _WITH_LIMIT)
def test_hessian_at_infinity_is_its_limit(name: str) -> None:
    """Finding: jax.hessian gave NaN at ±inf for atan, erf, soft_sign, fast_sigmoid."""
    x = jnp.array([np.inf, -np.inf, 0.25], dtype=jnp.float32)
    h = jax.vmap(jax.grad(jax.grad(lambda v: sgj.spike(v, name))))(x)
    assert np.asarray(h[:2]).tolist() == [0.0, 0.0] and np.isfinite(float(h[2]))


@pytest.mark.parametrize("name", LEARNABLE)
def test_parameter_and_meta_gradients_against_finite_differences(name: str) -> None:
    """jax.grad in θ (0-d and per neuron) gives Σ G ∂g/∂θ; nested jax.grad (through the
    backward) gives Σ W G ∂g'/∂θ; both against finite differences of the float64
    reference (computed in float64)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        _check_parameter_gradients(name)
    finally:
        jax.config.update("jax_enable_x64", previous)


def _check_parameter_gradients(name: str) -> None:
    base = spikegrad.get(name)
    scale = float(base.entry.x_scale(base.params)) or 1.0
    rng = np.random.default_rng(11)
    x = rng.uniform(-2.0, 2.0, size=9) / scale
    G, W = rng.normal(size=9), rng.normal(size=9)
    xj, Gj, Wj = (jnp.asarray(a, dtype=jnp.float64) for a in (x, G, W))
    for p in (p for p in base.entry.params if not p.static):
        d_g = theta_derivative(base, p, lambda b: b.primitive(x))
        d_dg = theta_derivative(base, p, lambda b: b.derivative(x))
        if d_g is None or d_dg is None:
            continue
        theta = jnp.float64(float(base.params[p.name]))

        def loss(t, p=p):
            return (Gj * sgj.spike(xj, name, **{p.name: t})).sum()

        def meta(t, p=p):
            gx = jax.grad(lambda v: (Gj * sgj.spike(v, name, **{p.name: t})).sum())(xj)
            return (Wj * gx).sum()

        np.testing.assert_allclose(float(jax.grad(loss)(theta)), (G * d_g).sum(), rtol=1e-6,
                                   atol=1e-9 * np.abs(G * d_g).sum())
        per_neuron = jax.grad(loss)(jnp.full((9,), theta))  # one value per element
        np.testing.assert_allclose(np.asarray(per_neuron), G * d_g, rtol=1e-6,
                                   atol=1e-9 * np.abs(G * d_g).max())
        np.testing.assert_allclose(float(jax.grad(meta)(theta)), (W * G * d_dg).sum(),
                                   rtol=1e-6, atol=1e-9 * np.abs(W * G * d_dg).sum())


def test_surrogate_pytree_takes_placeholder_leaves() -> None:
    """jax's tree utilities put non-arrays in the leaves (vmap in_axes, tree_map to None):
    nothing is bound until the object is called."""
    s = sgj.Surrogate("atan", alpha=jnp.full((3,), 2.0))
    axes = jax.tree_util.tree_map(lambda _: 0, s)
    x = jnp.linspace(-1.0, 1.0, 3)
    out = jax.vmap(lambda m, v: m(v), in_axes=(axes, 0))(
        sgj.Surrogate("atan", alpha=jnp.full((3,), 2.0)), x)
    np.testing.assert_array_equal(out, s(x))
    # None placeholders (an empty subtree to jax): the static part survives untouched, and
    # filling the placeholders rebuilds a surrogate that computes with the new leaves
    is_none = lambda v: v is None
    holder = jax.tree_util.tree_map(lambda _: None, s)
    assert type(holder) is sgj.Surrogate and jax.tree_util.tree_leaves(holder) == []
    assert jax.tree_util.tree_leaves(holder, is_leaf=is_none) == [None]
    assert jax.tree_util.tree_structure(holder, is_leaf=is_none) == \
        jax.tree_util.tree_structure(s)
    refilled = jax.tree_util.tree_map(lambda _: jnp.full((3,), 3.0), holder, is_leaf=is_none)
    want = sgj.Surrogate("atan", alpha=jnp.full((3,), 3.0))
    np.testing.assert_array_equal(jax.grad(lambda v: refilled(v).sum())(x),
                                  jax.grad(lambda v: want(v).sum())(x))
    assert not np.array_equal(jax.grad(lambda v: refilled(v).sum())(x),
                              jax.grad(lambda v: s(v).sum())(x))
