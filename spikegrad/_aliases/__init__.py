"""Peer libraries' names for the canonical surrogates, with their own parameter names,
defaults and forward conventions (``get("library:Name", ...)``).

An alias maps onto its canonical surrogate (with a scale where it is a rescaling) so that
its derivative equals what the library computes when the library is correct; where the
library has a known bug, the alias gives the correct math and its notes name the
difference.
"""

from . import braintools, norse, others, snntorch, spikingjelly  # noqa: F401
