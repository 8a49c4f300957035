"""The fused CPU parameter gradient for jax (``spikegrad.adapters.jax_kernels``): the
generated kernel through an XLA custom call, where array parameters learn.

Finding (issue "Parameters that learn"): ``jit(grad)`` with respect to ``x`` and a 0-d
alpha cost 2.3-2.7x the ``x``-only gradient at 2^18 and 4-6x at 2^22: XLA's CPU backend
computed ``grad_x``, the per-element ``G ∂g/∂α`` and their sum in three passes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import spikegrad

from ._param_oracle import fd_param_grads
from .conftest import LEARNABLE

jax = pytest.importorskip("jax", reason="needs JAX (pip install jax)")
import jax.numpy as jnp  # noqa: E402

import spikegrad.jax as sgj  # noqa: E402
from spikegrad.adapters import jax_kernels  # noqa: E402

TARGET = f"custom_call @{jax_kernels.TARGET}("


@pytest.fixture
def jnp_only():
    """The jax.numpy gradient (the custom call off) for functions traced inside."""
    jax_kernels.set_enabled(False)
    yield
    jax_kernels.set_enabled(True)


def _grads(name: str, pname: str, x: jax.Array, theta: jax.Array, G: jax.Array):
    f = jax.jit(lambda v, t, g: jax.vjp(lambda u, s: sgj.spike(u, name, **{pname: s}),
                                        v, t)[1](g))
    return f, f(x, theta, G)


def _atan_dalpha(x: np.ndarray, alpha: float) -> np.ndarray:
    """The float64 oracle ``∂g/∂α`` of atan's ``g = atan(π α x / 2) / π + 1/2``, written
    apart from the spec: ``x / (2 (1 + (π α x / 2)^2))``."""
    return (x / 2) / (1 + (np.pi / 2 * alpha * x) ** 2)


def _learnable_params() -> list[tuple[str, str]]:
    out = []
    for name in LEARNABLE:
        e = spikegrad.entry(name)
        if e.stochastic or not spikegrad.get(name).has_primitive:
            continue
        out += [(name, p.name) for p in e.params if not p.static]
    return out


@pytest.mark.parametrize("layout", ["0-d", "per neuron"])
@pytest.mark.parametrize("name,pname", _learnable_params())
def test_every_definition_through_the_custom_call_matches_finite_differences(
        name: str, pname: str, layout: str, x64: None) -> None:
    """float64, jitted: a 0-d or per-element parameter's compiled gradient calls the
    kernel, and ``grad_θ`` matches central differences of the float64 primitive,
    ``grad_x`` the reference's g'."""
    base = spikegrad.get(name)
    theta0 = float(base.params[pname]) or 1.0  # 0 (heaviside_window): at its domain's edge
    scale = float(base.entry.x_scale(base.params)) or 1.0
    rng = np.random.default_rng(7)
    x = rng.uniform(-2.0, 2.0, size=(3, 5)) / scale
    G = rng.normal(size=x.shape)
    theta = np.asarray(theta0) if layout == "0-d" else np.full(x.shape, theta0)
    f, (gx, gt) = _grads(name, pname, jnp.asarray(x), jnp.asarray(theta), jnp.asarray(G))
    hlo = f.lower(jnp.asarray(x), jnp.asarray(theta), jnp.asarray(G)).as_text()
    assert TARGET in hlo
    want = fd_param_grads(name, {pname: theta}, x, G)[pname]
    np.testing.assert_allclose(np.asarray(gt), want, rtol=1e-6,
                               atol=1e-8 * max(1.0, np.abs(want).max()))
    want_x = G * spikegrad.get(name, **{pname: theta}).derivative(x)
    np.testing.assert_allclose(np.asarray(gx), want_x, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("n", [0, 5, jax_kernels.CHUNK - 1, 3 * jax_kernels.CHUNK + 17])
def test_chunks_cover_every_element_and_sum_in_a_fixed_order(n: int) -> None:
    """The handler runs the kernel in chunks on XLA's threads: every element is computed
    once (sizes around the chunk), and a 0-d gradient is the same bits at every call."""
    rng = np.random.default_rng(n)
    x = rng.uniform(0.01, 1.0, size=n).astype(np.float32)
    G = rng.uniform(0.5, 1.0, size=n).astype(np.float32)
    theta = np.float32(2.0)
    f, (gx, ga) = _grads("atan", "alpha", jnp.asarray(x), jnp.asarray(theta), jnp.asarray(G))
    assert TARGET in f.lower(jnp.asarray(x), jnp.asarray(theta), jnp.asarray(G)).as_text()
    xd, Gd = x.astype(np.float64), G.astype(np.float64)
    td = theta.astype(np.float64)
    each = Gd * _atan_dalpha(xd, float(td))  # G ∂/∂α of atan's g
    np.testing.assert_allclose(float(ga), each.sum(), rtol=3e-6, atol=1e-30)
    np.testing.assert_allclose(np.asarray(gx), Gd * spikegrad.get("atan", alpha=td).derivative(
        xd), rtol=1e-6, atol=1e-30)
    again = f(jnp.asarray(x), jnp.asarray(theta), jnp.asarray(G))
    assert np.asarray(again[1]).tobytes() == np.asarray(ga).tobytes()


@pytest.mark.parametrize("cotangent", ["given", "sum"])
@pytest.mark.parametrize("n", [5, jax_kernels.CHUNK - 1, 3 * jax_kernels.CHUNK + 17])
def test_a_per_neuron_parameter_takes_the_kernel_chunk_by_chunk(n: int, cotangent: str
                                                                ) -> None:
    """Finding (benchmark): a per-neuron alpha (``x``'s shape) kept ``jax.numpy``, 2.7x the
    number-alpha path at 2^18 and 4.3x at 2^22 for ``jit(grad)`` of a sum.  It now takes
    the kernel's per-element layout: each chunk reads and writes its own slice of the
    parameter and of its gradient (sizes around the chunk), with a given cotangent and a
    sum's one value.  Oracle: the float64 closed forms of atan's g' and ∂g/∂α."""
    rng = np.random.default_rng(n)
    x = rng.uniform(-2.0, 2.0, size=n).astype(np.float32)
    alpha = rng.uniform(1.0, 3.0, size=n).astype(np.float32)
    G = rng.uniform(0.5, 1.5, size=n).astype(np.float32)
    if cotangent == "given":
        f, (gx, ga) = _grads("atan", "alpha", jnp.asarray(x), jnp.asarray(alpha),
                             jnp.asarray(G))
        hlo = f.lower(jnp.asarray(x), jnp.asarray(alpha), jnp.asarray(G)).as_text()
    else:
        G = np.ones(n, np.float32)
        f = jax.jit(jax.grad(lambda v, a: spikegrad.jax.atan(v, alpha=a).sum(),
                             argnums=(0, 1)))
        gx, ga = f(jnp.asarray(x), jnp.asarray(alpha))
        hlo = f.lower(jnp.asarray(x), jnp.asarray(alpha)).as_text()
    assert TARGET in hlo
    xd, ad, Gd = (v.astype(np.float64) for v in (x, alpha, G))
    want_x = Gd * (ad / 2) / (1 + (np.pi / 2 * ad * xd) ** 2)
    np.testing.assert_allclose(np.asarray(gx), want_x, rtol=2e-6, atol=0)
    np.testing.assert_allclose(np.asarray(ga), Gd * _atan_dalpha(xd, ad), rtol=2e-6,
                               atol=1e-12)


@pytest.mark.parametrize("name,scalar,each", [("gaussian", "mu", "sigma"),
                                              ("s2nn", "beta", "alpha")])
def test_one_value_and_per_neuron_parameters_in_one_call(name: str, scalar: str,
                                                         each: str, x64: None) -> None:
    """A 0-d and a per-element parameter together: one custom call, the first summed, the
    second per element; finite differences of the float64 primitive for both."""
    base = spikegrad.get(name)
    scale = float(base.entry.x_scale(base.params)) or 1.0
    rng = np.random.default_rng(2)
    x = rng.uniform(-2.0, 2.0, size=(4, 9)) / scale
    G = rng.normal(size=x.shape)
    s0 = np.asarray(float(base.params[scalar]) or 0.1)
    e0 = np.full(x.shape, float(base.params[each])) * rng.uniform(0.8, 1.2, size=x.shape)
    f = jax.jit(lambda v, a, b, g: jax.vjp(
        lambda u, p, q: sgj.spike(u, name, **{scalar: p, each: q}), v, a, b)[1](g))
    args = (jnp.asarray(x), jnp.asarray(s0), jnp.asarray(e0), jnp.asarray(G))
    assert TARGET in f.lower(*args).as_text()
    gx, gs, ge = f(*args)
    want = fd_param_grads(name, {scalar: s0, each: e0}, x, G)
    for got, pname in ((gs, scalar), (ge, each)):
        np.testing.assert_allclose(np.asarray(got), want[pname], rtol=1e-6,
                                   atol=1e-8 * max(1.0, np.abs(want[pname]).max()))
    np.testing.assert_allclose(np.asarray(gx), G * spikegrad.get(
        name, **{scalar: s0, each: e0}).derivative(x), rtol=1e-12, atol=1e-300)


def test_a_per_channel_parameter_keeps_jax_numpy() -> None:
    """A parameter of another shape than one value or ``x``'s (per channel) is not the
    kernel's: ``jax.numpy``, with the same gradient."""
    x = jnp.asarray(np.random.default_rng(4).normal(size=(8, 16)).astype(np.float32))
    a = jnp.full((16,), 2.0, jnp.float32)
    f = jax.jit(jax.grad(lambda v, b: sgj.atan(v, alpha=b).sum(), argnums=(0, 1)))
    assert TARGET not in f.lower(x, a).as_text()
    _, ga = f(x, a)
    xd = np.asarray(x, np.float64)
    np.testing.assert_allclose(np.asarray(ga), _atan_dalpha(xd, 2.0).sum(axis=0), rtol=1e-5)


def test_off_it_is_jax_numpy_and_the_same_values(jnp_only: None) -> None:
    """The switch works (the check above can fail): off, no custom call, and the values
    agree with the kernel's within float32 rounding."""
    rng = np.random.default_rng(1)
    x, G = (jnp.asarray(rng.normal(size=(16, 40)).astype(np.float32)) for _ in range(2))
    a = jnp.asarray(2.0, jnp.float32)  # x's dtype (with x64 on, 2.0 would be float64)
    f, (gx, ga) = _grads("atan", "alpha", x, a, G)
    assert TARGET not in f.lower(x, a, G).as_text()
    jax_kernels.set_enabled(True)
    g2, (gx2, ga2) = _grads("atan", "alpha", x, a, G)
    assert TARGET in g2.lower(x, a, G).as_text()
    np.testing.assert_allclose(np.asarray(gx2), np.asarray(gx), rtol=3e-7, atol=0)
    np.testing.assert_allclose(float(ga2), float(ga), rtol=2e-6)


def test_grad_of_a_sum_and_of_a_mean() -> None:
    """``jit(grad)`` of ``sum`` and ``mean`` (a broadcast cotangent) through the kernel."""
    x = jnp.linspace(-0.5, 1.5, 1000)
    a = jnp.asarray(2.0)
    xd = np.asarray(x, np.float64)
    d_alpha = _atan_dalpha(xd, 2.0)
    for red, scale in ((jnp.sum, 1.0), (jnp.mean, 1 / x.size)):
        f = jax.jit(jax.grad(lambda v, b, red=red: red(sgj.atan(v, alpha=b)), argnums=(0, 1)))
        assert TARGET in f.lower(x, a).as_text()
        gx, ga = f(x, a)
        np.testing.assert_allclose(float(ga), scale * d_alpha.sum(), rtol=2e-6)
        np.testing.assert_allclose(np.asarray(gx), scale * spikegrad.get("atan").derivative(
            xd), rtol=3e-7)


def _operand_types(hlo: str) -> list[str]:
    """The operand types of the (one) custom call in ``hlo``."""
    (line,) = [ln for ln in hlo.splitlines() if TARGET in ln]
    return re.findall(r"tensor<[^>]*>", line.rsplit(" : (", 1)[1].split(") -> ")[0])


@pytest.mark.parametrize("n", [5, jax_kernels.CHUNK - 1, 3 * jax_kernels.CHUNK + 17])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_broadcast_cotangent_reaches_the_kernel_as_one_value(n: int, dtype: str,
                                                              x64: None) -> None:
    """Finding: ``jit(grad)`` of a sum cost 2.4x the ``x``-only gradient at 2^18 (vs 1.4x
    for a given cotangent): XLA wrote the broadcast ones out for the custom call.  The
    transpose now passes the broadcast's one value (``sum``, ``mean``, a scaled sum), the
    handler serves every chunk from it; values against the float64 closed form."""
    rng = np.random.default_rng(n)
    x = jnp.asarray(rng.uniform(-1.0, 1.0, size=n).astype(dtype))
    a = jnp.asarray(2.0, dtype)
    xd = np.asarray(x, np.float64)
    d_alpha = _atan_dalpha(xd, 2.0)
    rtol = 3e-6 if dtype == "float32" else 1e-12
    for red, scale in ((jnp.sum, 1.0), (jnp.mean, 1 / n), (lambda s: 2.5 * s.sum(), 2.5)):
        f = jax.jit(jax.grad(lambda v, b, red=red: red(sgj.atan(v, alpha=b)), argnums=(0, 1)))
        types = _operand_types(f.lower(x, a).as_text())
        short = "f32" if dtype == "float32" else "f64"
        assert types == [f"tensor<{n}x{short}>", f"tensor<{short}>", f"tensor<{short}>"]
        gx, ga = f(x, a)
        np.testing.assert_allclose(float(ga), scale * d_alpha.sum(), rtol=rtol,
                                   atol=1e-7 * scale * np.abs(d_alpha).sum())
        np.testing.assert_allclose(np.asarray(gx), scale * spikegrad.get("atan").derivative(
            xd), rtol=rtol / 3, atol=0)


def test_a_cotangent_that_is_not_one_broadcast_value_stays_an_array() -> None:
    """A cotangent broadcast along a row, or weighted per element, reaches the kernel whole
    (the one-value form is for a broadcast of a scalar only)."""
    x = jnp.linspace(-1.0, 1.0, 15, dtype=jnp.float32).reshape(3, 5)
    a = jnp.asarray(2.0, jnp.float32)
    w = jnp.arange(5, dtype=jnp.float32)
    for red in (lambda s: (s * w).sum(), lambda s: (s * x).sum()):
        f = jax.jit(jax.grad(lambda v, b, red=red: red(sgj.atan(v, alpha=b)), argnums=(0, 1)))
        assert _operand_types(f.lower(x, a).as_text())[1] == "tensor<3x5xf32>"
        gx, ga = f(x, a)
        G = np.asarray(jax.grad(lambda s: red(s))(jnp.zeros_like(x)), np.float64)
        xd = np.asarray(x, np.float64)
        want = (G * _atan_dalpha(xd, 2.0)).sum()
        np.testing.assert_allclose(float(ga), want, rtol=3e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(gx), G * spikegrad.get("atan").derivative(xd),
                                   rtol=3e-7, atol=0)


def test_meta_gradients_through_the_fused_backward(x64: None) -> None:
    """A gradient of the backward (Σ W G ∂g'/∂θ, and jax.hessian in x) differentiates the
    jax.numpy form of the kernel's computation: the same as with the custom call off."""
    rng = np.random.default_rng(2)
    x, G, W = (jnp.asarray(rng.normal(size=50)) for _ in range(3))

    def meta(t):
        gx = jax.grad(lambda v: (G * sgj.atan(v, alpha=t)).sum())(x)
        return (W * gx).sum()

    def inner(t):
        return jax.grad(lambda s: (G * sgj.atan(x, alpha=s)).sum())(t)

    fused = jax.jit(jax.grad(meta))(2.0), jax.jit(jax.grad(inner))(jnp.asarray(2.0))
    jax_kernels.set_enabled(False)
    try:
        plain = jax.jit(jax.grad(meta))(2.0), jax.jit(jax.grad(inner))(jnp.asarray(2.0))
    finally:
        jax_kernels.set_enabled(True)
    np.testing.assert_allclose(np.asarray(fused), np.asarray(plain), rtol=1e-12)
    xd = np.asarray(x)
    u = np.pi / 2 * 2.0 * xd
    d_dprime = 1 / 2 / (1 + u**2) - 2.0 / 2 * 2 * u * (np.pi / 2 * xd) / (1 + u**2) ** 2
    np.testing.assert_allclose(float(fused[0]), (np.asarray(W * G) * d_dprime).sum(),
                               rtol=1e-9)


def test_forward_mode_and_vmap_keep_working() -> None:
    """jvp in α (forward mode) and vmap of the gradient (jax.numpy under vmap)."""
    x = jnp.linspace(0.01, 1.0, 64)
    a = jnp.asarray(2.0)
    xd = np.asarray(x, np.float64)
    d_alpha = _atan_dalpha(xd, 2.0)
    _, t = jax.jit(lambda s, ds: jax.jvp(lambda r: sgj.atan(x, alpha=r).sum(), (s,),
                                         (ds,)))(a, jnp.asarray(1.0))
    np.testing.assert_allclose(float(t), d_alpha.sum(), rtol=2e-6)
    g = jax.grad(lambda v, s: sgj.atan(v, alpha=s).sum(), argnums=1)
    batched = jax.jit(jax.vmap(g, in_axes=(0, None)))(jnp.stack([x, -x]), a)
    np.testing.assert_allclose(np.asarray(batched), [d_alpha.sum(), (-d_alpha).sum()],
                               rtol=2e-6)


def test_other_dtypes_keep_the_jax_numpy_gradient() -> None:
    """float16/bfloat16 inputs, and a parameter of another dtype than x, are not fused."""
    x = jnp.linspace(-1.0, 1.0, 64, dtype=jnp.bfloat16)
    a = jnp.asarray(2.0, jnp.float32)
    f = jax.jit(jax.grad(lambda v, s: sgj.atan(v, alpha=s).astype(jnp.float32).sum(),
                         argnums=(0, 1)))
    assert TARGET not in f.lower(x, a).as_text()
    gx, ga = f(x, a)
    assert gx.dtype == jnp.bfloat16 and ga.dtype == jnp.float32 and np.isfinite(float(ga))


def test_an_executable_from_another_process_errs_instead_of_calling_an_address() -> None:
    """The custom call names its kernel by a hash of its source, looked up in this
    process's table: a key this process never loaded is an error, not a jump."""
    assert jax_kernels.available()
    x = jnp.ones(8, jnp.float32)
    call = jax.ffi.ffi_call(jax_kernels.TARGET, (jax.ShapeDtypeStruct((8,), jnp.float32),
                                                 jax.ShapeDtypeStruct((), jnp.float32)))
    with pytest.raises(Exception, match="has not loaded the kernel"):
        jax.block_until_ready(call(x, x, jnp.float32(2.0), key=np.int64(12345),
                                   consts=np.zeros(1, np.float64)))


def test_three_processes_on_an_empty_cache_build_the_custom_call_once(tmp_path) -> None:
    code = textwrap.dedent("""
        import jax.numpy as jnp, spikegrad.jax as sgj
        from spikegrad.adapters import jax_kernels
        import jax
        print(float(jax.grad(lambda a: sgj.atan(jnp.linspace(-1, 1, 9), alpha=a).sum())(
            jnp.asarray(2.0))), jax_kernels.status(), jax_kernels.built_here())
    """)
    env = {**os.environ, "SPIKEGRAD_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    lines = [o.split() for o, _ in outs]
    assert all(ln[1] == "ready" for ln in lines), lines
    assert sorted(ln[2] for ln in lines) == ["False", "False", "True"], lines
    assert len(list((tmp_path / "jax_ffi").glob("*.so"))) == 1


def test_jax_export_serializes_the_jax_numpy_gradient() -> None:
    """Finding (review): ``jax.export`` refused the module ("custom calls whose targets have
    no compatibility guarantees"); a module lowered for export keeps jax.numpy."""
    from jax import export

    f = jax.jit(jax.grad(lambda v, b: sgj.atan(v, alpha=b).sum(), argnums=(0, 1)))
    x = jnp.linspace(0.01, 1.0, 64)
    a = jnp.asarray(2.0, x.dtype)
    exp = export.export(f)(x, a)
    assert jax_kernels.TARGET not in exp.mlir_module()
    got = exp.call(x, a)
    want = f(x, a)
    np.testing.assert_allclose(np.asarray(got[0]), np.asarray(want[0]), rtol=3e-7)
    np.testing.assert_allclose(float(got[1]), float(want[1]), rtol=2e-6)


def test_concurrent_executions_do_not_deadlock_on_the_pool() -> None:
    """Finding (review): 16 Python threads running a fused gradient hung for good: each
    call queued helper tasks on XLA's thread pool and waited for them while the pool's
    threads were other calls doing the same.  Run in a child process under a timeout."""
    code = textwrap.dedent("""
        import threading
        import numpy as np, jax, jax.numpy as jnp, spikegrad.jax as sgj
        from spikegrad.adapters import jax_kernels
        x = jnp.asarray(np.random.default_rng(0).normal(size=1 << 19).astype(np.float32))
        a = jnp.asarray(2.0, jnp.float32)
        f = jax.jit(jax.grad(lambda b, v: sgj.atan(v, alpha=b).sum(), argnums=(0, 1)))
        assert jax_kernels.TARGET in f.lower(a, x).as_text()
        want = f(a, x)
        bad = []
        def work():
            for _ in range(30):
                got = f(a, x)
                if float(got[0]) != float(want[0]):
                    bad.append(float(got[0]))
        threads = [threading.Thread(target=work) for _ in range(16)]
        for t in threads: t.start()
        for t in threads: t.join()
        print("ok", len(bad))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["ok", "0"], res.stdout


def test_a_call_computes_on_no_more_threads_than_xla_s_pool_has() -> None:
    """Finding (benchmark): the handler queued one helper per pool thread and computed on
    its own thread too, so a call of several chunks ran three threads on two cores (48-55
    instead of 39-41 us at 2^18 for atan's ``grad`` of a sum).  It now hands the pool
    ``min(pool size - 1, chunks - 1)`` helpers; the chunk count here is one more than the
    pool has threads, where the two rules differ."""
    a = jnp.asarray(2.0, jnp.float32)
    f = jax.jit(jax.grad(lambda v, b: spikegrad.jax.atan(v, alpha=b).sum(), argnums=(0, 1)))
    first = jnp.ones(2 * jax_kernels.CHUNK, jnp.float32)
    jax.block_until_ready(f(first, a))
    _, pool = jax_kernels.pool_use()
    assert pool >= 1
    x = jnp.ones((pool + 1) * jax_kernels.CHUNK, jnp.float32)
    assert TARGET in f.lower(x, a).as_text()
    g = f.lower(x, a).compile()
    before, _ = jax_kernels.pool_use()
    for _ in range(3):
        jax.block_until_ready(g(x, a))
    after, size = jax_kernels.pool_use()
    assert size == pool
    assert after - before == 3 * (pool - 1)


def test_disable_jit_computes_the_gradient_in_jax_numpy() -> None:
    """Finding (review): under ``jax.disable_jit()`` the primitive's eager rule called
    ``jax.jit`` of itself, which bound it again: RecursionError."""
    x = jnp.linspace(-1.0, 1.0, 9)
    a = jnp.asarray(2.0, x.dtype)
    want = jax.grad(lambda s: (x * sgj.atan(x, alpha=s)).sum())(a)
    with jax.disable_jit():
        got = jax.grad(lambda s: (x * sgj.atan(x, alpha=s)).sum())(a)
    np.testing.assert_allclose(float(got), float(want), rtol=2e-6)


def test_a_definition_the_kernel_cannot_trace_falls_back_with_a_warning() -> None:
    """Finding (review): a user definition calling an array-API function the kernel tracer
    lacks (``xp.square``) made the gradient raise UnsupportedTrace (a TypeError); it now
    warns once and keeps jax.numpy, as the torch binding does."""
    d = spikegrad.define("kernels_test:square",
                         lambda x, /, *, xp, a: 1.0 / (1.0 + xp.square(a * x)),
                         primitive=lambda x, /, *, xp, a: 0.5 + xp.atan(a * x) / a,
                         params={"a": 2.0})
    x = jnp.linspace(-1.0, 1.0, 101)
    a = jnp.asarray(2.0, x.dtype)
    f = jax.jit(jax.grad(lambda s: (x * sgj.spike(x, d, a=s)).sum()))
    with pytest.warns(RuntimeWarning, match="no fused CPU parameter gradient"):
        got = float(f(a))
    xd = np.asarray(x, np.float64)
    want = (xd * (-np.arctan(2.0 * xd) / 4.0 + xd / (2.0 * (1.0 + 4.0 * xd**2)))).sum()
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_switching_reaches_functions_jax_has_traced_before() -> None:
    """Finding (review): jax reuses the trace of a function it has seen (a new ``jax.jit``
    of it, ``checkpoint``, ``scan`` bodies), so ``set_enabled`` did not reach them."""
    x = jnp.linspace(-1.0, 1.0, 64)
    a = jnp.asarray(2.0, x.dtype)

    def step(v, s):
        return jax.grad(lambda t: sgj.atan(v, alpha=t).sum())(s)

    assert TARGET in jax.jit(step).lower(x, a).as_text()
    jax_kernels.set_enabled(False)
    try:
        assert TARGET not in jax.jit(step).lower(x, a).as_text()
    finally:
        jax_kernels.set_enabled(True)
    assert TARGET in jax.jit(step).lower(x, a).as_text()
