"""Registry of named entries: register, look up, list canonical names and aliases."""

from __future__ import annotations

import difflib
from typing import Any

from ._spec import Bound, Entry, UnknownSurrogateError

__all__ = ["aliases", "all_entries", "entry", "get", "names", "register"]

_ENTRIES: dict[str, Entry] = {}
_LOADED = False


def _norm(name: str) -> str:
    return name.strip()


def register(e: Entry) -> Entry:
    """Register a named entry; a name that is already taken raises ``ValueError``."""
    key = _norm(e.name)
    if key in _ENTRIES:
        raise ValueError(f"surrogate name collision: {key!r} is already registered")
    if e.is_alias:
        if ":" not in key:
            raise ValueError(f"alias {key!r} must be spelled 'library:Name'")
    elif ":" in key:
        raise ValueError(f"canonical name {key!r} must not contain ':'")
    _ENTRIES[key] = e
    return e


def _ensure_loaded() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import importlib

        for module in ("surrogates", "_aliases"):  # registration side effects
            importlib.import_module(f"{__package__}.{module}")


def entry(name: str) -> Entry:
    """Return the registered entry called ``name`` (canonical or ``library:Name``)."""
    if not isinstance(name, str):
        raise TypeError(f"surrogate name must be a string, got {type(name).__name__}")
    _ensure_loaded()
    key = _norm(name)
    if key in _ENTRIES:
        return _ENTRIES[key]
    # names are exact: a peer's spelling ("ERF") must not silently pick the canonical
    # entry, whose defaults may differ; suggest instead
    close = [k for k in _ENTRIES if k.lower() == key.lower()
             or k.lower().endswith(":" + key.lower())]
    close += [k for k in difflib.get_close_matches(key, list(_ENTRIES), n=3, cutoff=0.6)
              if k not in close]
    close = close[:4]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownSurrogateError(
        f"unknown surrogate {key!r}{hint} (spikegrad.names() lists canonical names, "
        "spikegrad.aliases(name) their aliases)"
    )


def get(name: str, **params: Any) -> Bound:
    """Return a bound surrogate.

    Parameters
    ----------
    name : str
        A canonical name (``"atan"``) or a peer library's alias ``"library:Name"``
        (``"snntorch:fast_sigmoid"``), which takes that library's parameter names and
        defaults.
    **params
        Parameter values; omitted ones take the entry's defaults.

    Returns
    -------
    Bound
        Frozen, hashable surrogate with ``spike``, ``derivative`` and ``primitive``.

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
    return entry(name).bind(**params)


def names() -> list[str]:
    """Canonical surrogate names, in catalogue order."""
    _ensure_loaded()
    canon = [e for e in _ENTRIES.values() if not e.is_alias]
    return [e.name for e in sorted(canon, key=lambda e: e.extra.get("row", 999))]


def aliases(name: str | None = None) -> list[str]:
    """Aliases (``library:Name``) of canonical surrogate ``name`` (all aliases if None)."""
    _ensure_loaded()
    if name is None:
        return [k for k, e in _ENTRIES.items() if e.is_alias]
    canonical = entry(name).canonical
    return [k for k, e in _ENTRIES.items() if e.is_alias and e.canonical == canonical]


def all_entries() -> list[Entry]:
    """Every registered entry, canonical names first."""
    _ensure_loaded()
    items = list(_ENTRIES.values())
    return [e for e in items if not e.is_alias] + [e for e in items if e.is_alias]
