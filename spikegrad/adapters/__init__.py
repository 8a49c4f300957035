"""Framework adapters binding every registered surrogate.

``spikegrad.adapters.reference`` is the reference engine (explicit forward and manual
backward, generic over the array-API namespace of its input).  Framework adapters
(torch, jax, cupy) live in their own modules and import their framework lazily.
"""
