"""Silent wrong values at exact zero: parameter gradients and primitive mode.

* A learnable (torch) or traced (jax) parameter's gradient ``Σ G ∂g/∂θ`` must be finite
  and equal to finite differences of the float64 reference when inputs hold ``+0.0`` and
  ``-0.0`` (an overflow guard in a ``where`` branch not taken at 0 was ``inf``, and
  autodiff multiplied it by 0: NaN for fast_sigmoid, soft_sign, super_spike,
  q_pseudo_spike and their aliases).
* Primitive mode (``spiking=False``) differentiated by the framework must give ``g'``,
  also at ``x = ±0`` wherever ``g'`` is continuous there (torch's ``d|x|/dx`` at 0 is 0:
  every primitive written in ``|x|`` had derivative 0 at the threshold).
"""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad

from ._param_oracle import fd_param_grads
from .conftest import theta_derivative

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import spikegrad.jax as sgj  # noqa: E402
import spikegrad.torch as sgt  # noqa: E402


def _learnable(name: str) -> bool:
    e = spikegrad.entry(name)
    return (e.formula.primitive is not None and e.forward in ("ge", "gt")
            and not e.stochastic and any(not p.static for p in e.params))


#: Every canonical entry and alias with a primitive, a spike forward and a real parameter.
LEARNABLE_ALL = [n for n in (*spikegrad.names(), *spikegrad.aliases()) if _learnable(n)]
#: Parameters the formula never reads (accepted for a peer's signature): their gradient is 0.
UNUSED = {("braintools:S2NN", "epsilon"), ("brainstate:S2NN", "epsilon")}
#: Every deterministic entry and alias with a spike forward (second derivative at 0).
SPIKING = [n for n in (*spikegrad.names(), *spikegrad.aliases())
           if spikegrad.entry(n).forward in ("ge", "gt") and not spikegrad.entry(n).stochastic]
#: Every deterministic entry and alias with a primitive (primitive mode).
WITH_PRIMITIVE = [n for n in (*spikegrad.names(), *spikegrad.aliases())
                  if spikegrad.entry(n).formula.primitive is not None]


def _inputs(name: str) -> tuple[spikegrad.Bound, np.ndarray, np.ndarray]:
    base = spikegrad.get(name)
    scale = float(base.entry.x_scale(base.params)) or 1.0
    x = np.array([0.0, -0.0, 0.3, -0.7, 1.9, -0.0, 0.0]) / scale
    x[[0, 6]], x[[1, 5]] = 0.0, -0.0  # exact signed zeros (0 / scale keeps the sign)
    G = np.array([1.0, 0.7, -0.3, 0.5, 1.1, -0.4, 0.2])
    return base, x, G


def _real_params(base: spikegrad.Bound) -> list[spikegrad.Param]:
    return [p for p in base.entry.params if not p.static]



def _assert_matches_differences(got: float, base, p, x, G, name: str) -> None:
    """``got`` (∂L/∂θ, L = Σ G·spike) against finite differences of the primitive (the
    independent oracle), where they exist."""
    fd = theta_derivative(base, p, lambda b: b.primitive(x))
    if fd is None:
        return
    np.testing.assert_allclose(got, (G * fd).sum(), rtol=1e-6,
                               atol=1e-9 * np.abs(G * fd).sum(),
                               err_msg=f"{name}: d/d{p.name}")

@pytest.mark.parametrize("name", LEARNABLE_ALL)
def test_torch_parameter_gradient_with_signed_zeros(name: str) -> None:
    base, x, G = _inputs(name)
    for p in _real_params(base):
        theta = float(base.params[p.name])
        for dtype in (torch.float32, torch.float64):
            t = torch.tensor(theta, dtype=dtype, requires_grad=True)
            xt = torch.from_numpy(x).to(dtype)
            y = sgt.spike(xt, name, **{p.name: t})
            (g,) = torch.autograd.grad(y, t, torch.from_numpy(G).to(dtype), allow_unused=True)
            got = 0.0 if g is None else g.item()
            assert np.isfinite(got), f"{name}: d/d{p.name} = {got} ({dtype})"
            if dtype != torch.float64:
                continue
            _assert_matches_differences(got, base, p, x, G, name)


@pytest.mark.parametrize("name", LEARNABLE_ALL)
def test_jax_parameter_gradient_with_signed_zeros(name: str, x64: None) -> None:
    base, x, G = _inputs(name)
    for p in _real_params(base):
        theta = float(base.params[p.name])
        for dtype in (jnp.float32, jnp.float64):
            xj, Gj = jnp.asarray(x, dtype), jnp.asarray(G, dtype)

            def loss(t, p=p, xj=xj, Gj=Gj):
                return (Gj * sgj.spike(xj, name, **{p.name: t})).sum()

            got = float(jax.grad(loss)(jnp.asarray(theta, dtype)))
            assert np.isfinite(got), f"{name}: d/d{p.name} = {got} ({dtype.__name__})"
            if dtype != jnp.float64:
                continue
            _assert_matches_differences(got, base, p, x, G, name)


@pytest.mark.parametrize(("name", "param"), sorted(UNUSED))
def test_torch_gradient_of_an_unused_parameter_is_zero(name: str, param: str) -> None:
    """Finding: a parameter the primitive never reads (S2NN's epsilon) made the parameter
    gradient raise "does not require grad" instead of being zero."""
    t = torch.tensor(1e-8, dtype=torch.float64, requires_grad=True)
    y = sgt.spike(torch.tensor([0.0, 0.5], dtype=torch.float64), name, **{param: t})
    (g,) = torch.autograd.grad(y.sum(), t, allow_unused=True)
    assert g is None or g.item() == 0.0


@pytest.mark.parametrize("name", SPIKING)
def test_second_derivative_at_signed_zeros_is_finite(name: str, x64: None) -> None:
    """g'' at ±0 through the backward (torch double backward, nested jax.grad): the cap of
    fake_numerical_gradient saw 1/|x| = inf at 0 and gave NaN."""
    for tdt, jdt in ((torch.float32, jnp.float32), (torch.float64, jnp.float64)):
        x = torch.tensor([0.0, -0.0], dtype=tdt, requires_grad=True)
        (gx,) = torch.autograd.grad(sgt.spike(x, name).sum(), x, create_graph=True)
        if gx.requires_grad:
            (gxx,) = torch.autograd.grad(gx.sum(), x)
            assert torch.isfinite(gxx).all(), f"{name} torch g''(±0) = {gxx.tolist()}"
        xj = jnp.asarray([0.0, -0.0], jdt)
        jxx = jax.grad(lambda v: jax.grad(lambda u: sgj.spike(u, name).sum())(v).sum())(xj)
        assert np.isfinite(np.asarray(jxx)).all(), f"{name} jax g''(±0) = {jxx}"


def _continuous_points(base: spikegrad.Bound) -> tuple[np.ndarray, np.ndarray]:
    """Test points (±0, small, ordinary) where ``g'`` is continuous, and ``g'`` there."""
    scale = float(base.entry.x_scale(base.params)) or 1.0
    pts = np.array([0.0, -0.0, 1e-300, -1e-300, 1e-9, -1e-9, 0.37, -0.61, 1.3, -2.2])
    pts[2:] = pts[2:] / scale
    ref = np.asarray(base.derivative(pts), dtype=np.float64)
    d = np.maximum(np.abs(pts), 1e-3 / scale) * 1e-7
    left = np.asarray(base.derivative(pts - d), dtype=np.float64)
    right = np.asarray(base.derivative(pts + d), dtype=np.float64)
    tol = 1e-5 * max(abs(float(base.peak)), 1e-300)
    keep = (np.abs(left - ref) <= tol) & (np.abs(right - ref) <= tol) & np.isfinite(ref)
    return pts[keep], ref[keep]


def _check_primitive_mode(name: str, got: np.ndarray, pts: np.ndarray, ref: np.ndarray,
                          lib: str) -> None:
    bad = [(float(p), float(g), float(r)) for p, g, r in zip(pts, got, ref, strict=True)
           if not abs(g - r) <= 1e-12 * abs(r) + 1e-300]
    assert not bad, f"{name} ({lib}) dg/dx != g' at (x, got, want): {bad}"


@pytest.mark.parametrize("name", WITH_PRIMITIVE)
def test_torch_primitive_mode_derivative_at_zero(name: str) -> None:
    base = spikegrad.get(name)
    pts, ref = _continuous_points(base)
    key = torch.Generator().manual_seed(0) if base.stochastic else None
    m = sgt.Surrogate(name, spiking=False, key=key)
    xt = torch.tensor(pts, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(m(xt).sum(), xt)
    _check_primitive_mode(name, g.numpy(), pts, ref, "torch")


@pytest.mark.parametrize("name", WITH_PRIMITIVE)
def test_jax_primitive_mode_derivative_at_zero(name: str, x64: None) -> None:
    base = spikegrad.get(name)
    pts, ref = _continuous_points(base)
    m = sgj.Surrogate(name, spiking=False)
    g = jax.vmap(jax.grad(lambda v: m(v)))(jnp.asarray(pts, jnp.float64))
    _check_primitive_mode(name, np.asarray(g), pts, ref, "jax")


def test_fast_sigmoid_learnable_slope_at_zero_repro() -> None:
    """The report's repro: snntorch's fast sigmoid, a learnable slope, an input at 0."""
    a = torch.tensor(25.0, requires_grad=True)
    sgt.spike(torch.tensor([0.0, 0.3]), "snntorch:fast_sigmoid", slope=a).sum().backward()
    assert torch.isfinite(a.grad)


def test_sigmoid_primitive_mode_slope_at_zero_repro() -> None:
    """The report's repro: primitive-mode sigmoid's derivative at 0 is g'(0) = alpha/4."""
    x = torch.tensor([0.0, -0.0], dtype=torch.float64, requires_grad=True)
    sgt.Surrogate("sigmoid", spiking=False)(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("alpha", [100.0, 400.0, 999.0])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_dspike_alpha_gradient_is_finite_at_large_alpha(framework: str, dtype: str,
                                                        alpha: float, x64: None) -> None:
    """Finding (review): dspike's alpha gradient was NaN inside its domain [1e-6, 1000]
    from alpha ~ 90 in float32 (and at 1000 in float64): its primitive's denominator
    ``2 sinh(alpha/2) cosh(alpha |x|)`` overflowed.  Against finite differences of the
    float64 reference, on x > 0 (dg/dalpha of one sign there: no cancellation)."""
    x = np.linspace(0.05, 1.5, 31) / alpha
    G = np.linspace(0.5, 1.0, 31)
    want = float(fd_param_grads("dspike", {"alpha": np.asarray(alpha)}, x, G, h=1e-7)["alpha"])
    if framework == "torch":
        dt = getattr(torch, dtype)
        a = torch.tensor(alpha, dtype=dt, requires_grad=True)
        (got,) = torch.autograd.grad(sgt.dspike(torch.tensor(x, dtype=dt), alpha=a),
                                     a, torch.tensor(G, dtype=dt))
    else:
        dt = getattr(jnp, dtype)
        got = jax.grad(lambda s: (jnp.asarray(G, dt) * sgj.dspike(jnp.asarray(x, dt),
                                                                   alpha=s)).sum())(
            jnp.asarray(alpha, dt))
    got = float(got)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=2e-4 if dtype == "float32" else 1e-7)
    wide = np.linspace(-0.6, 0.6, 61)  # |x| near 1/2 is where the old form overflowed
    if framework == "torch":
        (g2,) = torch.autograd.grad(sgt.dspike(torch.tensor(wide, dtype=dt), alpha=a).sum(),
                                    a)
    else:
        g2 = jax.grad(lambda s: sgj.dspike(jnp.asarray(wide, dt), alpha=s).sum())(
            jnp.asarray(alpha, dt))
    assert np.isfinite(float(g2))


def test_dspike_primitive_keeps_its_digits_at_large_alpha() -> None:
    """The same finding's other half: the sinh/cosh form lost 56 ULP of its tail at
    alpha = 400 and all of it at 1000 (float64); against the closed form in mpmath."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 600  # tanh(-180) - (-1) needs ~160 digits
    for alpha in (100.0, 400.0, 1000.0):
        x = np.linspace(-0.49, 0.49, 41)
        got = spikegrad.get("dspike", alpha=alpha).primitive(x)
        want = np.array([float(mp.tanh(alpha * mp.mpf(v)) / (2 * mp.tanh(mp.mpf(alpha) / 2))
                               + mp.mpf(1) / 2) for v in x])
        np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)
