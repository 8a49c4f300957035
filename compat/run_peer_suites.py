"""Run each peer library's whole test suite twice — unchanged, and with the peer's
surrogate module replaced by ``spikegrad.compat.<peer>`` — and compare.

Tests come from the installed package (braintools and norse ship theirs), from the
peer's sdist on the package index (``pip download --no-binary``), or from the peer's
source given with ``--source PEER=PATH``: a git repository (a clone or a bare mirror) is
exported at the commit recorded in :data:`PEERS` (or ``--commit``), a directory is used as
it is; nothing is copied into this repository.  ``--package-from source`` imports the
peer's package from that source (its HEAD), ``installed`` (the default) the installed
release, with the source only supplying the tests.

For each suite the script prints where the tests and the peer's package came from, the
number of tests passing unchanged and with spikegrad swapped in, and every failure of the
swapped run with a reason class: a documented difference (``known_differences.KNOWN``: a
reason and the section of ``docs/compat.md`` that documents it), a test that fails
unchanged too, a test module that cannot be imported in either run, or ``undocumented``.

The swap is verified from inside the test process: ``swap_plugin`` records, for every
collected test module, which module its ``surrogate`` (or whatever it takes from the
peer's module) is bound to, which peer package the run imported, and how many spikegrad
objects the run built.  The script exits 1 when, in the swapped run, any test module is
bound to the peer's own module, none is bound to the replacement, ``sys.modules`` holds the
peer's module, no spikegrad object was built, or the peer package imported is not the one
asked for (a pass count is only reported as spikegrad's when spikegrad ran), and 3 when the
swap held but a failure is undocumented.  Test files that live inside the swapped package
itself (braintools' ``braintools/surrogate/*_test.py``) are run from a temporary copy (test
files and their ``conftest.py``, same contents): in place, pytest's
``--import-mode=importlib`` imports their parent package from its file and puts the peer's
module back.  pytest reads the peer's own config (in a checkout or sdist) and no other:
installed packages' tests run under an empty one, not under whatever project holds the
environment.

    python compat/run_peer_suites.py                          # every installed peer
    python compat/run_peer_suites.py --peer snntorch --source snntorch=../snntorch.git
    python compat/run_peer_suites.py --peer spikingjelly --source spikingjelly=../sj \
        --package-from source                                 # spikingjelly's HEAD
    python compat/run_peer_suites.py --peer-spec '{"name": "x", "package": "x",
        "module": "x.surrogate", "replacement": "my_compat", "tests_in_package": ["t*.py"]}'
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Peer:
    """A peer: its import name, the module spikegrad replaces, where its tests are, and the
    commit of its repository whose tests were measured."""

    name: str
    package: str
    module: str
    replacement: str
    tests_in_package: tuple[str, ...] = ()  # globs inside the installed package
    tests_in_source: tuple[str, ...] = ()  # globs inside an sdist or a checkout
    repository: str = ""  # where the source lives (for the report)
    commit: str = ""  # the commit a git source is exported at, unless --commit

    @classmethod
    def from_spec(cls, spec: str | dict[str, Any]) -> Peer:
        """A peer from JSON (a string, a path to a ``.json`` file, or a dict) with the
        fields above; lists become tuples."""
        if isinstance(spec, str):
            text = spec if spec.lstrip().startswith("{") else Path(spec).read_text()
            spec = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown Peer fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})


#: the measured peers; the commits are those whose tests docs/compat.md reports
PEERS = {
    "snntorch": Peer("snntorch", "snntorch", "snntorch.surrogate", "spikegrad.compat.snntorch",
                     tests_in_source=("tests/**/test_*.py",),
                     repository="https://github.com/jeshraghian/snntorch",
                     commit="634fc22385ec5581998e62787bbe39b53662140f"),
    "spikingjelly": Peer("spikingjelly", "spikingjelly",
                         "spikingjelly.activation_based.surrogate",
                         "spikegrad.compat.spikingjelly",
                         tests_in_source=("test/**/test_*.py",),
                         repository="https://github.com/fangwei123456/spikingjelly",
                         commit="afb132264a8cbe38d0f221dcef04053e6ba134d3"),
    "braintools": Peer("braintools", "braintools", "braintools.surrogate",
                       "spikegrad.compat.braintools",
                       tests_in_package=("surrogate/*_test.py",)),
    "norse": Peer("norse", "norse", "norse.torch.functional.threshold",
                  "spikegrad.compat.norse", tests_in_package=("torch/**/test_*.py",),
                  tests_in_source=("norse/torch/**/test_*.py",),
                  repository="https://github.com/norse/norse",
                  commit="065a3b45cf13bc8156d18987380f6d26c09f08a2"),
}


@dataclass
class SuiteRun:
    """One pytest run: outcomes by test id, and the swap plugin's record from inside it."""

    outcomes: dict[str, tuple[str, str]]
    record: dict[str, Any] | None
    returncode: int | None  # None: timed out
    output_tail: str = ""


@dataclass
class Comparison:
    """Both runs of one suite, and what the swapped run's record shows."""

    peer: Peer
    files: list[Path]
    cwd: Path
    relocated: bool
    before: SuiteRun
    after: SuiteRun
    problems_before: list[str] = field(default_factory=list)
    problems_after: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.problems_before and not self.problems_after


def _installed(peer: Peer) -> Path | None:
    try:
        out = subprocess.run([sys.executable, "-c", f"import {peer.package}, os; "
                              f"print(os.path.dirname({peer.package}.__file__))"],
                             capture_output=True, text=True, check=True, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    return Path(out.stdout.strip().splitlines()[-1])


def _sdist(peer: Peer, workdir: Path) -> Path | None:
    """The peer's sdist for the installed version, unpacked."""
    import importlib.metadata as md
    import tarfile

    try:
        version = md.version(peer.package)
    except md.PackageNotFoundError:
        return None
    res = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                          "--no-binary", ":all:", f"{peer.package}=={version}", "-d",
                          str(workdir)], capture_output=True, text=True)
    found = sorted(workdir.glob(f"{peer.package}-*.tar.gz"))
    if res.returncode != 0 or not found:
        return None
    with tarfile.open(found[0]) as tar:
        tar.extractall(workdir, filter="data")
    return next(p for p in workdir.iterdir() if p.is_dir())


def _files(root: Path, globs: tuple[str, ...]) -> list[Path]:
    return sorted({f for g in globs for f in root.glob(g)})


def _git(path: Path, *args: str) -> str | None:
    """``git -C path args`` on stdout, or None when it fails (not a repository...)."""
    try:
        res = subprocess.run(["git", "-C", str(path), *args], capture_output=True,
                             text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


@dataclass(frozen=True)
class Source:
    """Where a suite's tests came from: the directory, and how to name it in the report."""

    root: Path
    described: str
    commit: str | None = None


def export(repo: Path, commit: str, dest: Path) -> tuple[Path, list[str]]:
    """The tree of ``commit`` of the git repository ``repo`` (a clone or a bare mirror),
    written under ``dest``, and the paths whose contents the repository lacks (a partial
    mirror keeps large binary files out; those are left out and reported)."""
    full = _git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    if full is None:
        raise SystemExit(f"{repo} has no commit {commit}: fetch it, or pass --commit")
    listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-z", full],
                             capture_output=True, check=True, timeout=600).stdout
    entries = []
    for rec in filter(None, listing.split(b"\0")):
        meta, _, path = rec.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        if kind == "blob":
            entries.append((mode, sha, path.decode()))
    batch = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch"],
                           input=b"".join(f"{sha}\n".encode() for _, sha, _ in entries),
                           capture_output=True, check=True, timeout=600).stdout
    root = dest / f"source-{full[:12]}"
    root.mkdir(parents=True)
    missing, pos = [], 0
    for mode, _sha, path in entries:
        eol = batch.index(b"\n", pos)
        header = batch[pos:eol].decode().split()
        pos = eol + 1
        if len(header) < 3 or header[1] == "missing":
            missing.append(path)
            continue
        size = int(header[2])
        data = batch[pos:pos + size]
        pos += size + 1
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":  # a symbolic link: left out (none holds a test)
            continue
        target.write_bytes(data)
        if mode == "100755":
            target.chmod(0o755)
    return root, missing


def resolve_source(peer: Peer, given: Path, commit: str | None, workdir: Path) -> Source:
    """The tests' source for ``--source PEER=given``: a git repository (a clone or a bare
    mirror) is exported at ``commit`` (default: the peer's recorded one; ``HEAD`` for what
    is checked out) — whatever its work tree holds —; a plain directory (an unpacked sdist)
    is used as it is."""
    if not given.is_dir():
        raise SystemExit(f"--source {peer.name}={given}: not a directory")
    if _git(given, "rev-parse", "--git-dir") is None:
        return Source(given, f"{given} (not a git repository: no commit to record)")
    want = commit or peer.commit
    if not want:
        raise SystemExit(f"{peer.name}: no recorded commit; pass --commit")
    root, missing = export(given, want, workdir)
    full = _git(given, "rev-parse", f"{want}^{{commit}}") or want
    note = ""
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        note = f" ({len(missing)} files absent from the repository, left out: {shown})"
    return Source(root, f"{given} at commit {full}{note}", full)


# --- where the tests run from ----------------------------------------------------------------

def _package_dirs(path: Path) -> list[Path]:
    """The package directories holding ``path``, innermost first (``__init__.py`` chain)."""
    out, d = [], path.parent
    while (d / "__init__.py").is_file():
        out.append(d)
        d = d.parent
    return out


def _dotted(path: Path) -> str:
    """The module name pytest derives for ``path`` from its ``__init__.py`` chain."""
    dirs = _package_dirs(path)
    return ".".join([d.name for d in reversed(dirs)] + [path.stem])


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def needs_relocation(path: Path, peer: Peer) -> bool:
    """Whether ``path`` is a module inside the package being swapped: pytest
    (``--import-mode=importlib``) imports a test module's parent packages from their files
    when the one in ``sys.modules`` is not a package — the replacement is a plain module —
    and so would put the peer's module back in ``sys.modules``."""
    package = _dotted(path).rpartition(".")[0]
    return bool(package) and _under(package, peer.module)


def relocate(files: list[Path], workdir: Path, peer: Peer) -> tuple[list[Path], Path]:
    """Copy ``files`` (and the ``conftest.py`` files of their packages) under
    ``workdir/<package>_tests/``, keeping the layout below the top package but without
    ``__init__.py``: the copies are outside the peer's package, and their module names
    (``braintools_tests.surrogate._impl_test``) are nobody's package.  Returns the copies
    and the root to run pytest from."""
    root = workdir / "relocated"
    out = []
    for f in files:
        dirs = _package_dirs(f)
        top = dirs[-1] if dirs else f.parent
        base = root / f"{top.name}_tests"
        dest = base / f.relative_to(top)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
        for d in dirs:  # conftest.py of every package between the file and the top
            if (d / "conftest.py").is_file():
                target = base / d.relative_to(top) / "conftest.py"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(d / "conftest.py", target)
        out.append(dest)
    return out, root


# --- one pytest run, and its record ----------------------------------------------------------

#: pytest's config files, and the section that makes one count (None: any such file)
_CONFIGS = (("pytest.toml", None), (".pytest.toml", None),
            ("pytest.ini", None), (".pytest.ini", None),
            ("pyproject.toml", "[tool.pytest"), ("tox.ini", "[pytest]"),
            ("setup.cfg", "[tool:pytest]"))


def peer_config(files: list[Path], cwd: Path) -> Path | None:
    """The pytest config file the peer's own tree gives these tests (searched as pytest
    does, from the files' common directory up to ``cwd``), or None.  Above ``cwd`` nothing
    is the peer's: an installed package's tests would otherwise pick up whatever project
    holds the environment (spikegrad's own ``pyproject.toml``, with its warnings-as-errors,
    when the virtual environment lives in this repository)."""
    if not files:
        return None
    d = Path(os.path.commonpath([f.parent.resolve() for f in files]))
    root = cwd.resolve()
    if d != root and root not in d.parents:
        return None
    while True:
        for name, section in _CONFIGS:
            f = d / name
            if f.is_file() and (section is None or section in f.read_text(errors="ignore")):
                return f
        if d == root:
            return None
        d = d.parent

def run_suite(peer: Peer, files: list[Path], cwd: Path, *, swapped: bool,
              timeout: float = 3600.0, extra: list[str] | tuple[str, ...] = ()) -> SuiteRun:
    """Run pytest on ``files`` (the swap plugin loaded in both runs: it swaps only when
    ``swapped``) and return the outcomes with the plugin's record."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "out.xml"
        record_path = Path(tmp) / "record.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        pair = f"{peer.module}={peer.replacement}"
        env.pop("SPIKEGRAD_COMPAT_SWAP", None)
        env.pop("SPIKEGRAD_COMPAT_WATCH", None)
        env["SPIKEGRAD_COMPAT_SWAP" if swapped else "SPIKEGRAD_COMPAT_WATCH"] = pair
        env["SPIKEGRAD_COMPAT_RECORD"] = str(record_path)
        config = peer_config(files, cwd)
        if config is None:  # no config of the peer's: none of anybody else's either
            config = Path(tmp) / "pytest.ini"
            config.write_text("[pytest]\n")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--import-mode=importlib", "--continue-on-collection-errors",
               "-p", "no:randomly", f"--junitxml={xml}", "-o", "addopts=",
               "-c", str(config), "--rootdir", str(cwd), "-p", "swap_plugin", *extra,
               *[str(f) for f in files]]
        try:
            res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                                 timeout=timeout)
            returncode: int | None = res.returncode
            tail = (res.stdout + res.stderr)[-3000:]
        except subprocess.TimeoutExpired as exc:
            returncode = None
            tail = str(exc.stdout or "")[-3000:]
        record = None
        if record_path.exists():
            try:
                record = json.loads(record_path.read_text())
            except json.JSONDecodeError:
                record = None
        return SuiteRun(_outcomes(xml), record, returncode, tail)


def _outcomes(xml: Path) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, first line of the failure)."""
    if not xml.exists():
        return {}
    out = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        bad = next((c for c in case if c.tag in ("failure", "error")), None)
        skipped = next((c for c in case if c.tag == "skipped"), None)
        if bad is not None:
            out[name] = ("fail", (bad.get("message") or "").splitlines()[0][:160]
                         if bad.get("message") else "")
        elif skipped is not None:
            out[name] = ("skip", "")
        else:
            out[name] = ("pass", "")
    return out


def check_swap(run: SuiteRun, peer: Peer, *, swapped: bool,
               package_dir: Path | None = None) -> list[str]:
    """What the record from inside the pytest process says against the run's claim: the
    swapped run must have every test module bound to the replacement (at least one), the
    replacement in ``sys.modules`` and spikegrad objects built; the unchanged run must not
    have used the replacement; both must have imported the peer's package from
    ``package_dir`` when given (the installed release, or the source asked for).  An empty
    list: verified."""
    rec = run.record
    label = "swapped run" if swapped else "unchanged run"
    if rec is None:
        why = "timed out" if run.returncode is None else f"pytest exit status {run.returncode}"
        tail = run.output_tail.strip().splitlines()[-3:]
        return [f"{label}: no record from inside the pytest process ({why}; the swap "
                f"plugin did not run or pytest did not start): " + " | ".join(tail)]
    problems = [f"{label}: {e}" for e in rec.get("errors", [])]
    if package_dir is not None:
        got = next((p for p in rec.get("peer_packages", [])
                    if p["package"] == peer.package), None)
        if got is None or not got["imported"] or not got["file"]:
            problems.append(f"{label}: the run did not import {peer.package}")
        elif Path(got["file"]).resolve().parent != package_dir.resolve():
            problems.append(f"{label}: {peer.package} was imported from {got['file']}, "
                            f"not from {package_dir}")
    if rec.get("mode") != ("swap" if swapped else "watch"):
        problems.append(f"{label}: the plugin ran in {rec.get('mode')!r} mode")
    modules = rec.get("modules", [])
    if swapped:
        if not modules:
            problems.append(f"{label}: no test module was collected")
        bound = 0
        for m in modules:
            for b in m["bindings"]:
                if b["is_replacement"]:
                    bound += 1
                    continue
                what = (f"its {b['name']!r} comes from {b['object_module']}"
                        if b["kind"] == "object" else f"its {b['name']!r} is {b['bound_to']}")
                problems.append(f"{label}: {m['file']}: {what} ({b['file']}), not "
                                f"{peer.replacement}")
        if modules and not bound:
            problems.append(f"{label}: no collected test module binds {peer.replacement} "
                            f"(nor anything from {peer.module}): nothing shows the tests "
                            "ran against it")
        states = rec.get("sys_modules", {})
        if "at_end" not in states:
            problems.append(f"{label}: the session did not finish (the record stops at "
                            "collection)")
        for when in ("at_collection", "at_end"):
            for s in states.get(when, []):
                if not s["is_replacement"]:
                    problems.append(f"{label}: sys.modules[{s['target']!r}] {when} is "
                                    f"{s['bound_to']} ({s['file']}), not {peer.replacement}")
        counts = rec.get("spikegrad_objects") or {}
        if not counts:
            problems.append(f"{label}: spikegrad objects could not be counted: "
                            + "; ".join(rec.get("counter_errors", [])))
        elif sum(counts.values()) == 0:
            problems.append(f"{label}: zero spikegrad objects were built during the run "
                            f"({counts})")
    else:
        for m in modules:
            for b in m["bindings"]:
                if b["is_replacement"]:
                    problems.append(f"{label}: {m['file']}: {b['name']!r} is the "
                                    f"replacement {peer.replacement}")
        for s in rec.get("sys_modules", {}).get("at_end", []):
            if s["is_replacement"]:
                problems.append(f"{label}: sys.modules[{s['target']!r}] is the replacement")
    return problems


def compare(peer: Peer, files: list[Path], cwd: Path, *, timeout: float = 3600.0,
            extra: list[str] | tuple[str, ...] = (), relocate_tests: bool = True,
            workdir: Path | None = None, package_dir: Path | None = None) -> Comparison:
    """Both runs of ``files`` and the check of each record.  Test files inside the swapped
    package are run from copies under ``workdir`` (unless ``relocate_tests`` is false,
    which reproduces the swap pytest undoes)."""
    relocated = False
    with tempfile.TemporaryDirectory() as tmp:
        if relocate_tests and any(needs_relocation(f, peer) for f in files):
            files, cwd = relocate(files, Path(workdir or tmp), peer)
            relocated = True
        before = run_suite(peer, files, cwd, swapped=False, timeout=timeout, extra=extra)
        after = run_suite(peer, files, cwd, swapped=True, timeout=timeout, extra=extra)
    return Comparison(peer, files, cwd, relocated, before, after,
                      check_swap(before, peer, swapped=False, package_dir=package_dir),
                      check_swap(after, peer, swapped=True, package_dir=package_dir))


def known_differences() -> Any:
    """``compat/known_differences.py`` (beside this script, whether it runs as a script or
    is loaded from its file)."""
    import importlib.util

    name = "spikegrad_known_differences"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "known_differences.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


# --- the report ------------------------------------------------------------------------------

def _collection_error_for(test: str, errors: list[dict[str, str]]) -> str | None:
    for e in errors:
        dotted = e["nodeid"].removesuffix(".py").replace("/", ".")
        if dotted and (test.startswith(dotted + ".") or test.startswith(dotted + "::")):
            return e["message"]
    return None


def peer_version(c: Comparison) -> str:
    """The version of the peer package the swapped run imported ('' when unknown)."""
    for rec in (c.after.record, c.before.record):
        for p in (rec or {}).get("peer_packages", []):
            if p["package"] == c.peer.package and p.get("version"):
                return str(p["version"])
    return ""


@dataclass
class Failure:
    """One test that does not pass in the swapped run, and why."""

    test: str
    reason: str  # a class of known_differences.REASONS or RUNNER_REASONS
    message: str
    known: Any = None  # the known_differences.Known entry, when documented


@dataclass
class Classified:
    """Every failure of the swapped run with its reason, and the stale known entries."""

    failures: list[Failure]
    environment: list[tuple[str, str]]  # (test module, error) importable in neither run
    stale: list[Any]

    @property
    def undocumented(self) -> list[Failure]:
        return [f for f in self.failures if f.reason == "undocumented"]


def classify(c: Comparison) -> Classified:
    """Name every failure of the swapped run with a reason class."""
    kd = known_differences()
    version = peer_version(c)
    before, after = c.before.outcomes, c.after.outcomes
    errors = (c.after.record or {}).get("collection_errors", [])
    unchanged_errors = {e["nodeid"] for e in (c.before.record or {}).get(
        "collection_errors", [])}
    failures: list[Failure] = []
    used: set[int] = set()
    for test in sorted(set(before) | set(after)):
        outcome, why = after.get(test, ("missing", ""))
        if outcome in ("pass", "skip") or test.startswith("::"):
            continue  # "::module": a collection error, listed by module below
        if outcome == "missing":
            why = _collection_error_for(test, errors) or "not collected"
        was = before.get(test, ("missing", ""))[0]
        if was == "fail":
            failures.append(Failure(test, "fails-unchanged", why))
            continue
        if was == "missing" and outcome == "missing":
            continue  # in neither run: an environment error, listed by module below
        known = kd.classify(c.peer.name, version, test)
        if known is None:
            failures.append(Failure(test, "undocumented", why))
        else:
            used.add(id(known))
            failures.append(Failure(test, known.reason, why, known))
    environment = [(e["nodeid"], e["message"]) for e in errors
                   if e["nodeid"] in unchanged_errors]
    for e in errors:  # a module importable only with the peer, with no test run either way
        if e["nodeid"] not in unchanged_errors and not any(
                f.test.startswith(e["nodeid"].removesuffix(".py").replace("/", "."))
                for f in failures):
            failures.append(Failure(e["nodeid"], "undocumented", e["message"]))
    stale = [k for k in kd.KNOWN if k.peer == c.peer.name and id(k) not in used
             and (not k.versions or version in k.versions)]
    return Classified(failures, environment, stale)


def report(c: Comparison) -> Classified:
    """Print the comparison and every failure of the swapped run with its reason."""
    kd = known_differences()
    before, after = c.before.outcomes, c.after.outcomes
    passed = {t for t, (o, _) in before.items() if o == "pass"}
    kept = {t for t in passed if after.get(t, ("missing", ""))[0] == "pass"}
    for label, rec in (("unchanged", c.before.record), ("swapped", c.after.record)):
        for p in (rec or {}).get("peer_packages", []):
            print(f"   {label} run imported {p['package']} {p.get('version') or '?'} from "
                  f"{p.get('file')}")
    print(f"   passing with {c.peer.name}: {len(passed)}; with spikegrad swapped in: "
          f"{sum(o == 'pass' for o, _ in after.values())} "
          f"({len(kept)} of the {len(passed)})")
    rec = c.after.record or {}
    if c.verified:
        mods = rec.get("modules", [])
        nbound = sum(any(b["is_replacement"] for b in m["bindings"]) for m in mods)
        names = sorted({b["name"] for m in mods for b in m["bindings"]})
        counts = rec.get("spikegrad_objects") or {}
        print(f"   swap verified inside pytest: {nbound} of {len(mods)} collected test "
              f"modules bind {c.peer.replacement} ({', '.join(names)}); spikegrad objects "
              f"built: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    else:
        print("   SWAP NOT VERIFIED: these counts do not measure spikegrad")
        for p in c.problems_before + c.problems_after:
            print(f"   ! {p}")
    for t in sorted(t for t, (o, _) in after.items() if o == "pass" and t not in passed):
        print(f"   only with spikegrad: {t}  [{before.get(t, ('missing', ''))[0]} with "
              f"{c.peer.name}]")
    found = classify(c)
    for module, message in found.environment:
        print(f"   [environment] {module}: {message}")
    order = [*kd.REASONS, "fails-unchanged", "undocumented"]
    for f in sorted(found.failures, key=lambda f: (order.index(f.reason), f.test)):
        where = f"  (docs/compat.md, {f.known.section!r})" if f.known else ""
        print(f"   [{f.reason}] {f.test}: {f.message}{where}")
    for k in found.stale:
        print(f"   stale known difference (no test failed with it): {k.peer} {k.tests}")
    counts: dict[str, int] = {}
    for f in found.failures:
        counts[f.reason] = counts.get(f.reason, 0) + 1
    if found.environment:
        counts["environment (modules)"] = len(found.environment)
    print("   failures by reason: " + (", ".join(f"{k} {v}" for k, v in counts.items())
                                       or "none"))
    if found.undocumented:
        print(f"   UNDOCUMENTED: {len(found.undocumented)} tests pass with {c.peer.name} "
              "and fail with spikegrad, and compat/known_differences.py does not list them")
    return found


@dataclass
class PeerResult:
    """What one peer's comparison established (for the exit status and ``--json``)."""

    status: str  # "verified", "not-verified", "undocumented", "not-run"
    summary: dict[str, Any] = field(default_factory=dict)


def _without_package(root: Path, package: str, workdir: Path) -> Path:
    """``root`` without the peer's package directory (a copy when it has one), so that the
    installed release is what the tests import."""
    if not (root / package / "__init__.py").is_file():
        return root
    dest = workdir / f"{root.name}-tests-only"
    shutil.copytree(root, dest, symlinks=True,
                    ignore=lambda d, names: [package] if Path(d) == root else [])
    return dest


def run_peer(peer: Peer, source: Path | None, timeout: float, extra: list[str],
             relocate_tests: bool = True, commit: str | None = None,
             package_from: str = "installed") -> PeerResult:
    """Compare one peer and print the report."""
    print(f"\n== {peer.name}")
    pkg = _installed(peer) if package_from == "installed" else None
    if package_from == "installed" and pkg is None:
        print(f"   {peer.package} is not importable here: install it to compare")
        return PeerResult("not-run")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files: list[Path] = []
        cwd = pkg.parent if pkg is not None else Path.cwd()
        where = "the installed package"
        package_dir = pkg
        if source is None and package_from == "installed" and peer.tests_in_package:
            files = _files(pkg, peer.tests_in_package)
            where = f"the installed package {pkg}"
        if not files and (source is not None or peer.tests_in_source):
            if source is not None:
                src = resolve_source(peer, source, commit, work)
            else:
                root = _sdist(peer, work)
                src = Source(root, f"the sdist of {peer.package} (pip download)") \
                    if root is not None else None
            if src is not None:
                root = src.root
                if package_from == "source":
                    package_dir = root / peer.package
                    if not (package_dir / "__init__.py").is_file():
                        raise SystemExit(f"--package-from source: {root} has no package "
                                         f"{peer.package}")
                    globs = peer.tests_in_source or tuple(
                        f"{peer.package}/{g}" for g in peer.tests_in_package)
                else:
                    root = _without_package(root, peer.package, work)
                    globs = peer.tests_in_source
                files = _files(root, globs)
                cwd = root
                where = src.described
        if not files:
            print("   no tests found (the sdist ships none): pass --source "
                  f"{peer.name}=CHECKOUT")
            return PeerResult("not-run")
        print(f"   {len(files)} test files from {where}")
        c = compare(peer, files, cwd, timeout=timeout, extra=extra,
                    relocate_tests=relocate_tests, workdir=work, package_dir=package_dir)
        if c.relocated:
            print(f"   (run from a copy in {c.cwd}: they live inside {peer.module}, which "
                  "pytest would re-import from its file, undoing the swap)")
        found = report(c)
    passed = {t for t, (o, _) in c.before.outcomes.items() if o == "pass"}
    reasons: dict[str, int] = {}
    for f in found.failures:
        reasons[f.reason] = reasons.get(f.reason, 0) + 1
    summary = {
        "peer": peer.name, "tests_from": where, "version": peer_version(c),
        "passing_unchanged": len(passed),
        "passing_swapped": sum(o == "pass" for o, _ in c.after.outcomes.values()),
        "kept": sum(c.after.outcomes.get(t, ("", ""))[0] == "pass" for t in passed),
        "failures_by_reason": reasons,
        "environment_modules": [m for m, _ in found.environment],
        "undocumented": [f.test for f in found.undocumented],
        "verified": c.verified,
    }
    status = ("not-verified" if not c.verified
              else "undocumented" if found.undocumented else "verified")
    return PeerResult(status, summary)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", action="append", choices=sorted(PEERS),
                    help="peers to run (default: all)")
    ap.add_argument("--peer-spec", action="append", default=[], metavar="JSON",
                    help="a peer not in the table: JSON (or a .json file) with the fields "
                         "of Peer (name, package, module, replacement, tests_in_package, "
                         "tests_in_source, repository, commit)")
    ap.add_argument("--source", action="append", default=[], metavar="PEER=PATH",
                    help="the peer's source: a git repository (exported at the recorded "
                         "commit), or a checkout or unpacked sdist used as it is")
    ap.add_argument("--commit", default=None,
                    help="export this commit of a git --source instead of the recorded one")
    ap.add_argument("--package-from", choices=("installed", "source"), default="installed",
                    help="import the peer's package from the installed release (default) "
                         "or from --source")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--json", type=Path, default=None, metavar="FILE",
                    help="write each peer's figures and failure reasons as JSON")
    ap.add_argument("--no-relocate", action="store_true",
                    help="run test files inside the swapped package in place (pytest then "
                         "undoes the swap, and the check fails: for demonstration)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args(argv)
    sources = dict(s.split("=", 1) for s in args.source)
    specs = [Peer.from_spec(s) for s in args.peer_spec]
    named = [PEERS[n] for n in (args.peer or ([] if specs else sorted(PEERS)))]
    explicit = bool(args.peer or specs)
    results = []
    for peer in named + specs:
        src = Path(sources[peer.name]).resolve() if peer.name in sources else None
        if args.package_from == "source" and src is None:
            raise SystemExit(f"--package-from source needs --source {peer.name}=PATH")
        results.append(run_peer(peer, src, args.timeout, args.pytest_args,
                                relocate_tests=not args.no_relocate, commit=args.commit,
                                package_from=args.package_from))
    if args.json is not None:
        args.json.write_text(json.dumps([r.summary for r in results if r.summary],
                                        indent=1))
    statuses = {r.status for r in results}
    if "not-verified" in statuses:
        print("\nFAILED: the swap did not take effect in every swapped run (see '!' "
              "above); those pass counts are the peer's, not spikegrad's")
        return 1
    if "undocumented" in statuses:
        print("\nFAILED: failures with spikegrad that no documented difference explains "
              "(see UNDOCUMENTED above)")
        return 3
    if explicit and statuses <= {"not-run"}:
        return 2  # asked for by name, and nothing was measured
    return 0


if __name__ == "__main__":
    sys.exit(main())
