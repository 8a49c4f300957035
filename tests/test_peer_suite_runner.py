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


        def test_broken():
            assert surrogate.NAME == "neither"
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
            "replacement": "fake_compat", "tests_in_package": ["surrogate/test_*.py"]}


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


def test_relocated_swap_is_verified_and_an_undocumented_failure_fails_the_run(fake_peer,
                                                                              capsys):
    """The swap holds; the one test that tells the two modules apart passes only with the
    peer and no known difference covers it: exit 3, the test named ``undocumented``; the
    test that fails unchanged too is named as such."""
    status = _runner().main(["--peer-spec", json.dumps(fake_peer)])
    out = capsys.readouterr().out
    assert status == 3, out
    assert "passing with fakepeer: 2; with spikegrad swapped in: 1 (1 of the 2)" in out
    assert "swap verified inside pytest: 1 of 1 collected test modules bind fake_compat" in out
    assert "[undocumented] fakepeer_tests.surrogate.test_fake::test_name: " in out
    assert "[fails-unchanged] fakepeer_tests.surrogate.test_fake::test_broken: " in out
    assert "failures by reason: undocumented 1, fails-unchanged 1" in out \
        or "failures by reason: fails-unchanged 1, undocumented 1" in out
    assert "UNDOCUMENTED: 1 tests" in out
    assert "SWAP NOT VERIFIED" not in out


def test_a_documented_difference_is_named_with_its_reason(fake_peer, capsys, monkeypatch,
                                                         tmp_path):
    runner = _runner()
    kd = runner.known_differences()
    entry = kd.Known("fakepeer", ("*test_fake::test_name",), "deliberate",
                     "NAME differs", "Deliberate differences")
    stale = kd.Known("fakepeer", ("*::test_gone",), "deliberate", "fixed since",
                     "Deliberate differences")
    monkeypatch.setattr(kd, "KNOWN", (entry, stale))
    status = runner.main(["--peer-spec", json.dumps(fake_peer), "--json",
                          str(tmp_path / "out.json")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert ("[deliberate] fakepeer_tests.surrogate.test_fake::test_name: "
            in out), out
    assert "(docs/compat.md, 'Deliberate differences')" in out
    assert "stale known difference (no test failed with it): fakepeer ('*::test_gone',)" \
        in out
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary[0]["failures_by_reason"] == {"deliberate": 1, "fails-unchanged": 1}
    assert summary[0]["passing_unchanged"] == 2 and summary[0]["kept"] == 1
    assert summary[0]["verified"] is True and summary[0]["undocumented"] == []


def test_known_differences_name_a_reason_and_a_documented_section():
    kd = _runner().known_differences()
    headings = {ln.lstrip("#").strip() for ln in
                (ROOT / "docs" / "compat.md").read_text().splitlines()
                if ln.startswith("## ")}
    assert kd.KNOWN
    for k in kd.KNOWN:
        assert k.reason in kd.REASONS, k
        assert k.section in headings, (k.section, sorted(headings))
        assert k.tests and all("::" in p or p.startswith("*.") for p in k.tests), k


def test_the_peer_package_imported_is_checked(fake_peer, tmp_path):
    """A run that imported the peer from somewhere else than asked is not verified."""
    runner = _runner()
    peer = runner.Peer.from_spec(fake_peer)
    files, cwd = runner.relocate([tmp_path / "fakepeer" / "surrogate" / "test_fake.py"],
                                 tmp_path / "work", peer)
    run = runner.run_suite(peer, files, cwd, swapped=True, timeout=120)
    assert runner.check_swap(run, peer, swapped=True,
                             package_dir=tmp_path / "fakepeer") == []
    problems = runner.check_swap(run, peer, swapped=True, package_dir=tmp_path / "other")
    assert any("fakepeer was imported from" in p and "not from" in p for p in problems)


def test_a_git_source_is_exported_at_the_recorded_commit(tmp_path):
    """``--source PEER=REPO`` on a git repository runs the tests of the recorded commit,
    not of whatever is checked out."""
    import subprocess

    runner = _runner()
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                               "user.email=t@t", *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    _write(repo / "tests" / "test_a.py", "def test_one():\n    pass\n")
    git("add", ".")
    git("commit", "-qm", "one")
    first = git("rev-parse", "HEAD")
    _write(repo / "tests" / "test_b.py", "def test_two():\n    pass\n")
    git("add", ".")
    git("commit", "-qm", "two")
    peer = runner.Peer.from_spec({"name": "p", "package": "p", "module": "p.s",
                                  "replacement": "q", "commit": first})
    src = runner.resolve_source(peer, repo, None, tmp_path / "w1")  # HEAD is "two"
    assert sorted(p.name for p in (src.root / "tests").iterdir()) == ["test_a.py"]
    assert src.commit == first and f"at commit {first}" in src.described
    src = runner.resolve_source(peer, repo, "HEAD", tmp_path / "w2")
    assert sorted(p.name for p in (src.root / "tests").iterdir()) == ["test_a.py",
                                                                      "test_b.py"]
    plain = tmp_path / "plain"
    _write(plain / "tests" / "test_c.py", "def test_three():\n    pass\n")
    src = runner.resolve_source(peer, plain, None, tmp_path / "w5")
    assert src.root == plain and src.commit is None and "not a git repository" in src.described
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    src = runner.resolve_source(peer, bare, None, tmp_path / "w3")
    assert sorted(p.name for p in (src.root / "tests").iterdir()) == ["test_a.py"]
    with pytest.raises(SystemExit, match="has no commit"):
        runner.resolve_source(peer, bare, "0" * 40, tmp_path / "w4")


def test_swap_switched_off_is_caught(fake_peer, tmp_path):
    """The plugin loaded without the swap, the record read as a swapped run's: red."""
    runner = _runner()
    peer = runner.Peer.from_spec(fake_peer)
    files, cwd = runner.relocate([tmp_path / "fakepeer" / "surrogate" / "test_fake.py"],
                                 tmp_path / "work", peer)
    run = runner.run_suite(peer, files, cwd, swapped=False, timeout=120)
    assert {t.rpartition("::")[2]: o for t, (o, _) in run.outcomes.items()} == {
        "test_spike": "pass", "test_name": "pass", "test_broken": "fail"}
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


def test_a_parametrized_test_id_is_matched_literally():
    """Finding: ``[sg8]`` in a known test id was read as a character class (fnmatch) and
    matched nothing; only ``*`` is a wildcard."""
    kd = _runner().known_differences()
    entry = kd.Known("p", ("*Test::test_x[sg8]",), "deliberate", "why", "Deliberate differences")
    assert entry.matches("p", "1.0", "pkg.mod.Test::test_x[sg8]")
    assert not entry.matches("p", "1.0", "pkg.mod.Test::test_x[sg7]")
    assert not entry.matches("p", "1.0", "pkg.mod.Test::test_xs")
    assert not entry.matches("q", "1.0", "pkg.mod.Test::test_x[sg8]")
    versioned = kd.Known("p", ("*",), "peer-bug", "why", "Deliberate differences",
                         versions=("0.3.0",))
    assert versioned.matches("p", "0.3.0", "a::b") and not versioned.matches("p", "0.4.0",
                                                                             "a::b")
