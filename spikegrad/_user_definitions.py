"""The public way to write a surrogate once: :func:`define` a definition, then
:func:`~spikegrad.register` it under a namespaced name (or use it unregistered).

A definition is checked when it is made (:func:`check_definition`): its formulas run once
on a small probe array in float64 and float32, so a derivative of the wrong shape or
dtype, a non-finite value, a primitive whose slope is not the derivative, or a Python
``if`` on ``x`` fails at once with a ``ValueError`` naming the definition and the fix,
rather than being broadcast or failing with a framework's message later.  The formulas
are held wrapped (:class:`UserFormula`), so a Python ``if`` on a parameter given as an
array (a tensor, a traced value), which no probe with number defaults can see, raises a
``TypeError`` naming the definition and pointing to ``xp.where`` on every binding.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ._arrays import is_array_param
from ._evaluate import namespace_of
from ._spec import FORWARD_KINDS, Domain, Entry, Formula, Param

__all__ = ["UserFormula", "check_definition", "define", "is_bool_conversion",
           "python_if_hint"]

#: What frameworks raise when a Python ``if`` (``bool()``) meets an array of several
#: values, or a traced one: torch, numpy/cupy, ``torch.func`` transforms.
_BOOL_MESSAGES = (
    "Boolean value of Tensor with more than one value is ambiguous",
    "truth value of an array with more than one element is ambiguous",
    "data-dependent control flow",
)
#: jax's errors for ``bool()``, ``int()`` or ``float()`` of a traced value.
_BOOL_ERRORS = ("ConcretizationTypeError", "TracerBoolConversionError",
                "TracerIntegerConversionError")


def is_bool_conversion(exc: BaseException) -> bool:
    """Whether ``exc`` is a framework's refusal to turn an array into one Python value
    (a Python ``if`` on an array of several values, or on a traced one)."""
    if any(c.__name__ in _BOOL_ERRORS for c in type(exc).__mro__):
        return True
    text = str(exc)
    return any(m in text for m in _BOOL_MESSAGES)


def python_if_hint(name: str, what: str, params: Mapping[str, Any]) -> str:
    """The message for a Python ``if`` on an array value in ``name``'s formula ``what``
    (``params``: the keyword arguments it was called with)."""
    arrays = [k for k, v in params.items() if k != "xp" and is_array_param(v)]
    given = (f" (array parameters here: {', '.join(arrays)})" if arrays else "")
    return (f"{name}: {what} uses a Python `if` (or bool(), float()) on an array value{given}: "
            "parameters may be arrays (tensors, traced values) and x always is, so there is "
            "no single truth value; select with xp.where instead of Python `if` on "
            "parameters or x, e.g. xp.where(a > 1.0, f(x), g(x)), evaluating both branches")


class UserFormula:
    """A user's formula function, called as written; a Python ``if`` on an array value
    inside it re-raises the framework's error (chained) as a ``TypeError`` naming the
    definition and pointing to ``xp.where``.

    Parameters
    ----------
    fn : callable
        The formula, ``fn(x, /, *, xp, **params)``.
    definition : str
        Name of the definition (shown in the error).
    what : {"derivative", "primitive"}
        Which formula ``fn`` is.

    Notes
    -----
    It looks like ``fn`` to introspection (:func:`functools.update_wrapper`: name, module,
    signature) and pickles as ``fn`` does (by reference for a module-level function).
    """

    def __init__(self, fn: Callable[..., Any], definition: str, what: str) -> None:
        self.fn = fn
        self.definition = definition
        self.what = what
        functools.update_wrapper(self, fn)

    def __call__(self, x: Any, /, **params: Any) -> Any:
        try:
            return self.fn(x, **params)
        except (TypeError, ValueError, RuntimeError) as exc:
            if not is_bool_conversion(exc):
                raise
            raise TypeError(python_if_hint(self.definition, self.what, params)) from exc

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (UserFormula, (self.fn, self.definition, self.what))

    def __repr__(self) -> str:
        return f"<{self.what} of {self.definition!r}: {self.fn!r}>"


def _unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn.fn if isinstance(fn, UserFormula) else fn


# -- the probe -------------------------------------------------------------------------------
#: Probe points, in units of the definition's width (``1 / x_scale``): 33 points over
#: ``[-4, 4]``, 0 included.
_PROBE = np.linspace(-4.0, 4.0, 33)
#: Where the primitive's slope is compared with the derivative: the probe moved off the
#: simple fractions (0, ±1/4, ±1/2, ±1, ...) where piecewise formulas have their kinks.
_SLOPE_AT = _PROBE + 0.0371
#: Central-difference steps (in units of the width); a point where the two disagree is
#: near a kink and is not judged.
_STEPS = (1e-3, 1e-4)
#: A mismatch is clear (a factor or a sign, not rounding or a kink) when it exceeds both
#: this fraction of the larger value and :data:`_ABS` of the largest value of ``|g'|``.
_REL, _ABS = 0.25, 0.05

_SHAPE_FIX = "return an array of x's shape, e.g. xp.full_like(x, c) or c * xp.ones_like(x)"
_DTYPE_FIX = ("keep x's dtype: write constants as Python numbers (2.0 * x) or "
              "xp.asarray(c, dtype=x.dtype), and cast comparisons with xp.astype(c, x.dtype)")
_BROADCAST_FIX = ("a formula is elementwise: build arrays from x (xp.ones_like(x), "
                  "xp.full_like(x, c)), never of a fixed length")
_FINITE_FIX = ("with its parameters in their domains every finite x must give a finite "
               "value: guard divisions and overflow with xp.where (evaluating the branch not "
               "taken on safe inputs)")


def _show(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items()
                     if not is_array_param(v)) or "none"


def _call(label: str, what: str, fn: Callable[..., Any], x: np.ndarray,
          kwargs: Mapping[str, Any]) -> Any:
    """``fn(x, xp=numpy, **kwargs)``; any error is re-raised (chained) as a
    ``ValueError`` naming the definition and the probe."""
    xp = namespace_of(x)
    try:
        with np.errstate(all="ignore"):
            return fn(x, xp=xp, **kwargs)
    except Exception as exc:  # a user's formula may raise anything: name it, chain it
        if is_bool_conversion(exc):
            raise ValueError(python_if_hint(label, what, kwargs)) from exc
        text = str(exc).strip()
        fix = f"; {_BROADCAST_FIX}" if "broadcast" in text else ""
        raise ValueError(f"{label}: {what} raised {type(exc).__name__} on a probe x of shape "
                         f"{x.shape}, {x.dtype} (parameters {_show(kwargs)}): {text}{fix}"
                         ) from exc


def _check_output(label: str, what: str, x: np.ndarray, out: Any,
                  params: Mapping[str, Any]) -> np.ndarray:
    if not (hasattr(out, "shape") and hasattr(out, "dtype")):
        raise ValueError(f"{label}: {what} returned a {type(out).__name__}, not an array, for "
                         f"input shape {x.shape}; {_SHAPE_FIX}")
    if tuple(out.shape) != x.shape:
        raise ValueError(f"{label}: {what} returned shape {tuple(out.shape)} for input shape "
                         f"{x.shape}; {_SHAPE_FIX}")
    if out.dtype != x.dtype:
        raise ValueError(f"{label}: {what} returned {out.dtype} for {x.dtype} input; "
                         f"{_DTYPE_FIX}")
    values = np.asarray(out)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{label}: {what} returned {float(values[i])!r} at x = "
                         f"{float(x[i]):g} ({x.dtype}, parameters {_show(params)}); "
                         f"{_FINITE_FIX}")
    return values


def _check_slope(label: str, e: Entry, width: float, kwargs: Mapping[str, Any],
                 params: Mapping[str, Any]) -> None:
    """The primitive's central-difference slope against the derivative, in float64, at
    points away from kinks; only a clear mismatch fails."""
    formula = e.formula
    assert formula.primitive is not None
    g = _unwrapped(formula.primitive)
    x = _SLOPE_AT * width
    dg = np.asarray(_call(label, "derivative", _unwrapped(formula.derivative), x, kwargs),
                    dtype=np.float64)
    slopes = []
    for step in _STEPS:
        h = step * width
        hi = np.asarray(_call(label, "primitive", g, x + h, kwargs), dtype=np.float64)
        lo = np.asarray(_call(label, "primitive", g, x - h, kwargs), dtype=np.float64)
        slopes.append((hi - lo) / (2.0 * h))
    coarse, fd = slopes
    with np.errstate(invalid="ignore"):
        peak = float(np.nanmax(np.abs(np.concatenate([dg, fd]))))
        if not (np.isfinite(peak) and peak > 0.0):
            return
        trusted = np.abs(coarse - fd) <= 1e-4 * peak + 1e-3 * np.abs(fd)
        gap = np.abs(fd - dg)
        clear = ((gap > _REL * np.maximum(np.abs(fd), np.abs(dg))) & (gap > _ABS * peak)
                 & trusted)
    if clear.any():
        i = int(np.argmax(np.where(clear, gap, -1.0)))  # the largest clear mismatch
        raise ValueError(
            f"{label}: derivative is not d/dx of primitive at x = {float(x[i]):.6g} "
            f"(parameters {_show(params)}): the derivative gives {float(dg[i]):.6g}, the "
            f"primitive's slope is {float(fd[i]):.6g} (central difference); a factor or a "
            "sign is off in one of them (or leave primitive out)")


def check_definition(e: Entry) -> None:
    """Evaluate ``e``'s formulas once on a small probe array, in float64 and float32,
    with its default parameter values, and raise on what would be silently wrong later.

    The probe is 33 points over ``[-4, 4]`` widths (0 included).  The derivative (and
    the primitive, where given) must return an array of ``x``'s shape and dtype, finite
    everywhere (the defaults lie in the parameters' domains), and the derivative must
    agree with the primitive's central-difference slope (float64, at points away from
    kinks; only a clear mismatch, such as a factor or a sign, fails: the conformance
    suite's self-consistency check measures the rest).

    Parameters
    ----------
    e : Entry
        The definition (a user's, or a built-in: the tests run every built-in through
        it as a guard against false positives).

    Raises
    ------
    ValueError
        Naming the definition (``define('name')`` for a user's), what failed, and the fix.
    """
    label = f"define({e.name!r})" if e.user else e.name
    params = e.defaults()
    kwargs, _ = e.map_params(params)
    formula = e.formula
    try:
        width = 1.0 / float(e.x_scale(params))
    except (ArithmeticError, TypeError, ValueError):
        width = 1.0
    if not (np.isfinite(width) and width > 0.0):
        width = 1.0
    fns = [("derivative", _unwrapped(formula.derivative))]
    if formula.primitive is not None:
        fns.append(("primitive", _unwrapped(formula.primitive)))
    for dtype in (np.float64, np.float32):
        x = (_PROBE * width).astype(dtype)
        for what, fn in fns:
            extra: dict[str, Any] = {}
            if what == "derivative" and formula.stochastic_backward:
                extra["noise"] = np.random.default_rng(0).random(x.shape).astype(dtype)
            _check_output(label, what, x, _call(label, what, fn, x, {**kwargs, **extra}),
                          params)
    if formula.primitive is not None and not formula.stochastic_backward:
        _check_slope(label, e, width, kwargs, params)


def _params(params: Iterable[Param] | Mapping[str, Any]) -> tuple[Param, ...]:
    if isinstance(params, Mapping):
        return tuple(Param(k, float(v), Domain.real(), "") for k, v in params.items())
    out = tuple(params)
    for p in out:
        if not isinstance(p, Param):
            raise TypeError(f"params must be spikegrad.Param objects (or a dict of "
                            f"defaults), got {p!r}")
    return out


def _check_signature(fn: Callable[..., Any], what: str, names: set[str], name: str) -> None:
    if not callable(fn):
        raise TypeError(f"{name}: {what} must be a function f(x, /, *, xp, **params), got "
                        f"{fn!r}")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    kw = {p.name for p in sig.parameters.values()
          if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    has_var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    if "xp" not in kw and not has_var_kw:
        raise TypeError(f"{name}: {what} must take the array namespace as keyword `xp`")
    missing = names - kw
    if missing and not has_var_kw:
        raise TypeError(f"{name}: {what} does not take parameter(s) {sorted(missing)}")


def define(
    name: str,
    derivative: Callable[..., Any],
    *,
    primitive: Callable[..., Any] | None = None,
    params: Iterable[Param] | Mapping[str, Any] = (),
    summary: str = "",
    latex_derivative: str = "",
    latex_primitive: str = "",
    references: Iterable[str] = (),
    forward: str = "ge",
    boundary: str = "",
    limits: str = "",
    notes: str = "",
    monotone: bool = True,
    sign_changing: bool = False,
    peak_at: Callable[[Mapping[str, Any]], tuple[float, ...]] | None = None,
    version: int = 1,
) -> Entry:
    """A surrogate definition written once, as array-API functions.

    Parameters
    ----------
    name : str
        ``"namespace:name"`` (e.g. ``"mylab:cosine"``); the namespace is yours, so the name
        never shadows a built-in.
    derivative : callable
        ``derivative(x, /, *, xp, **params) -> g'(x)``, elementwise, using only the array
        API namespace ``xp`` (and :mod:`spikegrad.special` for functions outside it).
        Parameters may arrive as Python numbers or as arrays (tensors, traced values)
        that broadcast against ``x``: use ``xp`` functions and ``where`` selects, never a
        Python ``if`` on a parameter's value.
    primitive : callable, optional
        ``primitive(x, /, *, xp, **params) -> g(x)`` with ``g' = dg/dx``; needed for
        parameter gradients (``∂L/∂θ = Σ G ∂g/∂θ``) and ``spiking=False``.
    params : sequence of Param, or dict
        The parameters with defaults and domains (a dict ``{name: default}`` gives real
        parameters with no bounds).
    summary, latex_derivative, latex_primitive, references, boundary, limits, notes : str
        Documentation shown by ``spikegrad show``; references are free text (or keys of
        the built-in bibliography).
    forward : {"ge", "gt"}
        The spike convention: ``x >= 0`` (default) or ``x > 0``.
    monotone, sign_changing : bool
        Shape facts the conformance suite checks.
    peak_at : callable, optional
        ``peak_at(params) -> points`` where ``|g'|`` peaks (default ``(0.0,)``).
    version : int
        Bump it whenever the math changes.

    Returns
    -------
    Entry
        The definition: bind it with ``.bind(**params)`` or ``spikegrad.get(entry)``, or
        register it with :func:`spikegrad.register` to find it by name.

    Raises
    ------
    ValueError
        If the formulas fail the probe (:func:`check_definition`): evaluated once
        with the default parameters on 33 points over ``[-4, 4]`` in float64 and float32,
        each must return an array of ``x``'s shape and dtype, finite everywhere, with no
        Python ``if`` on ``x``; the derivative must agree with the primitive's slope (a
        factor or a sign off fails).  The message names the definition and the fix,
        e.g. ``define('mylab:k'): derivative returned shape () for input shape (33,);
        return an array of x's shape, e.g. xp.full_like(x, c) or c * xp.ones_like(x)``.
    TypeError
        For a formula that is not a function of ``x`` with keywords ``xp`` and the
        parameters.

    Notes
    -----
    A registered definition pickles by name; the module that defines it is recorded
    (``entry.extra["module"]``), so a process that unpickles it without having
    registered it is told which module to import.  A Python ``if`` on a parameter given
    as an array (a tensor, a traced value) raises ``TypeError`` naming the definition
    and pointing to ``xp.where``, on every binding.

    Examples
    --------
    >>> import spikegrad
    >>> def dg(x, /, *, xp, a):
    ...     return a / (2.0 * xp.cosh(a * x) ** 2)
    >>> def g(x, /, *, xp, a):
    ...     return 0.5 * (1.0 + xp.tanh(a * x))
    >>> sech2 = spikegrad.define("doc:sech2", dg, primitive=g,
    ...                          params=[spikegrad.Param("a", 2.0, spikegrad.Domain.positive(),
    ...                                                  "Slope.")])
    >>> float(sech2.bind(a=2.0).derivative(__import__("numpy").array([0.0]))[0])
    1.0
    """
    if not isinstance(name, str) or ":" not in name:
        raise ValueError(f"a user surrogate is named 'namespace:name', got {name!r}")
    if forward not in ("ge", "gt"):
        allowed = ", ".join(k for k in FORWARD_KINDS if k in ("ge", "gt"))
        raise ValueError(f"{name}: forward must be one of {allowed}, got {forward!r}")
    ps = _params(params)
    names = {p.name for p in ps}
    _check_signature(derivative, "derivative", names, name)
    if primitive is not None:
        _check_signature(primitive, "primitive", names, name)
    library, _, local = name.partition(":")
    formula = Formula(name, UserFormula(derivative, name, "derivative"),
                      None if primitive is None else UserFormula(primitive, name, "primitive"),
                      version=int(version))
    fields: dict[str, Any] = {}
    if peak_at is not None:
        fields["peak_at"] = peak_at
    # the module to import (and register from) where the definition is unpickled by name
    module = getattr(getattr(derivative, "func", derivative), "__module__", None)  # partial
    e = Entry(name=name, canonical=name, params=ps, formula=formula, summary=summary,
              latex_derivative=latex_derivative, latex_primitive=latex_primitive,
              library=library, library_name=local, forward=forward, boundary=boundary,
              references=tuple(references), notes=notes, monotone=monotone,
              sign_changing=sign_changing, limits=limits, user=True,
              extra={"module": module} if module else {}, **fields)
    check_definition(e)
    return e
