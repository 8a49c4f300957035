"""The public way to write a surrogate once: :func:`define` a definition, then
:func:`~spikegrad.register` it under a namespaced name (or use it unregistered)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._spec import FORWARD_KINDS, Domain, Entry, Formula, Param

__all__ = ["define"]


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
    formula = Formula(name, derivative, primitive, version=int(version))
    fields: dict[str, Any] = {}
    if peak_at is not None:
        fields["peak_at"] = peak_at
    return Entry(name=name, canonical=name, params=ps, formula=formula, summary=summary,
                 latex_derivative=latex_derivative, latex_primitive=latex_primitive,
                 library=library, library_name=local, forward=forward, boundary=boundary,
                 references=tuple(references), notes=notes, monotone=monotone,
                 sign_changing=sign_changing, limits=limits, user=True, **fields)
