"""spyx's activation API (``spyx.axn``) over spikegrad's definitions.

The factories ``tanh(k=1)``, ``arctan(k=2)``, ``triangular(k=2)``, ``boxcar(width=2,
height=0.5)``, ``superspike(k=25)`` and ``abs_linear(dampening_factor=0.3)`` return
jit-compiled activations ``f(x)`` (the spike ``1[x > 0]`` with the alias ``spyx:<name>``'s
surrogate gradient, ``spikegrad show spyx:arctan``); ``heaviside`` and ``custom(bwd, fwd)``
are spyx's own plumbing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .. import _registry
from ..adapters import jax as _adapter
from . import _signature as _sig

_FACTORIES = ("tanh", "arctan", "triangular", "boxcar", "superspike", "abs_linear")

__all__ = ["custom", "heaviside", *_FACTORIES]


def heaviside(x: jax.Array) -> jax.Array:
    """``1[x > 0]`` in ``x``'s dtype (no surrogate gradient), as spyx's."""
    return jnp.where(x > 0, 1, 0).astype(x.dtype)


def custom(bwd: Callable[[jax.Array], jax.Array] = lambda x: x,
           fwd: Callable[[jax.Array], jax.Array] = lambda x: x) -> Callable[..., jax.Array]:
    """spyx's ``custom``: ``fwd(x)`` whose gradient is ``g * bwd(x)`` (for a surrogate
    written once for every framework, see :func:`spikegrad.define`)."""

    @jax.custom_gradient
    def f(x: jax.Array) -> Any:
        return fwd(x), lambda g: g * bwd(x)

    return jax.jit(f)


def _factory(name: str) -> Callable[..., Callable[[jax.Array], jax.Array]]:
    alias = f"spyx:{name}"
    entry = _registry.entry(alias)
    names = [p.name for p in entry.params]
    defaults = [p.default for p in entry.params]

    def factory(*args: Any, **kwargs: Any) -> Callable[[jax.Array], jax.Array]:
        values = dict(zip(names, defaults, strict=True))
        values.update(zip(names, args, strict=False))
        values.update(kwargs)
        bound = _registry.get(alias, **values)
        return jax.jit(lambda x: _adapter.spike(bound, x))

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"spyx's ``{name}`` over spikegrad's ``{alias}``."
    factory.__signature__ = _sig.signature(names, defaults)  # type: ignore[attr-defined]
    return factory


for _name in _FACTORIES:
    globals()[_name] = _factory(_name)
del _name
