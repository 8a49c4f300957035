"""``spikegrad.compat.braintools`` (and ``.brainstate``) follow braintools 0.4, the newest
release: the spike's derivative with respect to a parameter is 0, second derivatives and
gradients of the gradient with respect to a parameter are those of ``surrogate_grad``,
surrogates compare and hash by value, Python numbers and bool/integer inputs are promoted
to jax's default float dtype, and ``Surrogate`` is a base class for your own.

Each behaviour is checked against an independent float64 oracle (Richardson central
differences of spikegrad's float64 NumPy definition, or a closed form written here) and,
where braintools 0.4 is installed (it needs Python >= 3.12), against braintools itself;
those comparisons skip, with the reason, where it is not.  braintools 0.3.0 differs in each
of them (its bugs, fixed in 0.4): see ``tests/test_peer_bugs.py`` (BT-5) and
``docs/compat.md``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="needs JAX")
import jax.numpy as jnp  # noqa: E402

import spikegrad  # noqa: E402
from spikegrad.compat import brainstate as compat_brainstate  # noqa: E402
from spikegrad.compat import braintools as compat_braintools  # noqa: E402

from .conftest import theta_derivative  # noqa: E402

MODULES = {"braintools": compat_braintools, "brainstate": compat_brainstate}
CLASSES = list(compat_braintools._NAMES)
#: points away from every kink of the piecewise forms (|x| = 0, 1/alpha, w, width, 1)
XS = np.array([-2.3, -0.7, -0.13, 0.21, 0.55, 1.7])


@pytest.fixture(autouse=True)
def _x64() -> Any:
    """float64 for the oracles (importing braintools switches x64 off process-wide)."""
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", True)


@pytest.fixture(scope="module")
def bt04() -> ModuleType:
    """braintools 0.4's ``braintools.surrogate``, or a skip naming what is installed."""
    try:
        version = importlib.metadata.version("braintools")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("braintools is not installed (0.4 needs Python >= 3.12)")
    if tuple(int(p) for p in version.split(".")[:2]) < (0, 4):
        pytest.skip(f"braintools {version} is installed; these comparisons need 0.4 "
                    "(Python >= 3.12)")
    module = importlib.import_module("braintools.surrogate")
    jax.config.update("jax_enable_x64", True)  # braintools switched it off on import
    return module


def _real_params(library: str, name: str) -> list[spikegrad.Param]:
    return [p for p in spikegrad.entry(f"{library}:{name}").params if not p.static]


def _cls(module: ModuleType, name: str, **params: Any) -> Any:
    return getattr(module, name)(**params)


# -- parameter derivatives -----------------------------------------------------------------

def _param_derivatives(module: ModuleType, name: str, pname: str, value: float,
                       x: jax.Array) -> tuple[float, float]:
    """(d Σ spike / dθ, d Σ_i (d spike / dx)_i / dθ) at θ = ``value``."""
    def spikes(theta: Any) -> jax.Array:
        return _cls(module, name, **{pname: theta})(x).sum()

    def grad_sum(theta: Any) -> jax.Array:
        return jax.grad(lambda v: _cls(module, name, **{pname: theta})(v).sum())(x).sum()

    return float(jax.grad(spikes)(value)), float(jax.grad(grad_sum)(value))


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("library", list(MODULES))
def test_parameter_derivative_follows_0_4(library: str, name: str) -> None:
    """The spike does not depend on a parameter (derivative 0, not braintools 0.3.0's
    Σ ∂g'/∂θ); the gradient of the input gradient with respect to it is Σ ∂g'/∂θ, against
    central differences of the float64 definition."""
    base = spikegrad.get(f"{library}:{name}")
    x = jnp.asarray(XS)
    for p in _real_params(library, name):
        at = base
        fd = theta_derivative(at, p, lambda b: b.derivative(XS))
        if fd is None:  # the default is at the edge of the domain (S2NN's epsilon = 1e-8)
            at = base.replace(**{p.name: 1.0})
            fd = theta_derivative(at, p, lambda b: b.derivative(XS))
        assert fd is not None, p.name
        value = float(at.params[p.name])
        first, mixed = _param_derivatives(MODULES[library], name, p.name, value, x)
        assert first == 0.0, (p.name, first)
        scale = max(1.0, float(np.abs(base.derivative(XS)).max()))
        assert mixed == pytest.approx(float(fd.sum()), rel=1e-6, abs=1e-8 * scale), p.name


def test_parameter_derivative_closed_form() -> None:
    """Sigmoid: d/dα Σ g'(x) = Σ σ(1-σ)(1 + αx(1-2σ)), written out."""
    alpha = 2.5
    first, mixed = _param_derivatives(compat_braintools, "Sigmoid", "alpha", alpha,
                                      jnp.asarray(XS))
    s = 1.0 / (1.0 + np.exp(-alpha * XS))
    expected = np.sum(s * (1 - s) * (1 + alpha * XS * (1 - 2 * s)))
    assert first == 0.0
    assert mixed == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", CLASSES)
def test_parameter_derivative_matches_braintools_0_4(bt04: ModuleType, name: str) -> None:
    x = jnp.asarray(XS)
    for p in _real_params("braintools", name):
        value = float(spikegrad.get(f"braintools:{name}").params[p.name])
        ours = _param_derivatives(compat_braintools, name, p.name, value, x)
        theirs = _param_derivatives(bt04, name, p.name, value, x)
        assert ours[0] == theirs[0] == 0.0
        assert ours[1] == pytest.approx(theirs[1], rel=1e-9, abs=1e-12), p.name


# -- second derivatives --------------------------------------------------------------------

def _second(module: ModuleType, name: str, x: jax.Array) -> np.ndarray:
    sg = _cls(module, name)
    return np.asarray(jax.vmap(jax.grad(jax.grad(lambda v: sg(v))))(x))


def _x_difference(alias: str, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """d g'(x) / dx by Richardson central differences of the float64 definition."""
    d = spikegrad.get(alias).derivative
    return (8 * (d(x + h) - d(x - h)) - (d(x + 2 * h) - d(x - 2 * h))) / (12 * h)


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("library", list(MODULES))
def test_second_derivative_follows_0_4(library: str, name: str) -> None:
    """d²spike/dx² is g''(x) (braintools 0.3.0 gave 0), against differences of g'."""
    got = _second(MODULES[library], name, jnp.asarray(XS))
    expected = _x_difference(f"{library}:{name}", XS)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8 * scale)


def test_second_derivative_closed_form() -> None:
    """Arctan (α = 2): g'(x) = (α/2) / (1 + (παx/2)²), so
    g''(x) = -(α/2)(πα/2)² 2x / (1 + (παx/2)²)²."""
    alpha = 2.0
    sg = compat_braintools.Arctan(alpha=alpha)
    got = np.asarray(jax.vmap(jax.grad(jax.grad(lambda v: sg(v))))(jnp.asarray(XS)))
    k = math.pi * alpha / 2
    expected = -(alpha / 2) * k**2 * 2 * XS / (1 + (k * XS) ** 2) ** 2
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("name", CLASSES)
def test_second_derivative_matches_braintools_0_4(bt04: ModuleType, name: str) -> None:
    x = jnp.asarray(XS)
    np.testing.assert_allclose(_second(compat_braintools, name, x), _second(bt04, name, x),
                               rtol=1e-9, atol=1e-12)


# -- QPseudoSpike at x = 0 -----------------------------------------------------------------

def _qps_alpha_derivative(x: float, alpha: float) -> float:
    """∂/∂α (1 + 2|x|/(α+1))^(-α), written out: g' (-ln u + 2α|x| / ((α+1)² u))."""
    u = 1 + 2 * abs(x) / (alpha + 1)
    return u ** -alpha * (-math.log(u) + 2 * alpha * abs(x) / ((alpha + 1) ** 2 * u))


QPS_CASES = [(x, a) for x in (-1.0, -0.0, 0.0, 1.0) for a in (0.5, 1.0, 2.0, 4.0)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("library", list(MODULES))
def test_qpseudospike_param_grad_finite_at_zero(library: str, dtype: str) -> None:
    """QPseudoSpike's gradient of the gradient with respect to α is finite at x = ±0 (it
    is 0 there) and elsewhere the closed form; the spike's own α-derivative is 0."""
    module = MODULES[library]
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for x, alpha in QPS_CASES:
        xa = jnp.asarray(x, dtype=dtype)
        first = jax.grad(lambda a, xa=xa: module.q_pseudo_spike(xa, a))(alpha)
        mixed = jax.grad(lambda a, xa=xa: jax.grad(
            lambda v: module.q_pseudo_spike(v, a))(xa))(alpha)
        direct = jax.grad(lambda a, xa=xa: module.QPseudoSpike(alpha=a).surrogate_grad(xa))(
            alpha)
        expected = _qps_alpha_derivative(x, alpha)
        assert float(first) == 0.0, (x, alpha)
        for got in (mixed, direct):
            assert np.isfinite(float(got)), (x, alpha)
            assert float(got) == pytest.approx(expected, rel=rtol, abs=1e-7), (x, alpha)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_qpseudospike_param_grad_matches_braintools_0_4(bt04: ModuleType, dtype: str) -> None:
    for x, alpha in QPS_CASES:
        xa = jnp.asarray(x, dtype=dtype)
        got = [jax.grad(lambda a, m=m, xa=xa: jax.grad(
            lambda v: m.q_pseudo_spike(v, a))(xa))(alpha) for m in (compat_braintools, bt04)]
        assert np.isfinite(float(got[1]))
        assert float(got[0]) == pytest.approx(float(got[1]), rel=1e-5, abs=1e-7), (x, alpha)


# -- equality and hashing ------------------------------------------------------------------

def _first_real(library: str, name: str) -> str:
    return _real_params(library, name)[0].name


def _equality_facts(module: ModuleType, name: str, pname: str) -> list[bool]:
    cls = getattr(module, name)
    a, b, c = cls(**{pname: 1.0}), cls(**{pname: 1.0}), cls(**{pname: 2.0})
    other = module.ERF(alpha=1.0) if name != "ERF" else module.Sigmoid(alpha=1.0)
    arr = jnp.asarray([1.0, 2.0])
    d, e, f = cls(**{pname: arr}), cls(**{pname: arr}), cls(**{pname: jnp.asarray([1.0, 2.0])})
    return [a == b, hash(a) == hash(b), a != c, hash(a) != hash(c), a != other,
            {a: 1}.get(b) == 1, cls(**{pname: 1}) == a, d == e, d != f]


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("library", list(MODULES))
def test_hash_and_eq_by_value(library: str, name: str) -> None:
    """Same class and equal parameters: equal, same hash, usable as a dict key; another
    value or class: unequal; array parameters by identity.  An object holding an array
    hashes (by its parameter names: equal objects hash alike)."""
    pname = _first_real(library, name)
    facts = _equality_facts(MODULES[library], name, pname)
    assert all(facts), facts
    arr = jnp.asarray([1.0, 2.0])
    cls = getattr(MODULES[library], name)
    assert hash(cls(**{pname: arr})) == hash(cls(**{pname: arr}))


@pytest.mark.parametrize("name", CLASSES)
def test_hash_and_eq_match_braintools_0_4(bt04: ModuleType, name: str) -> None:
    """The same answers as braintools 0.4 (whose built-in classes raise ``TypeError`` when
    hashed with an array parameter: not compared)."""
    pname = _first_real("braintools", name)
    assert (_equality_facts(compat_braintools, name, pname)
            == _equality_facts(bt04, name, pname))


@pytest.mark.parametrize("library", list(MODULES))
def test_equal_surrogates_reuse_a_jit_compilation(library: str) -> None:
    module = MODULES[library]
    traces = []

    def grad_at(x: jax.Array, sg: Any) -> jax.Array:
        traces.append(sg)  # runs once per trace
        return jax.grad(sg)(x)

    f = jax.jit(grad_at, static_argnums=1)
    for alpha in (4.0, 4.0, 4, 2.0):
        f(jnp.asarray(0.1), module.Sigmoid(alpha=alpha))
    assert [sg.alpha for sg in traces] == [4.0, 2.0]


# -- int and bool inputs -------------------------------------------------------------------

INPUTS = [0.1, -1, 0, True, False, np.int64(-3), np.array([1, -1, 0], dtype=np.int32),
          np.array([True, False])]


def _promoted(module: ModuleType, value: Any) -> tuple[str, list[float]]:
    out = module.Sigmoid()(value)
    return str(out.dtype), np.atleast_1d(np.asarray(out)).tolist()


@pytest.mark.parametrize("library", list(MODULES))
@pytest.mark.parametrize("value", INPUTS, ids=repr)
def test_int_and_bool_inputs_promote(library: str, value: Any) -> None:
    """Python numbers, bool and integer arrays spike in jax's default float dtype;
    ``surrogate_grad``/``surrogate_fun`` take them too."""
    module = MODULES[library]
    dtype, values = _promoted(module, value)
    assert dtype == str(jnp.result_type(float)) == "float64"
    as_float = np.atleast_1d(np.asarray(value, dtype=np.float64))
    assert values == (as_float >= 0).astype(np.float64).tolist()
    sg = module.Sigmoid(alpha=4.0)
    s = 1 / (1 + np.exp(-4.0 * as_float))
    np.testing.assert_allclose(np.atleast_1d(sg.surrogate_grad(value)), 4.0 * s * (1 - s),
                               rtol=1e-14)
    np.testing.assert_allclose(np.atleast_1d(sg.surrogate_fun(value)), s, rtol=1e-14)


def test_int_inputs_promote_to_float32_with_x64_off() -> None:
    jax.config.update("jax_enable_x64", False)
    try:
        out = compat_braintools.Sigmoid()(np.array([2, -2], dtype=np.int32))
        assert out.dtype == jnp.float32 and out.tolist() == [1.0, 0.0]
    finally:
        jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("library", list(MODULES))
def test_forward_mode_with_a_python_float_primal(library: str) -> None:
    sg = MODULES[library].Sigmoid(alpha=4.0)
    out, tangent = jax.jvp(lambda x: sg(x), (0.1,), (1.0,))
    s = 1 / (1 + math.exp(-0.4))
    assert float(out) == 1.0 and float(tangent) == pytest.approx(4 * s * (1 - s), rel=1e-14)


@pytest.mark.parametrize("value", INPUTS, ids=repr)
def test_int_and_bool_inputs_match_braintools_0_4(bt04: ModuleType, value: Any) -> None:
    assert _promoted(compat_braintools, value) == _promoted(bt04, value)


# -- your own surrogate: the Surrogate base class ------------------------------------------

def _tanh_class(base: type) -> type:
    class Tanh(base):  # type: ignore[misc, valid-type]
        def __init__(self, alpha: Any = 1.0) -> None:
            super().__init__()
            self.alpha = alpha

        def surrogate_fun(self, x: Any) -> Any:
            return jnp.tanh(self.alpha * x) * 0.5 + 0.5

        def surrogate_grad(self, x: Any) -> Any:
            return self.alpha * (1 - jnp.tanh(self.alpha * x) ** 2) * 0.5

    return Tanh


def _subclass_facts(base: type) -> dict[str, Any]:
    tanh = _tanh_class(base)
    xs = jnp.linspace(-2.0, 2.0, 9)
    sg = tanh(alpha=1.5)
    arr = jnp.asarray([1.0, 2.0])
    return {
        "spikes": np.asarray(sg(xs)).tolist(),
        "jit": np.asarray(jax.jit(sg)(xs)).tolist(),
        "grad": np.asarray(jax.vmap(jax.grad(sg))(xs)),
        "second": np.asarray(jax.vmap(jax.grad(jax.grad(sg)))(xs)),
        "alpha": float(jax.grad(lambda a: tanh(alpha=a)(jnp.asarray(0.3)))(1.5)),
        "meta": float(jax.grad(lambda a: jax.grad(tanh(alpha=a))(0.0))(1.5)),
        "eq": (tanh(1.5) == tanh(1.5), hash(tanh(1.5)) == hash(tanh(1.5)), tanh(1.5) != tanh(2),
               tanh(arr) == tanh(arr), tanh(arr) != tanh(jnp.asarray([1.0, 2.0]))),
        "repr": repr(tanh(alpha=1.5)).replace(" ", "").replace("\n", ""),
    }


def test_surrogate_is_a_base_for_your_own() -> None:
    facts = _subclass_facts(compat_braintools.Surrogate)
    xs = np.linspace(-2.0, 2.0, 9)
    assert facts["spikes"] == facts["jit"] == (xs >= 0).astype(float).tolist()
    t = np.tanh(1.5 * xs)
    np.testing.assert_allclose(facts["grad"], 0.75 * (1 - t**2), rtol=1e-14)
    np.testing.assert_allclose(facts["second"], -2.25 * t * (1 - t**2), rtol=1e-12,
                               atol=1e-15)
    assert facts["alpha"] == 0.0 and facts["meta"] == pytest.approx(0.5, rel=1e-14)
    assert all(facts["eq"])
    assert facts["repr"] == "Tanh(alpha=1.5)"
    base = compat_braintools.Surrogate()
    for call in (base, base.surrogate_fun, base.surrogate_grad):
        with pytest.raises(NotImplementedError):
            call(jnp.asarray(0.0))


def test_surrogate_base_matches_braintools_0_4(bt04: ModuleType) -> None:
    ours, theirs = (_subclass_facts(m.Surrogate) for m in (compat_braintools, bt04))
    for key in ("spikes", "jit", "alpha", "eq", "repr"):
        assert ours[key] == theirs[key], key
    for key in ("grad", "second", "meta"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, atol=1e-15)


def test_the_private_base_module_offers_only_surrogate(bt04: ModuleType) -> None:
    """``braintools.surrogate._base`` is private; its public names (``__all__``) are all
    here.  Its jax primitive ``heaviside_p`` is braintools' implementation of the step and
    is not mirrored (``docs/compat.md``)."""
    base = importlib.import_module("braintools.surrogate._base")
    assert [n for n in base.__all__ if not hasattr(compat_braintools, n)] == []
    assert not hasattr(compat_braintools, "heaviside_p")


def test_every_braintools_alias_fires_at_zero() -> None:
    """The compat spike is the step of one alias for every class: every braintools and
    brainstate alias fires at x >= 0."""
    for library in MODULES:
        for name in CLASSES:
            assert spikegrad.get(f"{library}:{name}").forward_kind == "ge", name
    x = jnp.asarray([-1e-300, -0.0, 0.0, 5e-324, -jnp.inf, jnp.inf, jnp.nan])
    assert np.asarray(compat_braintools.Sigmoid()(x)).tolist() == [0, 1, 1, 1, 0, 1, 0]
