"""Each alias against an independent float64 statement of what its library computes
(when the library is correct), written here from the catalogue, not from spikegrad."""

from __future__ import annotations

import math

import numpy as np
import pytest

import spikegrad

from .test_registry import CATALOGUE_ALIASES

pi = math.pi
A = np.abs


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def npdf(x, m, s):
    return np.exp(-((x - m) ** 2) / (2 * s * s)) / (s * math.sqrt(2 * pi))


def dist(x, period):
    r = np.mod(x, period)
    return np.minimum(r, period - r)


#: alias -> (params to test with, g'(x) of the library written independently)
ORACLES = {
    "spikingjelly:Sigmoid": ({"alpha": 3.0}, lambda x, p: 3 * sig(3 * x) * sig(-3 * x)),
    "snntorch:sigmoid": ({"slope": 5.0},
                         lambda x, p: 5 * np.exp(-5 * x) / (np.exp(-5 * x) + 1) ** 2),
    "braintools:Sigmoid": ({}, lambda x, p: 4 * sig(4 * x) * (1 - sig(4 * x))),
    "brainstate:Sigmoid": ({}, lambda x, p: 4 * sig(4 * x) * (1 - sig(4 * x))),
    "norse:tanh": ({"alpha": 3.0}, lambda x, p: 1.5 / np.cosh(3 * x) ** 2),
    "spyx:tanh": ({"k": 2.5}, lambda x, p: 4 / (np.exp(-2.5 * x) + np.exp(2.5 * x)) ** 2),
    "spikingjelly:ATan": ({}, lambda x, p: 1.0 / (1 + (pi / 2 * 2 * x) ** 2)),
    "snntorch:atan": ({"alpha": 3.0}, lambda x, p: 1.5 / (1 + (pi / 2 * 3 * x) ** 2)),
    "braintools:Arctan": ({}, lambda x, p: 0.5 / (1 + (pi / 2 * x) ** 2)),
    "brainstate:Arctan": ({}, lambda x, p: 0.5 / (1 + (pi / 2 * x) ** 2)),
    "spyx:arctan": ({"k": 2.0}, lambda x, p: 1 / (pi * (1 + (2 * pi * x) ** 2))),
    "spikingjelly:PiecewiseQuadratic": ({"alpha": 2.0},
                                        lambda x, p: np.maximum(0, 2 - 4 * A(x))),
    "braintools:PiecewiseQuadratic": ({}, lambda x, p: np.where(A(x) > 1, 0, 1 - A(x))),
    "brainstate:PiecewiseQuadratic": ({}, lambda x, p: np.where(A(x) > 1, 0, 1 - A(x))),
    "norse:triangle": ({}, lambda x, p: 0.3 * np.maximum(0, 1 - A(x))),
    "braintools:ReluGrad": ({"alpha": 0.5, "width": 2.0},
                            lambda x, p: np.maximum(0.5 * 2 - 0.5 * A(x), 0)),
    "brainstate:ReluGrad": ({}, lambda x, p: np.maximum(0.3 - 0.3 * A(x), 0)),
    "arcana:Triangular": ({}, lambda x, p: np.maximum(1 - A(x), 0) * 0.3),
    "spyx:triangular": ({"k": 2.0}, lambda x, p: np.maximum(0, 1 - A(2 * x))),
    "spyx:abs_linear": ({}, lambda x, p: 0.3 * np.maximum(0, 1 - A(x))),
    "spikingjelly:PiecewiseExp": ({"alpha": 2.0}, lambda x, p: np.exp(-2 * A(x))),
    "braintools:PiecewiseExp": ({}, lambda x, p: 0.5 * np.exp(-A(x))),
    "brainstate:PiecewiseExp": ({}, lambda x, p: 0.5 * np.exp(-A(x))),
    "braintools:SlayerGrad": ({"alpha": 2.0}, lambda x, p: np.exp(-2 * A(x))),
    "brainstate:SlayerGrad": ({}, lambda x, p: np.exp(-A(x))),
    "sinabs:SingleExponential": ({"grad_width": 0.5, "grad_scale": 2.0, "threshold": 2.0},
                                 lambda x, p: 2.0 / (2 * 0.5) * np.exp(-A(x) / (2 * 0.5))),
    "lava_dl:Spike": ({"tau_grad": 0.5, "scale_grad": 3.0, "threshold": 2.0},
                      lambda x, p: 3.0 / (2 * 1.0) * np.exp(-A(x) / 1.0)),
    "spikingjelly:SoftSign": ({}, lambda x, p: 1 / (2 * 2 * (1 / 2 + A(x)) ** 2)),
    "braintools:SoftSign": ({}, lambda x, p: 1 / (2 * (1 + A(x)) ** 2)),
    "brainstate:SoftSign": ({}, lambda x, p: 1 / (2 * (1 + A(x)) ** 2)),
    "snntorch:fast_sigmoid": ({}, lambda x, p: 1 / (25 * A(x) + 1) ** 2),
    "arcana:FastSigmoid": ({}, lambda x, p: 1 / (10 * A(x) + 1) ** 2),
    "braintools:InvSquareGrad": ({}, lambda x, p: 1 / (100 * A(x) + 1) ** 2),
    "brainstate:InvSquareGrad": ({}, lambda x, p: 1 / (100 * A(x) + 1) ** 2),
    "spyx:superspike": ({}, lambda x, p: 1 / (1 + 25 * A(x)) ** 2),
    "norse:super": ({"alpha": 7.0}, lambda x, p: 1 / (7 * A(x) + 1) ** 2),
    "spikingjelly:SuperSpike": ({"alpha": 3.0}, lambda x, p: 3 / (A(x) + 1) ** 2),
    "spikingjelly:Erf": ({}, lambda x, p: 2 / math.sqrt(pi) * np.exp(-4 * x * x)),
    "braintools:ERF": ({}, lambda x, p: 1 / math.sqrt(pi) * np.exp(-x * x)),
    "brainstate:ERF": ({}, lambda x, p: 1 / math.sqrt(pi) * np.exp(-x * x)),
    "norse:heavi_erfc_fn": ({"k": 5.0}, lambda x, p: 5 / math.sqrt(pi) * np.exp(-25 * x * x)),
    "braintools:GaussianGrad": ({}, lambda x, p: 0.5 * npdf(x, 0, 0.5)),
    "brainstate:GaussianGrad": ({"sigma": 2.0, "alpha": 1.0}, lambda x, p: npdf(x, 0, 2.0)),
    "sinabs:Gaussian": ({"mu": 0.25, "sigma": 0.5, "grad_scale": 2.0},
                        lambda x, p: 2 * npdf(x, 0.25, 0.5)),
    "braintools:MultiGaussianGrad": ({}, lambda x, p: 0.5 * (
        1.15 * npdf(x, 0, 0.5) - 0.15 * npdf(x, 0.5, 3.0) - 0.15 * npdf(x, -0.5, 3.0))),
    "brainstate:MultiGaussianGrad": ({}, lambda x, p: 0.5 * (
        1.15 * npdf(x, 0, 0.5) - 0.15 * npdf(x, 0.5, 3.0) - 0.15 * npdf(x, -0.5, 3.0))),
    "sinabs:MultiGaussian": ({"mu": 0.2}, lambda x, p: (
        1.15 * npdf(x, 0.2, 0.5) - 0.15 * npdf(x, 0.5, 3.0) - 0.15 * npdf(x, -0.5, 3.0))),
    "spikingjelly:QPseudoSpike": ({"alpha": 3.0}, lambda x, p: (1 + 2 * A(x) / 2) ** -3.0),
    "braintools:QPseudoSpike": ({}, lambda x, p: (1 + 2 * A(x) / 3) ** -2.0),
    "brainstate:QPseudoSpike": ({"alpha": 0.5}, lambda x, p: (1 + 2 * A(x) / 1.5) ** -0.5),
    "spikingjelly:DSpike": ({}, lambda x, p: np.where(
        A(x) <= 0.5, 3 / (2 * np.tanh(1.5)) / np.cosh(3 * x) ** 2, 0)),
    "spikingjelly:Rect": ({"alpha": 2.0}, lambda x, p: np.where(A(x) < 0.25, 2.0, 0.0)),
    "spyx:boxcar": ({"width": 3.0, "height": 0.7}, lambda x, p: np.where(A(x) < 1.5, 0.7, 0)),
    "spikingjelly:NonzeroSignLogAbs": ({"alpha": 2.0}, lambda x, p: 1 / (1 / 2 + A(x))),
    "braintools:NonzeroSignLog": ({}, lambda x, p: 1 / (1 + A(x))),
    "brainstate:NonzeroSignLog": ({}, lambda x, p: 1 / (1 + A(x))),
    "spikingjelly:PiecewiseLeakyReLU": ({"w": 0.5, "c": 0.1},
                                        lambda x, p: np.where(A(x) < 0.5, 1 / (2 * 0.5), 0.1)),
    "spikingjelly_legacy:PiecewiseLeakyReLU": ({"w": 0.5, "c": 0.1},
                                               lambda x, p: np.where(A(x) < 0.5, 2.0, 0.1)),
    "braintools:PiecewiseLeakyRelu": ({"c": 0.1, "w": 0.5},
                                      lambda x, p: np.where(A(x) <= 0.5, 1.0, 0.1)),
    "brainstate:PiecewiseLeakyRelu": ({}, lambda x, p: np.where(A(x) <= 1.0, 0.5, 0.01)),
    "spikingjelly:SquarewaveFourierSeries": ({"n": 3, "T_period": 8.0}, lambda x, p: 4 / 8 * (
        np.cos(2 * pi / 8 * x) + np.cos(3 * 2 * pi / 8 * x))),
    "braintools:SquarewaveFourierSeries": ({"n": 2, "t_period": 8.0}, lambda x, p: 4 / 8 * (
        np.cos(2 * pi / 8 * x) + np.cos(3 * 2 * pi / 8 * x))),
    "brainstate:SquarewaveFourierSeries": ({"n": 2}, lambda x, p: 0.5 * np.cos(pi / 4 * x)),
    "spikingjelly:S2NN": ({}, lambda x, p: np.where(
        x < 0, 4 * sig(4 * x) * (1 - sig(4 * x)), 1 / (np.maximum(x, 0) + 1))),
    "braintools:S2NN": ({"alpha": 2.0, "beta": 0.5}, lambda x, p: np.where(
        x < 0, 2 * sig(2 * x) * (1 - sig(2 * x)), 0.5 / (np.maximum(x, 0) + 1))),
    "brainstate:S2NN": ({}, lambda x, p: np.where(
        x < 0, 4 * sig(4 * x) * (1 - sig(4 * x)), 1 / (np.maximum(x, 0) + 1))),
    "spikingjelly:LeakyKReLU": ({"leak": 0.1, "k": 2.0},
                                lambda x, p: np.where(x >= 0, 2.0, 0.1)),
    "braintools:LeakyRelu": ({}, lambda x, p: np.where(x >= 0, 1.0, 0.1)),
    "brainstate:LeakyRelu": ({}, lambda x, p: np.where(x >= 0, 1.0, 0.1)),
    "spikingjelly:LogTailedReLU": ({"alpha": 0.2}, lambda x, p: np.where(
        x <= 0, 0.2, np.where(x <= 1, 1.0, 1 / np.maximum(x, 1)))),
    "braintools:LogTailedRelu": ({}, lambda x, p: np.where(
        x <= 0, 0.0, np.where(x <= 1, 1.0, 1 / np.maximum(x, 1)))),
    "brainstate:LogTailedRelu": ({}, lambda x, p: np.where(
        x <= 0, 0.0, np.where(x <= 1, 1.0, 1 / np.maximum(x, 1)))),
    "spikingjelly:FakeNumericalGradient": ({}, lambda x, p: np.where(
        x == 0, 0.3, np.minimum(1 / np.where(x == 0, 1, A(x)), 0.3))),
    "spikingjelly:DeterministicPass": ({}, lambda x, p: np.ones_like(x)),
    "snntorch:straight_through_estimator": ({}, lambda x, p: np.ones_like(x)),
    "arcana:STE": ({}, lambda x, p: np.ones_like(x)),
    "snntorch:heaviside": ({}, lambda x, p: (x > 0).astype(float)),
    "arcana:Step": ({}, lambda x, p: (x >= 0).astype(float)),
    "sinabs:Heaviside": ({"window": 0.5, "threshold": 2.0},
                         lambda x, p: (x >= -0.5) / 2.0),  # acts on x = v - threshold
    "rockpool:StepPWL": ({"threshold": 2.0}, lambda x, p: (x >= -0.5) / 2.0),
    "snntorch:spike_rate_escape": ({}, lambda x, p: 25 * np.exp(-A(x))),
    "snntorch:SFS": ({"B": -0.5}, lambda x, p: (x > -0.5) / (1 + 25 * A(x)) ** 2),
    "snntorch:LSO": ({}, lambda x, p: np.where(x > 0, 1.0, 0.1)),
    "snntorch:triangular": ({}, lambda x, p: np.where(x < 0, 1.0, -1.0)),
    "norse:circ": ({"alpha": 0.3}, lambda x, p: 0.09 / (2 * (x * x + 0.09) ** 1.5)),
    "norse:circ_dist_fn": ({"alpha": 0.3}, lambda x, p: 0.09 / (2 * (x * x + 0.09) ** 1.5)),
    "norse:logistic_fn": ({"k": 2.0}, lambda x, p: 1 / np.cosh(2 * x) ** 2),
    "sinabs:PeriodicExponential": ({"threshold": 2.0}, lambda x, p: np.where(
        x < 0, np.exp(-A(x) / 0.5),
        np.exp(-A(2.0 * (2 * np.mod((x + 2.0) / 2.0 - 0.5, 1.0) - 1)) / 0.5))),
    "rockpool:PeriodicExponential": ({"threshold": 2.0}, lambda x, p: np.where(
        x < 0, np.exp(-A(x) / 0.5), np.exp(-dist(x, 2.0) / 0.5)) / 2.0),
    "spikingjelly:MultiLevelSpikeCount": ({"max_spike_count": 3},
                                          lambda x, p: ((x >= 0) & (x <= 3)).astype(float)),
    "spikingjelly:PoissonPass": ({}, lambda x, p: np.ones_like(x)),
}


def _grid(s: spikegrad.Bound) -> np.ndarray:
    pts = [np.linspace(-4, 4, 1601), [0.0, -0.0, 1e-8, -1e-8]]
    for b in s.entry.boundaries(s.params):
        pts.append(np.nextafter(b, [-np.inf, np.inf]))
        pts.append([b])
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in pts])


def test_every_alias_has_an_oracle() -> None:
    stochastic = {n for n in CATALOGUE_ALIASES if spikegrad.entry(n).formula.stochastic_backward}
    assert sorted(set(ORACLES) | stochastic) == sorted(CATALOGUE_ALIASES)


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_alias_matches_library_math(name: str) -> None:
    params, fn = ORACLES[name]
    s = spikegrad.get(name, **params)
    x = _grid(s)
    with np.errstate(over="ignore", divide="ignore"):
        expected = fn(x, params)
    got = s.derivative(x)
    tol = 1e-13 * max(s.peak, 1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=tol, err_msg=name)


def test_sso_alias_statistics(rng: np.random.Generator) -> None:
    s = spikegrad.get("snntorch:SSO", mean=0.0, variance=0.2)
    x = np.full(200_000, -1.0)
    d = s.derivative(x, key=rng)
    assert d.min() >= -0.1 and d.max() < 0.1
    assert abs(d.mean()) < 2e-3 and abs(d.std() - 0.2 / math.sqrt(12)) < 2e-3
    assert np.all(s.derivative(np.ones(4), key=rng) == 1.0)
    assert np.all(s.derivative(np.zeros(4), key=rng) != 1.0)  # x = 0 is on the noise side


@pytest.mark.parametrize("name", sorted(CATALOGUE_ALIASES))
def test_alias_forward_convention_at_zero(name: str, rng: np.random.Generator) -> None:
    s = spikegrad.get(name)
    x = np.array([-1.0, -0.0, 0.0, 1.0, np.nan, np.inf, -np.inf])
    spikes = s.spike(x, key=rng)
    assert spikes.dtype == x.dtype
    kind = s.entry.forward
    if kind == "gt":
        np.testing.assert_array_equal(spikes, [0, 0, 0, 1, 0, 1, 0])
    elif kind == "ge":
        np.testing.assert_array_equal(spikes, [0, 1, 1, 1, 0, 1, 0])
