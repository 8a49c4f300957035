"""Signatures for the generated compat callables (framework-free)."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["signature"]


def signature(names: list[str], defaults: list[Any], first: tuple[str, ...] = (),
              extra: tuple[tuple[str, Any], ...] = ()) -> inspect.Signature:
    """A signature ``(first..., name=default..., extra=default...)`` for introspection."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(n, kind) for n in first]
    params += [inspect.Parameter(n, kind, default=d) for n, d in zip(names, defaults,
                                                                      strict=True)]
    params += [inspect.Parameter(n, kind, default=d) for n, d in extra]
    return inspect.Signature(params)
