"""spikegrad: one reference for spiking surrogate gradients across frameworks.

Each surrogate's primitive ``g`` and derivative ``g'`` is written once against the
Python array API; adapters bind it to torch, jax and cupy, and the conformance suite
checks every adapter against high-precision golden values.

Importing spikegrad imports no array framework (only numpy and array-api-compat).

For example:

>>> import numpy as np, spikegrad
>>> s = spikegrad.get("atan", alpha=2.0)
>>> s.spike(np.array([-0.5, 0.0, 0.5]))
array([0., 1., 1.])
>>> s.derivative(np.array([0.0]))
array([1.])
"""

from __future__ import annotations

from ._multistep import MultiStepBound, MultiStepEntry, RateFormula
from ._registry import (
    aliases,
    all_entries,
    entry,
    get,
    multistep_names,
    names,
    register,
    unregister,
)
from ._spec import Bound, Domain, Entry, Formula, Param, UnknownSurrogateError
from ._user_definitions import define

# The catalogue, registered eagerly: the canonical surrogates, then the peers' aliases
# (which are written over them).
from . import surrogates, _aliases  # noqa: F401  isort: skip

__version__ = "0.1.0"

__all__ = [
    "Bound",
    "Domain",
    "Entry",
    "Formula",
    "MultiStepBound",
    "MultiStepEntry",
    "Param",
    "RateFormula",
    "UnknownSurrogateError",
    "__version__",
    "aliases",
    "all_entries",
    "define",
    "entry",
    "get",
    "multistep_names",
    "names",
    "register",
    "unregister",
]
