"""The jax adapter: goldens under jit and vmap, every transform, second derivatives,
sharding, x64 off, dtypes and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the jax adapter needs JAX (pip install jax)")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import spikegrad  # noqa: E402
import spikegrad.jax as sgj  # noqa: E402
from spikegrad.adapters import reference  # noqa: E402
from spikegrad.conformance import goldens  # noqa: E402
from spikegrad.conformance.checks import check_backward_values  # noqa: E402

from .conftest import CANONICAL  # noqa: E402

#: Declared tolerance of the jax adapter (float32 computed in float32; XLA's CPU math):
#: max ULP of g' in the core range.
JAX_CORE_ULP = {"float64": 16.0, "float32": 16.0, "float16": 1.0}
CASES = list(goldens.cases())
DEFAULT_CASES = [c for c in CASES if c.index == 0]
DETERMINISTIC = [n for n in CANONICAL if not spikegrad.entry(n).stochastic]


def _key(s: spikegrad.Bound):
    return jax.random.key(0) if s.stochastic else None


def _check(case: goldens.Case, grad_values: np.ndarray, spikes: np.ndarray) -> None:
    """Forward bit-identical everywhere; backward against the goldens with the jax
    adapter's declared tolerance, including XLA's flush-to-zero of subnormals on CPU."""
    s = spikegrad.get(case.name, **case.params)
    assert grad_values.dtype == case.inputs().dtype
    if not s.entry.forward.startswith("bernoulli"):
        np.testing.assert_array_equal(spikes, s.spike(case.inputs()))  # bit-identical
    ok, _, detail = check_backward_values(case, grad_values, JAX_CORE_ULP[case.dtype],
                                            flushes_subnormals=True)
    assert ok, detail


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_jit_matches_goldens(case: goldens.Case) -> None:
    s = spikegrad.get(case.name, **case.params)
    key = _key(s)
    x = jnp.asarray(case.inputs())
    f = jax.jit(lambda v: sgj.spike(v, s, key=key))
    spikes, vjp = jax.vjp(f, x)
    (g,) = vjp(jnp.ones_like(spikes))
    _check(case, np.asarray(g), np.asarray(spikes))


@pytest.mark.parametrize("case", DEFAULT_CASES, ids=[c.id for c in DEFAULT_CASES])
def test_vmap_matches_goldens(case: goldens.Case) -> None:
    s = spikegrad.get(case.name, **case.params)
    key = _key(s)
    x = jnp.asarray(case.inputs())
    per_elt = jax.vmap(jax.grad(lambda v: sgj.spike(v, s, key=key).astype(jnp.float32)))
    g = jax.jit(per_elt)(x)
    spikes = jax.vmap(lambda v: sgj.spike(v, s, key=key))(x)
    _check(case, np.asarray(g), np.asarray(spikes))


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_transforms(name: str) -> None:
    s = spikegrad.get(name)
    f = sgj.Surrogate(name)
    x = jnp.linspace(-2.5, 2.5, 12, dtype=jnp.float64)
    expected = reference.derivative_values(s, np.asarray(x))

    def close(a, b) -> None:
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-14, atol=1e-300)

    close(jax.grad(lambda v: f(v).sum())(x), expected)
    close(jax.jit(jax.grad(lambda v: f(v).sum()))(x), expected)
    close(jax.vjp(f, x)[1](jnp.ones_like(x))[0], expected)
    out, tangent = jax.jvp(f, (x,), (2.0 * jnp.ones_like(x),))
    close(tangent, 2.0 * expected)
    close(out, s.spike(np.asarray(x)))
    close(jax.jacfwd(f)(x), np.diag(expected))
    close(jax.jacrev(f)(x), np.diag(expected))
    close(jax.vmap(jax.grad(lambda v: f(v)))(x), expected)
    close(jax.grad(lambda v: jax.vmap(f)(v).sum())(x.reshape(3, 4)).ravel(), expected)
    close(jax.grad(lambda v: jax.checkpoint(f)(v).sum())(x), expected)

    def cond_branch(v):
        return jax.lax.cond(v.sum() > -100.0, f, lambda u: jnp.zeros_like(u), v)

    close(jax.grad(lambda v: cond_branch(v).sum())(x), expected)

    def scanned(v):  # the loop every SNN uses: the same surrogate at each step
        def step(carry, xt):
            return carry + f(xt).sum(), f(xt)

        total, ys = jax.lax.scan(step, 0.0, v.reshape(3, 4))
        return total + ys.sum()

    close(jax.grad(scanned)(x), 2.0 * expected)


@pytest.mark.parametrize("name", [n for n in DETERMINISTIC
                                  if not spikegrad.entry(n).formula.stochastic_backward])
def test_hessian_is_the_derivative_of_g_prime(name: str) -> None:
    s = spikegrad.get(name)
    scale = float(s.entry.x_scale(s.params))
    xs = np.linspace(-3 / scale, 3 / scale, 41)
    keep = np.ones_like(xs, dtype=bool)
    for b in (0.0, *s.entry.boundaries(s.params)):
        keep &= np.abs(xs - b) > 2e-2 / scale
    xs = xs[keep]
    second = jax.vmap(jax.grad(jax.grad(lambda v: sgj.spike(v, s))))(jnp.asarray(xs))
    h = 1e-5 / scale
    fd = (reference.derivative_values(s, xs + h) - reference.derivative_values(s, xs - h)) / (2 * h)
    np.testing.assert_allclose(np.asarray(second), fd, rtol=1e-5, atol=1e-6 * s.peak * scale)
    hess = jax.hessian(lambda v: sgj.spike(v, s).sum())(jnp.asarray(xs[:3]))
    np.testing.assert_allclose(np.diag(np.asarray(hess)), np.asarray(second[:3]), rtol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64],
                         ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", CANONICAL)
def test_dtypes(name: str, dtype) -> None:
    s = spikegrad.get(name)
    key = _key(s)
    x = jnp.linspace(-2, 2, 24, dtype=dtype).reshape(4, 6)
    y = sgj.spike(x, s, key=key)
    assert y.dtype == dtype and y.shape == x.shape
    g = jax.grad(lambda v: sgj.spike(v, s, key=key).astype(jnp.float32).sum())(x)
    assert g.dtype == dtype
    if not s.stochastic:
        expected = s.derivative(np.asarray(x.astype(jnp.float32)))
        tol = {jnp.float16: 1e-3, jnp.bfloat16: 8e-3}.get(dtype, 1e-6)
        np.testing.assert_allclose(np.asarray(g.astype(jnp.float32)), expected, rtol=tol,
                                   atol=tol * s.peak)
    y0 = sgj.spike(jnp.asarray(0.25, dtype=dtype), s, key=key)
    assert y0.shape == ()


def test_surrogate_object_and_aliases() -> None:
    x = jnp.asarray([-1.0, 0.0, 1.0])
    assert sgj.Surrogate("braintools:Arctan")(x).tolist() == [0, 1, 1]
    assert sgj.Surrogate("spyx:arctan")(x).tolist() == [0, 0, 1]  # spyx spikes at x > 0
    g = jax.grad(lambda v: sgj.Surrogate("braintools:Arctan")(v).sum())(x)
    np.testing.assert_allclose(np.asarray(g), spikegrad.get("braintools:Arctan").derivative(
        np.asarray(x)), rtol=1e-14)
    prim = sgj.Surrogate("braintools:Sigmoid", spiking=False)(x)
    np.testing.assert_allclose(np.asarray(prim), 1 / (1 + np.exp(-4 * np.asarray(x))), rtol=1e-14)
    assert sgj.Surrogate("atan") == sgj.Surrogate("atan", alpha=2.0)
    for name in CANONICAL:
        assert callable(getattr(sgj, name))


def test_stochastic_surrogates_take_a_key() -> None:
    with pytest.raises(TypeError, match="stochastic: pass key="):
        sgj.poisson_pass(jnp.zeros(3))
    y = sgj.poisson_pass(jnp.full((50_000,), 0.25), key=jax.random.key(3))
    assert abs(float(y.mean()) - 0.25) < 0.01
    g1 = jax.grad(lambda v: sgj.stochastic_spike_operator(v, key=jax.random.key(1)).sum())
    x = -jnp.ones(8)
    np.testing.assert_array_equal(np.asarray(g1(x)), np.asarray(g1(x)))  # same key, same draw


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_, jnp.complex64])
def test_non_float_arrays_raise(dtype) -> None:
    with pytest.raises(TypeError, match="real floating array"):
        sgj.atan(jnp.zeros(3, dtype=dtype))


def test_torch_tensor_raises() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"takes jax \(or numpy\) arrays, got torch\.Tensor"):
        sgj.atan(torch.zeros(3))


def test_invalid_parameters_raise() -> None:
    with pytest.raises(ValueError, match=r"atan: alpha must be in \[1e-06, 1e\+06\] .*, got 0"):
        sgj.atan(jnp.zeros(2), alpha=0.0)
    with pytest.raises(TypeError, match="unexpected parameter"):
        sgj.spike(jnp.zeros(2), "atan", slope=1.0)


def _run(code: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_x64_off() -> None:
    """With x64 off (jax's default), float32 in, float32 out, goldens within tolerance."""
    _run("""
        import jax, jax.numpy as jnp, numpy as np
        assert not jax.config.jax_enable_x64
        import spikegrad, spikegrad.jax as sgj
        from spikegrad.conformance import goldens
        from spikegrad.conformance.checks import check_backward_values
        for case in goldens.cases(dtype="float32"):
            s = spikegrad.get(case.name, **case.params)
            key = jax.random.key(0) if s.stochastic else None
            x = jnp.asarray(case.inputs())
            y, vjp = jax.vjp(jax.jit(lambda v: sgj.spike(v, s, key=key)), x)
            g = np.asarray(vjp(jnp.ones_like(y))[0])
            assert g.dtype == np.float32
            ok, ulp, detail = check_backward_values(case, g, 16.0, flushes_subnormals=True)
            assert ok, (case.id, detail)
        print("ok")
    """)


def test_shard_map_and_sharded_jit_over_two_devices() -> None:
    out = _run("""
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        import spikegrad, spikegrad.jax as sgj
        assert jax.device_count() == 2, jax.devices()
        mesh = Mesh(np.array(jax.devices()), ("d",))
        x = jnp.linspace(-2, 2, 64, dtype=jnp.float32)
        ref = spikegrad.get("atan").derivative(np.asarray(x))
        f = lambda v: sgj.atan(v).sum()
        xs = jax.device_put(x, NamedSharding(mesh, P("d")))
        g = jax.jit(jax.grad(f))(xs)
        assert len(g.sharding.device_set) == 2
        np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-6)
        sm = jax.shard_map(lambda v: jax.grad(lambda u: sgj.atan(u).sum())(v),
                           mesh=mesh, in_specs=P("d"), out_specs=P("d"))
        np.testing.assert_allclose(np.asarray(jax.jit(sm)(xs)), ref, rtol=1e-6)
        print("ok")
    """, {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert "ok" in out
