"""Dispatch of :meth:`Bound.spike` by array type.

A torch tensor goes through the torch binding and a jax array (or tracer) through the jax
binding, so the spike carries the surrogate gradient; a CuPy array goes through the cupy
adapter's bit-exact spike kernel; anything else through the generic array-API engine.
The choice is cached per array type and made from the type's module name, so no framework
is imported to inspect an array (a framework's types exist only once it is imported).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._spec import Bound

__all__ = ["binding_for", "multistep", "spike"]

_BY_TYPE: dict[type, Callable[[Bound, Any, Any], Any]] = {}
_LOCK = threading.Lock()


def _torch_spike(bound: Bound, x: Any, key: Any) -> Any:
    from .adapters import torch as adapter

    return adapter.spike(x, bound, key)


def _jax_spike(bound: Bound, x: Any, key: Any) -> Any:
    from .adapters import jax as adapter

    return adapter.spike(x, bound, key)


def _cupy_spike(bound: Bound, x: Any, key: Any) -> Any:
    from .adapters import cupy as adapter

    return adapter.forward(bound, x, key=key)[0]


def _generic_spike(bound: Bound, x: Any, key: Any) -> Any:
    from ._evaluate import spike as generic

    return generic(bound, x, key=key)


def _choose(t: type) -> Callable[[Bound, Any, Any], Any]:
    root = t.__module__.split(".")[0]
    if root == "torch":
        return _torch_spike
    if root in ("jax", "jaxlib"):
        return _jax_spike
    if root == "cupy":
        return _cupy_spike
    return _generic_spike


def binding_for(x: Any) -> Callable[[Bound, Any, Any], Any]:
    """The spike function for arrays of ``x``'s type (cached per type)."""
    t = type(x)
    fn = _BY_TYPE.get(t)
    if fn is None:
        fn = _choose(t)
        with _LOCK:
            _BY_TYPE[t] = fn
    return fn


def spike(bound: Bound, x: Any, *, key: Any = None) -> Any:
    """Spike of ``x`` through the binding of its framework."""
    return binding_for(x)(bound, x, key)


def multistep(bound: Any, x: Any) -> Any:
    """Output sequence of a multi-step surrogate through the binding of ``x``'s
    framework (the reference engine for other arrays)."""
    root = type(x).__module__.split(".")[0]
    if root == "torch":
        from .adapters import torch_multistep as adapter
    elif root in ("jax", "jaxlib"):
        from .adapters import jax_multistep as adapter  # type: ignore[no-redef]
    elif root == "cupy":
        from .adapters import cupy_multistep

        return cupy_multistep.forward(bound, x)
    else:
        return bound.forward(x)
    return adapter.apply(bound, x)
