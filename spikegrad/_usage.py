"""Errors of the command line: a wrong value gets one line naming the closest valid
choices, and the command exits with status 2 (argparse's convention), never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from ._registry import aliases, multistep_names
from ._registry import entry as lookup
from ._registry import names as registered

__all__ = ["UsageError", "did_you_mean", "surrogate_entry", "unknown"]

#: A list of valid choices is printed in full up to this many entries.
_SHORT_LIST = 12


class UsageError(Exception):
    """A wrong value on the command line: the command prints its one-line message (no
    traceback) and exits with status 2, as argparse does for its own errors."""


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'A' or 'B'?"``, naming up to four ``choices`` close to ``value``
    (equal but for case, equal to their last ``library:`` part, then the nearest by
    :func:`difflib.get_close_matches`), or ``""`` when none is close."""
    low = value.lower()
    close = [c for c in choices if c.lower() == low or c.lower().endswith(":" + low)]
    close += [c for c in difflib.get_close_matches(value, choices, n=3, cutoff=0.6)
              if c not in close]
    return f"; did you mean {' or '.join(repr(c) for c in close[:4])}?" if close else ""


def unknown(kind: str, value: str, choices: Sequence[str], *, of: str = "",
            hint: str | None = None) -> UsageError:
    """The error for an unknown ``value`` of ``kind`` (``"library"``, ``"surrogate"``, ...).

    Parameters
    ----------
    kind : str
        What was asked for, as the message names it.
    value : str
        The value given.
    choices : sequence of str
        The valid values.
    of : str
        Owner of the choices, added to the message (``"unknown parameter 'a' of atan"``).
    hint : str, optional
        The closing parenthesis; default: ``KINDs: A, B, ...``, the choices in full, when
        there are few.

    Returns
    -------
    UsageError
        ``unknown KIND 'VALUE'[ of OF]; did you mean 'A' or 'B'? (HINT)``, on one line.
    """
    text = f"unknown {kind} {value!r}" + (f" of {of}" if of else "")
    if hint is None and len(choices) <= _SHORT_LIST:
        hint = f"{kind}s: {', '.join(choices)}"
    return UsageError(text + did_you_mean(value, choices) + (f" ({hint})" if hint else ""))


def surrogate_entry(name: str) -> Any:
    """The registered entry (a surrogate, alias or multi-step surrogate) called ``name``.

    Raises
    ------
    UsageError
        For an unknown name, with the closest registered names.
    """
    choices = [*registered(), *aliases(), *multistep_names()]
    if name.strip() not in choices:
        raise unknown("surrogate", name, choices,
                      hint="`spikegrad list` lists the surrogates, `spikegrad list "
                           "--library NAME` one library's names")
    return lookup(name)
