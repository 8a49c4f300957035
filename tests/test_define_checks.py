"""User definitions are checked when they are made: ``spikegrad.define`` evaluates the
formulas once on a small probe array, so a definition that would be silently wrong
everywhere fails at once, naming itself and the fix.  Each test names the failure it
guards against."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import spikegrad
from spikegrad import Domain, Param
from spikegrad._user_definitions import check_definition

from .user_definitions import INCONSISTENT, SECH2

_A = [Param("a", 1.5, Domain.magnitude(), "Slope.")]


def sech2_derivative(x, /, *, xp, a):
    e = xp.exp(-2.0 * a * xp.abs(x))
    return (2.0 * a) * e / ((1.0 + e) * (1.0 + e))


def sech2_primitive(x, /, *, xp, a):
    return 0.5 * (1.0 + xp.tanh(a * x))


def branchy_derivative(x, /, *, xp, a):  # a Python `if` on a parameter's value
    if a > 1.0:
        return xp.exp(-xp.abs(x))
    return a * xp.exp(-xp.abs(x))


def branchy_primitive(x, /, *, xp, a):
    if a > 1.0:
        return xp.where(x < 0, xp.exp(x), 2.0 - xp.exp(-x))
    return a * xp.where(x < 0, xp.exp(x), 2.0 - xp.exp(-x))


def untraceable_derivative(x, /, *, xp, a):  # xp.sign is not modelled by the kernel tracer
    return a * xp.exp(-xp.abs(x)) * (1.0 + 0.0 * xp.sign(x))


def untraceable_primitive(x, /, *, xp, a):
    return a * xp.where(x < 0, xp.exp(x), 2.0 - xp.exp(-x)) * (1.0 + 0.0 * xp.sign(x))


# -- shapes --------------------------------------------------------------------------------
def _scalar_array(x, /, *, xp, a):
    return xp.asarray(a)


def _python_float(x, /, *, xp, a):
    return a


def _one_element(x, /, *, xp, a):
    return a * xp.ones(1)


@pytest.mark.parametrize("dg", [_scalar_array, _python_float, _one_element])
def test_scalar_derivative_rejected_at_define(dg) -> None:
    """Finding: a derivative of a broadcastable wrong shape (a scalar) was broadcast
    silently on every path, and ``spikegrad conformance --surrogate`` passed it."""
    with pytest.raises(ValueError) as info:
        spikegrad.define("checks:scalar", dg, params=_A)
    msg = str(info.value)
    assert msg.startswith("define('checks:scalar'): derivative returned ")
    assert "for input shape (33,)" in msg and "xp.full_like(x, c)" in msg
    if dg is _scalar_array:
        assert "returned shape () for input shape (33,)" in msg


def test_scalar_primitive_rejected_at_define() -> None:
    with pytest.raises(ValueError, match=r"define\('checks:scalar_g'\): primitive returned "
                                         r"shape \(\) for input shape \(33,\)"):
        spikegrad.define("checks:scalar_g", sech2_derivative, primitive=_scalar_array,
                         params=_A)


def _three(x, /, *, xp, a):
    return a * xp.ones(3)


def _three_inside(x, /, *, xp, a):
    return x * xp.ones(3)


def test_nonbroadcastable_derivative_names_definition() -> None:
    """Finding: a derivative of a shape that does not broadcast failed with numpy's
    message ("operands could not be broadcast together"), without the definition's
    name."""
    with pytest.raises(ValueError, match=r"^define\('checks:three'\): derivative returned "
                                         r"shape \(3,\) for input shape \(33,\)"):
        spikegrad.define("checks:three", _three, params=_A)
    with pytest.raises(ValueError) as info:
        spikegrad.define("checks:three_inside", _three_inside, params=_A)
    msg = str(info.value)
    assert msg.startswith("define('checks:three_inside'): derivative raised ValueError")
    assert "could not be broadcast" in msg and "(33,)" in msg
    assert isinstance(info.value.__cause__, ValueError)  # numpy's own error, chained


# -- dtypes, finiteness, primitive against derivative --------------------------------------
def _float64_constant(x, /, *, xp, a):
    return xp.asarray(a, dtype=xp.float64) * xp.exp(-xp.abs(x))


def test_derivative_of_another_dtype_rejected_at_define() -> None:
    with pytest.raises(ValueError, match=r"define\('checks:f64'\): derivative returned "
                                         r"float64 for float32 input"):
        spikegrad.define("checks:f64", _float64_constant, params=_A)


def _pole(x, /, *, xp, a):
    return a / xp.abs(x)


def test_non_finite_derivative_rejected_at_define() -> None:
    with pytest.raises(ValueError, match=r"define\('checks:pole'\): derivative returned "
                                         r"inf at x = 0"):
        spikegrad.define("checks:pole", _pole, params=_A)


def _twice(x, /, *, xp, a):
    return 2.0 * sech2_primitive(x, xp=xp, a=a)


def _negated(x, /, *, xp, a):
    return -sech2_primitive(x, xp=xp, a=a)


@pytest.mark.parametrize("g", [_twice, _negated])
def test_primitive_off_by_a_factor_or_sign_rejected_at_define(g) -> None:
    with pytest.raises(ValueError, match=r"define\('checks:off'\): derivative is not "
                                         r"d/dx of primitive at x = "):
        spikegrad.define("checks:off", sech2_derivative, primitive=g, params=_A)


def test_a_small_primitive_mismatch_is_left_to_conformance() -> None:
    """The probe fails only clear mismatches (a factor, a sign); the conformance suite's
    self-consistency check measures the rest (``tests/user_definitions.INCONSISTENT``,
    a slope 10 % off, is made and then caught there)."""
    check_definition(INCONSISTENT)
    check_definition(SECH2)


def _piecewise_derivative(x, /, *, xp, a):  # kinks at ±1/a, where fd straddles them
    return xp.where(xp.abs(x) < 1.0 / a, a / 2.0, 0.0 * x)


def _piecewise_primitive(x, /, *, xp, a):
    return xp.clip(0.5 + a * x / 2.0, 0.0, 1.0)


@pytest.mark.parametrize("a", [1.0, 2.0, 4.0, 8.0, 0.5])
def test_piecewise_formulas_pass_the_probe(a: float) -> None:
    spikegrad.define("checks:box", _piecewise_derivative, primitive=_piecewise_primitive,
                     params=[Param("a", a, Domain.magnitude(), "Slope.")])


def _python_if_on_x(x, /, *, xp, a):
    if x > 0:
        return xp.exp(-x)
    return xp.exp(x)


def test_python_if_on_x_hints_xp_where_at_define() -> None:
    with pytest.raises(ValueError, match=r"define\('checks:if_x'\).*xp\.where"):
        spikegrad.define("checks:if_x", _python_if_on_x, params=_A)


def test_probe_accepts_every_builtin() -> None:
    """A guard against false positives: every built-in definition (canonical names and
    aliases, made through the catalogue's helpers, not ``define``) passes the probe."""
    entries = spikegrad.all_entries()
    assert len([e for e in entries if not e.user]) > 100
    for e in entries:
        if not e.user:
            check_definition(e)


# -- a Python `if` on an array parameter ---------------------------------------------------
def _branchy() -> spikegrad.Entry:
    return spikegrad.define("checks:if_param", branchy_derivative,
                            primitive=branchy_primitive,
                            params=[Param("a", 0.5, Domain.magnitude(), "Scale.")])


def test_python_if_on_array_param_hints_xp_where_numpy() -> None:
    s = _branchy().bind(a=np.full(5, 0.5))
    with pytest.raises(TypeError, match=r"checks:if_param.*Python `if`.*xp\.where"):
        s.derivative(np.linspace(-1.0, 1.0, 5))


def test_python_if_on_array_param_hints_xp_where_torch() -> None:
    """Finding: torch's raw "Boolean value of Tensor with more than one value is
    ambiguous", with no hint."""
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    e = _branchy()
    x = torch.linspace(-1.0, 1.0, 5, requires_grad=True)
    with warnings.catch_warnings():
        # no fused kernel either (its trace meets the same `if`): where the C++ node is
        # built, the forward tries it first and warns once, then torch ops raise
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TypeError,
                           match=r"checks:if_param.*Python `if`.*xp\.where") as info:
            sgt.spike(x, e.bind(a=torch.full((5,), 0.5))).sum().backward()
        assert isinstance(info.value.__cause__, RuntimeError)
        width = torch.full((5,), 0.5, requires_grad=True)
        with pytest.raises(TypeError, match=r"checks:if_param.*xp\.where"):
            sgt.spike(x, e.bind(a=width)).sum().backward()


def test_python_if_on_array_param_hints_xp_where_jax() -> None:
    """Finding: jax's raw ``TracerBoolConversionError``, with no hint."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    e = _branchy()
    x = jnp.linspace(-1.0, 1.0, 5)
    with pytest.raises(TypeError, match=r"checks:if_param.*Python `if`.*xp\.where"):
        jax.grad(lambda v: sgj.spike(v, e.bind(a=jnp.full((5,), 0.5))).sum())(x)
    with pytest.raises(TypeError, match=r"checks:if_param.*xp\.where") as info:
        jax.jit(jax.grad(lambda v, a: sgj.spike(v, e.bind(a=a)).sum()))(x, jnp.asarray(0.5))
    assert isinstance(info.value.__cause__, jax.errors.ConcretizationTypeError)


def test_python_if_hint_keeps_number_parameters_working() -> None:
    """A Python ``if`` on a number parameter is fine (the value is known)."""
    s = _branchy().bind(a=0.5)
    x = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_allclose(s.derivative(x), 0.5 * np.exp(-np.abs(x)), rtol=1e-15)


# -- pickling by name ----------------------------------------------------------------------
def test_unpickle_unregistered_names_module() -> None:
    """Finding: a registered definition pickles by name only, so a process that had not
    imported (and registered) it failed with "unknown surrogate", with no hint."""
    e = spikegrad.register(spikegrad.define("checks:pickled", sech2_derivative,
                                            primitive=sech2_primitive, params=_A))
    try:
        data = pickle.dumps(e.bind(a=2.0))
        assert pickle.loads(data).entry is e  # by name while registered
    finally:
        spikegrad.unregister("checks:pickled")
    with pytest.raises(spikegrad.UnknownSurrogateError) as info:
        pickle.loads(data)
    msg = str(info.value)
    assert "'checks:pickled'" in msg and "import tests.test_define_checks" in msg
    assert "spikegrad.register" in msg


def test_define_records_the_defining_module() -> None:
    assert spikegrad.define("checks:where", sech2_derivative,
                            params=_A).extra["module"] == __name__


# -- one warning per untraceable formula ---------------------------------------------------
@pytest.mark.parametrize("calls", [("plain",), ("learnable",), ("plain", "learnable")])
def test_untraceable_formula_warns_once(calls: tuple[str, ...]) -> None:
    """Finding: an untraceable formula warned twice (its float32 and float64 kernels; and
    again for the kernel of its parameter gradients), where the README promises one
    warning naming it."""
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    name = f"checks:untraceable_{'_'.join(calls)}"
    e = spikegrad.define(name, untraceable_derivative, primitive=untraceable_primitive,
                         params=[Param("a", 1.0, Domain.magnitude(), "Scale.")])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for dtype in (torch.float32, torch.float64):
            for call in calls:
                x = torch.linspace(-1.0, 1.0, 5, dtype=dtype, requires_grad=True)
                if call == "learnable":  # a parameter that requires grad
                    a = torch.tensor(1.0, dtype=dtype, requires_grad=True)
                    sgt.spike(x, e.bind(a=a)).sum().backward()
                    assert a.grad is not None
                else:
                    sgt.spike(x, e.bind()).sum().backward()
                want = np.exp(-np.abs(x.detach().numpy()))
                np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-6)
    ours = [w for w in seen if name in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert "no fused CPU kernel" in str(ours[0].message)


def test_a_fresh_process_is_told_which_module_to_import() -> None:
    """The real case: a process that has not imported the defining module."""
    import subprocess
    import sys
    from pathlib import Path

    e = spikegrad.register(SECH2)
    try:
        data = pickle.dumps(e.bind(a=0.5))
    finally:
        spikegrad.unregister(SECH2.name)
    load = ("import pickle, sys\n"
            "data = sys.stdin.buffer.read()\n"
            "try:\n"
            "    pickle.loads(data)\n"
            "except KeyError as exc:\n"
            "    print(exc)\n"
            "import spikegrad\n"
            "from tests.user_definitions import SECH2\n"
            "spikegrad.register(SECH2)\n"
            "print(pickle.loads(data).derivative(__import__('numpy').zeros(1))[0])\n")
    out = subprocess.run([sys.executable, "-c", load], input=data, capture_output=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=120, check=True)
    lines = out.stdout.decode().splitlines()
    assert "import tests.user_definitions" in lines[0] and "'testdefs:sech2'" in lines[0]
    assert float(lines[1]) == 0.25  # a / 2 at a = 0.5, once registered
