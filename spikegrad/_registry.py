"""The registry: a thread-safe name index over surrogate definitions.

A plain index above the values: built-in definitions register while ``import spikegrad``
imports the catalogue (eagerly, once); users register their own through :func:`register`,
under a namespaced name (``"mylab:my_surrogate"``) that can never shadow a built-in.  The
registry only maps names to values: a bound surrogate holds its definition and never looks
it up again.  It knows no binding.

It owns the pickling rule of definitions (:mod:`copyreg`): a registered definition pickles
as its name (unpickling looks it up), an unregistered one by value.  A user definition's
pickle also names the module that defined it (recorded by :func:`spikegrad.define`), so a
process that has not registered it is told which module to import.
"""

from __future__ import annotations

import copyreg
import difflib
import threading
from typing import Any

from ._multistep import MultiStepEntry
from ._spec import Entry, UnknownSurrogateError

__all__ = ["aliases", "all_entries", "entry", "get", "is_registered", "multistep_entries",
           "multistep_names", "names", "register", "unregister"]

_ENTRIES: dict[str, Entry] = {}
_MULTISTEP: dict[str, MultiStepEntry] = {}
_LOCK = threading.RLock()


def _norm(name: str) -> str:
    return name.strip()


def _check_name(e: Entry, key: str) -> None:
    if e.user:
        ns, _, local = key.partition(":")
        if not ns or not local or ":" in local:
            raise ValueError(f"user surrogate {key!r} must be named 'namespace:name' (e.g. "
                             f"'mylab:{key.replace(':', '_')}'), so it never shadows a "
                             "built-in")
        reserved = _reserved_namespaces()
        if ns in reserved:
            raise ValueError(f"namespace {ns!r} is reserved for spikegrad's built-in "
                             f"aliases ({', '.join(sorted(reserved))}); choose your own")
        return
    if e.is_alias:
        if ":" not in key:
            raise ValueError(f"alias {key!r} must be spelled 'library:Name'")
    elif ":" in key:
        raise ValueError(f"canonical name {key!r} must not contain ':'")


def _reserved_namespaces() -> set[str]:
    return {k.split(":", 1)[0] for k, e in _ENTRIES.items() if ":" in k and not e.user}


def _register(e: Entry) -> Entry:
    key = _norm(e.name)
    with _LOCK:
        _check_name(e, key)
        if key in _ENTRIES:
            raise ValueError(f"surrogate name collision: {key!r} is already registered")
        _ENTRIES[key] = e
    return e


def _register_multistep(e: MultiStepEntry) -> MultiStepEntry:
    key = _norm(e.name)
    with _LOCK:
        if ":" in key:
            raise ValueError(f"canonical name {key!r} must not contain ':'")
        if key in _ENTRIES or key in _MULTISTEP:
            raise ValueError(f"surrogate name collision: {key!r} is already registered")
        _MULTISTEP[key] = e
    return e


def multistep_entries() -> dict[str, MultiStepEntry]:
    """The multi-step definitions by name."""
    with _LOCK:
        return dict(_MULTISTEP)


def multistep_names() -> list[str]:
    """Names of the multi-step surrogates (acting on ``[T, ...]`` sequences)."""
    return list(multistep_entries())


def register(e: Entry) -> Entry:
    """Register a definition under its name and return it.

    Built-in definitions register while the catalogue loads; a user definition (from
    :func:`spikegrad.define`) must be named ``"namespace:name"`` with a namespace of the
    user's own.  Afterwards ``spikegrad.get(name)``, ``spikegrad list/show``, every adapter
    and the conformance suite find it.

    Raises
    ------
    ValueError
        If the name is taken, badly spelled, or uses a built-in library's namespace.
    """
    return _register(e)


def unregister(name: str) -> Entry:
    """Remove a user definition from the index (built-ins cannot be removed).

    Bound surrogates made from it keep working: they hold the definition itself.
    """
    with _LOCK:
        e = entry(name)
        if not e.user:
            raise ValueError(f"{name!r} is a built-in surrogate and cannot be unregistered")
        del _ENTRIES[_norm(name)]
    return e


def is_registered(e: Entry | MultiStepEntry) -> bool:
    """Whether ``e`` itself (not merely its name) is in the index."""
    key = _norm(e.name)
    return (_ENTRIES.get(key) or _MULTISTEP.get(key)) is e


def entry(name: str) -> Any:
    """Return the registered entry called ``name`` (canonical or ``library:Name``; an
    :class:`Entry`, or a multi-step definition)."""
    if not isinstance(name, str):
        raise TypeError(f"surrogate name must be a string, got {type(name).__name__}")
    key = _norm(name)
    found = _ENTRIES.get(key) or _MULTISTEP.get(key)
    if found is not None:
        return found
    # names are exact: a peer's spelling ("ERF") must not silently pick the canonical
    # entry, whose defaults may differ; suggest instead
    keys = list(_ENTRIES) + list(_MULTISTEP)
    close = [k for k in keys if k.lower() == key.lower()
             or k.lower().endswith(":" + key.lower())]
    close += [k for k in difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
              if k not in close]
    close = close[:4]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownSurrogateError(
        f"unknown surrogate {key!r}{hint} (spikegrad.names() lists canonical names, "
        "spikegrad.aliases(name) their aliases; `spikegrad list` on the command line)"
    )


def get(name: str | Entry | MultiStepEntry, **params: Any) -> Any:
    """Return a bound surrogate.

    Parameters
    ----------
    name : str or Entry
        A canonical name (``"atan"``), a peer library's alias ``"library:Name"``
        (``"snntorch:fast_sigmoid"``), which takes that library's parameter names and
        defaults, a registered user name, or a definition itself.
    **params
        Parameter values (Python numbers, or arrays for real parameters); omitted ones
        take the entry's defaults.

    Returns
    -------
    Bound or MultiStepBound
        Surrogate with ``spike``, ``derivative`` and ``primitive``; for a multi-step name
        (``"dsr_if"``, ``"dsr_lif"``) one with ``forward``, ``backward`` and ``spike``
        over ``[T, ...]`` sequences.

    Raises
    ------
    UnknownSurrogateError
        For an unknown name (with close matches).
    TypeError
        For an unknown parameter name or a parameter of the wrong type.
    ValueError
        For a parameter outside its domain.

    Examples
    --------
    >>> import spikegrad
    >>> s = spikegrad.get("atan", alpha=2.0)
    >>> s.peak
    1.0
    """
    e = name if isinstance(name, (Entry, MultiStepEntry)) else entry(name)
    return e.bind(**params)


def names(*, user: bool = True) -> list[str]:
    """Canonical surrogate names, in catalogue order, then registered user definitions
    (``user=False`` leaves those out)."""
    with _LOCK:
        items = list(_ENTRIES.values())
    canon = [e for e in items if not e.is_alias and not e.user]
    out = [e.name for e in sorted(canon, key=lambda e: e.extra.get("row", 999))]
    if user:
        out += [e.name for e in items if e.user and not e.is_alias]
    return out


def aliases(name: str | None = None) -> list[str]:
    """Aliases (``library:Name``) of canonical surrogate ``name`` (all aliases if None)."""
    with _LOCK:
        items = list(_ENTRIES.items())
    if name is None:
        return [k for k, e in items if e.is_alias]
    canonical = entry(name).canonical
    return [k for k, e in items if e.is_alias and e.canonical == canonical]


def all_entries() -> list[Entry]:
    """Every registered entry, canonical names first."""
    with _LOCK:
        items = list(_ENTRIES.values())
    return [e for e in items if not e.is_alias] + [e for e in items if e.is_alias]


# -- pickling: a registered definition travels as its name ------------------------------------
def _rebuild(cls: type, fields_: dict[str, Any]) -> Any:
    return cls(**fields_)


def _registered(name: str, module: str | None = None) -> Any:
    """The registered definition ``name``, for unpickling; where it is not registered,
    the error names ``module`` (the module that defined it) and says to import it."""
    try:
        return entry(name)
    except UnknownSurrogateError:
        if module is None:
            raise
        if module == "__main__":
            where = ("it was defined in a script (__main__): define and register it in this "
                     "process before loading")
        else:
            where = (f"import {module} (the module that defines it) so that its "
                     "spikegrad.register(...) runs in this process before loading; a "
                     "multiprocessing or DataLoader worker needs the import too")
        raise UnknownSurrogateError(
            f"cannot unpickle surrogate {name!r}: a registered definition pickles by name "
            f"and no definition is registered under that name in this process; {where}"
        ) from None


def _reduce(e: Entry | MultiStepEntry) -> tuple[Any, tuple[Any, ...]]:
    if is_registered(e):
        module = getattr(e, "extra", {}).get("module") if getattr(e, "user", False) else None
        return (_registered, (e.name, module)) if module else (entry, (e.name,))
    return (_rebuild, (type(e), {f: getattr(e, f) for f in e.__dataclass_fields__}))


copyreg.pickle(Entry, _reduce)
copyreg.pickle(MultiStepEntry, _reduce)
