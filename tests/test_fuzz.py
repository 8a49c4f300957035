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
    # every path runs the numpy engines; the framework (path, dtype) pairs are drawn
    pairs = sorted(draw(st.sets(st.sampled_from(_fuzz.framework_pairs()),
                                min_size=min(PAIRS, len(_fuzz.framework_pairs())),
                                max_size=min(PAIRS, len(_fuzz.framework_pairs())))))
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
