"""The spec model: parameters, formulas, named entries and bound surrogates.

A *formula* holds the mathematics of a surrogate, written once against the array API:
its derivative ``g'`` and (where one exists) its primitive ``g``, as functions
``f(x, /, *, xp, **formula_params)``.  A *named entry* is what users ask for by name:
a canonical surrogate (``"atan"``) or a peer library's alias (``"snntorch:atan"``).  It
owns the user-facing parameters (names, defaults, domains) and maps them onto a formula's
parameters and an output scale, so a rescaling never restates the math.  A *bound*
surrogate is an entry with validated parameter values; it is frozen and hashable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "FORWARD_KINDS",
    "Bound",
    "Domain",
    "Entry",
    "Formula",
    "Param",
    "UnknownSurrogateError",
]

#: Forward conventions: Heaviside at ``x >= 0`` / ``x > 0``; Bernoulli draws with
#: probability ``x`` or ``g(x)``; or a formula-defined forward (``"formula"``).
FORWARD_KINDS = ("ge", "gt", "bernoulli_input", "bernoulli_primitive", "formula")


class UnknownSurrogateError(KeyError):
    """Raised by :func:`spikegrad.get` for a name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Domain:
    """The set of valid values of a parameter.

    Parameters
    ----------
    text : str
        The domain as printed in errors and docs, e.g. ``"> 0"``.
    check : callable
        ``check(value) -> bool``.
    kind : {"real", "int", "bool", "window"}
        The value type the parameter takes.
    """

    text: str
    check: Callable[[Any], bool]
    kind: str = "real"

    @staticmethod
    def positive() -> Domain:
        return Domain("> 0", lambda v: v > 0)

    @staticmethod
    def nonnegative() -> Domain:
        return Domain(">= 0", lambda v: v >= 0)

    @staticmethod
    def greater(bound: float) -> Domain:
        return Domain(f"> {bound:g}", lambda v: v > bound)

    @staticmethod
    def real() -> Domain:
        return Domain("any finite real", lambda v: True)

    @staticmethod
    def integer(minimum: int) -> Domain:
        return Domain(f"integer >= {minimum}", lambda v: v >= minimum, kind="int")

    @staticmethod
    def boolean() -> Domain:
        return Domain("True or False", lambda v: True, kind="bool")

    @staticmethod
    def window() -> Domain:
        return Domain(
            "None or a pair (low, high) of finite reals with low <= high",
            lambda v: v is None or v[0] <= v[1],
            kind="window",
        )


@dataclass(frozen=True)
class Param:
    """A user-facing parameter: name, default, domain and one sentence of meaning."""

    name: str
    default: Any
    domain: Domain
    doc: str

    def validate(self, owner: str, value: Any) -> Any:
        """Return ``value`` coerced to the parameter's type, or raise.

        Raises
        ------
        TypeError
            If the value has the wrong type (e.g. a string or an array).
        ValueError
            If the value lies outside the domain; the message names the surrogate,
            the parameter, the domain and the value.
        """
        kind = self.domain.kind
        where = f"{owner}: {self.name}"
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError(f"{where} must be True or False, got {value!r}")
            return value
        if kind == "window":
            if value is None:
                return None
            try:
                low, high = (float(v) for v in value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"{where} must be None or a pair (low, high), got {value!r}"
                ) from None
            if not (math.isfinite(low) and math.isfinite(high)) or not self.domain.check(
                (low, high)
            ):
                raise ValueError(f"{where} must be {self.domain.text}, got {value!r}")
            return (low, high)
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{where} must be a Python number, got bool")
        if not isinstance(value, (int, float)):
            # numpy scalars are accepted through __float__ below; arrays/tensors are not
            if not (hasattr(value, "__float__") and getattr(value, "ndim", 0) == 0):
                raise TypeError(
                    f"{where} must be a Python number, got {type(value).__name__}; "
                    "parameters are fixed hyper-parameters, not arrays"
                )
        if kind == "int":
            if float(value) != int(value):
                raise ValueError(f"{where} must be {self.domain.text}, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where} must be {self.domain.text}, got {value!r}")
        if not self.domain.check(value):
            raise ValueError(f"{where} must be {self.domain.text}, got {value!r}")
        return value


ArrayFn = Callable[..., Any]


@dataclass(frozen=True, eq=False)
class Formula:
    """The mathematics of one surrogate shape, written once against the array API.

    Parameters
    ----------
    name : str
        Identifier of the formula (the canonical name, or ``_name`` for a private
        parametrisation shared by several entries).
    derivative : callable
        ``derivative(x, /, *, xp, **params)`` returning ``g'(x)`` elementwise.  ``x`` is
        already in the compute dtype.  Stochastic formulas also receive ``noise`` (uniform
        draws in [0, 1) of ``x``'s shape).
    primitive : callable or None
        ``primitive(x, /, *, xp, **params)`` returning ``g(x)``; ``None`` where the
        surrogate has no primitive.
    forward : callable or None
        Formula-defined forward output (e.g. a spike count); ``None`` for a spike.
    version : int
        Bumped whenever the math changes.
    stochastic_backward : bool
        The derivative consumes uniform ``noise``.
    """

    name: str
    derivative: ArrayFn
    primitive: ArrayFn | None = None
    forward: ArrayFn | None = None
    version: int = 1
    stochastic_backward: bool = False


Mapping_ = Callable[[Mapping[str, Any]], tuple[dict[str, Any], float]]


def _identity_mapping(params: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
    return dict(params), 1.0


@dataclass(frozen=True, eq=False)
class Entry:
    """A named surrogate: canonical (``library is None``) or a peer library's alias.

    The entry maps its parameters onto ``formula``'s parameters and an output scale via
    ``mapping(params) -> (formula_params, scale)``; ``g'_entry = scale * g'_formula``.
    """

    name: str
    canonical: str
    params: tuple[Param, ...]
    formula: Formula
    summary: str
    latex_derivative: str = ""
    latex_primitive: str = ""
    mapping: Mapping_ = _identity_mapping
    mapping_doc: str = ""
    library: str | None = None
    library_name: str | None = None
    forward: str = "ge"
    boundary: str = ""
    references: tuple[str, ...] = ()
    notes: str = ""
    monotone: bool = True
    sign_changing: bool = False
    x_scale: Callable[[Mapping[str, Any]], float] = lambda p: 1.0
    boundaries: Callable[[Mapping[str, Any]], tuple[float, ...]] = lambda p: ()
    peak_at: Callable[[Mapping[str, Any]], tuple[float, ...]] = lambda p: (0.0,)
    area_fn: Callable[[Mapping[str, Any]], float | None] | None = None
    limits: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.forward not in FORWARD_KINDS:
            raise ValueError(f"{self.name}: unknown forward kind {self.forward!r}")

    @property
    def is_alias(self) -> bool:
        return self.library is not None

    @property
    def stochastic(self) -> bool:
        return self.forward.startswith("bernoulli") or self.formula.stochastic_backward

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def bind(self, **params: Any) -> Bound:
        """Validate ``params`` against this entry and return a :class:`Bound`."""
        known = {p.name: p for p in self.params}
        unknown = [k for k in params if k not in known]
        if unknown:
            listed = ", ".join(known) or "none"
            raise TypeError(
                f"{self.name}: unexpected parameter {unknown[0]!r}; its parameters are: {listed}"
            )
        values = []
        for p in self.params:
            value = params[p.name] if p.name in params else p.default
            values.append((p.name, p.validate(self.name, value)))
        bound = Bound(self.name, tuple(values))
        bound._resolve(self)
        return bound


@dataclass(frozen=True)
class Bound:
    """A surrogate with validated parameters: frozen, hashable, comparable.

    Obtain one with :func:`spikegrad.get`.  Evaluation methods accept an array of any
    array-API namespace (numpy, array-api-strict, torch, jax, cupy) and keep its
    namespace, device and dtype.
    """

    name: str
    param_items: tuple[tuple[str, Any], ...]

    # -- resolution ---------------------------------------------------------------------
    def _resolve(self, entry: Entry | None = None) -> None:
        if entry is None:
            from ._registry import entry as _lookup

            entry = _lookup(self.name)
        fparams, scale = entry.mapping(dict(self.param_items))
        object.__setattr__(self, "_entry", entry)
        object.__setattr__(self, "_fparams", dict(fparams))
        object.__setattr__(self, "_scale", float(scale))

    @property
    def entry(self) -> Entry:
        if "_entry" not in self.__dict__:
            self._resolve()
        return self.__dict__["_entry"]

    @property
    def formula_params(self) -> dict[str, Any]:
        """Parameters of the underlying formula after the entry's mapping."""
        self.entry  # noqa: B018 - ensure resolved
        return dict(self.__dict__["_fparams"])

    @property
    def scale(self) -> float:
        """Output scale applied to the formula (1 unless the entry is a rescaling)."""
        self.entry  # noqa: B018
        return self.__dict__["_scale"]

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.param_items)

    @property
    def canonical(self) -> str:
        return self.entry.canonical

    @property
    def formula(self) -> Formula:
        return self.entry.formula

    @property
    def forward_kind(self) -> str:
        return self.entry.forward

    @property
    def stochastic(self) -> bool:
        return self.entry.stochastic

    @property
    def has_primitive(self) -> bool:
        return self.entry.formula.primitive is not None

    # -- metadata ----------------------------------------------------------------------
    @property
    def latex(self) -> dict[str, str]:
        """LaTeX of the primitive ``g`` and derivative ``g'`` (keys ``"g"``, ``"dg"``)."""
        from ._registry import entry as _lookup

        e = self.entry
        base = e if (not e.is_alias or e.latex_derivative) else _lookup(e.canonical)
        return {"g": base.latex_primitive, "dg": base.latex_derivative, "mapping": e.mapping_doc}

    @property
    def references(self) -> tuple[str, ...]:
        from ._references import REFERENCES

        return tuple(REFERENCES[key]["text"] for key in self.entry.references)

    def cite(self) -> str:
        """BibTeX entries of the papers this surrogate comes from."""
        from ._references import bibtex

        return bibtex(self.entry.references)

    @property
    def peak(self) -> float:
        """``max |g'|`` over the entry's declared peak locations (``g'(0)`` by default)."""
        import numpy as np

        from .adapters.numpy import derivative_values

        pts = np.asarray(self.entry.peak_at(self.params), dtype=np.float64)
        # stochastic backwards are deterministic at their declared peak points
        values = derivative_values(self, pts, key=np.random.default_rng(0))
        return float(np.max(np.abs(values)))

    @property
    def area(self) -> float | None:
        """``∫ g'`` over the real line: ``g(+inf) - g(-inf)``, ``inf`` or ``None``.

        ``None`` means the integral does not exist (periodic or sign-alternating tails).
        """
        import numpy as np

        e = self.entry
        if e.area_fn is not None:
            return e.area_fn(self.params)
        if not self.has_primitive:
            return None
        from .adapters.numpy import primitive_values

        lo, hi = primitive_values(self, np.asarray([-np.inf, np.inf]))
        with np.errstate(invalid="ignore"):
            value = float(hi - lo)
        return None if math.isnan(value) else value

    # -- evaluation --------------------------------------------------------------------
    def spike(self, x: Any, *, key: Any = None) -> Any:
        """Forward output: the spike (or the formula's forward) in ``x``'s dtype."""
        from ._evaluate import spike

        return spike(self, x, key=key)

    def derivative(self, x: Any, *, compute_dtype: Any = None, key: Any = None) -> Any:
        """``g'(x)`` in ``x``'s dtype.

        Parameters
        ----------
        x : array
            Real floating array of any supported namespace.
        compute_dtype : dtype, optional
            Dtype of the internal computation.  Default: ``x``'s dtype, with float16 and
            bfloat16 promoted to float32; the result is rounded once to ``x``'s dtype.
        key : generator or key, optional
            Random source, required by surrogates with a stochastic backward.
        """
        from ._evaluate import derivative

        return derivative(self, x, compute_dtype=compute_dtype, key=key)

    def primitive(self, x: Any, *, compute_dtype: Any = None) -> Any:
        """``g(x)`` in ``x``'s dtype (see :meth:`derivative` for ``compute_dtype``)."""
        from ._evaluate import primitive

        return primitive(self, x, compute_dtype=compute_dtype)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.param_items)
        return f"spikegrad.get({self.name!r}{', ' if inner else ''}{inner})"
