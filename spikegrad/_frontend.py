"""What the framework front-ends (``spikegrad.torch``, ``spikegrad.jax``) share: name
resolution and the one-function-per-canonical-surrogate namespace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _registry
from ._spec import Bound

__all__ = ["named_functions", "resolve"]


def resolve(name_or_bound: str | Bound, params: dict[str, Any]) -> Bound:
    """A bound surrogate from a name and parameters, or a bound one passed through."""
    if isinstance(name_or_bound, Bound):
        if params:
            raise TypeError("pass parameters either to spikegrad.get or here, not both")
        return name_or_bound
    return _registry.get(name_or_bound, **params)


def named_functions(spike: Callable[[Any, Bound, Any], Any]) -> dict[str, Callable[..., Any]]:
    """``{name: fn}`` for every canonical surrogate, ``fn(x, *, key=None, **params)``.

    Bound surrogates are cached per parameter set, so after the first (eager) call a
    compiled caller finds them without tracing the registry.
    """

    def make(name: str) -> Callable[..., Any]:
        entry = _registry.entry(name)
        bound_by_params: dict[tuple[tuple[str, Any], ...], Bound] = {}

        def fn(x: Any, /, *, key: Any = None, **params: Any) -> Any:
            items = tuple(sorted(params.items()))
            bound = bound_by_params.get(items)
            if bound is None:
                bound = bound_by_params[items] = entry.bind(**params)
            return spike(x, bound, key)

        defaults = ", ".join(f"{p.name}={p.default!r}" for p in entry.params)
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = f"Spike with the {name} surrogate: {entry.summary}\n\nParameters: {defaults}."
        return fn

    return {name: make(name) for name in _registry.names()}
