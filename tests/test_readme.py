"""Every Python block of the README runs as written (blocks needing a framework that is
not installed, or a GPU, are skipped with the reason)."""

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
