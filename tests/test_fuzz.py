"""Property-based fuzzing of every entry over its whole parameter domain.

Each example draws a parameter set over the declared domains (edges included) and a
vector of inputs, and checks every installed path in every dtype against the truth (see
``tests/_fuzz.py``).  The default ``ci`` profile is derandomised and small (a regression
run of fixed examples, about two minutes); ``pytest tests/test_fuzz.py
--hypothesis-profile=thorough`` draws fresh examples, more than 10^6 cases in all, and
prints how many it checked.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the fuzzer needs spikegrad[test]")

from hypothesis import given, reject  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import spikegrad  # noqa: E402

from . import _fuzz, user_definitions  # noqa: E402

COUNTER: dict[str, int] = {}
#: Framework (path, dtype) pairs checked per example, besides both numpy engines in every
#: dtype (jax compiles per dtype and path: checking all 24 pairs would take ~3 s).
PAIRS = 5

_OBJECTS = {e.name: e for e in spikegrad.all_entries()
            if not e.formula.stochastic_backward and not e.user}
_OBJECTS[user_definitions.SECH2.name] = user_definitions.SECH2
ENTRIES = [n for n, e in _OBJECTS.items() if not e.user]
USER = [user_definitions.SECH2.name]


@st.composite
def examples(draw: Any, name: str) -> tuple[str, dict[str, Any], Any, tuple[Any, ...]]:
    entry = _OBJECTS[name]
    params = {p.name: draw(_fuzz.param_strategy(p)) for p in entry.params}
    try:
        s = entry.bind(**params)
    except ValueError:  # a joint constraint between parameters (e.g. an ordered window)
        reject()
    try:
        scale = float(entry.x_scale(s.params))
    except (OverflowError, ZeroDivisionError):
        scale = 1.0
    if not (math.isfinite(scale) and scale > 0):
        scale = 1.0
    raw = draw(st.lists(_fuzz.x_strategy(scale), min_size=4, max_size=16))
    # every path runs the numpy engines; the framework (path, dtype) pairs are drawn from
    # the installed frameworks (none without torch and jax: the numpy engines alone)
    available = _fuzz.framework_pairs()
    pairs: list[tuple[str, str]] = []
    if available:
        k = min(PAIRS, len(available))
        pairs = sorted(draw(st.sets(st.sampled_from(available), min_size=k, max_size=k)))
    return name, params, _fuzz.input_values(s, raw), tuple(pairs)


def _run(name: str) -> None:
    selected = _fuzz.paths()

    @given(examples(name))
    def check(example: tuple[str, dict[str, Any], Any, tuple[Any, ...]]) -> None:
        name, params, xs, pairs = example
        s = spikegrad.get(_OBJECTS[name], **params)
        failures = _fuzz.check_example(s, xs, selected, COUNTER, pairs=set(pairs))
        assert not failures, (f"{len(failures)} failing path(s) for {s!r}:\n"
                              + "\n".join(str(f) for f in failures[:6]))

    check()


@pytest.mark.parametrize("name", ENTRIES)
def test_fuzz_entry(name: str) -> None:
    _run(name)


@pytest.mark.parametrize("name", USER)
def test_fuzz_user_definition(name: str) -> None:
    _run(name)


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def test_the_fuzzer_checks_every_installed_path() -> None:
    """numpy's two engines always; torch's and jax's three paths exactly when the framework
    imports (a framework that is installed but not fuzzed would pass unnoticed)."""
    names = {p.name for p in _fuzz.paths()}
    assert {"numpy.reference", "numpy.derivative"} <= names
    for framework in ("torch", "jax"):
        fuzzed = {n for n in names if n.startswith(f"{framework}.")}
        assert len(fuzzed) == (3 if _installed(framework) else 0), (framework, fuzzed)


def test_the_fuzzer_runs_the_numpy_paths_without_any_framework(monkeypatch) -> None:
    """With neither torch nor jax installed (the README's plain ``pip install -e
    ".[test]"``), an entry's examples still check the numpy engines, in every dtype."""
    numpy_only = [p for p in _fuzz.paths() if p.name.startswith("numpy.")]
    monkeypatch.setattr(_fuzz, "_PATHS", numpy_only)
    assert _fuzz.framework_pairs() == []
    counter: dict[str, int] = {}
    monkeypatch.setattr(_fuzz, "check_example", _counting(_fuzz.check_example, counter))
    _run("atan")
    assert counter.get("examples", 0) >= 1 and counter.get("cases", 0) > 0


def _counting(check: Any, counter: dict[str, int]) -> Any:
    def wrapped(s: Any, xs: Any, selected: Any, _counter: Any = None, pairs: Any = None
                ) -> Any:
        assert pairs == set() and {p.name for p in selected} == {
            "numpy.reference", "numpy.derivative"}
        counter["examples"] = counter.get("examples", 0) + 1
        return check(s, xs, selected, counter, pairs=pairs)
    return wrapped
