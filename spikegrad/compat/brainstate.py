"""brainstate's surrogate API (``brainstate.surrogate``, the same classes and functions as
braintools') over spikegrad's ``brainstate:<Name>`` aliases, with the semantics of
braintools 0.4 (brainstate 0.2 moved the module to braintools): see
:mod:`spikegrad.compat.braintools`.  The classes share its :class:`Surrogate` base, so a
subclass of your own serves both modules."""

from __future__ import annotations

from .braintools import _NAMES, Surrogate, _make

__all__ = ["Surrogate", *_NAMES, *_NAMES.values()]

for _cls, _fn in _NAMES.items():
    globals()[_cls], globals()[_fn] = _make(_cls, _fn, "brainstate")
del _cls, _fn
