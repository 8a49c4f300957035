"""Every Python block of the README runs as written (blocks needing a framework that is
not installed, or a GPU, are skipped with the reason), and ``.ci/run`` runs the README's
install and test commands as written."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _missing(block: str) -> str | None:
    for module in ("torch", "jax", "cupy"):
        if re.search(rf"^\s*import {module}\b|^\s*import .*\b{module}\b|spikegrad\.{module}\b",
                     block, flags=re.M) and importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    if "cupy" in block:
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() < 1:
                return "no CUDA device"
        except Exception as exc:
            return f"no CUDA device ({type(exc).__name__})"
    return None


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(block: str) -> None:
    reason = _missing(block)
    if reason:
        pytest.skip(reason)
    res = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


# -- CI runs what the README tells a user to run ---------------------------------------------
ROOT = README.parent
CI = ROOT / ".ci" / "run"
CPU_INDEX = re.compile(r"--(extra-)?index-url https://download\.pytorch\.org/whl/cpu\b")


def _readme_test_command() -> str:
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
              if "-m pytest" in b]
    assert len(blocks) == 1, blocks
    (line,) = blocks[0].strip().splitlines()
    return line.strip()


def _readme_install_commands() -> list[str]:
    """The README's inline ``python -m pip install ...`` commands, whitespace-normalised."""
    prose = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)
    spans = (" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose))
    return [s for s in spans if s.startswith("python -m pip install ")]


def _ci_lines() -> list[str]:
    return [ln.strip() for ln in CI.read_text().splitlines()]


def test_ci_runs_the_readme_test_command_with_and_without_frameworks() -> None:
    """``.ci/run`` runs the README's test command verbatim twice: first in an environment
    where nothing installed torch or jax, then after the framework installs."""
    command = _readme_test_command()
    assert command == 'python -m pip install -e ".[test]" && python -m pytest'
    lines = _ci_lines()
    at = [i for i, ln in enumerate(lines) if ln == command]
    assert len(at) == 2, f"{CI} should run {command!r} twice, found {len(at)}"
    # the two environments that run it; later ones (braintools 0.4 on 3.12) run other tests
    venvs = [i for i, ln in enumerate(lines) if " -m venv " in ln]
    assert len(venvs) >= 2 and venvs[0] < at[0] < venvs[1] < at[1], (venvs, at)
    assert all(v > at[1] for v in venvs[2:]), (venvs, at)
    bare = "\n".join(lines[venvs[0]:at[0]])
    assert not re.search(r"pip install[^\n]*\b(torch|jax|jaxlib)\b", bare), bare
    full = "\n".join(lines[venvs[1]:at[1]])
    assert re.search(r"pip install torch==", full) and re.search(r"pip install jax==", full)


def test_ci_runs_the_readme_install_commands() -> None:
    """Every ``python -m pip install`` the README gives (torch, jax, the peers) is a line of
    ``.ci/run`` (a ``&&`` chain one line per command), and torch's names the CPU index."""
    commands = _readme_install_commands()
    torch_lines = [c for c in commands if re.search(r"\binstall torch==", c)]
    assert len(torch_lines) == 1, commands
    assert CPU_INDEX.search(torch_lines[0]), (
        f"the README's torch install should name PyTorch's CPU wheel index: {torch_lines[0]}")
    assert any(re.search(r"\binstall jax==", c) for c in commands), commands
    lines = set(_ci_lines())
    missing = [part.strip() for c in commands for part in c.split("&&")
               if part.strip() not in lines]
    assert not missing, f"{CI} does not run the README's {missing}"


def test_requires_python_is_what_ci_tests() -> None:
    """``requires-python`` starts at the oldest Python ``.ci/run`` tests, and the version
    classifiers are exactly the versions it tests."""
    import tomllib

    tested = sorted({tuple(map(int, v.split("."))) for v in
                     re.findall(r"find_python (3\.\d+)\)", CI.read_text())})
    assert len(tested) >= 2, tested
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    oldest = ".".join(map(str, tested[0]))
    assert project["requires-python"] == f">={oldest}"
    versions = {c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    assert versions == {".".join(map(str, v)) for v in tested}
