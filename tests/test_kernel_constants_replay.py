"""A new parameter value of an already emitted kernel shape reads its constants from the
traced graph instead of emitting the kernel again (``spikegrad.codegen.cpu``): for every
registered surrogate and both kernel dtypes, the constants read that way are bit for bit
those a fresh emission gives, with the same source.

Finding: a float sweep (a new alpha per call) cost ~175 us per call against 22 us for a
fixed value; the trace and the C emission ran per value (and for two dtypes)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import spikegrad
from spikegrad.codegen import cpu


def _varied(name: str) -> dict[str, float]:
    """The entry's real parameters moved off their defaults (inside their domains)."""
    e = spikegrad.entry(name)
    out = {}
    for p in e.params:
        v = e.defaults()[p.name]
        if p.static or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        for f in (1.37, 0.61, -1.0):
            cand = float(v) * f if v != 0 else 0.3 * f
            if p.domain.check(cand):
                out[p.name] = cand
                break
    return out


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) ==
                                              math.copysign(1, y))
        for x, y in zip(a, b, strict=True))


def _clear() -> None:
    cpu._EMITTED.clear()
    cpu.REPLAYS.clear()


NAMES = [n for n in [*spikegrad.names(), *spikegrad.aliases()]
         if not spikegrad.entry(n).formula.stochastic_backward]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_a_known_shape_reads_the_constants_a_fresh_emission_gives(name: str,
                                                                    dtype: str) -> None:
    first = spikegrad.get(name)
    second = spikegrad.get(name, **_varied(name))
    _clear()
    cpu.source_and_constants(first, dtype)  # emits, records the places
    cpu.REPLAYS.clear()  # (this test is about the places; test_kernel_host_replay.py
    replayed = cpu.source_and_constants(second, dtype)  # covers the host program)
    _clear()
    fresh = cpu.source_and_constants(second, dtype)
    assert replayed[0] == fresh[0]
    assert _same(replayed[1], fresh[1]), (replayed[1], fresh[1])


def test_the_replay_is_taken_and_can_be_told_apart() -> None:
    """The second value hits the recorded shape (no emission), and a wrong place would
    be caught: the check above compares against a fresh emission."""
    _clear()
    cpu.source_and_constants(spikegrad.get("atan", alpha=2.0), "float32")
    assert len(cpu._EMITTED) == 1
    cpu.REPLAYS.clear()
    _, constants = cpu.source_and_constants(spikegrad.get("atan", alpha=3.0), "float32")
    assert len(cpu._EMITTED) == 1
    # atan's g' = (alpha/2) / (1 + (pi/2 alpha x)^2): alpha enters the constants
    assert any(np.isclose(c, 1.5) for c in constants) or any(
        np.isclose(c, 3.0 * math.pi / 2) for c in constants), constants
