"""The jax multi-step binding under jit, grad (input and threshold), vmap and pytrees."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="needs JAX (pip install 'spikegrad[jax]')")
import jax.numpy as jnp  # noqa: E402

import spikegrad  # noqa: E402
import spikegrad.jax as sgj  # noqa: E402


def _x(kind: str, shape: tuple[int, ...] = (8, 6, 5), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = 3.0 if kind == "dsr_if" else 30.0
    return rng.normal(centre, centre, shape).astype(np.float32)


@pytest.mark.parametrize("name", ["dsr_if", "dsr_lif"])
def test_vmap_over_the_batch_equals_the_whole_batch(name: str) -> None:
    x = _x(name)
    g = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    v = jnp.asarray(1.0)

    def loss(xb: jax.Array, v: jax.Array, gb: jax.Array) -> jax.Array:
        return jnp.sum(sgj.multistep(xb, name, v_threshold=v) * gb)

    whole = jax.grad(loss, argnums=(0, 1))(x, v, g)
    # per sample (axis 1): the input gradient is per element, the threshold's a sum
    per = jax.vmap(jax.grad(loss, argnums=(0, 1)), in_axes=(1, None, 1), out_axes=(1, 0))(
        x, v, g)
    np.testing.assert_array_equal(np.asarray(per[0]), np.asarray(whole[0]))
    np.testing.assert_allclose(float(jnp.sum(per[1])), float(whole[1]), rtol=1e-5)
    ref_gx, ref_gv = spikegrad.get(name, v_threshold=1.0).backward(x, g)
    np.testing.assert_allclose(np.asarray(whole[0]), ref_gx, rtol=1e-5, atol=1e-6)
    assert float(whole[1]) == pytest.approx(float(ref_gv), rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_dtype_is_kept(dtype: str) -> None:
    x = jnp.asarray(_x("dsr_if")).astype(dtype)
    y, pull = jax.vjp(lambda a: sgj.dsr_if(a, v_threshold=2.0), x)
    assert y.dtype == x.dtype and pull(jnp.ones_like(y))[0].dtype == x.dtype
    want = spikegrad.get("dsr_if", v_threshold=2.0).forward(np.asarray(x.astype("float32")))
    np.testing.assert_array_equal(np.asarray(y.astype("float32")), want)


def test_pytree_layer_learns_its_threshold() -> None:
    layer = sgj.MultiStep("dsr_lif", v_threshold=jnp.asarray(0.5))
    leaves, tree = jax.tree_util.tree_flatten(layer)
    assert len(leaves) == 1
    x = _x("dsr_lif")
    grad = jax.jit(jax.grad(lambda m: jnp.sum(m(x) ** 2)))(layer)
    assert isinstance(grad, sgj.MultiStep) and float(grad.v_threshold) != 0.0
    again = jax.tree_util.tree_unflatten(tree, leaves)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(layer(x)))
    restored = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(np.asarray(restored(x)), np.asarray(layer(x)))


def test_threshold_below_the_lower_bound_gets_no_gradient() -> None:
    x = jnp.full((4, 3), 5.0)

    def loss(v: jax.Array) -> jax.Array:
        return jnp.sum(sgj.dsr_if(x, v_threshold=v, v_threshold_lower_bound=0.5))

    assert float(jax.grad(loss)(jnp.asarray(0.1))) == 0.0
    assert float(jax.grad(loss)(jnp.asarray(1.0))) != 0.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="0-d"):
        sgj.dsr_if(jnp.ones((3, 2)), v_threshold=jnp.ones(2))
    with pytest.raises(ValueError, match="elementwise"):
        sgj.multistep(jnp.ones((3, 2)), "atan")
    with pytest.raises(TypeError):
        sgj.dsr_if(np.ones((3, 2), np.int32))
