"""Parameters passed as arguments of a ``torch.compile``d function.

Findings: ``torch.compile(lambda v, a: sgt.atan(v, alpha=a), fullgraph=True)`` failed at
the second float value ("sort with non-constant keys": the bound cache sorted the
parameter values); a new alpha tensor per call was feared to recompile per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")

from torch._dynamo.utils import counters  # noqa: E402

import spikegrad  # noqa: E402
import spikegrad.torch as sgt  # noqa: E402

ALPHAS = (2.0, 3.0, 4.5, 5.5, 7.25, 0.3)
FORMS: dict[str, Callable[..., torch.Tensor]] = {
    "sgt.atan": lambda v, a: sgt.atan(v, alpha=a),
    "sgt.spike by name": lambda v, a: sgt.spike(v, "atan", alpha=a),
}
#: float32 computed in float32 (the torch adapter's declared core tolerance), float64
RTOL = {torch.float32: 16 * 2.0**-23, torch.float64: 1e-13}


def _atan_prime(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Independent oracle: d/dx of (1/pi) atan(pi/2 alpha x) + 1/2, in float64."""
    x = x.double()
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


def _graphs() -> int:
    return counters["stats"]["unique_graphs"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("form", list(FORMS))
def test_a_number_argument_compiles_at_most_twice_for_every_value(form: str,
                                                                  dtype: torch.dtype) -> None:
    """Every value works under fullgraph=True; dynamo specializes the first value and makes
    the argument dynamic from the second on: two graphs, not one per value."""
    torch._dynamo.reset()
    counters.clear()
    f = torch.compile(FORMS[form], fullgraph=True)
    x = torch.linspace(-2, 2, 33, dtype=dtype, requires_grad=True)
    for alpha in ALPHAS:
        y = f(x, alpha)
        assert y.dtype == dtype
        (g,) = torch.autograd.grad(y.sum(), x)
        torch.testing.assert_close(g.double(), _atan_prime(x.detach(), alpha),
                                   rtol=RTOL[dtype], atol=0)
    assert _graphs() <= 2


def test_a_new_tensor_parameter_per_call_does_not_recompile() -> None:
    torch._dynamo.reset()
    counters.clear()
    f = torch.compile(lambda v, a: sgt.spike(v, "atan", alpha=a), fullgraph=True)
    x = torch.linspace(-2, 2, 33, dtype=torch.float64, requires_grad=True)
    for i in range(10):
        a = torch.tensor(2.0 + 0.37 * i, dtype=torch.float64, requires_grad=True)
        gx, ga = torch.autograd.grad(f(x, a).sum(), (x, a))
        torch.testing.assert_close(gx, _atan_prime(x.detach(), a.item()), rtol=1e-13, atol=0)
        assert torch.isfinite(ga)
    assert _graphs() <= 2


@pytest.mark.parametrize("bad", [-1.0, 0.0, math.nan, 1e9])
def test_an_invalid_number_argument_fails_when_the_compiled_graph_runs(bad: float) -> None:
    """The domain check moves into the graph: no value is accepted silently."""
    torch._dynamo.reset()
    f = torch.compile(lambda v, a: sgt.atan(v, alpha=a), fullgraph=True)
    x = torch.linspace(-2, 2, 33, requires_grad=True)
    f(x, 2.0)
    f(x, 3.0)  # the argument is dynamic from here on
    with pytest.raises(RuntimeError, match=r"atan: alpha must be in"):
        f(x, bad)


def test_eager_number_parameters_are_still_checked_and_stay_numbers() -> None:
    with pytest.raises(ValueError, match=r"atan: alpha must be in"):
        sgt.atan(torch.zeros(3), alpha=-1.0)
    assert sgt._compiled_numbers_as_tensors(spikegrad.entry("atan"),
                                            {"alpha": 2.0}) == {"alpha": 2.0}


def test_a_repeated_integer_given_as_a_float_compiles_no_more_than_before() -> None:
    """Finding (review): with new numbers taken unbound at their first sight, a compiled
    function guarded on that record and compiled once more at a value's third call
    (``n_terms=4.0`` three times: three graphs instead of two).  Inside ``torch.compile``
    numbers are bound at once, as before."""
    calls: list[int] = []

    def backend(gm, example):  # type: ignore[no-untyped-def]
        calls.append(1)
        return gm.forward

    x = torch.randn(16)
    sgt.spike(x, "squarewave_fourier_series", n_terms=2.0)  # the call shape is known
    f = torch.compile(lambda v, n: sgt.spike(v, "squarewave_fourier_series", n_terms=n),
                      fullgraph=True, backend=backend)
    torch._dynamo.reset()
    counts = []
    for _ in range(3):
        f(x, 4.0)
        counts.append(len(calls))
    assert counts[2] == counts[1], counts
