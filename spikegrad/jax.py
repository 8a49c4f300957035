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

import jax.numpy as jnp
import numpy as np

from . import _constrain
from ._arrays import param_text
from ._evaluate import check_param_shapes
from ._frontend import named_functions, resolve, resolve_multistep
from ._multistep import MultiStepBound, MultiStepEntry
from ._spec import Bound, Entry
from .adapters import jax as _adapter
from .adapters import jax_multistep as _multistep_adapter

__all__ = [
    "MultiStep",
    "Surrogate",
    "atan",
    "dspike",
    "dsr_if",
    "dsr_lif",
    "erf",
    "fake_numerical_gradient",
    "fast_sigmoid",
    "function",
    "gaussian",
    "heavi_circ",
    "heaviside_window",
    "leaky_k_relu",
    "leaky_spike_operator",
    "log_tailed_relu",
    "multi_gaussian",
    "multi_level_spike_count",
    "multistep",
    "nonzero_sign_log_abs",
    "periodic_exponential",
    "piecewise_exp",
    "piecewise_leaky_relu",
    "piecewise_quadratic",
    "poisson_pass",
    "q_pseudo_spike",
    "rect",
    "s2nn",
    "sigmoid",
    "sign_triangular",
    "soft_sign",
    "sparse_fast_sigmoid",
    "spike",
    "spike_rate_escape",
    "squarewave_fourier_series",
    "stochastic_spike_operator",
    "straight_through",
    "super_spike",
    "tanh",
    "triangle",
]


#: This front end's name, as errors name its calls.
_FRONT = "spikegrad.jax"


def function(name_or_bound: str | Bound, **params: Any) -> Any:
    """The ``custom_jvp`` function ``f(x, key)`` of a surrogate."""
    return _adapter.function_for(resolve(name_or_bound, params, front=_FRONT))


def spike(x: Any, name_or_bound: str | Bound | Entry, /, *, key: Any = None,
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
        Surrogate parameters: Python numbers, or jax arrays / tracers (0-d or
        broadcasting against ``x``) that receive ``Σ G ∂g/∂θ`` under ``jax.grad``.

    Raises
    ------
    ValueError
        For a multi-step surrogate (``"dsr_if"``), which acts on a whole ``[T, ...]``
        sequence: the message names ``spikegrad.jax.multistep``.
    """
    return _adapter.spike(resolve(name_or_bound, params, front=_FRONT), x, key)


@jax.tree_util.register_pytree_node_class
class Surrogate:
    """A surrogate spike as a callable object (``Surrogate("braintools:Arctan")(x)``).

    A pytree: its array parameters (``Surrogate("atan", alpha=jnp.asarray(2.0))``) are
    leaves, so it goes inside flax/equinox/brainstate modules and through ``jit``, ``grad``
    and ``vmap``, and a gradient with respect to the object holds ``Σ G ∂g/∂θ`` per
    parameter.  ``spiking=False`` returns the primitive ``g(x)`` instead of the spike.

    ``constrain=`` keeps the array parameters inside their domains under an optimizer:
    ``None`` (default) checks their values at each call where they are concrete (outside
    ``jit``) and raises ``ValueError`` naming the parameter and its domain; ``"clamp"``
    reads the leaf clipped to the domain; ``"softplus"`` stores an unconstrained leaf and
    maps it smoothly onto the domain (``low + softplus(leaf)``), so the leaves (and a
    gradient with respect to the object) are the unconstrained values and
    :attr:`values` the parameters.
    """

    def __init__(self, name: str | Bound | Entry, spiking: bool = True, *, key: Any = None,
                 constrain: str | None = None, **params: Any) -> None:
        bound = resolve(name, params, front=_FRONT)
        self.spiking = spiking
        self.key = key
        if not spiking and not bound.has_primitive:
            raise ValueError(f"{bound.name} has no primitive: spiking=False is not "
                             "available for it")
        _constrain.check_name(f"Surrogate({bound.name!r})", constrain)
        if constrain is not None and not bound.array_values:
            raise ValueError(f"Surrogate({bound.name!r}): constrain={constrain!r} with no "
                             "array parameter to keep in its domain; give the parameters "
                             "as arrays (alpha=jnp.asarray(2.0))")
        # the static part (definition, number parameters, constraint) and the leaves
        # (array parameters, unconstrained where constrain= maps them)
        self._static = _adapter._Static(bound)
        self._constrain = constrain
        domains = {p.name: p.domain for p in bound.entry.params}
        self._leaves = tuple(
            v if constrain is None else jnp.asarray(
                _constrain.invert(constrain, domains[n], _concrete(n, v)), dtype=v.dtype)
            for n, v in zip(self._static.names, bound.array_values, strict=True))

    @property
    def values(self) -> tuple[Any, ...]:
        """The array parameters' values (the leaves through ``constrain=``), in the order
        of the leaves."""
        if self._constrain is None:
            return tuple(self._leaves)
        domains = {p.name: p.domain for p in self._static.entry.params}
        return tuple(_constrain.apply(self._constrain, domains[n], jnp.asarray(v), jnp)
                     for n, v in zip(self._static.names, self._leaves, strict=True))

    @property
    def bound(self) -> Bound:
        """The bound surrogate with the object's current parameter values."""
        return self._static.bound(self.values)

    def __call__(self, x: Any, key: Any = None) -> jax.Array:
        key = key if key is not None else self.key
        bound = self.bound
        if self._leaves:  # leaves an update changed (concrete CPU values: free to read)
            bound.check_array_values("Surrogate parameters at this call")
        if self.spiking:
            return _adapter.spike(bound, x, key)
        x = _adapter.check_array(x)
        check_param_shapes(bound, x.shape)
        return _adapter.primitive(bound, x)

    def tree_flatten(self) -> tuple[tuple[Any, ...], Any]:
        # leaves as they are: jax's tree utilities may put placeholders (None, axis
        # specs) in them, so nothing is bound or converted here
        return self._leaves, (self._static, self.spiking, self.key, self._constrain)

    @classmethod
    def tree_unflatten(cls, aux: Any, children: tuple[Any, ...]) -> Surrogate:
        obj = object.__new__(cls)
        obj._static, obj.spiking, obj.key, obj._constrain = aux
        obj._leaves = tuple(children)
        return obj

    def __repr__(self) -> str:
        """The name and every parameter's value (an array leaf of more than 0 dimensions,
        or a tracer, by its shape), and ``spiking=False`` where set."""
        shown = "".join(f", {k}={param_text(v)}" for k, v in self.bound.param_items)
        spiking = "" if self.spiking else ", spiking=False"
        constrain = "" if self._constrain is None else f", constrain={self._constrain!r}"
        return (f"spikegrad.jax.Surrogate({self._static.entry.name!r}{shown}{spiking}"
                f"{constrain})")

    def __hash__(self) -> int:
        return hash((self.bound, self.spiking))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Surrogate) and other.bound == self.bound
                and other.spiking == self.spiking)


def _concrete(name: str, value: Any) -> np.ndarray:
    """``value`` on the host, for ``constrain=``'s inverse map; a traced value has none."""
    try:
        return np.asarray(value)
    except jax.errors.TracerArrayConversionError:
        raise TypeError(f"constrain= maps the initial value of {name} on the host; inside "
                        "jit it is traced: build the Surrogate outside jit (it is a pytree, "
                        "pass it in)") from None


def _multistep_bound(name: str | MultiStepEntry | MultiStepBound,
                     params: dict[str, Any]) -> MultiStepBound:
    return resolve_multistep(name, params, "spikegrad.jax")


def multistep(x_seq: Any, name: str | MultiStepEntry | MultiStepBound, /,
              **params: Any) -> jax.Array:
    """Output sequence of a multi-step surrogate for ``x_seq`` (``[T, ...]``, time first),
    differentiable in ``x_seq`` and in an array ``v_threshold`` (``jax.grad``)."""
    return _multistep_adapter.apply(_multistep_bound(name, params), x_seq)


def dsr_if(x_seq: Any, **params: Any) -> jax.Array:
    """DSR-IF output sequence (``spikegrad show dsr_if``)."""
    return multistep(x_seq, "dsr_if", **params)


def dsr_lif(x_seq: Any, **params: Any) -> jax.Array:
    """DSR-LIF output sequence (``spikegrad show dsr_lif``)."""
    return multistep(x_seq, "dsr_lif", **params)


@jax.tree_util.register_pytree_node_class
class MultiStep:
    """A multi-step surrogate layer as a callable pytree: ``MultiStep("dsr_if",
    v_threshold=jnp.asarray(6.0))(x_seq)``.  The threshold is its one leaf, so
    ``jax.grad`` with respect to the object gives the threshold gradient."""

    def __init__(self, name: str | MultiStepEntry | MultiStepBound, **params: Any) -> None:
        bound = _multistep_bound(name, params)
        self._static = _multistep_adapter._Static(bound)
        self.v_threshold = bound.params["v_threshold"]

    @property
    def bound(self) -> MultiStepBound:
        items = tuple((k, self.v_threshold if k == "v_threshold" else v)
                      for k, v in self._static.items)
        return MultiStepBound(self._static.entry, items)

    def __call__(self, x_seq: Any) -> jax.Array:
        bound = self.bound
        bound.check_array_values("MultiStep parameters at this call")
        return _multistep_adapter.apply(bound, x_seq)

    def tree_flatten(self) -> tuple[tuple[Any, ...], Any]:
        return (self.v_threshold,), self._static

    @classmethod
    def tree_unflatten(cls, aux: Any, children: tuple[Any, ...]) -> MultiStep:
        obj = object.__new__(cls)
        obj._static = aux
        (obj.v_threshold,) = children
        return obj

    def __repr__(self) -> str:
        """The name and every parameter's value (the threshold by its value when 0-d and
        concrete)."""
        bound = self.bound
        shown = "".join(f", {k}={param_text(v)}" for k, v in bound.param_items)
        return f"spikegrad.jax.MultiStep({bound.entry.name!r}{shown})"


# One function per canonical surrogate, ``fn(x, /, *, key=None, **params)``, written out
# so that type checkers see them (tests/test_frontends.py checks them against the
# catalogue).
_named = named_functions(_adapter.spike)
sigmoid = _named["sigmoid"]
tanh = _named["tanh"]
atan = _named["atan"]
piecewise_quadratic = _named["piecewise_quadratic"]
triangle = _named["triangle"]
piecewise_exp = _named["piecewise_exp"]
soft_sign = _named["soft_sign"]
fast_sigmoid = _named["fast_sigmoid"]
super_spike = _named["super_spike"]
erf = _named["erf"]
gaussian = _named["gaussian"]
multi_gaussian = _named["multi_gaussian"]
q_pseudo_spike = _named["q_pseudo_spike"]
dspike = _named["dspike"]
rect = _named["rect"]
nonzero_sign_log_abs = _named["nonzero_sign_log_abs"]
piecewise_leaky_relu = _named["piecewise_leaky_relu"]
squarewave_fourier_series = _named["squarewave_fourier_series"]
s2nn = _named["s2nn"]
leaky_k_relu = _named["leaky_k_relu"]
log_tailed_relu = _named["log_tailed_relu"]
fake_numerical_gradient = _named["fake_numerical_gradient"]
straight_through = _named["straight_through"]
heaviside_window = _named["heaviside_window"]
spike_rate_escape = _named["spike_rate_escape"]
sparse_fast_sigmoid = _named["sparse_fast_sigmoid"]
stochastic_spike_operator = _named["stochastic_spike_operator"]
leaky_spike_operator = _named["leaky_spike_operator"]
sign_triangular = _named["sign_triangular"]
heavi_circ = _named["heavi_circ"]
periodic_exponential = _named["periodic_exponential"]
multi_level_spike_count = _named["multi_level_spike_count"]
poisson_pass = _named["poisson_pass"]
