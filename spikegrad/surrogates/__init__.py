"""The surrogate definitions, grouped by family; importing registers them."""

from . import dsr, periodic, piecewise, rational, smooth, stochastic  # noqa: F401
