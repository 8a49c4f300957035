"""Dispatch by array type: a declared table from an array's framework to the name of the
binding module that evaluates it.

Every binding module follows one protocol::

    spike(bound, x, key=None)   # the forward output, carrying the surrogate gradient
    multistep(bound, x)         # the output sequence of a multi-step surrogate

A torch tensor goes through :mod:`spikegrad.adapters.torch`, a jax array (or tracer)
through :mod:`spikegrad.adapters.jax`, a CuPy array through :mod:`spikegrad.adapters.cupy`;
anything else (NumPy, array-api-strict, ...) through the generic array-API engine.  A
package may add a row through the ``spikegrad.bindings`` entry point (name: the root
module of its array type; value: its binding module's name), as networkx dispatches to
backends; a built-in row cannot be replaced.

The table holds module *names*: a binding is imported the first time an array of its
framework arrives (a framework's types exist only once it is imported), and the choice is
cached per array type.  Nothing here imports a binding at import time.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from importlib import metadata
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any

from . import _evaluate, _multistep_engine
from ._arrays import framework_of

if TYPE_CHECKING:
    from ._multistep import MultiStepBound
    from ._spec import Bound

__all__ = ["BUILTIN_BINDINGS", "binding_for", "binding_name", "multistep", "spike"]

#: The built-in rows: an array's framework (:func:`spikegrad._arrays.framework_of`) to
#: the name of its binding module.
BUILTIN_BINDINGS: dict[str, str] = {
    "torch": "spikegrad.adapters.torch",
    "jax": "spikegrad.adapters.jax",
    "cupy": "spikegrad.adapters.cupy",
}

#: The binding of every other array: the generic array-API engine (no gradient).
GENERIC = SimpleNamespace(
    __name__="spikegrad._evaluate",
    spike=lambda bound, x, key=None: _evaluate.spike(bound, x, key=key),
    multistep=lambda bound, x: _multistep_engine.reference_forward(bound, x),
)

_PROTOCOL = ("spike", "multistep")
_BY_TYPE: dict[type, Any] = {}
_TABLE: dict[str, str] | None = None
_LOCK = threading.Lock()


def _table() -> dict[str, str]:
    """The built-in rows and those of installed ``spikegrad.bindings`` entry points (read
    once)."""
    global _TABLE
    if _TABLE is None:
        table = dict(BUILTIN_BINDINGS)
        for ep in metadata.entry_points(group="spikegrad.bindings"):
            if ep.name in table:
                warnings.warn(f"spikegrad.bindings entry point {ep.name!r} ({ep.value}) "
                              "would replace a built-in binding; ignored", stacklevel=3)
                continue
            table[ep.name] = ep.value
        _TABLE = table
    return _TABLE


def binding_name(x: Any) -> str | None:
    """The name of the binding module for ``x``'s framework, or ``None`` (generic)."""
    return _table().get(framework_of(x))


def _load(name: str) -> ModuleType | SimpleNamespace:
    module = importlib.import_module(name)
    missing = [f for f in _PROTOCOL if not callable(getattr(module, f, None))]
    if missing:
        warnings.warn(f"binding module {name} lacks {', '.join(missing)} of the binding "
                      "protocol; its arrays go through the generic engine", stacklevel=4)
        return GENERIC
    return module


def binding_for(x: Any) -> Any:
    """The binding module of ``x``'s type (cached per type): a module with ``spike`` and
    ``multistep``."""
    t = type(x)
    found = _BY_TYPE.get(t)
    if found is None:
        name = binding_name(x)
        found = GENERIC if name is None else _load(name)
        with _LOCK:
            _BY_TYPE[t] = found
    return found


def clear_cache() -> None:
    """Forget the per-type choices and the entry points read (a binding installed or
    removed at run time)."""
    global _TABLE
    with _LOCK:
        _BY_TYPE.clear()
        _TABLE = None


def spike(bound: Bound, x: Any, *, key: Any = None) -> Any:
    """Spike of ``x`` through the binding of its framework."""
    return binding_for(x).spike(bound, x, key)


def multistep(bound: MultiStepBound, x: Any) -> Any:
    """Output sequence of a multi-step surrogate through the binding of ``x``'s
    framework (the reference engine for other arrays)."""
    return binding_for(x).multistep(bound, x)
