"""Drop-in surrogate modules that mirror each peer library's API over spikegrad's
definitions: migrate with one import line, e.g.
``from spikegrad.compat import spikingjelly as surrogate``.

* :mod:`spikegrad.compat.spikingjelly` — ``spikingjelly.activation_based.surrogate``
* :mod:`spikegrad.compat.snntorch` — ``snntorch.surrogate``
* :mod:`spikegrad.compat.braintools` — ``braintools.surrogate`` (and
  :mod:`spikegrad.compat.brainstate` for ``brainstate.surrogate``)
* :mod:`spikegrad.compat.norse` — ``norse.torch.functional.threshold``
* :mod:`spikegrad.compat.spyx` — ``spyx.axn``
* :mod:`spikegrad.compat.sinabs` — ``sinabs.activation`` surrogate gradients

No formula lives here: every object is backed by the peer's alias in spikegrad's
catalogue (``spikegrad show spikingjelly:ATan``), with the peer's names, signatures,
defaults, methods, attributes and ``repr``.  Where a peer has a catalogued bug, the
compat name gives the correct value (as the alias does).  Each module imports its
framework (torch or jax) only when imported itself.
"""
