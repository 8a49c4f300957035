"""The framework front ends name one function per canonical surrogate, written out in the
module (visible to type checkers: the package ships ``py.typed``), never injected."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import spikegrad

FRONTS = ["spikegrad.torch", "spikegrad.jax"]


def _source(module: str) -> str:
    return (Path(spikegrad.__file__).parent / (module.split(".")[1] + ".py")).read_text()


@pytest.mark.parametrize("module", FRONTS)
def test_no_injected_names(module: str) -> None:
    tree = ast.parse(_source(module))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id in ("globals", "setattr")]
    assert not calls, f"{module} injects names at run time (line {calls[0].lineno})"


@pytest.mark.parametrize("module", FRONTS)
def test_the_written_names_are_the_catalogue(module: str) -> None:
    """Every canonical surrogate has its function, assigned by name in the source and
    listed in ``__all__``; no other name is."""
    tree = ast.parse(_source(module))
    assigned = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name) and isinstance(n.value, ast.Subscript)
                and getattr(n.value.value, "id", None) == "_named"}
    canonical = set(spikegrad.names(user=False))
    assert assigned == canonical
    mod = pytest.importorskip(module, reason=f"{module} needs its framework",
                              exc_type=ImportError)
    assert canonical <= set(mod.__all__)
    for name in canonical:
        assert getattr(mod, name).__name__ == name
