"""Definitions used by the conformance tests (importable as ``tests.user_definitions``)."""

from __future__ import annotations

import spikegrad
from spikegrad import Domain, Param


def sech2_derivative(x, /, *, xp, a):
    e = xp.exp(-2.0 * a * xp.abs(x))
    return (2.0 * a) * e / ((1.0 + e) * (1.0 + e))


def sech2_primitive(x, /, *, xp, a):
    return 0.5 * (1.0 + xp.tanh(a * x))


def wrong_primitive(x, /, *, xp, a):  # the primitive of a different slope
    return 0.5 * (1.0 + xp.tanh(1.1 * a * x))


_A = [Param("a", 1.5, Domain.magnitude(), "Slope.")]
SECH2 = spikegrad.define("testdefs:sech2", sech2_derivative, primitive=sech2_primitive,
                         params=_A)
INCONSISTENT = spikegrad.define("testdefs:inconsistent", sech2_derivative,
                                primitive=wrong_primitive, params=_A)
