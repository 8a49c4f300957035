"""The peers' tests that pass with the peer and fail with ``spikegrad.compat.<peer>``
swapped in, each with a reason class and the section of ``docs/compat.md`` that documents
the difference.

``run_peer_suites.py`` names every failure of a swapped run with a reason class: one of
:data:`REASONS` when the failure matches an entry of :data:`KNOWN`, one of the runner's own
classes (:data:`RUNNER_REASONS`: the test fails unchanged too, its module cannot be
imported in either run) otherwise, and ``undocumented`` for anything else — which fails
the run.  An entry that matches no failure is reported as stale, so the list cannot keep
differences that are gone.  ``tests/test_peer_suite_runner.py`` checks that every entry
names a reason and a section that exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: reason classes of documented differences
REASONS = {
    "op-counter": "a strict aten-op counter refuses an op of spikegrad's generated kernel",
    "peer-bug": "the test asserts a behaviour of the peer that spikegrad lists as its bug",
    "private-api": "the test imports a private module of the peer that compat does not "
                   "mirror",
    "deliberate": "a deliberate difference",
}

#: classes the runner gives by itself
RUNNER_REASONS = {
    "fails-unchanged": "fails with the peer's own module too (not counted)",
    "environment": "its module cannot be imported in either run (a missing dependency)",
    "undocumented": "passes with the peer and fails with spikegrad, not in the known list",
}


@dataclass(frozen=True)
class Known:
    """One documented difference: the tests it covers (patterns over the test id
    ``module.Class::test[param]`` in which ``*`` stands for any text, and nothing else is
    special: ``[sg8]`` is a parametrization), why they
    fail with spikegrad, and where ``docs/compat.md`` says so."""

    peer: str
    tests: tuple[str, ...]
    reason: str
    why: str
    section: str
    versions: tuple[str, ...] = ()  # the peer versions it applies to; empty: every version

    def matches(self, peer: str, version: str, test: str) -> bool:
        """Whether ``test`` of ``peer`` at ``version`` is covered."""
        if peer != self.peer or (self.versions and version not in self.versions):
            return False
        return any(_pattern(p).fullmatch(test) for p in self.tests)


_PRIVATE = "Deliberate differences"
_SJ = "spikingjelly beyond its surrogate module"
_BT = "braintools: the newest release's semantics"

KNOWN: tuple[Known, ...] = (
    Known("spikingjelly",
          ("*test_roofline::test_dispatch_counter_basic",
           "*test_op_counter_neuromc_runtime::"
           "test_neuromc_exact_training_uses_bp_wg_and_optimizer"),
          "op-counter",
          "a training step under a strict counter: the backward's aten ops are those of "
          "spikegrad's formula (aten.abs of the stable sigmoid...), which the FLOP counter "
          "and NeuroMC's exact model do not all list",
          _SJ),
    Known("braintools", ("*._base_test*",), "private-api",
          "imports braintools.surrogate._base (heaviside_p and its rules); its public "
          "name Surrogate is compat's", _PRIVATE),
    Known("braintools", ("*::test_surrogate_fun_not_implemented*",), "deliberate",
          "braintools' gradient-only surrogates raise NotImplementedError from "
          "surrogate_fun; compat's give their primitive", _PRIVATE),
    Known("braintools", ("*TestSurrogateFunThresholdHalf::test_fun_at_zero_is_half[sg8]",),
          "deliberate",
          "QPseudoSpike's primitive: spikegrad anchors it at g(-inf) = 0, braintools at "
          "g(0) = 1/2", _PRIVATE),
    Known("braintools", ("*::test_grad_of_parameters*",), "peer-bug",
          "asserts 0.3.0's spike derivative in a parameter (sum of dg'/dalpha; BT-5), "
          "0 in 0.4.0 and compat", _BT, versions=("0.3.0",)),
)


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")))


def classify(peer: str, version: str, test: str) -> Known | None:
    """The entry of :data:`KNOWN` covering ``test``, or None."""
    return next((k for k in KNOWN if k.matches(peer, version, test)), None)
