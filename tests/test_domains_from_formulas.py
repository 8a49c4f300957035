"""Parameter domains derived from the formulas: 0 is accepted where the formulas compute it
exactly, negative values are refused where they flip the sign of ``g'`` or put a pole in
it, and the fuzzer checks every path at each new edge (the rule is written out in
``spikegrad/surrogates/_define.py``).

Each value accepted at 0 is checked against an independent hand-written float64 oracle of
the formula's value there (and, for canonical entries, against the mpmath oracles of
``conformance/oracles.py``): on a grid with ``±0``, subnormals, ``±max``, ``±inf`` and NaN,
in float16, float32 and float64.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import spikegrad

from . import _fuzz

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))

from generate_goldens import evaluate as oracle_evaluate
from oracles import ORACLES

Oracle = Callable[[np.ndarray], np.ndarray]

#: every input the zero-edge checks run on (float64 values, cast per dtype)
GRID = np.array([0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-40, -1e-40, 0.25, -0.25,
                 0.5, -0.5, 1.0, -1.0, 1.5, -3.0, 7.0, -7.0, 1e3, -1e3, 6e4, -6e4, 3e38,
                 -3e38, 1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308,
                 math.inf, -math.inf, math.nan])


def _nan_kept(x: np.ndarray, value: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), np.nan, value)


def _ones(x: np.ndarray) -> np.ndarray:
    return _nan_kept(x, np.ones_like(x))


def _zeros(x: np.ndarray) -> np.ndarray:
    return _nan_kept(x, np.zeros_like(x))


def _identity(x: np.ndarray) -> np.ndarray:
    return x.copy()


def _above_one(x: np.ndarray) -> np.ndarray:
    """``1[x > B]`` with the default ``B = 1``."""
    return _nan_kept(x, (x > 1.0).astype(np.float64))


def _zeros_periodic(x: np.ndarray) -> np.ndarray:
    """0, except NaN at ``+inf`` (a periodic shape has no limit there)."""
    return np.where(np.isnan(x) | (x == math.inf), np.nan, 0.0)


def _s2nn_d(x: np.ndarray) -> np.ndarray:
    """``alpha sigma(alpha x) sigma(-alpha x)`` below 0 (``alpha = 4``), ``0 / (x + 1)``
    at and above."""
    with np.errstate(over="ignore"):
        e = np.exp(-4.0 * np.abs(x))
    return _nan_kept(x, np.where(x < 0, 4.0 * e / (1.0 + e) ** 2, 0.0))


def _s2nn_g(x: np.ndarray) -> np.ndarray:
    """``sigma(alpha x)`` below 0, ``0 * log(1 + x) + 1/2`` at and above."""
    with np.errstate(over="ignore"):
        e = np.exp(-4.0 * np.abs(x))
    return _nan_kept(x, np.where(x < 0, e / (1.0 + e), 0.5))


#: (entry, parameter) -> (g' at 0, g at 0 or None): every parameter the formulas compute
#: exactly at 0 that a domain opened there, and the window scale whose primitive gave NaN
#: at +inf at 0.  The slopes give the straight-through estimator (g' = 1, g = x: the
#: anchor 1/k is dropped); the factors give 0.
ZERO: dict[tuple[str, str], tuple[Oracle, Oracle | None]] = {
    # slopes: 1 / (1 + 0 |x|)^2 = 1
    ("fast_sigmoid", "k"): (_ones, _identity),
    ("super_spike", "beta"): (_ones, _identity),
    ("sparse_fast_sigmoid", "slope"): (_above_one, None),
    ("norse:super", "alpha"): (_ones, _identity),
    ("snntorch:fast_sigmoid", "slope"): (_ones, _identity),
    ("snntorch:SFS", "slope"): (_above_one, None),
    ("braintools:InvSquareGrad", "alpha"): (_ones, _identity),
    ("brainstate:InvSquareGrad", "alpha"): (_ones, _identity),
    ("spyx:superspike", "k"): (_ones, _identity),
    # factors of g': 0 * h(x) = 0, also at x = ±inf
    ("triangle", "height"): (_zeros, _zeros),
    ("gaussian", "scale"): (_zeros, _zeros),
    ("multi_gaussian", "scale"): (_zeros, _zeros),
    ("spike_rate_escape", "slope"): (_zeros, _zeros),
    ("sign_triangular", "threshold"): (_zeros, _zeros),
    ("heaviside_window", "scale"): (_zeros, _zeros),
    ("periodic_exponential", "scale"): (_zeros_periodic, None),
    ("norse:triangle", "alpha"): (_zeros, _zeros),
    ("snntorch:spike_rate_escape", "slope"): (_zeros, _zeros),
    ("snntorch:triangular", "threshold"): (_zeros, _zeros),
    ("spikingjelly:SuperSpike", "alpha"): (_zeros, _zeros),
    ("braintools:ReluGrad", "alpha"): (_zeros, _zeros),
    ("brainstate:ReluGrad", "alpha"): (_zeros, _zeros),
    ("braintools:GaussianGrad", "alpha"): (_zeros, _zeros),
    ("brainstate:GaussianGrad", "alpha"): (_zeros, _zeros),
    ("braintools:MultiGaussianGrad", "scale"): (_zeros, _zeros),
    ("brainstate:MultiGaussianGrad", "scale"): (_zeros, _zeros),
    ("spyx:abs_linear", "dampening_factor"): (_zeros, _zeros),
    ("spyx:boxcar", "height"): (_zeros, _zeros),
    ("sinabs:SingleExponential", "grad_scale"): (_zeros, _zeros),
    ("sinabs:Gaussian", "grad_scale"): (_zeros, _zeros),
    ("sinabs:MultiGaussian", "grad_scale"): (_zeros, _zeros),
    ("sinabs:PeriodicExponential", "grad_scale"): (_zeros_periodic, None),
    ("lava_dl:Spike", "scale_grad"): (_zeros, _zeros),
    # a factor of one branch: the log tail above threshold vanishes, the sigmoid stays
    ("s2nn", "beta"): (_s2nn_d, _s2nn_g),
    ("spikingjelly:S2NN", "beta"): (_s2nn_d, _s2nn_g),
    ("braintools:S2NN", "beta"): (_s2nn_d, _s2nn_g),
    ("brainstate:S2NN", "beta"): (_s2nn_d, _s2nn_g),
}

#: Nonnegative parameters that accepted 0 already (weights, windows, an unused epsilon).
ZERO_BEFORE = {("multi_gaussian", "h"), ("heaviside_window", "window"),
               ("stochastic_spike_operator", "variance"), ("snntorch:SSO", "variance"),
               ("braintools:S2NN", "epsilon"), ("brainstate:S2NN", "epsilon"),
               ("braintools:MultiGaussianGrad", "h"), ("brainstate:MultiGaussianGrad", "h"),
               ("sinabs:MultiGaussian", "h"), ("sinabs:Heaviside", "window"),
               ("rockpool:StepPWL", "window")}


def _entries() -> list[str]:
    return [*spikegrad.names(), *spikegrad.aliases()]


def _real_params() -> list[tuple[str, spikegrad.Param]]:
    return [(n, p) for n in _entries() for p in spikegrad.entry(n).params
            if p.domain.kind == "real"]


def _id(case: tuple[str, str]) -> str:
    return f"{case[0]}-{case[1]}"


def _at_zero(name: str, param: str) -> spikegrad.Bound:
    return spikegrad.get(name, **{param: 0.0})


# -- the repro --------------------------------------------------------------------
def test_norse_superspike_alpha_zero() -> None:
    """norse's LIF box neurons pass ``alpha = 0`` (a one-element tensor) to SuperSpike:
    the formula ``1 / (alpha |x| + 1)^2`` is the constant 1 there, and norse accepts it."""
    torch = pytest.importorskip("torch")
    from spikegrad.compat import norse as ours

    x64 = GRID[~np.isnan(GRID)]
    for alpha in (0.0, torch.zeros(1), torch.zeros((), dtype=torch.float64)):
        for fn in (ours.superspike_fn, ours.super_fn, ours.SuperSpike.apply,
                   lambda v, a: ours.threshold(v, "super", a)):
            x = torch.tensor(x64, requires_grad=True)
            z = fn(x, alpha)
            (grad,) = torch.autograd.grad(z.sum(), x)
            np.testing.assert_array_equal(z.detach().numpy(), (x64 > 0).astype(np.float64))
            np.testing.assert_array_equal(grad.numpy(), np.ones_like(x64))
    x = torch.tensor([math.nan], requires_grad=True)
    (grad,) = torch.autograd.grad(ours.superspike_fn(x, 0.0).sum(), x)
    assert math.isnan(float(grad[0]))

    norse_threshold = pytest.importorskip("norse.torch.functional.threshold")
    # norse itself accepts alpha = 0 and spikes alike; norse 1.1.0's backward ignores alpha
    # (1 / (|x| + 1)^2, catalogued), so where it is right (alpha = 1) the gradients agree
    for alpha, ours_alpha in ((0.0, 0.0), (torch.zeros(1), torch.zeros(1)), (1.0, 1.0)):
        xt = torch.tensor(x64[np.isfinite(x64)], requires_grad=True)
        xo = xt.detach().clone().requires_grad_(True)
        zt = norse_threshold.superspike_fn(xt, alpha)
        zo = ours.superspike_fn(xo, ours_alpha)
        np.testing.assert_array_equal(zo.detach().numpy(), zt.detach().numpy())
        (gt,) = torch.autograd.grad(zt.sum(), xt)
        (go,) = torch.autograd.grad(zo.sum(), xo)
        if alpha == 1.0:
            np.testing.assert_allclose(go.numpy(), gt.numpy(), rtol=1e-15)
        else:
            assert torch.isfinite(gt).all()
            np.testing.assert_array_equal(go.numpy(), np.ones(xo.shape))


def test_norse_lif_box_neuron_with_alpha_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """norse's own LIF box test (``alpha = torch.zeros(1)``) with spikegrad's threshold in
    the neuron: it runs, integrates as norse's, and back-propagates the straight-through
    gradient."""
    torch = pytest.importorskip("torch")
    fbox = pytest.importorskip("norse.torch.functional.lif_box")
    from norse.torch.module.lif_box import LIFBoxCell

    from spikegrad.compat import norse as ours

    monkeypatch.setattr(fbox, "threshold", ours.threshold)
    p = fbox.LIFBoxParameters(tau_mem_inv=torch.ones(1) * 1000, v_th=torch.ones(1),
                              v_leak=torch.zeros(1), v_reset=torch.zeros(1),
                              alpha=torch.zeros(1))
    x = torch.ones(2, 1, requires_grad=True)
    m = LIFBoxCell(p)
    z, s = m(x)
    z2, s = m(x, s)
    (z + z2).sum().backward()
    assert z.shape == (2, 1) and torch.all(torch.eq(s.v, 1))
    assert torch.isfinite(x.grad).all() and bool((x.grad != 0).all())


# -- zero where the formula is exact -------------------------------------------------------
def test_every_parameter_open_at_zero_is_checked_here() -> None:
    """Every nonnegative real parameter whose domain holds 0 is one of the cases below (or
    accepted 0 before): a domain opened at 0 without its check fails here."""
    open_at_zero = {(n, p.name) for n, p in _real_params()
                    if p.domain.low >= 0.0 and p.domain.check(0.0)}
    assert open_at_zero - ZERO_BEFORE == {k for k in ZERO if k != ("heaviside_window", "scale")}


@pytest.mark.parametrize("case", list(ZERO), ids=_id)
def test_zero_accepted_where_formula_is_exact(case: tuple[str, str]) -> None:
    name, param = case
    d_oracle, g_oracle = ZERO[case]
    s = _at_zero(name, param)
    assert s.params[param] == 0.0
    assert spikegrad.get(name, **{param: -0.0}).params[param] == 0.0
    for dtype, rtol in (("float64", 1e-15), ("float32", 2e-7), ("float16", 1e-3)):
        with np.errstate(over="ignore"):
            x = GRID.astype(dtype)
        x64 = x.astype(np.float64)
        fns = [("derivative", s.derivative, d_oracle)]
        if g_oracle is not None:
            fns.append(("primitive", s.primitive, g_oracle))
        for what, fn, oracle in fns:
            got = np.asarray(fn(x))
            assert got.dtype == x.dtype, (what, got.dtype)
            with np.errstate(over="ignore"):
                want = oracle(x64).astype(dtype).astype(np.float64)
            got = got.astype(np.float64)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want),
                                          err_msg=f"{name}({param}=0) {what} {dtype}: NaN")
            np.testing.assert_allclose(got, want, rtol=rtol, atol=0,
                                       err_msg=f"{name}({param}=0) {what} {dtype}")


MPMATH = [c for c in ZERO if c[0] in ORACLES]


@pytest.mark.parametrize("case", MPMATH, ids=_id)
def test_zero_is_the_formulas_value_in_mpmath(case: tuple[str, str]) -> None:
    """The canonical formulas restated in mpmath (50 digits; ``±inf`` as the limit in
    ``x``) give the same values at 0 as the hand-written oracles above; the primitive's
    oracle is compared where it is defined at 0 (fast_sigmoid's anchor ``1/k`` is not)."""
    name, param = case
    s = _at_zero(name, param)
    d_fn, g_fn = ORACLES[name]
    params = {k: (float(v) if isinstance(v, float) else v) for k, v in s.params.items()}
    x = GRID[~np.isnan(GRID)]
    d_oracle, g_oracle = ZERO[case]
    hi, _ = oracle_evaluate(d_fn, name, x, params)
    np.testing.assert_allclose(hi, d_oracle(x), rtol=1e-15, atol=0)
    np.testing.assert_allclose(np.asarray(s.derivative(x)), hi, rtol=1e-15, atol=0)
    if g_fn is not None and g_oracle is not None:
        try:
            g_hi, _ = oracle_evaluate(g_fn, name, x, params)
        except ZeroDivisionError:
            assert name in ("fast_sigmoid", "super_spike")
            return
        np.testing.assert_allclose(g_hi, g_oracle(x), rtol=1e-15, atol=0)


# -- negative (and zero) refused where the formula flips or has a pole ---------------------
NONNEGATIVE = [(n, p) for n, p in _real_params() if p.domain.low >= 0.0]
NO_ZERO = [(n, p) for n, p in NONNEGATIVE if not p.domain.check(0.0)]


def _refused(name: str, param: spikegrad.Param, value: float) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{name}: {param.name} must be "
                                                   f"{param.domain.text}, got {value!r}")):
        spikegrad.get(name, **{param.name: value})


@pytest.mark.parametrize(("name", "param"), NONNEGATIVE,
                         ids=[f"{n}-{p.name}" for n, p in NONNEGATIVE])
def test_negative_refused_where_it_flips_or_poles(name: str, param: spikegrad.Param) -> None:
    """A negative slope, width or amplitude flips the sign of ``g'`` or puts a pole in it:
    refused with a message naming the parameter and its domain (the smallest negative
    magnitude too: only the sign is wrong)."""
    for value in (-1.0, -max(param.domain.min_magnitude, 1e-6)):
        _refused(name, param, value)


@pytest.mark.parametrize(("name", "param"), NO_ZERO, ids=[f"{n}-{p.name}" for n, p in NO_ZERO])
def test_zero_refused_where_the_formula_divides_or_collapses(name: str,
                                                             param: spikegrad.Param) -> None:
    """0 as a width, period or standard deviation is a pole, dspike's 0 is ``0/0``, and a
    normalised shape's slope at 0 leaves ``g' = 0`` with a constant ``g``."""
    _refused(name, param, 0.0)


def test_the_domain_text_says_zero_where_zero_is_accepted() -> None:
    for name, p in NONNEGATIVE:
        assert p.domain.text.startswith("0 or ") == p.domain.check(0.0), (name, p.name)


# -- learnable values at 0 -------------------------------------------------------------------
LEARNABLE_ZERO = [c for c in ZERO if not spikegrad.entry(c[0]).is_alias
                  and spikegrad.entry(c[0]).formula.primitive is not None]
X = np.array([0.0, -0.0, 0.3, -0.7, 1.9, -2.5, 12.0])
G = np.array([1.0, 0.7, -0.3, 0.5, 1.1, -0.4, 0.2])


def _theta_gradient(name: str, param: str) -> float:
    """``Σ G ∂g/∂θ`` at ``θ = 0``, independently: a factor's ``g`` is affine in it
    (``g(1) - g(0)``); a slope at 0 has ``g = x / (1 + k|x|)`` (the anchor dropped),
    whose slope in ``k`` is ``-x|x|``."""
    if ZERO[(name, param)][1] is _identity:
        return float(np.sum(G * -X * np.abs(X)))
    one = spikegrad.get(name, **{param: 1.0}).primitive(X)
    zero = spikegrad.get(name, **{param: 0.0}).primitive(X)
    return float(np.sum(G * (one - zero)))


@pytest.mark.parametrize("case", LEARNABLE_ZERO, ids=_id)
def test_torch_learnable_value_at_zero(case: tuple[str, str]) -> None:
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    name, param = case
    theta = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(X, requires_grad=True)
    y = sgt.spike(x, name, **{param: theta})
    gx, gt = torch.autograd.grad(y, (x, theta), torch.tensor(G))
    np.testing.assert_allclose(gx.numpy(), G * _at_zero(name, param).derivative(X),
                               rtol=1e-15, atol=0)
    assert math.isfinite(float(gt))
    np.testing.assert_allclose(float(gt), _theta_gradient(name, param), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("case", LEARNABLE_ZERO, ids=_id)
def test_jax_learnable_value_at_zero(case: tuple[str, str]) -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    name, param = case
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        def loss(x: object, theta: object) -> object:
            return jnp.sum(jnp.asarray(G) * sgj.spike(x, name, **{param: theta}))

        gx, gt = jax.grad(loss, argnums=(0, 1))(jnp.asarray(X), jnp.asarray(0.0))
    finally:
        jax.config.update("jax_enable_x64", previous)
    np.testing.assert_allclose(np.asarray(gx), G * _at_zero(name, param).derivative(X),
                               rtol=1e-15, atol=0)
    np.testing.assert_allclose(float(gt), _theta_gradient(name, param), rtol=1e-12,
                               atol=1e-15)


def test_a_learnable_slope_may_reach_zero() -> None:
    """A module's learnable slope set to 0 is the straight-through estimator at the next
    call; a negative one is refused, naming the call."""
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    m = sgt.Surrogate("fast_sigmoid", learnable=True)
    x = torch.linspace(-3, 3, 7, requires_grad=True)
    m.k.data.fill_(0.0)
    (gx,) = torch.autograd.grad(m(x).sum(), x)
    np.testing.assert_array_equal(gx.numpy(), np.ones(7, dtype=np.float32))
    m.k.data.fill_(-1.0)
    with pytest.raises(ValueError, match=r"fast_sigmoid \(Surrogate call 2\): k must be 0 or"):
        m(x)


# -- the fuzzer at each new edge -------------------------------------------------------------
def _edges() -> list[tuple[str, str, float]]:
    """0 and the smallest positive value of each opened parameter, once per computation:
    an alias whose value maps onto the same formula parameters and scale as an earlier
    case (``norse:triangle(alpha=0)`` is ``triangle(height=0)``) computes the same."""
    out, seen = [], set()
    for name, param in ZERO:
        domain = next(p.domain for p in spikegrad.entry(name).params if p.name == param)
        for value in (0.0, domain.min_magnitude):
            b = spikegrad.get(name, **{param: value})
            key = (b.entry.formula.name, tuple(sorted(b.formula_params.items())), b.scale)
            if key not in seen:
                seen.add(key)
                out.append((name, param, value))
    return out


EDGES = _edges()


@pytest.mark.parametrize(("name", "param", "value"), EDGES,
                         ids=[f"{n}-{p}={v:g}" for n, p, v in EDGES])
def test_fuzzer_at_the_new_edge(name: str, param: str, value: float) -> None:
    """0 exactly and the smallest positive value, through every installed path (numpy
    engines, torch native/operators/tensor parameters, jax eager/jit/array parameters) in
    every dtype, against the mpmath oracles (canonical) or the float64 engine (aliases)."""
    s = spikegrad.get(name, **{param: value})
    xs = [*GRID[np.isfinite(GRID)], 1.0 + 2**-23, 1.0 - 2**-24, 2.0, -2.0]
    failures = _fuzz.check_example(s, _fuzz.input_values(s, xs), _fuzz.paths())
    assert not failures, "\n".join(str(f) for f in failures[:6])


def test_the_fuzzer_draws_zero_and_the_smallest_magnitude() -> None:
    """The fuzzer's edge values of a domain include 0 and ``±min_magnitude`` wherever the
    domain holds them."""
    for _, p in _real_params():
        edges = _fuzz.real_values(p.domain)
        if p.domain.check(0.0):
            assert 0.0 in edges, p.domain.text
        for m in (p.domain.min_magnitude, -p.domain.min_magnitude):
            if m and p.domain.check(m):
                assert m in edges, p.domain.text
