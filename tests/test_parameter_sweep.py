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

import itertools
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


def _constants(out) -> tuple[list[float], tuple[tuple[int, int], ...]]:  # type: ignore[no-untyped-def]
    """The constants a kernel emitted from trace output ``out`` reads, and their places."""
    from spikegrad.codegen.c import emit_expression

    constants: list[float] = []
    places: list[tuple[int, int]] = []
    emit_expression(out, {"x": "x[i]"}, constants, origins=places)
    return constants, tuple(places)


def _recorded(fn, value: float, name: str = "alpha"  # type: ignore[no-untyped-def]
              ) -> replay.Program | None:
    from spikegrad.codegen.trace import trace_formula

    ns, out = trace_formula(fn, {name: value}, "float64", 1.0, distinct_constants=True)
    constants, places = _constants(out)
    return replay.record(fn, {name: value}, 1.0, "float64", ns, out, places, constants)


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


def test_a_float_for_an_integer_parameter_of_a_known_shape_becomes_an_integer() -> None:
    """A known call shape accepts a float inside a real parameter's domain as it is; an
    integer parameter's float still goes through ``Param.validate`` (``2.0`` -> ``2``)."""
    cache = _frontend.BoundCache(spikegrad.entry("squarewave_fourier_series"))
    cache.get({"n_terms": 2.0})
    for n in (3.0, 4.0):
        items = dict(cache.get({"n_terms": n}).param_items)
        assert items["n_terms"] == int(n) and type(items["n_terms"]) is int
    with pytest.raises(ValueError, match="n_terms"):
        cache.get({"n_terms": 2.5})


# -- the C++ node: a new value of a known formula shape ------------------------------------
NATIVE = [n for n in NAMES if not spikegrad.entry(n).formula.stochastic_backward
          and spikegrad.entry(n).bind().forward_kind in ("ge", "gt")
          and any(_values(n)[0])]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NATIVE)
def test_a_new_value_of_a_known_shape_reaches_the_cpp_node_as_a_fresh_trace_would(
        name: str, dtype: str) -> None:
    """A sweep's new value gets the C++ node's kernel and constants from its formula
    shape's recorded programs (no trace, no kernel lookup): the same kernel address and,
    bit for bit, the constants of a fresh trace of that value."""
    pytest.importorskip("torch")
    from spikegrad.adapters import _torch_native
    from spikegrad.adapters import torch as adapter

    if not _torch_native.ensure():
        pytest.skip(f"no C++ node: {_torch_native.status()}")
    first, *others = _values(name)
    bound = spikegrad.get(name, **first)
    if adapter._native_entry(bound, dtype == "float64") is None:
        pytest.skip(f"{name}: no fused kernel")
    for vals in others:
        bound = spikegrad.get(name, **vals)
        replayed = adapter._replayed(bound, dtype)
        _clear()  # the reference: a fresh trace
        src, constants = cpu.source_and_constants(bound, dtype)
        if replayed is None:  # (another branch, or traced per value: not a shape's)
            continue
        address, got = replayed
        assert address == cpu.library(src).backward_address, name
        assert _bits(got) == _bits(constants), (name, vals)


def test_a_sweep_through_the_cpp_node_traces_nothing(traces: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """After its first value, a sweep through the torch binding neither traces nor asks
    the code generator for a kernel: each new value is a program call."""
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt
    from spikegrad.adapters import _torch_native

    if not _torch_native.ensure():
        pytest.skip(f"no C++ node: {_torch_native.status()}")
    x = torch.linspace(-2, 2, 64, requires_grad=True)
    torch.autograd.grad(sgt.atan(x, alpha=1.25).sum(), x)
    asked: list[str] = []
    real = cpu.backward_and_constants
    monkeypatch.setattr(cpu, "backward_and_constants",
                        lambda bound, dtype: asked.append(dtype) or real(bound, dtype))
    for i in range(20):
        alpha = 1.3 + 1e-3 * i
        (gx,) = torch.autograd.grad(sgt.atan(x, alpha=alpha).sum(), x)
        expect = spikegrad.get("atan", alpha=alpha).derivative(x.detach().double().numpy())
        np.testing.assert_allclose(gx.double().numpy(), expect, rtol=2e-6, atol=0)
    assert asked == [] and len(traces) <= 1, (asked, traces)


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


# -- what a recording cannot see (found by review) --------------------------------------
def _user(name: str, fn) -> spikegrad.Entry:  # type: ignore[no-untyped-def]
    from spikegrad import Domain, Param

    return spikegrad.define(f"sweep_test:{name}", fn,
                            params=[Param("a", 2.0, Domain.real(), "a")])


def _is_number(x, /, *, xp, a):  # type: ignore[no-untyped-def]
    c = (a if a > 0.5 else 0.5) if isinstance(a, (int, float)) else a
    return c / (1.0 + x * x)


def _compared_to_true(x, /, *, xp, a):  # type: ignore[no-untyped-def]
    c = 3.0 if (a > 2.5) == True else 1.0  # noqa: E712 - the point of the test
    return c / (1.0 + x * x) + 0.0 * a


def _dictionary_key(x, /, *, xp, a):  # type: ignore[no-untyped-def]
    return {True: 3.0, False: 1.0}[a > 2.5] / (1.0 + x * x) + 0.0 * a


def _asserted(x, /, *, xp, a):  # type: ignore[no-untyped-def]
    assert isinstance(a, float) or hasattr(a, "shape")
    return a / (1.0 + x * x)


def _long_series(x, /, *, xp, a):  # type: ignore[no-untyped-def]
    t, s = 1.0, 1.0
    for k in range(1, 120):
        t = t * a / k
        s = s + t
    return s / (1.0 + x * x)


def _caught(x, /, *, xp, a):  # type: ignore[no-untyped-def]
    try:
        c = 1.0 / (a - 3.0)
    except ZeroDivisionError:
        c = 7.0
    return c / (1.0 + x * x)


@pytest.mark.parametrize("fn,first,second", [(_is_number, 2.0, 0.25),
                                             (_compared_to_true, 2.0, 3.0),
                                             (_dictionary_key, 2.0, 3.0),
                                             (_asserted, 2.0, 3.0),
                                             (_long_series, 0.5, 0.75),
                                             (_caught, 2.0, 3.0)])
def test_a_user_definition_gives_a_fresh_trace_s_constants(fn, first: float,
                                                           second: float) -> None:
    """A user formula's host code may read a parameter in ways a recording cannot see
    (``isinstance``, a comparison used as a value): its constants come from a trace at
    every value.  Before: ``_is_number`` gave 0.25 where the formula says 0.5,
    ``_compared_to_true`` 1.0 for 3.0; ``_dictionary_key`` and ``_asserted`` raised at
    the first call; ``_long_series`` raised SyntaxError; ``_caught`` ZeroDivisionError."""
    entry = _user(fn.__name__.strip("_"), fn)
    _clear()
    cpu.source_and_constants(entry.bind(a=first), "float32")
    got = cpu.source_and_constants(entry.bind(a=second), "float32")
    _clear()
    fresh = cpu.source_and_constants(entry.bind(a=second), "float32")
    assert got[0] == fresh[0] and _bits(got[1]) == _bits(fresh[1])
    assert not cpu.REPLAYS.programs


@pytest.mark.parametrize("fn", [_is_number, _compared_to_true, _dictionary_key, _asserted,
                                _long_series])
def test_a_recording_refuses_what_it_cannot_replay(fn) -> None:  # type: ignore[no-untyped-def]
    """The same host code met by a recording (a formula traced without the user flag,
    as the built-ins are): no program where a comparison is read otherwise than as a
    truth value, where the host code raises on a recorded value, or where the program
    is too deep to compile.  ``isinstance`` is the one thing it cannot see, hence the
    user flag above and the per-definition tests of the built-ins."""
    program = _recorded(fn, 0.5 if fn is _long_series else 2.0, "a")
    if fn is _is_number:  # seen as "not a number": a program for the other branch
        assert program is not None and program((0.25,)) == [0.25, 1.0]
    else:
        assert program is None


def test_a_program_that_raises_falls_back_to_a_trace() -> None:
    cache = replay.Replays()
    emitted = []

    def emit(ns, out):  # type: ignore[no-untyped-def]
        constants, places = _constants(out)
        emitted.append(constants)
        return "src", constants, places

    cache.emitted("caught", _caught, {"a": 2.0}, 1.0, "float64", emit)
    assert cache.programs  # recorded at 2.0
    _, constants = cache.emitted("caught", _caught, {"a": 3.0}, 1.0, "float64", emit)
    assert constants[0] == 7.0 and len(emitted) == 2


def test_the_branch_a_sweep_is_in_is_tried_first() -> None:
    cache = replay.Replays()

    def emit(ns, out):  # type: ignore[no-untyped-def]
        constants, places = _constants(out)
        return len(constants), constants, places

    cache.emitted("branch", _branch, {"alpha": 2.0}, 1.0, "float64", emit)
    cache.emitted("branch", _branch, {"alpha": 0.5}, 1.0, "float64", emit)
    (key,) = cache.programs
    first = cache.programs[key][0]
    cache.emitted("branch", _branch, {"alpha": 0.25}, 1.0, "float64", emit)
    assert cache.programs[key][0] is not first and len(cache.programs[key]) == 2


# -- a sweep through the torch binding binds nothing per value ---------------------------
def _atan_prime(x: np.ndarray, alpha: float) -> np.ndarray:
    """atan's g'(x) in float64, written here (the oracle): alpha/2 / (1 + (pi/2 alpha x)^2)."""
    return alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2)


def _spyx_arctan_prime(x: np.ndarray, k: float) -> np.ndarray:
    """spyx's arctan g'(x) in float64, written here: 1 / (pi (1 + (k pi x)^2))."""
    return 1 / (math.pi * (1 + (k * math.pi * x) ** 2))


#: values no other test of this module passed (a value seen twice is bound and kept)
_FRESH = itertools.count()


def _fresh() -> float:
    return 1.7 + 1.1e-5 * next(_FRESH)


#: (how the call names the surrogate, its parameter, the float64 oracle of g')
_SWEPT = {"sgt.atan": (None, "alpha", _atan_prime),
          "spike(x, 'atan')": ("atan", "alpha", _atan_prime),
          "spike(x, 'spyx:arctan')": ("spyx:arctan", "k", _spyx_arctan_prime)}


def _swept_call(torch, how: str):  # type: ignore[no-untyped-def]
    import spikegrad.torch as sgt
    from spikegrad.adapters import _torch_native

    if not _torch_native.ensure():
        pytest.skip(f"no C++ node: {_torch_native.status()}")
    name, param, oracle = _SWEPT[how]
    if name is None:
        return (lambda x, v: sgt.atan(x, alpha=v)), oracle
    return (lambda x, v: sgt.spike(x, name, **{param: v})), oracle


@pytest.fixture
def bounds_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bounds of numbers made (however they are assembled), by entry name."""
    from spikegrad._spec import Bound

    made: list[str] = []
    numbers = Bound.__dict__["_assemble_numbers"].__func__
    post_init = Bound.__post_init__

    def assemble(cls, entry, items):  # type: ignore[no-untyped-def]
        made.append(entry.name)
        return numbers(cls, entry, items)

    def counted(self) -> None:  # type: ignore[no-untyped-def]
        made.append(self.entry.name)
        post_init(self)

    monkeypatch.setattr(Bound, "_assemble_numbers", classmethod(assemble))
    monkeypatch.setattr(Bound, "__post_init__", counted)
    return made


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("how", list(_SWEPT))
def test_a_sweep_through_the_torch_binding_binds_and_keeps_nothing_per_value(
        how: str, dtype: str, bounds_made: list[str]) -> None:
    """Finding: a float sweep cost 1.34x a fixed value per step at 2^14 (forward at 2^10:
    12.5 against 6.4 us), the Python of binding each new value and looking its kernel up.
    A new value of a known call shape now reaches the C++ node validated but unbound: no
    bound is made or kept per value (the binding's cache does not grow), the node serves
    it, and its gradient is the closed form's."""
    torch = pytest.importorskip("torch")
    from spikegrad.conformance.harness import TorchHarness

    call, oracle = _swept_call(torch, how)
    tdtype = getattr(torch, dtype)
    x = torch.linspace(-3, 3, 301, dtype=tdtype).requires_grad_()
    for v in (1.25, 1.5):  # the first value's kernel and shape, the second's
        torch.autograd.grad(call(x, v).sum(), x)
    import spikegrad.torch as sgt

    caches = [*_frontend._BY_NAME.values(), *(
        c.cell_contents for c in sgt.atan.__closure__ or ()
        if isinstance(c.cell_contents, _frontend.BoundCache))]
    sizes = [len(c._cache) for c in caches]
    del bounds_made[:]
    tol = TorchHarness.tolerance_ulp[dtype] * torch.finfo(tdtype).eps
    xs = x.detach().double().numpy()
    for _ in range(30):
        v = _fresh()
        y = call(x, v)
        assert y.grad_fn.name() == "SpikegradSpikeBackward", how
        (gx,) = torch.autograd.grad(y, x, torch.ones_like(y))
        expect = oracle(xs, v)
        np.testing.assert_allclose(gx.double().numpy(), expect, rtol=tol,
                                   atol=tol * float(np.max(expect)))
        assert y.dtype == tdtype
    assert bounds_made == [], bounds_made
    assert [len(c._cache) for c in caches] == sizes


@pytest.mark.parametrize("how", list(_SWEPT))
def test_a_value_seen_twice_is_bound_and_kept(how: str, bounds_made: list[str]) -> None:
    """A fixed value keeps its one-lookup path: its second call binds it (once), and the
    calls after that make nothing."""
    torch = pytest.importorskip("torch")
    call, _ = _swept_call(torch, how)
    x = torch.linspace(-2, 2, 64, requires_grad=True)
    for v in (1.25, 1.5):
        call(x, v)
    del bounds_made[:]
    v = _fresh()
    call(x, v)
    assert bounds_made == []
    call(x, v)
    assert len(bounds_made) == 1
    for _ in range(5):
        call(x, v)
    assert len(bounds_made) == 1


@pytest.mark.parametrize("how", list(_SWEPT))
def test_an_unbound_value_s_node_binds_it_for_a_differentiable_backward(how: str) -> None:
    """A ``create_graph`` backward of the node made for an unbound value takes the Python
    fallback, which binds the value then: the double backward is the closed form's g''
    (a central difference of the oracle's g')."""
    torch = pytest.importorskip("torch")
    call, oracle = _swept_call(torch, how)
    x = torch.linspace(-2, 2, 81, dtype=torch.float64, requires_grad=True)
    for v in (1.25, 1.5):
        call(x, v)
    v = _fresh()
    y = call(x, v)
    assert y.grad_fn.name() == "SpikegradSpikeBackward"
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (gxx,) = torch.autograd.grad(gx.sum(), x)
    xs = x.detach().numpy()
    np.testing.assert_allclose(gx.detach().numpy(), oracle(xs, v), rtol=1e-13, atol=0)
    h = 1e-5
    fd = (oracle(xs + h, v) - oracle(xs - h, v)) / (2 * h)
    np.testing.assert_allclose(gxx.numpy(), fd, rtol=1e-6, atol=1e-9)
