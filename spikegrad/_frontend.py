"""What the framework front-ends (``spikegrad.torch``, ``spikegrad.jax``) share: name
resolution and the one-function-per-canonical-surrogate namespace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _registry
from ._arrays import is_array_param
from ._multistep import MultiStepBound, MultiStepEntry
from ._spec import Bound, Entry

__all__ = ["BoundCache", "NumberCall", "NumberShape", "multistep_hint", "named_functions",
           "resolve", "resolve_multistep"]


#: Value types that are never arrays (the common case, decided without a per-value test).
_PLAIN = frozenset({float, int, bool, str, tuple, type(None)})


class BoundCache:
    """Bound surrogates of one definition, cached per number-parameter set (bounded), so a
    per-call name (``spike(x, "atan", alpha=2.0)``) builds nothing after its first call
    (after its second where the front end takes new values unbound, :meth:`get` with
    ``lean``: a sweep then keeps nothing per value).  Parameter sets with arrays are bound
    afresh on every call (they hold the arrays).

    The key holds the values' types as well as the values: ``True == 1`` and both hash
    alike, yet ``alpha=True`` is refused where ``alpha=1`` is accepted (and ``inclusive=1``
    where ``inclusive=True`` is), so a value is never accepted through an equal one of
    another type.  The types come first in the key, so a lookup compares no value of
    another type (a tensor's ``==`` is elementwise)."""

    MAX_SIZE = 1024

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self._cache: dict[tuple[tuple[type, ...], tuple[tuple[str, Any], ...]], Bound] = {}
        self._shapes: dict[tuple[Any, ...], _ArrayShape] = {}
        self._number_shapes: dict[tuple[Any, ...], NumberShape] = {}
        # the call shapes whose every value is an array of a type that is always one (a
        # tensor), by types and names: a learnable parameter's per-call lookup
        self._array_only: dict[tuple[Any, ...], _ArrayShape] = {}
        # the number calls served unbound once (:meth:`get` with ``lean``), by cache key
        self._seen: dict[tuple[Any, ...], None] = {}

    def get(self, params: dict[str, Any], lean: bool = False) -> Bound | NumberCall:
        """The bound of ``params``.  With ``lean`` (a front end that serves a new value
        without a bound, :data:`NumberCall`), a call of Python numbers of a known shape
        whose values are seen for the first time gets the validated ``(shape, items)``
        instead: a sweep, a new value at every call, builds and keeps no bound, and a
        value seen a second time is bound and kept (a fixed value's later calls are one
        lookup)."""
        types = tuple(map(type, params.values()))
        if not _PLAIN.issuperset(types):
            shape = self._array_only.get((types, *params))
            if shape is not None:
                return shape.bind(params)
            arrays = tuple(map(is_array_param, params.values()))
            if any(arrays):
                return self._with_arrays(types, arrays, params)
        try:
            key = (types, tuple(params.items()))
            found = self._cache.get(key)
        except TypeError:  # an unhashable value: let bind() report it
            return self.entry.bind(**params)
        if found is None:
            found = self._numbers(types, params, key if lean else None)
            if type(found) is tuple:
                return found
            # single dict operations are atomic: no lock (a lock is also a context manager
            # that torch.compile cannot trace on a first, compiled call)
            if len(self._cache) >= self.MAX_SIZE:
                self._cache.clear()
            self._cache[key] = found
        return found

    def _numbers(self, types: tuple[type, ...], params: dict[str, Any],
                 lean: Any = None) -> Bound | NumberCall:
        """A bound of numbers not seen before: a call shape (names, types, the values
        other than floats) seen before validates only its floats (a parameter that
        changes at every call: a schedule, a sweep) and, given the call's cache key
        ``lean`` and the key's first sight, is returned unbound (:meth:`get`); else
        :meth:`Entry.bind`."""
        key = ((types, *params) if types.count(float) == len(types)  # (floats only: a sweep)
               else (types, *params, *[None if type(v) is float else v
                                       for v in params.values()]))
        shape = self._number_shapes.get(key)
        if shape is not None:
            items = shape.items(params)
            if lean is not None and lean not in self._seen:
                if len(self._seen) >= self.MAX_SIZE:
                    self._seen.clear()
                self._seen[lean] = None
                return shape, items
            return shape.bound(items)
        bound = self.entry.bind(**params)
        if not bound.has_array_params:
            if len(self._number_shapes) >= self.MAX_SIZE:
                self._number_shapes.clear()
            self._number_shapes[key] = NumberShape(bound, params)
        return bound

    def _with_arrays(self, types: tuple[type, ...], arrays: tuple[bool, ...],
                     params: dict[str, Any]) -> Bound:
        """A bound holding arrays: never hashed by them (a traced tensor has no value), but
        the rest of a call's shape (names, types, the numbers) is checked once and reused,
        so a later call only validates its arrays."""
        try:
            key = (types, tuple((k, None if a else v)
                                for (k, v), a in zip(params.items(), arrays, strict=True)))
            shape = self._shapes.get(key)
        except TypeError:  # an unhashable value: let bind() report it
            return self.entry.bind(**params)
        if shape is not None:
            return shape.bind(params)
        bound = self.entry.bind(**params)
        if len(self._shapes) >= self.MAX_SIZE:
            self._shapes.clear()
            self._array_only.clear()
        shape = self._shapes[key] = _ArrayShape(bound)
        if all(arrays) and not any(issubclass(t, np.ndarray) for t in types):
            # (a NumPy array is a number when 0-d: its type does not decide)
            self._array_only[(types, *params)] = shape
        return bound


def _never(value: Any) -> bool:
    return False


class NumberShape:
    """What the calls of one shape of numbers share (definition, names, the values other
    than floats): binding validates only the floats, as :meth:`Entry.bind` does them."""

    def __init__(self, bound: Bound, params: dict[str, Any]) -> None:
        entry = bound.entry
        self.entry = entry
        self.items_ = bound.param_items
        by_name = {p.name: p for p in entry.params}
        slot = {k: i for i, (k, _) in enumerate(self.items_)}
        # a float inside a real parameter's domain is accepted as it is (what
        # Param.validate returns for it); any other goes through Param.validate (which
        # converts it, or raises the error)
        self.floats = tuple((by_name[k], slot[k], by_name[k].domain.check
                             if by_name[k].domain.kind == "real" else _never)
                            for k, v in params.items() if type(v) is float)
        # where the entry's mapping is the identity and every float of a call stays one
        # (a real parameter's), the formula's parameters are the items and its float
        # values sit at these slots in every call of the shape
        real = all(inside is not _never for _, _, inside in self.floats)
        self.float_slots = (tuple(i for i, (_, v) in enumerate(self.items_)
                                  if type(v) is float)
                            if real and entry.maps_identically else None)
        #: what a binding derives once from the shape (by its own keys)
        self.memo: dict[Any, Any] = {}

    def items(self, params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        """The validated ``param_items`` of a call of this shape (``ValueError`` naming a
        parameter outside its domain)."""
        items = list(self.items_)
        for p, i, inside in self.floats:
            v = params[p.name]
            items[i] = (p.name, v if inside(v) else p.validate(self.entry.name, v))
        return tuple(items)

    def bound(self, items: tuple[tuple[str, Any], ...]) -> Bound:
        """The bound of validated ``items`` (:meth:`items`)."""
        return Bound._assemble_numbers(self.entry, items)

    def bind(self, params: dict[str, Any]) -> Bound:
        """The bound of a call of this shape (:meth:`items`, then :meth:`bound`)."""
        return self.bound(self.items(params))


#: A new value of a known number shape, validated but not bound: ``(shape, items)``, what
#: :meth:`BoundCache.get` returns with ``lean`` (``shape.bound(items)`` binds it).
NumberCall = tuple[NumberShape, tuple[tuple[str, Any], ...]]


class _ArrayShape:
    """What the calls of one shape share (definition, numbers, which parameters are
    arrays): binding validates only the arrays, as :meth:`Entry.bind` does them."""

    def __init__(self, bound: Bound) -> None:
        entry = bound.entry
        self.entry = entry
        self.static = bound.static_items
        self.names = bound.array_param_names
        by_name = {p.name: p for p in entry.params}
        self.params = tuple(by_name[n] for n in self.names)
        self.slots = tuple(i for i, (k, _) in enumerate(self.static) if k in self.names)

    def bind(self, params: dict[str, Any]) -> Bound:
        owner = self.entry.name
        values = tuple([p.validate(owner, params[p.name]) for p in self.params])
        items = list(self.static)
        for i, name, v in zip(self.slots, self.names, values, strict=False):  # (equal)
            items[i] = (name, v)
        return Bound._assemble(self.entry, tuple(items), self.static, self.names, values)


_BY_NAME: dict[str, BoundCache] = {}

#: The torch layers of the multi-step definitions that have one of their own.
_TORCH_LAYERS = {"dsr_if": "DSRIFNode", "dsr_lif": "DSRLIFNode"}


def multistep_hint(name: str, front: str | None) -> str:
    """The error for multi-step definition ``name`` given where a single-step surrogate is
    expected, naming the calls of ``front`` (``"spikegrad.torch"``, ``"spikegrad.jax"``,
    or ``None``: every front) that take it."""
    ways = []
    if front in (None, "spikegrad.torch"):
        layer = _TORCH_LAYERS.get(name)
        layer = f"{layer}(...)" if layer else f"MultiStepNode({name!r})"
        ways.append(f"spikegrad.torch.multistep(x_seq, {name!r}) or the layer "
                    f"spikegrad.torch.{layer}")
    if front in (None, "spikegrad.jax"):
        ways.append(f"spikegrad.jax.multistep(x_seq, {name!r}) or spikegrad.jax.MultiStep"
                    f"({name!r})")
    if front is None:
        ways.append(f"spikegrad.get({name!r}).spike(x_seq)")
    return (f"{name} is a multi-step surrogate: it acts on a whole [T, ...] sequence (time "
            f"first), not elementwise, so it has no single-step spike; use "
            f"{'; or '.join(ways)}")


def _cache_for(name: str, front: str | None) -> BoundCache:
    found = _BY_NAME.get(name)
    e = _registry.entry(name)
    if found is None or found.entry is not e:
        if isinstance(e, MultiStepEntry):  # never cached: every call gets here and raises
            raise ValueError(multistep_hint(e.name, front))
        found = _BY_NAME[name] = BoundCache(e)
    return found


#: A front end's map of a call's parameters before they are bound: ``prepare(entry, params)``.
Prepare = Callable[[Entry, dict[str, Any]], dict[str, Any]]


def resolve(name_or_bound: str | Bound | Entry, params: dict[str, Any],
            prepare: Prepare | None = None, front: str | None = None, lean: bool = False
            ) -> Bound:
    """A bound surrogate from a name (or a definition) and parameters, or a bound one passed
    through.  ``prepare`` (a front end's) maps the parameters first; with ``lean``, a
    name's new value of a known number shape comes as a :data:`NumberCall`
    (:meth:`BoundCache.get`), for a front end whose ``spike`` takes one.

    Raises
    ------
    ValueError
        For a multi-step definition (name, entry or bound), naming the multi-step calls of
        ``front`` (``"spikegrad.torch"``, ``"spikegrad.jax"``; ``None``: all of them).
    """
    if isinstance(name_or_bound, str):
        cache = _cache_for(name_or_bound, front)
        return cache.get(prepare(cache.entry, params) if prepare else params,
                         lean)  # type: ignore[return-value]  # (a NumberCall with lean)
    if isinstance(name_or_bound, Bound):
        if params:
            raise TypeError("pass parameters either to spikegrad.get or here, not both")
        return name_or_bound
    if isinstance(name_or_bound, Entry):
        return name_or_bound.bind(**(prepare(name_or_bound, params) if prepare else params))
    if isinstance(name_or_bound, (MultiStepEntry, MultiStepBound)):
        raise ValueError(multistep_hint(name_or_bound.name, front))
    raise TypeError(f"surrogate name must be a string, spikegrad.get(...) or a definition, "
                    f"got {type(name_or_bound).__name__}")


def named_functions(spike: Callable[[Bound, Any, Any], Any], prepare: Prepare | None = None,
                    lean: Callable[[], bool] | None = None) -> dict[str, Callable[..., Any]]:
    """``{name: fn}`` for every built-in canonical surrogate, ``fn(x, *, key=None,
    **params)``; ``prepare`` (a front end's) maps the parameters first; where ``lean()``
    holds at a call, ``spike`` also takes a :data:`NumberCall` (:meth:`BoundCache.get`)."""

    def make(name: str) -> Callable[..., Any]:
        cache = BoundCache(_registry.entry(name))
        cache.get({})  # the default parameters, bound before any compiled call

        def fn(x: Any, /, *, key: Any = None, **params: Any) -> Any:
            return spike(cache.get(params if prepare is None else prepare(e, params),
                                   lean is not None and lean()), x, key)

        e = cache.entry
        defaults = ", ".join(f"{p.name}={p.default!r}" for p in e.params)
        fn.__name__ = fn.__qualname__ = name
        # the summary as a literal block: its formulas hold ``|x|`` and ``*``, markup in RST
        fn.__doc__ = (f"Spike with the {name} surrogate (``spikegrad show {name}``)::\n\n"
                      f"    {e.summary}\n\nParameters: {defaults}.")
        return fn

    return {name: make(name) for name in _registry.names(user=False)}


def resolve_multistep(name: Any, params: dict[str, Any], front: str) -> Any:
    """A :class:`~spikegrad._multistep.MultiStepBound` from a name, a multi-step entry or
    bound (with ``params`` applied); an elementwise name raises ``ValueError`` pointing to
    ``front``'s elementwise functions."""
    if isinstance(name, MultiStepBound):
        return name.replace(**params) if params else name
    found = _registry.get(name, **params)
    if not isinstance(found, MultiStepBound):
        raise ValueError(f"{found.name} is an elementwise surrogate; use {front}.spike or "
                         f"{front}.Surrogate (multi-step: "
                         f"{', '.join(_registry.multistep_names())})")
    return found
