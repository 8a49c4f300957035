"""A NumPy-backed CuPy stand-in for the cupy binding's tests on machines without a GPU.

``installed()`` puts the stand-in's ``cupy``/``cupyx`` first on ``sys.path`` for the
duration of a ``with`` block (a test fixture) and takes them away again: the modules of
the real CuPy (if imported), of array-api-compat's CuPy wrapper and of spikegrad's cupy
binding are set aside and restored, and spikegrad's per-type dispatch cache is cleared,
so nothing of the stand-in leaks into other tests.

The directory is also usable from a subprocess: ``PYTHONPATH=tests/cupy_standin``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["PATH", "installed"]

#: The directory holding the stand-in's ``cupy`` and ``cupyx`` packages.
PATH = str(Path(__file__).resolve().parent)

#: Modules that are the stand-in or were bound to it (set aside, then restored).
_OWNED = ("cupy", "cupyx", "cupy_backends", "array_api_compat.cupy", "spikegrad.cupy",
          "spikegrad.adapters.cupy", "spikegrad.adapters.cupy_multistep")
_MISSING = object()


def _owned(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in _OWNED)


def _forget_types() -> None:
    """Clear the caches keyed by array type: spikegrad's dispatch, array-api-compat's."""
    dispatch = sys.modules.get("spikegrad._dispatch")
    if dispatch is not None:
        clear = getattr(dispatch, "clear_cache", None)
        if clear is not None:
            clear()
        else:  # older dispatch module: the per-type table only
            dispatch._BY_TYPE.clear()
    helpers = sys.modules.get("array_api_compat.common._helpers")
    for fn in ("_issubclass_fast", "_cls_to_namespace"):
        cache_clear = getattr(getattr(helpers, fn, None), "cache_clear", None)
        if cache_clear is not None:
            cache_clear()


@contextlib.contextmanager
def installed() -> Iterator[Any]:
    """The stand-in ``cupy`` module, importable as ``cupy`` inside the block."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _owned(name)}
    parents: dict[tuple[str, str], Any] = {}  # attributes naming them on their parents
    for name in _OWNED:
        parent, _, child = name.rpartition(".")
        if parent and parent in sys.modules:
            parents[parent, child] = getattr(sys.modules[parent], child, _MISSING)
            if parents[parent, child] is not _MISSING:  # else `from parent import child`
                delattr(sys.modules[parent], child)    # would find the set-aside module
    sys.path.insert(0, PATH)
    _forget_types()
    try:
        import cupy

        if not getattr(cupy, "__spikegrad_standin__", False):  # pragma: no cover
            raise RuntimeError(f"imported {cupy.__file__}, not the stand-in")
        yield cupy
    finally:
        for name in [n for n in sys.modules if _owned(n)]:
            del sys.modules[name]
        sys.path.remove(PATH)
        sys.modules.update(saved)
        for name in _OWNED:
            parent, _, child = name.rpartition(".")
            module = sys.modules.get(parent) if parent else None
            if module is None:
                continue
            value = parents.get((parent, child), _MISSING)
            if value is not _MISSING:
                setattr(module, child, value)
            elif hasattr(module, child):  # imported inside the block: bound to the stand-in
                delattr(module, child)
        _forget_types()
