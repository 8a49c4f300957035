"""docs/compat.md's "Same gradients, bit for bit?" holds: its gradient and training tables
are measured again, peer by peer, with ``compat/gradient_agreement.py`` and must equal the
rows printed there (skipped where the peer is not installed, or where the machine is not
the one the section names: the last bits depend on it); and the claims of its text are
checked one by one."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "compat.md"
START, END = "<!-- agreement:start -->", "<!-- agreement:end -->"


def _agreement() -> ModuleType:
    name = "spikegrad_gradient_agreement"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name,
                                                      ROOT / "compat" / "gradient_agreement.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


ga = _agreement()


def _section() -> list[str]:
    text = DOC.read_text()
    return text[text.index(START) + len(START):text.index(END)].splitlines()


def _doc_rows(header: str, peer: str) -> list[str]:
    """The rows of the section's table with ``header`` whose first cell is ``peer``."""
    lines = _section()
    first = lines.index(header.splitlines()[0])
    table = []
    for line in lines[first + 2:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return [r for r in table if r.split("|")[1].strip() == peer]


def _require(peer: str) -> None:
    """Skip unless ``peer`` is installed here and the section was measured with what is
    installed here."""
    if not ga.installed(peer):
        pytest.skip(f"{peer} is not installed (a test extra)")
    here = f"* {ga.environment(peer)}"
    if here not in _section():
        pytest.skip(f"docs/compat.md was measured elsewhere; here: {here[2:]}")


@pytest.mark.parametrize("peer", sorted(ga.PEERS))
def test_the_tables_rows_are_measured(peer: str) -> None:
    _require(peer)
    assert _doc_rows(ga.HEADER, peer) == [r.markdown() for r in ga.rows(peer)]
    training = [r.markdown() for r in ga.training_rows(peer)]
    assert _doc_rows(ga.TRAINING_HEADER, peer) == training


def test_every_peer_has_rows_and_an_environment_in_the_doc() -> None:
    lines = _section()
    for peer in ga.PEERS:
        assert _doc_rows(ga.HEADER, peer), peer
        assert any(line.startswith(f"* {peer} ") for line in lines), peer


def _nearest_float32(values: list) -> np.ndarray:
    """The float32 nearest to each mpmath value (ties to even)."""
    import mpmath

    out = []
    for v in values:
        r = np.float32(float(v))  # within one float32 step of the nearest
        candidates = (np.nextafter(r, np.float32(-np.inf)), r, np.nextafter(r, np.float32(np.inf)))
        dist = [abs(mpmath.mpf(float(c)) - v) for c in candidates]
        best = min(dist)
        ties = [c for c, d in zip(candidates, dist, strict=True) if d == best]
        out.append(min(ties, key=lambda c: int(np.float32(c).view(np.uint32)) & 1))
    return np.asarray(out, np.float32)


def test_snntorch_fast_sigmoid_25_differs_by_one_ulp_and_neither_side_is_always_correctly_rounded(
) -> None:
    """``fast_sigmoid(slope=25)`` (snntorch's default slope): ``g'`` is bit-equal (both
    round 1/(1 + k|x|)^2 in the same float32 steps); with an upstream gradient ``G``
    snntorch computes ``G / d^2`` and spikegrad ``G * (1 / d^2)``, which differ by 1 ULP
    at some elements, and there each side is the correctly rounded one at some elements
    and neither at others (checked against mpmath at 60 digits)."""
    _require("snntorch")
    mpmath = pytest.importorskip("mpmath")
    m = ga.measure(ga.Case("snntorch", "fast_sigmoid", (("slope", 25),)))
    assert ga.bit_equal(*m.grad).all()
    theirs, ours = m.upstream_grad
    differ = np.flatnonzero(~ga.bit_equal(theirs, ours))
    assert 0 < differ.size < m.x.size
    assert ga.ulp_distance(theirs, ours).max() == 1
    sample = differ[:: differ.size // 300]
    with mpmath.workdps(60):
        exact = _nearest_float32([mpmath.mpf(float(m.g[i]))
                                  / (1 + 25 * abs(mpmath.mpf(float(m.x[i])))) ** 2
                                  for i in sample])
    np.testing.assert_array_equal(m.exact[sample], exact)  # the script's oracle is right
    peer_ok, ours_ok = theirs[sample] == exact, ours[sample] == exact
    assert peer_ok.any() and ours_ok.any() and (~peer_ok & ~ours_ok).any()


def test_braintools_fires_at_the_negative_subnormal_and_compat_does_not() -> None:
    """At x = -1.4e-45 (float32's smallest subnormal, negative) braintools' step is 1: XLA
    on the CPU flushes subnormal inputs to zero, so its ``x >= 0`` holds; compat decides
    ``1[x >= 0]`` (the documented step) on the bits of x, and gives 0.  Both give 1 at the
    positive subnormal and at -0."""
    _require("braintools")
    import jax.numpy as jnp

    theirs = importlib.import_module("braintools.surrogate")
    ours = importlib.import_module("spikegrad.compat.braintools")
    x = np.array([-1e-45, 1e-45, -0.0], dtype=np.float32)
    assert x[0] < 0 and x[0] == -np.float32(1.4e-45)  # a real negative number, in numpy
    assert bool(jnp.asarray(x[0]) >= 0)  # ... that XLA reads as zero
    for name in ("Sigmoid", "Arctan", "LeakyRelu"):
        np.testing.assert_array_equal(np.asarray(getattr(theirs, name)()(jnp.asarray(x))),
                                      [1.0, 1.0, 1.0])
        np.testing.assert_array_equal(np.asarray(getattr(ours, name)()(jnp.asarray(x))),
                                      [0.0, 1.0, 1.0])


def test_training_losses_are_bit_identical_for_snntorch_atan() -> None:
    """snntorch's ``atan`` is bit-equal in the table (spikes, ``g'`` and ``G g'``), so the
    network of tests/test_compat.py trains to bit-identical losses with either module."""
    _require("snntorch")
    from tests.test_compat import _losses_snntorch

    assert _doc_rows(ga.HEADER, "snntorch")[0].startswith(
        "| snntorch | `atan` | alpha=2.0 | 100 % | 0 | 100 % | 0 | — | yes |")
    theirs = importlib.import_module("snntorch.surrogate")
    ours = importlib.import_module("spikegrad.compat.snntorch")
    a, b = _losses_snntorch(theirs), _losses_snntorch(ours)
    assert len(set(a)) > 1 and a == b


@pytest.mark.parametrize("peer", ["snntorch", "braintools"])
def test_the_training_table_trains_the_networks_of_test_compat(peer: str) -> None:
    """The script's networks are tests/test_compat.py's: the same losses, bit for bit."""
    _require(peer)
    from tests import test_compat

    helper = getattr(test_compat, f"_losses_{peer}")
    train = getattr(ga, f"train_{peer}")
    theirs = importlib.import_module(ga.PEERS[peer][0])
    spike = theirs.atan(alpha=2.0) if peer == "snntorch" else theirs.Arctan(alpha=2.0)
    assert train(spike, steps=20)[0] == helper(theirs)
