"""Bad input gets a clear error, never a silent fallback or a NaN."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad
from spikegrad.adapters import reference


@pytest.mark.parametrize(
    ("name", "params", "pattern"),
    [
        ("atan", {"alpha": 0.0}, r"atan: alpha must be in \[1e-06, 1e\+06\] .*, got 0"),
        ("atan", {"alpha": -1.0}, r"atan: alpha must be in \[1e-06, 1e\+06\] .*, got -1"),
        ("sigmoid", {"alpha": float("nan")},
         r"sigmoid: alpha must be in \[1e-06, 1e\+06\] .*, got nan"),
        ("sigmoid", {"alpha": float("inf")}, r"alpha must be in \[1e-06, 1e\+06\]"),
        ("q_pseudo_spike", {"alpha": 1.0},
         r"q_pseudo_spike: alpha must be in \[1.000001, 1e\+06\] .*, got 1"),
        ("spikingjelly:QPseudoSpike", {"alpha": 0.5},
         r"alpha must be in \[1.000001, 1e\+06\] .*, got 0.5"),
        ("squarewave_fourier_series", {"n_terms": 0}, r"n_terms must be integer in \[1, 100\]"),
        ("squarewave_fourier_series", {"n_terms": 1.5}, r"n_terms must be integer in \[1, 100\]"),
        ("spikingjelly:SquarewaveFourierSeries", {"n": 1},
         r"n must be integer in \[2, 101\], got 1"),
        ("triangle", {"half_width": 0.0}, r"half_width must be in \[1e-06, 1e\+06\]"),
        ("multi_level_spike_count", {"grad_window": (2.0, 1.0)}, r"grad_window must be"),
        ("dspike", {"alpha": 2000.0}, r"dspike: alpha must be in \[1e-06, 1000\]"),
        ("gaussian", {"sigma": -0.5}, r"sigma must be in \[1e-06, 1e\+06\] .*, got -0.5"),
        ("stochastic_spike_operator", {"variance": -1.0},
         r"variance must be 0 or in \[1e-30, 1e\+06\]"),
    ],
)
def test_invalid_parameter_value(name: str, params: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        spikegrad.get(name, **params)


@pytest.mark.parametrize(
    ("name", "params", "pattern"),
    [
        ("atan", {"slope": 2.0}, r"atan: unexpected parameter 'slope'; its parameters are: alpha"),
        ("atan", {"alpha": "2"}, r"atan: alpha must be a Python number or a floating array, "
         r"got str"),
        ("atan", {"alpha": np.array([1, 2])}, r"must be a real floating array"),
        ("squarewave_fourier_series", {"n_terms": np.array([1.0, 2.0])},
         r"n_terms is structural \(an integer\) and must be a Python int"),
        ("atan", {"alpha": True}, r"must be a number, got bool"),
        ("heaviside_window", {"inclusive": 1}, r"inclusive must be True or False"),
        ("multi_level_spike_count", {"grad_window": 3.0}, r"must be None or a pair"),
    ],
)
def test_invalid_parameter_type(name: str, params: dict, pattern: str) -> None:
    with pytest.raises(TypeError, match=pattern):
        spikegrad.get(name, **params)


def test_array_parameter_outside_domain_names_it() -> None:
    with pytest.raises(ValueError,
                       match=r"atan: alpha must be in \[1e-06, 1e\+06\] .* elementwise, got -1.0"):
        spikegrad.get("atan", alpha=np.array([1.0, -1.0]))


def test_numpy_scalar_parameter_is_accepted() -> None:
    assert spikegrad.get("atan", alpha=np.float32(2.0)) == spikegrad.get("atan", alpha=2.0)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("atn", "atan"), ("sigmod", "sigmoid"), ("snntorch:fastsigmoid", "snntorch:fast_sigmoid"),
     ("ATan", "spikingjelly:ATan"), ("ERF", "braintools:ERF"), ("Erf", "erf")],
)
def test_unknown_name_suggests(name: str, suggestion: str) -> None:
    with pytest.raises(spikegrad.UnknownSurrogateError, match=f"did you mean.*'{suggestion}'"):
        spikegrad.get(name)


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(KeyError, match="unknown surrogate 'zzzz'"):
        spikegrad.get("zzzz")
    with pytest.raises(TypeError, match="must be a string"):
        spikegrad.get(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dtype", "kind"),
    [(np.int32, "integer"), (np.int64, "integer"), (np.uint8, "integer"), (np.bool_, "boolean"),
     (np.complex64, "complex"), (np.complex128, "complex")],
)
@pytest.mark.parametrize("method", ["spike", "derivative", "primitive"])
def test_non_float_arrays_raise(dtype: type, kind: str, method: str) -> None:
    s = spikegrad.get("atan")
    x = np.zeros(3, dtype=dtype)
    with pytest.raises(TypeError, match=f"{kind} dtype.*cast it first"):
        getattr(s, method)(x)


@pytest.mark.parametrize("value", [0.5, 1, [0.1, 0.2], (0.1,)])
def test_non_arrays_raise(value: object) -> None:
    with pytest.raises(TypeError, match="expected an array"):
        spikegrad.get("atan").derivative(value)


def test_unsupported_array_type_raises() -> None:
    with pytest.raises(TypeError, match="unsupported array type"):
        spikegrad.get("atan").derivative(object())


def test_mixed_namespaces_raise() -> None:
    xs = pytest.importorskip("array_api_strict")
    s = spikegrad.get("atan")
    x = xs.asarray([0.1, 0.2], dtype=xs.float64)
    with pytest.raises(TypeError, match="different frameworks"):
        reference.backward(s, x, np.ones(2))


def test_backward_grad_dtype_and_shape_must_match() -> None:
    s = spikegrad.get("atan")
    x = np.zeros(3, dtype=np.float32)
    with pytest.raises(TypeError, match="grad dtype float64 differs"):
        reference.backward(s, x, np.ones(3))
    with pytest.raises(TypeError, match="grad shape"):
        reference.backward(s, x, np.ones(4, dtype=np.float32))
    with pytest.raises(TypeError, match="integer dtype"):
        reference.backward(s, x, np.ones(3, dtype=np.int32))


def test_stochastic_without_key_raises() -> None:
    x = np.linspace(-1, 1, 5)
    with pytest.raises(TypeError, match="stochastic: pass key="):
        spikegrad.get("stochastic_spike_operator").derivative(x)
    with pytest.raises(TypeError, match="stochastic: pass key="):
        spikegrad.get("poisson_pass").spike(x)
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        spikegrad.get("poisson_pass").spike(x, key=42)


def test_missing_primitive_raises() -> None:
    with pytest.raises(NotImplementedError, match="fake_numerical_gradient has no primitive"):
        spikegrad.get("fake_numerical_gradient").primitive(np.zeros(2))


def test_bound_is_frozen() -> None:
    s = spikegrad.get("atan")
    with pytest.raises(AttributeError):
        s.name = "sigmoid"  # type: ignore[misc]


def test_backward_rejects_unknown_surrogate_object() -> None:
    with pytest.raises(TypeError, match="the reference engine takes a bound surrogate"):
        reference.forward(3.0, np.zeros(2))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["tensor", "number"])
@pytest.mark.parametrize("x", [[0.5, -0.5], np.array([0.5, -0.5], np.float32)])
def test_a_non_tensor_input_after_a_learnable_call_names_the_fix(x: object, kind: str) -> None:
    """Finding: once a tensor-parameter call had found the C++ node, a later call went
    straight to it and read ``x.dtype`` first: a list raised ``AttributeError``; the same
    held for a number parameter whose bound had found the node."""
    torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")
    import spikegrad.torch as sgt
    from spikegrad.adapters import _torch_native

    if not _torch_native.ensure(600):
        pytest.skip(f"C++ node unavailable: {_torch_native.status()}")
    alpha = torch.tensor(2.0, requires_grad=True) if kind == "tensor" else 2.25
    for _ in range(2):  # (a number is bound at its second sight)
        sgt.atan(torch.randn(2, requires_grad=True), alpha=alpha).sum().backward()
    with pytest.raises(TypeError, match=r"takes torch tensors.*torch.as_tensor"):
        sgt.atan(x, alpha=alpha)


@pytest.mark.parametrize("edge,dtype", [(e, d) for e in ("low", "high") for d in (
    "float16", "bfloat16", "float32", "float64") if (e, d) != ("high", "float16")])  # > 65504
def test_an_array_holding_the_domain_edge_in_its_dtype_is_accepted(dtype: str,
                                                                  edge: str) -> None:
    """Finding: ``torch.tensor(1e-6)`` (float32, 9.99999997e-07) was refused as atan's
    alpha, whose domain is [1e-6, 1e6] as written; an array holding the dtype's nearest
    value to an inclusive bound is that bound.  A value one step inside the dtype beyond
    the edge is still refused."""
    torch = pytest.importorskip("torch")
    bound = 1e-6 if edge == "low" else 1e6
    t = torch.tensor([bound, 2.0], dtype=getattr(torch, dtype))
    assert spikegrad.get("atan", alpha=t).params["alpha"] is t
    beyond = torch.nextafter(t.double()[:1], torch.tensor([0.0 if edge == "low" else 1e300],
                                                         dtype=torch.float64))
    outside = t.clone()
    outside[0] = beyond.to(t.dtype) if dtype == "float64" else (
        t[:1].double() * (0.9 if edge == "low" else 1.1)).to(t.dtype)
    with pytest.raises(ValueError, match=r"alpha must be in \[1e-06, 1e\+06\]"):
        spikegrad.get("atan", alpha=outside)


def test_an_infinite_float16_array_is_not_the_edge_of_a_bound_beyond_float16() -> None:
    """Finding (review of the edge rule above): 1e6, atan's upper bound, rounds to inf in
    float16, and a float16 alpha holding inf was taken for that edge and accepted."""
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"alpha must be in \[1e-06, 1e\+06\] .* got inf"):
        spikegrad.get("atan", alpha=torch.tensor([float("inf"), 2.0], dtype=torch.float16))
