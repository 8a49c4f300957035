"""Registry: every catalogue row and alias resolves, with the peers' names and defaults."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import spikegrad
from spikegrad._registry import register
from spikegrad._spec import Entry

#: Catalogue section (a), rows 1-33, in order (written out independently of the registry).
CATALOGUE_ROWS = [
    "sigmoid", "tanh", "atan", "piecewise_quadratic", "triangle", "piecewise_exp",
    "soft_sign", "fast_sigmoid", "super_spike", "erf", "gaussian", "multi_gaussian",
    "q_pseudo_spike", "dspike", "rect", "nonzero_sign_log_abs", "piecewise_leaky_relu",
    "squarewave_fourier_series", "s2nn", "leaky_k_relu", "log_tailed_relu",
    "fake_numerical_gradient", "straight_through", "heaviside_window", "spike_rate_escape",
    "sparse_fast_sigmoid", "stochastic_spike_operator", "leaky_spike_operator",
    "sign_triangular", "heavi_circ", "periodic_exponential", "multi_level_spike_count",
    "poisson_pass",
]

#: Every alias of catalogue section (a), as ``library:Name`` -> canonical row.
CATALOGUE_ALIASES = {
    "spikingjelly:Sigmoid": "sigmoid", "snntorch:sigmoid": "sigmoid",
    "braintools:Sigmoid": "sigmoid", "brainstate:Sigmoid": "sigmoid",
    "norse:tanh": "tanh", "spyx:tanh": "tanh",
    "spikingjelly:ATan": "atan", "snntorch:atan": "atan", "braintools:Arctan": "atan",
    "brainstate:Arctan": "atan", "spyx:arctan": "atan",
    "spikingjelly:PiecewiseQuadratic": "piecewise_quadratic",
    "braintools:PiecewiseQuadratic": "piecewise_quadratic",
    "brainstate:PiecewiseQuadratic": "piecewise_quadratic",
    "norse:triangle": "triangle", "braintools:ReluGrad": "triangle",
    "brainstate:ReluGrad": "triangle", "arcana:Triangular": "triangle",
    "spyx:triangular": "triangle", "spyx:abs_linear": "triangle",
    "spikingjelly:PiecewiseExp": "piecewise_exp", "braintools:PiecewiseExp": "piecewise_exp",
    "brainstate:PiecewiseExp": "piecewise_exp", "braintools:SlayerGrad": "piecewise_exp",
    "brainstate:SlayerGrad": "piecewise_exp", "sinabs:SingleExponential": "piecewise_exp",
    "lava_dl:Spike": "piecewise_exp",
    "spikingjelly:SoftSign": "soft_sign", "braintools:SoftSign": "soft_sign",
    "brainstate:SoftSign": "soft_sign",
    "snntorch:fast_sigmoid": "fast_sigmoid", "arcana:FastSigmoid": "fast_sigmoid",
    "braintools:InvSquareGrad": "fast_sigmoid", "brainstate:InvSquareGrad": "fast_sigmoid",
    "spyx:superspike": "fast_sigmoid", "norse:super": "fast_sigmoid",
    "spikingjelly:SuperSpike": "super_spike",
    "spikingjelly:Erf": "erf", "braintools:ERF": "erf", "brainstate:ERF": "erf",
    "norse:heavi_erfc_fn": "erf",
    "braintools:GaussianGrad": "gaussian", "brainstate:GaussianGrad": "gaussian",
    "sinabs:Gaussian": "gaussian",
    "braintools:MultiGaussianGrad": "multi_gaussian",
    "brainstate:MultiGaussianGrad": "multi_gaussian", "sinabs:MultiGaussian": "multi_gaussian",
    "spikingjelly:QPseudoSpike": "q_pseudo_spike", "braintools:QPseudoSpike": "q_pseudo_spike",
    "brainstate:QPseudoSpike": "q_pseudo_spike",
    "spikingjelly:DSpike": "dspike",
    "spikingjelly:Rect": "rect", "spyx:boxcar": "rect",
    "spikingjelly:NonzeroSignLogAbs": "nonzero_sign_log_abs",
    "braintools:NonzeroSignLog": "nonzero_sign_log_abs",
    "brainstate:NonzeroSignLog": "nonzero_sign_log_abs",
    "spikingjelly:PiecewiseLeakyReLU": "piecewise_leaky_relu",
    "spikingjelly_legacy:PiecewiseLeakyReLU": "piecewise_leaky_relu",
    "braintools:PiecewiseLeakyRelu": "piecewise_leaky_relu",
    "brainstate:PiecewiseLeakyRelu": "piecewise_leaky_relu",
    "spikingjelly:SquarewaveFourierSeries": "squarewave_fourier_series",
    "braintools:SquarewaveFourierSeries": "squarewave_fourier_series",
    "brainstate:SquarewaveFourierSeries": "squarewave_fourier_series",
    "spikingjelly:S2NN": "s2nn", "braintools:S2NN": "s2nn", "brainstate:S2NN": "s2nn",
    "spikingjelly:LeakyKReLU": "leaky_k_relu", "braintools:LeakyRelu": "leaky_k_relu",
    "brainstate:LeakyRelu": "leaky_k_relu",
    "spikingjelly:LogTailedReLU": "log_tailed_relu", "braintools:LogTailedRelu": "log_tailed_relu",
    "brainstate:LogTailedRelu": "log_tailed_relu",
    "spikingjelly:FakeNumericalGradient": "fake_numerical_gradient",
    "spikingjelly:DeterministicPass": "straight_through",
    "snntorch:straight_through_estimator": "straight_through", "arcana:STE": "straight_through",
    "snntorch:heaviside": "heaviside_window", "arcana:Step": "heaviside_window",
    "sinabs:Heaviside": "heaviside_window", "rockpool:StepPWL": "heaviside_window",
    "snntorch:spike_rate_escape": "spike_rate_escape",
    "snntorch:SFS": "sparse_fast_sigmoid",
    "snntorch:SSO": "stochastic_spike_operator",
    "snntorch:LSO": "leaky_spike_operator",
    "snntorch:triangular": "sign_triangular",
    "norse:circ": "heavi_circ", "norse:circ_dist_fn": "heavi_circ",
    "sinabs:PeriodicExponential": "periodic_exponential",
    "rockpool:PeriodicExponential": "periodic_exponential",
    "spikingjelly:MultiLevelSpikeCount": "multi_level_spike_count",
    "spikingjelly:PoissonPass": "poisson_pass", "norse:logistic_fn": "tanh",
}


def test_canonical_names_are_the_catalogue_rows() -> None:
    assert spikegrad.names() == CATALOGUE_ROWS


def test_every_catalogue_alias_resolves() -> None:
    for name, canonical in CATALOGUE_ALIASES.items():
        e = spikegrad.entry(name)
        assert e.is_alias and e.canonical == canonical, name
    assert sorted(spikegrad.aliases()) == sorted(CATALOGUE_ALIASES)


@pytest.mark.parametrize("name", CATALOGUE_ROWS + sorted(CATALOGUE_ALIASES))
def test_binds_with_defaults_and_has_metadata(name: str) -> None:
    s = spikegrad.get(name)
    e = s.entry
    assert e.summary and (e.is_alias or e.latex_derivative)
    assert math.isfinite(s.peak) and s.peak > 0
    assert s.area is None or s.area > 0 or math.isinf(s.area)
    assert hash(s) == hash(spikegrad.get(name))
    for p in e.params:
        assert p.doc and p.domain.text


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("snntorch:fast_sigmoid", {"slope": 25}, {"k": 25.0}),
        ("spikingjelly:ATan", {}, {"alpha": 2.0}),
        ("braintools:Arctan", {}, {"alpha": 1.0}),
        ("braintools:InvSquareGrad", {"alpha": 100.0}, {"k": 100.0}),
        ("arcana:FastSigmoid", {}, {"k": 10.0}),
        ("norse:super", {}, {"k": 100.0}),
        ("spyx:arctan", {"k": 2}, {"alpha": 4.0}),
        ("spikingjelly:PiecewiseLeakyReLU", {"w": 1.0, "c": 0.01},
         {"w": 1.0, "c": 0.01, "inside": 0.5}),
        ("sinabs:SingleExponential", {"grad_width": 0.5}, {"alpha": 2.0}),
    ],
)
def test_issue_examples(name: str, params: dict, expected: dict) -> None:
    fp = spikegrad.get(name, **params).formula_params
    for k, v in expected.items():
        assert fp[k] == v, (k, fp)


def test_default_values_differ_where_the_libraries_differ() -> None:
    x = np.zeros(1)
    assert spikegrad.get("spikingjelly:ATan").derivative(x)[0] == 1.0
    assert spikegrad.get("braintools:Arctan").derivative(x)[0] == 0.5
    assert spikegrad.get("spikingjelly:SoftSign").derivative(x)[0] == 1.0
    assert spikegrad.get("braintools:SoftSign").derivative(x)[0] == 0.5


def test_bound_equality_and_hash() -> None:
    a, b = spikegrad.get("atan"), spikegrad.get("atan", alpha=2)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert spikegrad.get("atan", alpha=3.0) != a
    assert spikegrad.get("snntorch:atan") != a  # same math, different forward convention
    assert {a: 1}[spikegrad.get("atan", alpha=2.0)] == 1


def test_aliases_of_a_name() -> None:
    als = spikegrad.aliases("atan")
    assert "snntorch:atan" in als and "spyx:arctan" in als
    assert spikegrad.aliases("snntorch:atan") == als


#: The threshold comparison each library's spike uses at ``x = 0`` (its own code:
#: snntorch, norse and spyx fire on ``x > 0``; the others on ``x >= 0``), written out
#: independently of the registry.  A new library must be added here.
LIBRARY_FORWARD = {
    "snntorch": "gt", "norse": "gt", "spyx": "gt",
    "spikingjelly": "ge", "spikingjelly_legacy": "ge", "braintools": "ge", "brainstate": "ge",
    "arcana": "ge", "sinabs": "ge", "lava_dl": "ge", "rockpool": "ge",
}
#: Aliases whose forward is not a threshold spike, and what it is instead.
NOT_A_THRESHOLD = {
    "norse:logistic_fn": "bernoulli_primitive", "norse:circ_dist_fn": "bernoulli_primitive",
    "spikingjelly:PoissonPass": "bernoulli_input",
    "spikingjelly:MultiLevelSpikeCount": "formula",
}


def test_forward_conventions_of_aliases() -> None:
    assert {n.split(":")[0] for n in spikegrad.aliases()} == set(LIBRARY_FORWARD)
    assert set(NOT_A_THRESHOLD) <= set(CATALOGUE_ALIASES)
    at_zero = np.zeros(1)
    for name in CATALOGUE_ALIASES:
        expected = NOT_A_THRESHOLD.get(name, LIBRARY_FORWARD[name.split(":")[0]])
        assert spikegrad.entry(name).forward == expected, name
        if expected in ("ge", "gt"):  # and the spike at 0 follows it
            assert spikegrad.get(name).spike(at_zero)[0] == (expected == "ge"), name


def test_name_collision_raises() -> None:
    e = spikegrad.entry("atan")
    clone = Entry(name="atan", canonical="atan", params=e.params, formula=e.formula,
                  summary="dup")
    with pytest.raises(ValueError, match="collision"):
        register(clone)


def test_alias_names_need_a_library() -> None:
    e = spikegrad.entry("atan")
    bad = Entry(name="nolib", canonical="atan", params=(), formula=e.formula, summary="x",
                library="x")
    with pytest.raises(ValueError, match="library:Name"):
        register(bad)


def test_metadata_fields() -> None:
    s = spikegrad.get("atan")
    assert "arctan" in s.latex["g"] and "alpha" in s.latex["dg"]
    assert s.references and "Fang" in s.references[0]
    bib = s.cite()
    assert bib.startswith("@inproceedings{Fang2021,") and "2007.05785" in bib
    assert spikegrad.get("fake_numerical_gradient").cite().startswith("@article{Fang2023,")
    assert spikegrad.get("sigmoid").peak == 1.0  # alpha / 4 at alpha = 4
    assert spikegrad.get("fast_sigmoid", k=25.0).area == pytest.approx(2 / 25, rel=1e-15)
    assert spikegrad.get("squarewave_fourier_series").area is None
    assert spikegrad.get("straight_through").area == math.inf


def test_formula_version_keys_the_compiled_kernels() -> None:
    """``Formula.version`` is bumped when the math changes; it is part of the generated
    kernel source, whose hash names the cached library, so a bump never reuses a kernel
    compiled for the old math."""
    from spikegrad.codegen import cpu

    for name in CATALOGUE_ROWS:
        version = spikegrad.entry(name).formula.version
        assert isinstance(version, int) and version >= 1, name
    s = spikegrad.get("atan", alpha=3.0)
    formula = s.entry.formula
    bumped = dataclasses.replace(s.entry, formula=dataclasses.replace(
        formula, version=formula.version + 1)).bind(**s.params)
    old, new = cpu.source(s, "float32"), cpu.source(bumped, "float32")
    assert old != new
    assert f"formula version {formula.version + 1}" in new
