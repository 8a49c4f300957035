"""The surrogate definitions, grouped by family; importing registers them."""

from . import periodic, piecewise, rational, smooth, stochastic  # noqa: F401
