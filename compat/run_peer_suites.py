"""Run each peer library's own surrogate-related tests twice — unchanged, and with the
peer's surrogate module replaced by ``spikegrad.compat.<peer>`` — and compare.

Tests come from the installed package (braintools ships its surrogate tests), from the
peer's sdist on the package index (``pip download --no-binary``), or from a checkout given
with ``--source PEER=DIR``; nothing is copied into this repository.  For each suite the
script prints the number of tests passing unchanged and with spikegrad swapped in, and
every test that passes only with the peer, with the first line of its failure.

    python compat/run_peer_suites.py                          # every installed peer
    python compat/run_peer_suites.py --peer spikingjelly --source spikingjelly=../sj
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Peer:
    """A peer: its import name, the module spikegrad replaces, and where its tests are."""

    name: str
    package: str
    module: str
    replacement: str
    tests_in_package: tuple[str, ...] = ()  # globs inside the installed package
    tests_in_source: tuple[str, ...] = ()  # globs inside an sdist or a checkout
    keyword: str = "surrogate"  # only test files that mention it


PEERS = {
    "snntorch": Peer("snntorch", "snntorch", "snntorch.surrogate", "spikegrad.compat.snntorch",
                     tests_in_source=("tests/**/test_*.py",), keyword=""),
    "spikingjelly": Peer("spikingjelly", "spikingjelly",
                         "spikingjelly.activation_based.surrogate",
                         "spikegrad.compat.spikingjelly",
                         tests_in_source=("test/**/test_*.py",)),
    "braintools": Peer("braintools", "braintools", "braintools.surrogate",
                       "spikegrad.compat.braintools",
                       tests_in_package=("surrogate/*_test.py",)),
    "norse": Peer("norse", "norse", "norse.torch.functional.threshold",
                  "spikegrad.compat.norse", tests_in_package=("torch/**/test_*.py",),
                  tests_in_source=("norse/torch/**/test_*.py",), keyword="threshold"),
}


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


def _files(root: Path, globs: tuple[str, ...], keyword: str) -> list[Path]:
    files = sorted({f for g in globs for f in root.glob(g)})
    return [f for f in files if not keyword or keyword in f.read_text(errors="ignore")]


def _run(files: list[Path], swap: str | None, cwd: Path, timeout: float,
         extra: list[str]) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, first line of the failure) for one pytest run."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "out.xml"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--import-mode=importlib", "--continue-on-collection-errors",
               "-p", "no:randomly", f"--junitxml={xml}", "-o", "addopts=",
               "--rootdir", str(cwd), *extra]
        if swap:
            env["SPIKEGRAD_COMPAT_SWAP"] = swap
            cmd += ["-p", "swap_plugin"]
        cmd += [str(f) for f in files]
        try:
            subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
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


def run_peer(peer: Peer, source: Path | None, timeout: float, extra: list[str],
             all_files: bool = False) -> None:
    print(f"\n== {peer.name}")
    pkg = _installed(peer)
    if pkg is None:
        print(f"   {peer.package} is not importable here: install it to compare")
        return
    with tempfile.TemporaryDirectory() as tmp:
        files: list[Path] = []
        cwd = pkg.parent
        if peer.tests_in_package:
            files = _files(pkg, peer.tests_in_package, "" if all_files else peer.keyword)
        if not files and peer.tests_in_source:
            root = source or _sdist(peer, Path(tmp))
            if root is not None:
                files = _files(root, peer.tests_in_source,
                               "" if all_files else peer.keyword)
                cwd = root
        if not files:
            print("   no tests found (the sdist ships none): pass --source "
                  f"{peer.name}=CHECKOUT")
            return
        print(f"   {len(files)} test files from {cwd}")
        before = _run(files, None, cwd, timeout, extra)
        after = _run(files, f"{peer.module}={peer.replacement}", cwd, timeout, extra)
    passed = {t for t, (o, _) in before.items() if o == "pass"}
    kept = {t for t in passed if after.get(t, ("missing", ""))[0] == "pass"}
    print(f"   passing with {peer.name}: {len(passed)}; with spikegrad swapped in: "
          f"{sum(o == 'pass' for o, _ in after.values())} "
          f"({len(kept)} of the {len(passed)})")
    for t in sorted(passed - kept):
        outcome, why = after.get(t, ("missing", "not collected"))
        print(f"   only with the peer: {t}  [{outcome}] {why}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", action="append", choices=sorted(PEERS),
                    help="peers to run (default: all)")
    ap.add_argument("--source", action="append", default=[], metavar="PEER=DIR",
                    help="a checkout or unpacked sdist holding the peer's tests")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--all-files", action="store_true",
                    help="every test file, not only those that mention the surrogates")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    sources = dict(s.split("=", 1) for s in args.source)
    for name in args.peer or sorted(PEERS):
        src = Path(sources[name]).resolve() if name in sources else None
        run_peer(PEERS[name], src, args.timeout, args.pytest_args, args.all_files)


if __name__ == "__main__":
    main()
