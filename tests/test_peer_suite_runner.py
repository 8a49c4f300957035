"""compat/run_peer_suites.py proves the swap from inside the test process, and fails when it
did not hold: a tiny fake peer (made in tmp_path, no real peer needed) whose test lives
inside the swapped package — as braintools' do — is run in place (pytest re-imports the
peer's module: the check must go red), from the runner's copy (the swap holds: green, and
the one test that tells the two modules apart is reported), with the swap switched off,
and with a replacement that builds no spikegrad object."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _runner():
    name = "spikegrad_run_peer_suites"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name,
                                                      ROOT / "compat" / "run_peer_suites.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def fake_peer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """``fakepeer`` with a package ``fakepeer.surrogate`` holding its own test (as
    braintools ships ``braintools/surrogate/*_test.py``), a replacement over spikegrad and
    one that builds nothing."""
    _write(tmp_path / "fakepeer" / "__init__.py", "from . import surrogate\n")
    _write(tmp_path / "fakepeer" / "surrogate" / "__init__.py", """\
        NAME = "peer"


        def spike(x):
            return float(x >= 0)
        """)
    _write(tmp_path / "fakepeer" / "surrogate" / "test_fake.py", """\
        import fakepeer.surrogate as surrogate


        def test_spike():
            assert surrogate.spike(0.5) == 1.0


        def test_name():
            assert surrogate.NAME == "peer"
        """)
    _write(tmp_path / "fake_compat.py", """\
        import numpy as np

        import spikegrad

        NAME = "spikegrad"


        def spike(x):
            return float(spikegrad.get("atan", alpha=2.0).spike(np.asarray([x]))[0])
        """)
    _write(tmp_path / "fake_inert.py", """\
        NAME = "inert"


        def spike(x):
            return float(x >= 0)
        """)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return {"name": "fakepeer", "package": "fakepeer", "module": "fakepeer.surrogate",
            "replacement": "fake_compat", "tests_in_package": ["surrogate/test_*.py"],
            "keyword": ""}


def test_in_place_swap_that_pytest_undoes_fails_the_run(fake_peer, capsys):
    """Run in place, pytest imports ``fakepeer/surrogate/__init__.py`` again as the test's
    parent package: both tests pass "with spikegrad" — and the runner says it was not."""
    status = _runner().main(["--peer-spec", json.dumps(fake_peer), "--no-relocate"])
    out = capsys.readouterr().out
    assert status == 1, out
    assert "passing with fakepeer: 2; with spikegrad swapped in: 2" in out  # the false claim
    assert "SWAP NOT VERIFIED" in out
    assert "its 'surrogate' is fakepeer.surrogate" in out
    assert "sys.modules['fakepeer.surrogate'] at_end is fakepeer.surrogate" in out
    assert "zero spikegrad objects were built" in out
    assert "FAILED" in out


def test_relocated_swap_is_verified_and_measures_the_replacement(fake_peer, capsys):
    status = _runner().main(["--peer-spec", json.dumps(fake_peer)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "passing with fakepeer: 2; with spikegrad swapped in: 1 (1 of the 2)" in out
    assert "swap verified inside pytest: 1 of 1 collected test modules bind fake_compat" in out
    assert "only with the peer: fakepeer_tests.surrogate.test_fake::test_name  [fail]" in out
    assert "SWAP NOT VERIFIED" not in out


def test_swap_switched_off_is_caught(fake_peer, tmp_path):
    """The plugin loaded without the swap, the record read as a swapped run's: red."""
    runner = _runner()
    peer = runner.Peer.from_spec(fake_peer)
    files, cwd = runner.relocate([tmp_path / "fakepeer" / "surrogate" / "test_fake.py"],
                                 tmp_path / "work", peer)
    run = runner.run_suite(peer, files, cwd, swapped=False, timeout=120)
    assert run.outcomes and all(o == "pass" for o, _ in run.outcomes.values())
    assert runner.check_swap(run, peer, swapped=False) == []
    problems = runner.check_swap(run, peer, swapped=True)
    assert any("the plugin ran in 'watch' mode" in p for p in problems), problems
    assert any("its 'surrogate' is fakepeer.surrogate" in p for p in problems), problems
    assert any("could not be counted" in p for p in problems), problems


def test_replacement_that_builds_no_spikegrad_object_is_caught(fake_peer, tmp_path):
    runner = _runner()
    peer = runner.Peer.from_spec({**fake_peer, "replacement": "fake_inert"})
    files, cwd = runner.relocate([tmp_path / "fakepeer" / "surrogate" / "test_fake.py"],
                                 tmp_path / "work", peer)
    run = runner.run_suite(peer, files, cwd, swapped=True, timeout=120)
    problems = runner.check_swap(run, peer, swapped=True)
    assert problems == [p for p in problems if "zero spikegrad objects" in p], problems
    assert len(problems) == 1


def test_no_record_is_a_failure():
    runner = _runner()
    peer = runner.Peer.from_spec({"name": "x", "package": "x", "module": "x.s",
                                  "replacement": "y"})
    run = runner.SuiteRun({}, None, 4, "ERROR: usage")
    assert any("no record from inside the pytest process" in p
               for p in runner.check_swap(run, peer, swapped=True))
