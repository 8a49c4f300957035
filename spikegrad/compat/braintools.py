"""braintools' surrogate API (``braintools.surrogate``; also brainstate's) over spikegrad's
definitions.

``from spikegrad.compat import braintools`` and then ``braintools.surrogate``-style
``Sigmoid(alpha=4.0)(x)``, ``.surrogate_fun(x)``, ``.surrogate_grad(x)`` and the
functional forms ``sigmoid(x, alpha=4.0)``; each is computed by the alias
``braintools:<Name>`` (``spikegrad show braintools:Sigmoid``) with the jax binding, so
parameters may be traced (``jax.grad`` / ``brainstate.transform.vector_grad`` with respect
to ``alpha``), and everything works under ``jit``/``vmap``.

Differences kept on purpose: where braintools has a catalogued bug (its ``QPseudoSpike``
and ``GaussianGrad`` parametrisations are kept as its aliases define them) the alias
gives the documented math; the spike is ``1[x >= 0]`` in ``x``'s dtype.
"""

from __future__ import annotations

from typing import Any

import jax

from .. import _registry
from ..adapters import jax as _adapter
from . import _signature as _sig
from ._bound import bound as _bound

#: class name -> functional name, in braintools' order
_NAMES = {
    "Sigmoid": "sigmoid", "PiecewiseQuadratic": "piecewise_quadratic",
    "PiecewiseExp": "piecewise_exp", "SoftSign": "soft_sign", "Arctan": "arctan",
    "NonzeroSignLog": "nonzero_sign_log", "ERF": "erf",
    "PiecewiseLeakyRelu": "piecewise_leaky_relu",
    "SquarewaveFourierSeries": "squarewave_fourier_series", "S2NN": "s2nn",
    "QPseudoSpike": "q_pseudo_spike", "LeakyRelu": "leaky_relu",
    "LogTailedRelu": "log_tailed_relu", "ReluGrad": "relu_grad",
    "GaussianGrad": "gaussian_grad", "MultiGaussianGrad": "multi_gaussian_grad",
    "InvSquareGrad": "inv_square_grad", "SlayerGrad": "slayer_grad",
}
_LIBRARY = "braintools"
#: where braintools prints parameters in another order than its constructor takes them
_REPR_ORDER = {"GaussianGrad": ("alpha", "sigma")}

__all__ = ["Surrogate", *_NAMES, *_NAMES.values()]

class Surrogate:
    """Base of the surrogate objects: ``obj(x)`` is the spike with the surrogate
    gradient, ``surrogate_fun(x)`` the primitive ``g(x)``, ``surrogate_grad(x)`` ``g'(x)``;
    parameters are attributes read at call time (numbers or jax arrays / tracers)."""

    _alias = ""
    _param_names: tuple[str, ...] = ()

    def _values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names}

    def __call__(self, x: jax.Array) -> jax.Array:
        return _adapter.spike(_bound(self._alias, self._values()), x)

    def surrogate_fun(self, x: jax.Array) -> jax.Array:
        return _adapter.primitive(_bound(self._alias, self._values()),
                                  _adapter.check_array(x))

    def surrogate_grad(self, x: jax.Array) -> jax.Array:
        return _adapter.derivative(_bound(self._alias, self._values()),
                                   _adapter.check_array(x))

    def __repr__(self) -> str:
        values = self._values()
        order = _REPR_ORDER.get(type(self).__name__, tuple(values))
        inner = ", ".join(f"{k}={values[k]}" for k in order)
        return f"{type(self).__name__}({inner})"

    def __hash__(self) -> int:
        return hash((type(self), *(_key(v) for v in self._values().values())))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            _key(a) == _key(b) for a, b in zip(self._values().values(),
                                               other._values().values(), strict=True))


def _key(v: Any) -> Any:
    return ("array", id(v)) if hasattr(v, "shape") else v


def _make(cls_name: str, fn_name: str, library: str) -> tuple[type, Any]:
    alias = f"{library}:{cls_name}"
    entry = _registry.entry(alias)
    names = tuple(p.name for p in entry.params)
    defaults = [p.default for p in entry.params]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        given = dict(zip(names, args, strict=False))
        unknown = set(kwargs) - set(names)
        if unknown:
            raise TypeError(f"{cls_name}() got unexpected arguments {sorted(unknown)}")
        given.update(kwargs)
        for n, d in zip(names, defaults, strict=True):
            setattr(self, n, given.get(n, d))
        _bound(alias, self._values())  # validates: ValueError naming the parameter

    __init__.__signature__ = _sig.signature(list(names), defaults, ("self",))  # type: ignore[attr-defined]
    cls = type(cls_name, (Surrogate,), {
        "__init__": __init__, "_alias": alias, "_param_names": names, "__module__": __name__,
        "__doc__": f"braintools' ``{cls_name}`` over spikegrad's ``{alias}`` "
                   f"(``spikegrad show {alias}``)."})

    def functional(x: jax.Array, *args: Any, **kwargs: Any) -> jax.Array:
        return cls(*args, **kwargs)(x)

    functional.__name__ = functional.__qualname__ = fn_name
    functional.__doc__ = f"``{cls_name}(...)(x)``: the spike with ``{alias}``'s gradient."
    functional.__signature__ = _sig.signature(list(names), defaults, ("x",))  # type: ignore[attr-defined]
    return cls, functional


for _cls, _fn in _NAMES.items():
    globals()[_cls], globals()[_fn] = _make(_cls, _fn, _LIBRARY)
del _cls, _fn
