"""Dispatch by array type: the declared table, the binding protocol, entry-point rows."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import numpy as np
import pytest

import spikegrad
from spikegrad import _dispatch
from spikegrad._arrays import framework_of


class _FakeArray(np.ndarray):
    """A NumPy-backed array of a framework spikegrad does not know ("fakefw")."""


_FakeArray.__module__ = "fakefw.core"


@pytest.fixture
def fake_row(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple]]:
    """A binding module for "fakefw" arrays, as an entry point would declare it."""
    calls: list[tuple] = []
    module = types.ModuleType("fakefw_binding")
    module.spike = lambda bound, x, key=None: calls.append(("spike", bound, key)) or "S"
    module.multistep = lambda bound, x: calls.append(("multistep", bound)) or "M"
    monkeypatch.setitem(sys.modules, "fakefw_binding", module)
    _dispatch.clear_cache()
    monkeypatch.setattr(_dispatch, "_TABLE", {**_dispatch.BUILTIN_BINDINGS,
                                              "fakefw": "fakefw_binding"})
    yield calls
    _dispatch.clear_cache()


def test_framework_of_reads_the_type_module_only() -> None:
    assert framework_of(np.zeros(1)) == "numpy"
    assert framework_of(np.zeros(1).view(_FakeArray)) == "fakefw"
    assert "torch" not in sys.modules or framework_of(sys.modules["torch"].zeros(1)) == "torch"


def test_a_row_routes_spike_and_multistep_through_the_protocol(fake_row: list) -> None:
    x = np.zeros(3).view(_FakeArray)
    s = spikegrad.get("atan", alpha=3.0)
    assert s.spike(x, key=7) == "S"
    m = spikegrad.get("dsr_if")
    assert m.spike(np.zeros((2, 3)).view(_FakeArray)) == "M"
    assert fake_row == [("spike", s, 7), ("multistep", m)]


def test_arrays_without_a_row_use_the_generic_engine() -> None:
    x = np.array([-1.0, 0.0, 1.0])
    assert _dispatch.binding_for(x) is _dispatch.GENERIC
    np.testing.assert_array_equal(spikegrad.get("atan").spike(x), [0.0, 1.0, 1.0])


def test_a_binding_without_the_protocol_warns_and_falls_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("fakefw_incomplete")
    module.spike = lambda bound, x, key=None: "never"
    monkeypatch.setitem(sys.modules, "fakefw_incomplete", module)
    _dispatch.clear_cache()
    monkeypatch.setattr(_dispatch, "_TABLE", {**_dispatch.BUILTIN_BINDINGS,
                                              "fakefw": "fakefw_incomplete"})
    try:
        x = np.array([-1.0, 2.0]).view(_FakeArray)
        with pytest.warns(UserWarning, match="lacks multistep"):
            out = spikegrad.get("atan").spike(x)
        np.testing.assert_array_equal(np.asarray(out), [0.0, 1.0])
    finally:
        _dispatch.clear_cache()
