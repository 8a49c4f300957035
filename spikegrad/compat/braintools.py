"""braintools' surrogate API (``braintools.surrogate``; also brainstate's) over spikegrad's
definitions, with the semantics of braintools 0.4, its newest release.

``from spikegrad.compat import braintools`` and then ``braintools.surrogate``-style
``Sigmoid(alpha=4.0)(x)``, ``.surrogate_fun(x)``, ``.surrogate_grad(x)`` and the
functional forms ``sigmoid(x, alpha=4.0)``; each is computed by the alias
``braintools:<Name>`` (``spikegrad show braintools:Sigmoid``) with the jax binding, so
parameters may be traced (``jax.grad`` / ``brainstate.transform.vector_grad`` with respect
to ``alpha``), and everything works under ``jit``/``vmap``.

As braintools 0.4 defines them:

* **Derivatives.**  ``obj(x)`` is the step ``1[x >= 0]`` whose derivative in ``x`` is
  ``surrogate_grad(x)``.  The step does not depend on the parameters, so its derivative
  with respect to a traced ``alpha`` is ``0``; ``surrogate_grad`` itself is an ordinary
  differentiable function of ``x`` and of the parameters, so the second derivative in
  ``x`` is ``g''(x)`` and the gradient of a gradient with respect to ``alpha`` is
  ``∂g'/∂alpha`` (a loss after unrolled training steps).  To give a width
  ``Σ G ∂g/∂θ`` through the spike instead (spikegrad's rule for learning it), use
  ``spikegrad.jax.Surrogate("braintools:Sigmoid", alpha=...)``.
* **Inputs.**  A Python number, a bool or an integer array is promoted to jax's default
  float dtype; float arrays keep their dtype.
* **Equality and hashing by value**: same class and equal attributes (arrays by
  identity), so equal surrogates passed as static arguments to ``jax.jit`` reuse the
  compiled function.
* **Your own surrogate**: subclass :class:`Surrogate` and define ``surrogate_grad`` (and,
  optionally, ``surrogate_fun``), as braintools documents.

braintools 0.3.0 differs from 0.4 in each of these (its bugs, fixed in 0.4): the spike's
derivative with respect to a parameter was ``Σ ∂g'/∂alpha``, the second derivative in
``x`` was ``0``, equal surrogates compared unequal, an integer input gave an integer spike
with no gradient and a bool input raised ``AttributeError``.

Differences kept on purpose: where braintools has a catalogued bug (its ``QPseudoSpike``
and ``GaussianGrad`` parametrisations are kept as its aliases define them) the alias
gives the documented math; the gradient-only surrogates (``ReluGrad``, ``GaussianGrad``,
``MultiGaussianGrad``, ``InvSquareGrad``, ``SlayerGrad``) have a ``surrogate_fun`` (the
primitive), where braintools raises ``NotImplementedError``; the spike is ``1[x >= 0]``
in ``x``'s dtype, decided on the bits of ``x``.  The private module
``braintools.surrogate._base`` is not mirrored: its public name, ``Surrogate``, is here,
and its jax primitive ``heaviside_p`` is braintools' implementation of the step, whose
derivatives this module gives with a ``jax.custom_jvp``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _registry
from .._evaluate import check_param_shapes
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
#: the step of every braintools and brainstate alias (``1[x >= 0]``; the jax adapter
#: decides it on the bits of ``x``), whatever the parameters
_STEP = _bound(f"{_LIBRARY}:Sigmoid", {})

__all__ = ["Surrogate", *_NAMES, *_NAMES.values()]


def _as_input(x: Any) -> jax.Array:
    """``x`` as braintools 0.4 takes it: a Python number, a bool or an integer array
    becomes jax's default float dtype (float32, or float64 with x64 on); a float array
    keeps its dtype; anything else raises the jax adapter's ``TypeError``."""
    if isinstance(x, (bool, int, float)):
        x = jnp.asarray(x)
    dtype = getattr(x, "dtype", None)
    if dtype is not None and (jnp.issubdtype(dtype, jnp.integer)
                              or jnp.issubdtype(dtype, jnp.bool_)):
        x = jnp.asarray(x).astype(jnp.result_type(float))
    return _adapter.check_array(x)


@jax.custom_jvp
def _spike(x: jax.Array, dx: jax.Array) -> jax.Array:
    """The step ``1[x >= 0]`` in ``x``'s dtype, whose derivative in ``x`` is ``dx``.

    Parameters
    ----------
    x : jax.Array
        A real floating input.
    dx : jax.Array
        The surrogate gradient at ``x`` (``surrogate_grad(x)``), broadcastable to ``x``.

    Returns
    -------
    jax.Array
        The spikes; their tangent is ``dx * ẋ``.  The tangent of ``dx`` is dropped (the
        step does not depend on it), and ``dx`` is an ordinary traced value, so
        differentiating the gradient again differentiates ``dx``.
    """
    return _adapter.spike(_STEP, x)


def _spike_jvp(primals: tuple[jax.Array, jax.Array], tangents: tuple[Any, Any]
               ) -> tuple[jax.Array, jax.Array]:
    x, dx = primals
    x_dot, _ = tangents
    out = _spike(x, dx)
    if isinstance(x_dot, jax.custom_derivatives.SymbolicZero):
        return out, jnp.zeros_like(out)
    tangent = dx * x_dot
    if tangent.shape != out.shape:
        tangent = jnp.broadcast_to(tangent, out.shape)
    return out, tangent if tangent.dtype == out.dtype else tangent.astype(out.dtype)


_spike.defjvp(_spike_jvp, symbolic_zeros=True)


class Surrogate:
    """Base of the surrogate objects, as braintools' ``Surrogate``.

    ``obj(x)`` is the spike ``1[x >= 0]`` with the surrogate gradient
    ``surrogate_grad(x)``; ``surrogate_fun(x)`` is the primitive ``g(x)`` and
    ``surrogate_grad(x)`` its derivative ``g'(x)``.  The built-in classes read their
    parameters from attributes at call time (numbers, or jax arrays and tracers); a
    subclass of your own defines ``surrogate_grad`` (and, optionally,
    ``surrogate_fun``), which this base raises ``NotImplementedError`` for.

    Objects compare equal when they are of the same class with equal attributes (arrays
    by identity), and hash accordingly.
    """

    #: the catalogue alias of a built-in class ("" for a subclass of your own)
    _alias = ""
    _param_names: tuple[str, ...] = ()

    def _values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names}

    def __call__(self, x: Any) -> jax.Array:
        """The spike of ``x`` (promoted as braintools 0.4 does) with the surrogate
        gradient ``surrogate_grad(x)``.

        Parameters
        ----------
        x : array_like
            The input: a jax or numpy array, or a Python number; a bool or integer input
            is promoted to jax's default float dtype.

        Returns
        -------
        jax.Array
            ``1[x >= 0]`` in ``x``'s (promoted) dtype.
        """
        x = _as_input(x)
        if self._alias:
            check_param_shapes(_bound(self._alias, self._values()), x.shape)
        return _spike(x, self.surrogate_grad(x))

    def surrogate_fun(self, x: Any) -> jax.Array:
        """The primitive ``g(x)`` (differentiable in ``x`` and in array parameters).

        Parameters
        ----------
        x : array_like
            The input, promoted as in :meth:`__call__`.

        Returns
        -------
        jax.Array
            ``g(x)`` in ``x``'s (promoted) dtype.

        Raises
        ------
        NotImplementedError
            On the base class (a subclass of your own defines it).
        """
        if not self._alias:
            raise NotImplementedError(
                f"{type(self).__name__} does not define surrogate_fun")
        return _adapter.primitive(_bound(self._alias, self._values()), _as_input(x))

    def surrogate_grad(self, x: Any) -> jax.Array:
        """The surrogate gradient ``g'(x)`` (differentiable in ``x`` and in array
        parameters: ``g''(x)``, ``∂g'/∂θ``).

        Parameters
        ----------
        x : array_like
            The input, promoted as in :meth:`__call__`.

        Returns
        -------
        jax.Array
            ``g'(x)`` in ``x``'s (promoted) dtype.

        Raises
        ------
        NotImplementedError
            On the base class (a subclass of your own defines it).
        """
        if not self._alias:
            raise NotImplementedError(
                f"{type(self).__name__} does not define surrogate_grad")
        return _adapter.derivative(_bound(self._alias, self._values()), _as_input(x))

    def __repr__(self) -> str:
        values = self._values() if self._alias else dict(vars(self))
        order = _REPR_ORDER.get(type(self).__name__, tuple(values))
        inner = ", ".join(f"{k}={values[k]}" for k in order)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        # as braintools 0.4: same class, same attribute names, and each attribute the same
        # object or equal as a plain bool (an array's elementwise == is not: arrays are
        # compared by identity)
        if type(self) is not type(other):
            return NotImplemented
        mine, theirs = vars(self), vars(other)
        if mine.keys() != theirs.keys():
            return False
        for key, a in mine.items():
            b = theirs[key]
            if a is b:
                continue
            try:
                same = a == b
            except (TypeError, ValueError):
                return False
            if not isinstance(same, (bool, np.bool_)) or not same:
                return False
        return True

    def __hash__(self) -> int:
        try:
            return hash((type(self), tuple(sorted(vars(self).items()))))
        except TypeError:  # an array (unhashable) attribute: hash the names only
            return hash((type(self), tuple(sorted(vars(self)))))


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
