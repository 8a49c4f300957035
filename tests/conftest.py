"""Shared fixtures: parametrisation helpers over the registry."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad

CANONICAL = spikegrad.names()
ALIASES = spikegrad.aliases()
DETERMINISTIC = [n for n in CANONICAL if not spikegrad.entry(n).formula.stochastic_backward]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
