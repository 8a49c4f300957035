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

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _dispatch, _evaluate
from ._arrays import (
    framework_of,
    host_extremes,
    host_values,
    is_array_param,
    param_key,
    split_params,
)
from ._numerics import round_to_dtype
from ._references import cite as _cite
from ._references import texts as _texts

__all__ = [
    "FORWARD_KINDS",
    "Bound",
    "BoundValue",
    "Definition",
    "Domain",
    "Entry",
    "Formula",
    "Param",
    "UnknownSurrogateError",
    "mapped_numbers",
]

#: Forward conventions: Heaviside at ``x >= 0`` / ``x > 0``; Bernoulli draws with
#: probability ``x`` or ``g(x)``; or a formula-defined forward (``"formula"``).
FORWARD_KINDS = ("ge", "gt", "bernoulli_input", "bernoulli_primitive", "formula")


class UnknownSurrogateError(KeyError):
    """Raised by :func:`spikegrad.get` for a name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


def _is_number(value: Any) -> bool:
    """A Python (or NumPy scalar) real number, not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


@dataclass(frozen=True)
class Domain:
    """The set of valid values of a parameter, declared (no callables, so it pickles).

    Parameters
    ----------
    text : str
        The domain as printed in errors and docs, e.g. ``"> 0"``.
    kind : {"real", "int", "bool", "window"}
        The value type the parameter takes.  Only ``"real"`` parameters may be arrays
        (tensors, traced values); the others are structural and must be Python values.
    low, high : float
        Bounds of a real or integer domain (``-inf``/``inf`` when open-ended).
    low_inclusive, high_inclusive : bool
        Whether the bounds belong to the domain.
    min_magnitude : float
        Smallest nonzero ``|value|`` (offsets: a subnormal one is read as 0 by backends
        that flush subnormals).
    """

    text: str
    kind: str = "real"
    low: float = -math.inf
    high: float = math.inf
    low_inclusive: bool = False
    high_inclusive: bool = False
    choices: tuple[Any, ...] = ()
    min_magnitude: float = 0.0

    @staticmethod
    def positive() -> Domain:
        return Domain("> 0", low=0.0)

    @staticmethod
    def magnitude(low: float = 1e-6, high: float = 1e6) -> Domain:
        """A positive scale or width in ``[low, high]`` (the catalogue's ``[1e-6, 1e6]``):
        the range over which single precision holds ``alpha * x``, ``alpha**2`` or
        ``1 / alpha``; ``Domain.positive()`` accepts ``1e39``, which is inf in float32."""
        return Domain(f"in [{low:g}, {high:g}] (beyond it single precision cannot hold the "
                      "computation)", low=float(low), high=float(high), low_inclusive=True,
                      high_inclusive=True)

    @staticmethod
    def nonnegative() -> Domain:
        return Domain(">= 0", low=0.0, low_inclusive=True)

    @staticmethod
    def greater(bound: float) -> Domain:
        return Domain(f"> {bound:g}", low=float(bound))

    @staticmethod
    def interval(low: float, high: float, *, low_inclusive: bool = False,
                 high_inclusive: bool = True, name: str = "value") -> Domain:
        lo_op = "<=" if low_inclusive else "<"
        hi_op = "<=" if high_inclusive else "<"
        return Domain(f"{low:g} {lo_op} {name} {hi_op} {high:g}", low=float(low),
                      high=float(high), low_inclusive=low_inclusive,
                      high_inclusive=high_inclusive)

    @staticmethod
    def real() -> Domain:
        return Domain("any finite real")

    @staticmethod
    def integer(minimum: int, maximum: int | None = None) -> Domain:
        if maximum is None:
            return Domain(f"integer >= {minimum}", kind="int", low=float(minimum),
                          low_inclusive=True)
        return Domain(f"integer in [{minimum}, {maximum}]", kind="int", low=float(minimum),
                      high=float(maximum), low_inclusive=True, high_inclusive=True)

    @staticmethod
    def boolean() -> Domain:
        return Domain("True or False", kind="bool")

    @staticmethod
    def choice(*options: Any) -> Domain:
        return Domain("one of " + ", ".join(repr(o) for o in options), kind="choice",
                      choices=tuple(options))

    @staticmethod
    def window() -> Domain:
        return Domain("None or a pair (low, high) of finite reals with low <= high",
                      kind="window")

    def check(self, value: Any) -> bool:
        """Whether ``value`` (a number, a window pair, or a NumPy array) lies inside."""
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return any(value == c and type(value) is type(c) for c in self.choices)
        if self.kind == "window":
            return value is None or value[0] <= value[1]
        if isinstance(value, (int, float)):  # plain Python: traceable by torch.compile
            try:
                v = float(value)
            except OverflowError:  # an int beyond float: outside every real domain
                return False
            if not math.isfinite(v):
                return False
            above = v >= self.low if self.low_inclusive else v > self.low
            below = v <= self.high if self.high_inclusive else v < self.high
            return above and below and (v == 0.0 or abs(v) >= self.min_magnitude)
        with np.errstate(invalid="ignore"):
            return bool(np.all(self.inside(np.asarray(value, dtype=np.float64), np)))

    def inside(self, v: Any, xp: Any) -> Any:
        """Elementwise: whether the real array ``v`` (namespace ``xp``) lies inside (the
        rule of :meth:`check`, as array operations: a compiled graph checks with it)."""
        ok = xp.isfinite(v)
        ok = ok & ((v >= self.low) if self.low_inclusive else (v > self.low))
        ok = ok & ((v <= self.high) if self.high_inclusive else (v < self.high))
        return ok & ((v == 0.0) | (xp.abs(v) >= self.min_magnitude))


@dataclass(frozen=True)
class Param:
    """A user-facing parameter: name, default, domain and one sentence of meaning.

    ``array_ok=False`` keeps a real parameter a Python number (one that shapes the
    computation, such as a time constant that sets per-step weights).
    """

    name: str
    default: Any
    domain: Domain
    doc: str
    array_ok: bool = True

    @property
    def static(self) -> bool:
        """Structural parameters (integers, flags, windows, choices, numbers-only reals)
        are Python values fixed when the surrogate is bound; real parameters may also be
        arrays."""
        return self.domain.kind != "real" or not self.array_ok

    def validate(self, owner: str, value: Any) -> Any:
        """Return ``value`` coerced to the parameter's type, or raise.

        A real parameter may be a Python number (validated here) or an array: a NumPy
        array, a torch tensor (``nn.Parameter`` included) or a jax array or tracer, 0-d or
        broadcasting against ``x``.  An array is validated where its values can be read
        without a device synchronisation or a trace (see
        :func:`spikegrad._arrays.host_values`); NumPy 0-d
        arrays and NumPy scalars become Python numbers.

        Raises
        ------
        TypeError
            If the value has the wrong type (e.g. a string, or an array for a structural
            parameter).
        ValueError
            If the value lies outside the domain; the message names the surrogate,
            the parameter, the domain and the value.
        """
        kind = self.domain.kind
        if kind == "real" and self.array_ok and is_array_param(value):  # (the per-call case)
            return self._validate_array(f"{owner}: {self.name}", value)
        where = f"{owner}: {self.name}"
        if kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{where} must be True or False, got {value!r}")
            return bool(value)
        if kind == "choice":
            if not self.domain.check(value):
                raise ValueError(f"{where} must be {self.domain.text}, got {value!r}")
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
            raise TypeError(f"{where} must be a number, got bool")
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        if is_array_param(value):
            if kind == "int" or not self.array_ok:
                if kind != "int":
                    raise TypeError(f"{where} must be a Python number (it shapes the "
                                    f"computation), got {type(value).__name__}")
                raise TypeError(f"{where} is structural (an integer) and must be a Python "
                                f"int, got {type(value).__name__}")
            return self._validate_array(where, value)
        if not _is_number(value):
            raise TypeError(
                f"{where} must be a Python number or a floating array, got "
                f"{type(value).__name__}"
            )
        try:
            number = float(value)
        except OverflowError:  # a Python int beyond float (its repr may not even print)
            raise ValueError(f"{where} must be {self.domain.text}, got an integer too large "
                             f"for a float ({int(value).bit_length()} bits)") from None
        if kind == "int":
            if not math.isfinite(number) or number != int(value):
                raise ValueError(f"{where} must be {self.domain.text}, got {value!r}")
            value = int(value)
        else:
            value = number
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where} must be {self.domain.text}, got {value!r}")
        if not self.domain.check(value):
            raise ValueError(f"{where} must be {self.domain.text}, got {value!r}")
        return value

    def _validate_array(self, where: str, value: Any) -> Any:
        framework = framework_of(value)
        if framework == "torch":
            floating = value.is_floating_point()
        else:
            name = str(getattr(value, "dtype", "")).rsplit(".", 1)[-1]
            floating = name.startswith(("float", "bfloat"))
        if not floating:
            raise TypeError(f"{where} must be a real floating array, got dtype "
                            f"{getattr(value, 'dtype', None)}; cast it first, e.g. "
                            f"{self.name}.float()")
        domain = self.domain

        def check(v: Any) -> bool:  # (the dtype's edges are looked at only where v fails)
            return bool(domain.check(v)) or _at_edge_as_stored(domain, value, v)

        if domain.min_magnitude == 0.0:
            # an interval: its extremes decide (NaN propagates into them), one reduction
            extremes = host_extremes(value, framework)
            if extremes is not None:
                lo, hi = extremes
                if domain.check(lo) and (hi == lo or domain.check(hi)):
                    return value  # (every call of a valid parameter ends here)
                for v in extremes:
                    if not check(v):
                        raise ValueError(f"{where} must be {domain.text} elementwise, "
                                         f"got {v!r}")
                return value
        host = host_values(value)
        if host is not None and not self.domain.check(host):
            ok = np.vectorize(check)(host)  # (the dtype's edges, elementwise)
            if ok.all():
                return value
            bad = host[~ok] if host.ndim else host
            raise ValueError(f"{where} must be {self.domain.text} elementwise, got "
                             f"{float(np.ravel(bad)[0])!r}")
        return value


#: The dtypes whose nearest value to a bound may differ from the bound as written.
_NARROW = ("float16", "bfloat16", "float32")


def _at_edge_as_stored(domain: Domain, value: Any, v: Any) -> bool:
    """Whether ``v``, a value of array ``value``, is the dtype's nearest value to an
    inclusive bound of ``domain`` written as a number (``1e-6``): ``torch.tensor(1e-6)``
    holds ``float32(1e-6) < 1e-6``, and is the bound as written.  A bound beyond the
    dtype (1e6 in float16: inf) is no edge of it."""
    name = str(getattr(value, "dtype", "")).rsplit(".", 1)[-1]
    if name not in _NARROW or domain.kind != "real":
        return False
    edges = [round_to_dtype(b, name) for b, inc in ((domain.low, domain.low_inclusive),
                                                    (domain.high, domain.high_inclusive))
             if inc and math.isfinite(b)]
    return any(math.isfinite(e) and float(v) == e for e in edges)


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


def _unit_scale(params: Mapping[str, Any]) -> float:
    return 1.0


def _no_boundaries(params: Mapping[str, Any]) -> tuple[float, ...]:
    return ()


def _peak_at_zero(params: Mapping[str, Any]) -> tuple[float, ...]:
    return (0.0,)


class Definition:
    """What every surrogate definition shares (single-step :class:`Entry` and multi-step
    :class:`~spikegrad.MultiStepEntry`): a name, declared parameters, and binding them
    to validated values.  Subclasses set ``bound_type``."""

    name: str
    params: tuple[Param, ...]
    bound_type: Any = None

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def bind(self, **params: Any) -> Any:
        """Validate ``params`` against this definition and return its bound value."""
        known = {p.name: p for p in self.params}
        unknown = [k for k in params if k not in known]
        if unknown:
            listed = ", ".join(known) or "none"
            raise TypeError(
                f"{self.name}: unexpected parameter {unknown[0]!r}; its parameters are: {listed}"
            )
        values = tuple((p.name, p.validate(self.name, params.get(p.name, p.default)))
                       for p in self.params)
        return self.bound_type(self, values)


class BoundValue:
    """What every bound surrogate shares: its definition, validated parameter values,
    equality and hashing by the definition's identity and the values (arrays by
    identity), ``replace``, and the references."""

    entry: Any
    param_items: tuple[tuple[str, Any], ...]

    def _key(self) -> tuple[Any, ...]:
        return (id(self.entry), tuple((k, param_key(v)) for k, v in self.param_items))

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not type(self):
            return NotImplemented
        return self.entry is other.entry and self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(self._key())
            object.__setattr__(self, "_hash", cached)
        return cached

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.param_items)

    def replace(self, **params: Any) -> Any:
        """The same definition with some parameters changed (validated)."""
        return self.entry.bind(**{**dict(self.param_items), **params})

    def check_array_values(self, context: str) -> None:
        """Check the current values of the array parameters against their domains, where
        reading them costs no device synchronisation and no trace (see
        :func:`spikegrad._arrays.host_values`): the values a module or pytree holds change
        under an optimizer, after binding.  ``context`` names the moment (e.g.
        ``"Surrogate call 12"``).

        Raises
        ------
        ValueError
            Naming the surrogate, the moment, the parameter, its domain and the value.
        """
        values = dict(self.param_items)
        for p in self.entry.params:
            v = values.get(p.name)
            if v is not None and is_array_param(v):
                p.validate(f"{self.entry.name} ({context})", v)

    @property
    def references(self) -> tuple[str, ...]:
        return _texts(self.entry.references)

    def cite(self) -> str:
        """BibTeX entries of the papers this surrogate comes from."""
        return _cite(self.entry.references)


@dataclass(frozen=True, eq=False)
class Entry(Definition):
    """A surrogate definition: a self-contained value (formula, parameters, metadata).

    A canonical entry (``library is None``), a peer library's alias (which holds its base
    formula and maps its parameters onto it), or a user definition (made with
    :func:`spikegrad.define`).  The entry maps its parameters onto ``formula``'s parameters
    and an output scale via ``mapping(params) -> (formula_params, scale)``;
    ``g'_entry = scale * g'_formula``.  The mapping is array-friendly: it runs on Python
    numbers when the surrogate is bound and on arrays (tensors, tracers) at call time.

    Entries compare by identity: two definitions are never the same surrogate, even under
    one name.  A registered entry pickles as a reference to its registered name (the
    registry owns that rule, :mod:`spikegrad._registry`); an unregistered one pickles by
    value.

    ``base`` is the canonical entry an alias is written over (its LaTeX is shown for an
    alias without its own).

    ``ulp_factor(params)`` declares how an adapter's ULP tolerance grows with a parameter
    where the error is inherent to the formula (1 for almost every surrogate; the reason is
    given in ``notes``).
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
    x_scale: Callable[[Mapping[str, Any]], float] = _unit_scale
    boundaries: Callable[[Mapping[str, Any]], tuple[float, ...]] = _no_boundaries
    peak_at: Callable[[Mapping[str, Any]], tuple[float, ...]] = _peak_at_zero
    area_fn: Callable[[Mapping[str, Any]], float | None] | None = None
    limits: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    user: bool = False
    ulp_factor: Callable[[Mapping[str, Any]], float] = _unit_scale
    base: Entry | None = None

    def __post_init__(self) -> None:
        if self.forward not in FORWARD_KINDS:
            raise ValueError(f"{self.name}: unknown forward kind {self.forward!r}")

    def __repr__(self) -> str:
        kind = "user definition" if self.user else ("alias" if self.is_alias else "surrogate")
        return f"<spikegrad {kind} {self.name!r}>"

    @property
    def is_alias(self) -> bool:
        return self.library is not None and self.canonical != self.name

    @property
    def stochastic(self) -> bool:
        return self.forward.startswith("bernoulli") or self.formula.stochastic_backward

    @property
    def maps_identically(self) -> bool:
        """Whether the formula's parameters are the entry's, with an output scale of 1."""
        return self.mapping is _identity_mapping

    def map_params(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        """``(formula_params, scale)`` for the entry's parameters ``params`` (numbers or
        arrays)."""
        fparams, scale = self.mapping(dict(params))
        return dict(fparams), scale


def mapped_numbers(entry: Entry, items: tuple[tuple[str, Any], ...]
                   ) -> tuple[dict[str, Any], float]:
    """The formula's parameters and the output scale of ``entry`` with the number
    parameters ``items`` (what a bound of numbers keeps of its entry's mapping)."""
    fparams, scale = entry.mapping(dict(items))  # (a fresh dict: map_params' copy)
    return dict(fparams), float(scale)


def _mapped_numbers(entry: Entry, items: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """:func:`mapped_numbers` as a bound of numbers' attributes."""
    fparams, scale = mapped_numbers(entry, items)
    return {"_fparams": fparams, "_scale": scale}


@dataclass(frozen=True, eq=False)
class Bound(BoundValue):
    """A surrogate definition with validated parameter values.

    Obtain one with :func:`spikegrad.get` or :meth:`Entry.bind`.  It holds its definition
    (never a name to look up), so it pickles and deep-copies with it.  Equality and
    hashing use the definition's identity and the parameter values (arrays by identity),
    so two formulas never share a cache entry.

    Evaluation methods accept an array of any array-API namespace (numpy,
    array-api-strict, torch, jax, cupy) and keep its namespace, device and dtype; a torch
    tensor or a jax array goes through that framework's binding, so the spike carries its
    surrogate gradient.
    """

    entry: Entry
    param_items: tuple[tuple[str, Any], ...]

    def __post_init__(self) -> None:
        static, names, values = split_params(self.param_items)
        object.__setattr__(self, "_array_names", names)
        object.__setattr__(self, "_array_values", values)
        object.__setattr__(self, "_static_items", static)
        if not names:
            self.__dict__.update(_mapped_numbers(self.entry, self.param_items))

    @classmethod
    def _assemble(cls, entry: Entry, items: tuple[tuple[str, Any], ...],
                  static: tuple[tuple[str, Any], ...], names: tuple[str, ...],
                  values: tuple[Any, ...]) -> Bound:
        """A bound with array parameters from parts already validated and split (what
        :class:`~spikegrad._frontend.BoundCache` reuses between calls of one shape)."""
        b = object.__new__(cls)
        b.__dict__.update(entry=entry, param_items=items, _static_items=static,
                          _array_names=names, _array_values=values)
        return b

    @classmethod
    def _assemble_numbers(cls, entry: Entry, items: tuple[tuple[str, Any], ...]) -> Bound:
        """A bound of Python numbers from items already validated (what
        :class:`~spikegrad._frontend.BoundCache` builds for a new value of a known call
        shape): what ``__post_init__`` sets, without its split."""
        b = object.__new__(cls)
        b.__dict__.update(entry=entry, param_items=items, _static_items=items,
                          _array_names=(), _array_values=(),
                          **_mapped_numbers(entry, items))
        return b

    def __reduce__(self) -> Any:
        return (Bound, (self.entry, self.param_items))

    def __copy__(self) -> Bound:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Bound:
        return Bound(self.entry, copy.deepcopy(self.param_items, memo))

    # -- parameters ----------------------------------------------------------------------
    @property
    def has_array_params(self) -> bool:
        """Whether any parameter is an array (a tensor or traced value)."""
        return bool(self.__dict__["_array_names"])

    @property
    def array_param_names(self) -> tuple[str, ...]:
        """Names of the parameters whose values are arrays, in definition order."""
        return self.__dict__["_array_names"]

    @property
    def array_values(self) -> tuple[Any, ...]:
        """The array parameters' values, in the order of :attr:`array_param_names` (the
        leaves a framework traces or differentiates)."""
        return self.__dict__["_array_values"]

    @property
    def static_items(self) -> tuple[tuple[str, Any], ...]:
        """``param_items`` with the array values replaced by ``None``: the hashable,
        static part of the bound (a jit's static argument)."""
        return self.__dict__["_static_items"]

    def with_arrays(self, values: tuple[Any, ...]) -> Bound:
        """The same definition and numbers with the array parameters (in the order of
        :attr:`array_param_names`) replaced by ``values`` (traced or differentiable
        copies); not validated."""
        new = dict(zip(self.array_param_names, values, strict=True))
        return Bound(self.entry, tuple((k, new.get(k, v)) for k, v in self.param_items))

    def _numbers_only(self, what: str) -> None:
        if self.has_array_params:
            raise TypeError(
                f"{self.name}: {what} is defined for Python-number parameters; this "
                f"surrogate has array parameters ({', '.join(self.array_param_names)})")

    @property
    def formula_params(self) -> dict[str, Any]:
        """Parameters of the underlying formula after the entry's mapping."""
        self._numbers_only("formula_params")
        return dict(self.__dict__["_fparams"])

    @property
    def scale(self) -> float:
        """Output scale applied to the formula (1 unless the entry is a rescaling)."""
        self._numbers_only("scale")
        return self.__dict__["_scale"]

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
        e = self.entry
        base = e.base if e.base is not None and not e.latex_derivative else e
        return {"g": base.latex_primitive, "dg": base.latex_derivative, "mapping": e.mapping_doc}

    @property
    def peak(self) -> float:
        """``max |g'|`` over the entry's declared peak locations (``g'(0)`` by default)."""
        self._numbers_only("peak")
        pts = np.asarray(self.entry.peak_at(self.params), dtype=np.float64)
        # stochastic backwards are deterministic at their declared peak points
        values = _evaluate.derivative(self, pts, key=np.random.default_rng(0))
        return float(np.max(np.abs(values)))

    @property
    def area(self) -> float | None:
        """``∫ g'`` over the real line: ``g(+inf) - g(-inf)``, ``inf`` or ``None``.

        ``None`` means the integral does not exist (periodic or sign-alternating tails).
        """
        self._numbers_only("area")
        e = self.entry
        if e.area_fn is not None:
            return e.area_fn(self.params)
        if not self.has_primitive:
            return None
        lo, hi = _evaluate.primitive(self, np.asarray([-np.inf, np.inf]))
        with np.errstate(invalid="ignore"):
            value = float(hi - lo)
        return None if math.isnan(value) else value

    # -- evaluation --------------------------------------------------------------------
    def spike(self, x: Any, *, key: Any = None) -> Any:
        """Forward output: the spike (or the formula's forward) in ``x``'s dtype.

        A torch tensor or jax array goes through that framework's binding, so the result
        carries the surrogate gradient.
        """
        return _dispatch.spike(self, x, key=key)

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
        return _evaluate.derivative(self, x, compute_dtype=compute_dtype, key=key)

    def primitive(self, x: Any, *, compute_dtype: Any = None) -> Any:
        """``g(x)`` in ``x``'s dtype (see :meth:`derivative` for ``compute_dtype``)."""
        return _evaluate.primitive(self, x, compute_dtype=compute_dtype)

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            if is_array_param(v):
                return f"<{type(v).__name__} {tuple(getattr(v, 'shape', ()))}>"
            return repr(v)

        inner = ", ".join(f"{k}={show(v)}" for k, v in self.param_items)
        return f"spikegrad.get({self.name!r}{', ' if inner else ''}{inner})"


Entry.bound_type = Bound
