"""A parameter that changes at every call (a schedule, a sweep) is neither traced nor
bound from scratch per value.

Finding: 20,000 calls of ``spike(x, "atan", alpha=1 + 1e-6 i)`` took 1.18 ms each against
0.19 ms with a fixed alpha; after the C++ node tables were bounded a new value still cost
~105 us against ~22 us at 2^10, most of it tracing the formula again for its constants
(``codegen.cpu.source_and_constants``) and binding it (``Entry.bind``).

Now a formula's constants for a new value come from its host program
(:mod:`spikegrad.codegen.replay`, recorded once per formula and branch), checked here bit
for bit against a fresh trace for every definition, dtype and several values; and a new
value of a known call shape validates only its floats
(:class:`spikegrad._frontend.BoundCache`).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import spikegrad
from spikegrad import _frontend
from spikegrad.codegen import cpu, replay
from spikegrad.codegen.trace import UnsupportedTrace

NAMES = [n for n in [*spikegrad.names(), *spikegrad.aliases()]
         if not spikegrad.entry(n).formula.stochastic_backward]


def _clear() -> None:
    cpu._EMITTED.clear()
    cpu.REPLAYS.clear()


def _values(name: str) -> list[dict[str, float]]:
    """Sets of the entry's real parameters moved off their defaults, inside their
    domains: a sweep's values (not exact in float32), and values that are."""
    e = spikegrad.entry(name)
    out: list[dict[str, float]] = []
    for f in (1.0137, 0.9731, 1.5, 0.75, 1.000001):
        vals = {}
        for p in e.params:
            v = e.defaults()[p.name]
            if p.static or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            cand = float(v) * f if v != 0 else 0.01 * f
            if p.domain.check(cand):
                vals[p.name] = cand
        out.append(vals)
    return out


def _bits(a: list[float]) -> list[tuple[bool, float, float]]:
    return [(math.isnan(v), 0.0 if math.isnan(v) else v, math.copysign(1.0, v)) for v in a]


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the traces of formulas at parameter values (not the recordings of host
    programs) that the code generators make."""
    made: list[str] = []
    real = replay.trace_formula

    def counted(fn, params, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not any(isinstance(v, replay.HostScalar) for v in params.values()):
            made.append(getattr(fn, "__name__", "?"))
        return real(fn, params, *args, **kwargs)

    monkeypatch.setattr(replay, "trace_formula", counted)
    return made


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_a_new_value_replays_the_constants_a_fresh_trace_gives(name: str, dtype: str,
                                                                traces: list[str]) -> None:
    _clear()
    cpu.source_and_constants(spikegrad.get(name), dtype)  # traces, records
    for vals in _values(name):
        bound = spikegrad.get(name, **vals)
        recorded = dict(cpu.REPLAYS.programs)
        del traces[:]
        src, constants = cpu.source_and_constants(bound, dtype)
        if traces:  # traced: only where no recorded branch holds for these values
            found = replay.leaves(bound.formula_params, bound.scale)
            assert found is not None
            key = (bound.formula, dtype, found[0])  # (the cpu generator's tag)
            assert all(p(found[1]) is None for _, p in recorded.get(key, ())), vals
        saved = dict(cpu.REPLAYS.programs)
        _clear()
        fresh_src, fresh = cpu.source_and_constants(bound, dtype)
        cpu.REPLAYS.programs.update(saved)
        assert src == fresh_src
        assert _bits(constants) == _bits(fresh), (vals, constants, fresh)


@pytest.mark.parametrize("name", NAMES)
def test_every_definition_is_replayable(name: str) -> None:
    """Every built-in formula records a host program (none falls back to a trace per
    value): a formula that needs a parameter's value on the host in a new way shows up
    here."""
    _clear()
    cpu.source_and_constants(spikegrad.get(name), "float32")
    assert not cpu.REPLAYS.not_replayable
    assert len(cpu.REPLAYS.programs) == 1


def test_a_sweep_traces_each_branch_once(traces: list[str]) -> None:
    """200 new values of atan and of triangle (which branches on whether its width is
    exact in float32) trace at most once per branch: the finding's per-value trace."""
    _clear()
    for i in range(200):
        cpu.source_and_constants(spikegrad.get("atan", alpha=1.5 + 1e-4 * i), "float32")
        cpu.source_and_constants(spikegrad.get("triangle", half_width=0.35 + 1e-4 * i),
                                 "float32")
    assert 2 <= len(traces) <= 4, len(traces)


def test_a_sweep_through_the_torch_binding_replays(traces: list[str]) -> None:
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt

    x = torch.linspace(-2, 2, 64, requires_grad=True)
    for i in range(50):
        alpha = 1.5 + 1e-3 * i
        (gx,) = torch.autograd.grad(sgt.atan(x, alpha=alpha).sum(), x)
        expect = spikegrad.get("atan", alpha=alpha).derivative(x.detach().double().numpy())
        np.testing.assert_allclose(gx.double().numpy(), expect, rtol=2e-6, atol=0)
    assert len(traces) <= 2, len(traces)


def _sqrt_by_math(x, /, *, xp, alpha):  # type: ignore[no-untyped-def]
    return math.sqrt(alpha) * xp.exp(-x * x)


def _branch(x, /, *, xp, alpha):  # type: ignore[no-untyped-def]
    if alpha > 1.0:
        return alpha * x
    return xp.exp(x) * (alpha + 2.0)


def _recorded(fn, alpha: float) -> replay.Program | None:  # type: ignore[no-untyped-def]
    from spikegrad.codegen.c import emit_expression
    from spikegrad.codegen.trace import trace_formula

    ns, out = trace_formula(fn, {"alpha": alpha}, "float64", 1.0, distinct_constants=True)
    constants: list[float] = []
    places: list[tuple[int, int]] = []
    emit_expression(out, {"x": "x[i]"}, constants, origins=places)
    return replay.record(fn, {"alpha": alpha}, 1.0, "float64", ns, out, tuple(places),
                         constants)


def test_a_formula_that_reads_a_value_on_the_host_is_traced_per_value() -> None:
    """``math.sqrt(alpha)`` outside ``host_or_array`` needs the value: no program."""
    assert _recorded(_sqrt_by_math, 2.0) is None
    with pytest.raises(UnsupportedTrace):
        float(replay.HostScalar(2.0, "v[0]", replay._Recorder()))


def test_a_branch_on_a_value_is_a_guard() -> None:
    program = _recorded(_branch, 2.0)
    assert program is not None
    assert program((3.0,)) is not None  # the same branch
    assert program((0.5,)) is None  # the other branch: not this program's constants


# -- binding a new value of a known call shape --------------------------------------------
def test_a_new_number_of_a_known_shape_binds_like_entry_bind() -> None:
    cache = _frontend.BoundCache(spikegrad.entry("sigmoid"))
    cache.get({"alpha": 4.0})
    for alpha in (3.0, 5.5, 7):
        via_shape = cache.get({"alpha": alpha})
        direct = spikegrad.entry("sigmoid").bind(alpha=alpha)
        assert via_shape == direct and hash(via_shape) == hash(direct)
        assert via_shape.param_items == direct.param_items
        assert via_shape.formula_params == direct.formula_params
        assert via_shape.scale == direct.scale
        assert type(via_shape.params["alpha"]) is type(direct.params["alpha"])


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_a_new_number_of_a_known_shape_is_validated(bad: float) -> None:
    cache = _frontend.BoundCache(spikegrad.entry("atan"))
    cache.get({"alpha": 2.0})
    cache.get({"alpha": 2.5})  # the shape is known
    with pytest.raises(ValueError, match="alpha"):
        cache.get({"alpha": bad})


# -- the CUDA kernels' text (generated here, compiled by cupy on a GPU) -----------------
@pytest.mark.parametrize("name", NAMES)
def test_the_cuda_kernels_of_a_new_value_are_a_fresh_trace_s(name: str) -> None:
    from spikegrad.codegen import cuda

    cuda.REPLAYS.clear()
    cuda.elementwise(spikegrad.get(name), "float32")
    for vals in _values(name):
        bound = spikegrad.get(name, **vals)
        for dtype in ("float32", "float64"):
            e = cuda.elementwise(bound, dtype)
            saved = dict(cuda.REPLAYS.programs)
            cuda.REPLAYS.clear()
            fresh = cuda.elementwise(bound, dtype)
            cuda.REPLAYS.programs.update(saved)
            assert (e.operation, e.name) == (fresh.operation, fresh.name)
            assert _bits(list(e.constants)) == _bits(list(fresh.constants)), vals


def test_a_cuda_sweep_traces_once(traces: list[str]) -> None:
    from spikegrad.codegen import cuda

    cuda.REPLAYS.clear()
    for i in range(100):
        cuda.elementwise(spikegrad.get("atan", alpha=1.5 + 1e-4 * i), "float32")
    assert len(traces) == 1, traces
