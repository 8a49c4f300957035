"""spikegrad for JAX: spike functions with surrogate gradients (``jax.custom_jvp``).

>>> import jax, jax.numpy as jnp, spikegrad.jax as sgj
>>> x = jnp.linspace(-1, 1, 5)
>>> sgj.atan(x, alpha=2.0)                        # one function per canonical surrogate
>>> jax.grad(lambda v: sgj.spike(v, "braintools:Arctan").sum())(x)
>>> sg = sgj.Surrogate("braintools:Sigmoid")      # a callable, where braintools takes one

Works under jit, grad, vjp, jvp, jacfwd, jacrev, vmap, lax.scan/cond, checkpoint and
sharded jit / shard_map; x64 on or off.  Requires the ``jax`` extra.
"""

from __future__ import annotations

from typing import Any

try:
    import jax
except ImportError as exc:  # pragma: no cover - exercised without jax installed
    raise ImportError("spikegrad.jax needs JAX: pip install 'spikegrad[jax]'") from exc

from . import _registry
from ._frontend import named_functions, resolve
from ._spec import Bound
from .adapters import jax as _adapter

__all__ = ["Surrogate", "function", "spike", *_registry.names()]


def function(name_or_bound: str | Bound, **params: Any) -> Any:
    """The ``custom_jvp`` function ``f(x, key)`` of a surrogate."""
    return _adapter.function_for(resolve(name_or_bound, params))


def spike(x: Any, name_or_bound: str | Bound, /, *, key: Any = None,
          **params: Any) -> jax.Array:
    """Spike of ``x`` (in ``x``'s dtype) whose gradient is the surrogate's ``g'(x)``.

    Parameters
    ----------
    x : jax.Array
        Membrane potential minus threshold; real floating dtype.
    name_or_bound : str or Bound
        Canonical name, ``"library:Name"`` alias, or ``spikegrad.get(...)``.
    key : jax.random key, optional
        Random source for stochastic surrogates.
    **params
        Surrogate parameters (Python numbers).
    """
    return _adapter.spike(x, resolve(name_or_bound, params), key)


class Surrogate:
    """A surrogate spike as a callable object (``Surrogate("braintools:Arctan")(x)``).

    ``spiking=False`` returns the primitive ``g(x)`` instead of the spike.
    """

    def __init__(self, name: str | Bound, spiking: bool = True, **params: Any) -> None:
        self.bound = resolve(name, params)
        self.spiking = spiking
        if not spiking and not self.bound.has_primitive:
            raise ValueError(f"{self.bound.name} has no primitive: spiking=False is not "
                             "available for it")

    def __call__(self, x: Any, key: Any = None) -> jax.Array:
        if self.spiking:
            return _adapter.spike(x, self.bound, key)
        return _adapter.primitive(self.bound, _adapter.check_array(x))

    def __repr__(self) -> str:
        return f"spikegrad.jax.Surrogate({self.bound!r}, spiking={self.spiking})"

    def __hash__(self) -> int:
        return hash((self.bound, self.spiking))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Surrogate) and other.bound == self.bound
                and other.spiking == self.spiking)


globals().update(named_functions(_adapter.spike))
