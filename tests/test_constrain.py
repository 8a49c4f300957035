"""``constrain=``: learnable parameters kept inside their domains by a clamp or a smooth map,
in the torch module and the jax pytree, on every dtype; values checked against closed forms
written here (arctan's ``g'``, softplus and its derivative)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import spikegrad
from spikegrad import _constrain
from spikegrad._spec import Domain

DTYPES = ("float16", "bfloat16", "float32", "float64")
DOMAINS = {
    "positive": Domain.positive(),
    "magnitude": Domain.magnitude(),
    "nonnegative": Domain.nonnegative(),
    "interval": Domain.interval(0.0, 1.0, high_inclusive=True),
    "below": Domain("< 2", high=2.0),
}


def _atan_prime(x: np.ndarray, alpha: float) -> np.ndarray:
    # spikingjelly's ATan: alpha / 2 / (1 + (pi/2 alpha x)^2)
    return alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2)


def _softplus(t: float) -> float:
    return math.log1p(math.exp(-abs(t))) + max(t, 0.0)


# -- the maps, on the host ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("domain", sorted(DOMAINS))
@pytest.mark.parametrize("kind", ["clamp", "softplus"])
def test_far_out_values_land_inside_the_domain(kind: str, domain: str, dtype: str) -> None:
    """Stored values far outside (and the float32 rounding of 1e-6 below itself) map to
    numbers of the dtype that the domain accepts."""
    torch = pytest.importorskip("torch")
    from spikegrad.adapters.torch_tensors import xp

    d = DOMAINS[domain]
    tdt = getattr(torch, dtype)
    raw = torch.tensor([-1e30, -50.0, -1.0, 0.0, 0.7, 50.0, 1e30], dtype=torch.float64)
    raw = raw.clamp(torch.finfo(tdt).min, torch.finfo(tdt).max).to(tdt)
    out = _constrain.apply(kind, d, raw, xp())
    assert out.dtype == tdt
    assert d.check(out.double().numpy()), (out, d.text)


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_softplus_inverse_gives_back_the_initial_value(domain: str) -> None:
    torch = pytest.importorskip("torch")
    from spikegrad.adapters.torch_tensors import xp

    d = DOMAINS[domain]
    values = np.array([v for v in (0.01, 0.5, 1.0, 1.9, 7.5) if d.check(v)])
    raw = _constrain.invert("softplus", d, values)
    back = _constrain.apply("softplus", d, torch.as_tensor(raw), xp())
    np.testing.assert_allclose(back.numpy(), values, rtol=1e-12)
    if math.isfinite(d.low):  # the closed form: low + softplus(raw)
        np.testing.assert_allclose([d.low + _softplus(r) for r in raw], values, rtol=1e-12)


def test_softplus_refuses_an_initial_value_on_a_bound_it_never_reaches() -> None:
    with pytest.raises(ValueError, match=r"constrain='softplus' reaches values beyond 0 "
                                         r"only.*use constrain='clamp'"):
        _constrain.invert("softplus", Domain.nonnegative(), np.asarray(0.0))


def test_an_unknown_constraint_is_refused() -> None:
    with pytest.raises(ValueError, match="constrain='relu' is not a constraint; use one of "
                                         "'clamp', 'softplus'"):
        _constrain.check_name("x", "relu")


# -- torch ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_clamp_holds_alpha_after_a_step_that_leaves_the_domain(dtype: str) -> None:
    """The issue's repro (``alpha.data.fill_(0.)`` on heavi_circ gave NaN) with clamp: the
    value read is the domain's edge, the gradient finite, x.grad of the clamped value."""
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    tdt = getattr(torch, dtype)
    m = sgt.Surrogate("spikingjelly:ATan", alpha=torch.tensor(2.0, dtype=tdt),
                      learnable=True, constrain="clamp")
    raw = m.parametrizations.alpha.original
    raw.data.fill_(-3.0)
    x = torch.linspace(-1, 1, 9, dtype=tdt, requires_grad=True)
    m(x).sum().backward()
    alpha = float(m.alpha.detach())
    assert alpha > 0 and spikegrad.get("spikingjelly:ATan").entry.params[0].domain.check(alpha)
    assert torch.isfinite(x.grad).all() and x.grad.dtype == tdt
    want = torch.as_tensor(_atan_prime(x.detach().double().numpy(), alpha)).to(tdt)
    fi = torch.finfo(tdt)  # a few units in the last place (subnormal ones included)
    torch.testing.assert_close(x.grad, want, rtol=4 * fi.eps, atol=2 * fi.eps * fi.tiny)
    assert float(raw.grad.detach()) == 0.0  # clamped: no gradient outside the domain


def test_torch_softplus_learns_through_the_map() -> None:
    """The optimizer updates the unconstrained value; its gradient is the parameter's
    gradient times softplus' (checked by central differences of the loss in the stored
    value, float64); big steps keep alpha > 0."""
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    m = sgt.Surrogate("spikingjelly:ATan", alpha=torch.tensor(2.0, dtype=torch.float64),
                      learnable=True, constrain="softplus")
    assert float(m.alpha.detach()) == pytest.approx(2.0, rel=1e-14)
    x = torch.linspace(-1, 1, 41, dtype=torch.float64, requires_grad=True)
    w = torch.cos(torch.arange(41, dtype=torch.float64))

    def loss() -> torch.Tensor:
        return (m(x) * w).sum()

    raw = m.parametrizations.alpha.original
    (g,) = torch.autograd.grad(loss(), raw)

    def primal(r: float) -> float:
        # spikegrad's rule: the spike passes sum G dg/dalpha to alpha, so d loss/d raw is
        # d/d raw of sum w g(x; softplus(raw)), g = atan(pi/2 alpha x)/pi + 1/2
        alpha = _softplus(r)
        xs = x.detach().numpy()
        return float(np.sum(w.numpy() * np.arctan(math.pi / 2 * alpha * xs) / math.pi))

    r0, h = float(raw.detach()), 1e-6
    fd = (primal(r0 + h) - primal(r0 - h)) / (2 * h)
    assert float(g) == pytest.approx(fd, rel=1e-6)
    opt = torch.optim.SGD(m.parameters(), lr=1e4)
    for _ in range(5):
        opt.zero_grad()
        loss().backward()
        opt.step()
        assert float(m.alpha.detach()) > 0


def test_torch_constrained_state_dict_round_trips() -> None:
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    a = sgt.Surrogate("atan", alpha=torch.full((3,), 1.5), learnable=True,
                      constrain="softplus")
    a.parametrizations.alpha.original.data.add_(torch.tensor([0.1, -0.2, 0.3]))
    b = sgt.Surrogate("atan", alpha=torch.full((3,), 9.0), learnable=True,
                      constrain="softplus")
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.alpha, a.alpha)
    assert list(a.state_dict()) == ["parametrizations.alpha.original"]


def test_torch_constrain_needs_something_learnable() -> None:
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    with pytest.raises(ValueError, match="constrain='clamp' with nothing learnable; add "
                                         "learnable=True"):
        sgt.Surrogate("atan", constrain="clamp")
    with pytest.raises(ValueError, match="constrain='tanh' is not a constraint"):
        sgt.Surrogate("atan", learnable=True, constrain="tanh")
    with pytest.raises(ValueError, match="use constrain='clamp'"):
        sgt.Surrogate("sparse_fast_sigmoid", slope=0.0, learnable=True, constrain="softplus")
    del torch


@pytest.mark.parametrize("kind", ["clamp", "softplus"])
def test_torch_constrained_module_compiles_fullgraph(kind: str) -> None:
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    m = sgt.Surrogate("atan", alpha=2.0, learnable=True, constrain=kind)
    x = torch.linspace(-1, 1, 9, requires_grad=True)
    eager = torch.autograd.grad(m(x).sum(), x)[0]
    compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
    got = torch.autograd.grad(compiled(x).sum(), x)[0]
    torch.testing.assert_close(got, eager)


# -- jax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["clamp", "softplus"])
def test_jax_constrained_pytree_stays_in_the_domain(kind: str) -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    s = sgj.Surrogate("spikingjelly:ATan", alpha=jnp.asarray(2.0), constrain=kind)
    np.testing.assert_allclose(float(s.values[0]), 2.0, rtol=1e-6)
    assert f"constrain={kind!r}" in repr(s)
    x = jnp.linspace(-1, 1, 9)
    far = jax.tree_util.tree_map(lambda leaf: leaf * 0 - 1e3, s)
    alpha = float(far.values[0])
    assert alpha > 0
    g = jax.jit(jax.grad(lambda v, s: s(v).sum()))(x, far)
    np.testing.assert_allclose(np.asarray(g), _atan_prime(np.asarray(x, np.float64), alpha),
                               rtol=1e-6)
    grads = jax.grad(lambda s: (s(x) * x).sum())(s)
    assert np.isfinite(np.asarray(grads._leaves[0]))


def test_jax_unconstrained_pytree_names_the_bad_value() -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    s = jax.tree_util.tree_map(lambda leaf: leaf * 0,
                               sgj.Surrogate("heavi_circ", alpha=jnp.asarray(0.5)))
    with pytest.raises(ValueError, match=r"heavi_circ \(Surrogate parameters at this call\): "
                                         r"alpha must be in \[1e-06, 1e\+06\]"):
        s(jnp.zeros(3))


def test_jax_constrain_needs_concrete_initial_values() -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    with pytest.raises(TypeError, match="build the Surrogate outside jit"):
        jax.jit(lambda a: sgj.Surrogate("atan", alpha=a, constrain="softplus")(
            jnp.zeros(2)))(jnp.asarray(2.0))
    with pytest.raises(ValueError, match="no array parameter to keep in its domain"):
        sgj.Surrogate("atan", alpha=2.0, constrain="clamp")
