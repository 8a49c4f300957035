"""jax arrays for the jax bindings: the input check, the compute dtype, and a
``jax.numpy`` whose divisions and products round as IEEE arithmetic does."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .._arrays import framework_of
from .._evaluate import compute_dtype_for
from .._numerics import two_prod_arrays

__all__ = ["check_array", "compute", "exact_namespace"]

def check_array(x: Any, what: str = "x") -> jax.Array:
    """Return ``x`` as a jax array, or raise ``TypeError`` with the fix."""
    mod = framework_of(x)
    if mod not in ("jax", "numpy") and not isinstance(x, jax.Array):
        raise TypeError(
            f"the jax adapter takes jax (or numpy) arrays, got {mod}.{type(x).__name__}; "
            f"convert it first, e.g. jnp.asarray(np.asarray({what})) or jax.dlpack.from_dlpack"
        )
    if isinstance(x, (bool, int, float, complex)):
        raise TypeError(f"expected an array, got {type(x).__name__}; wrap it with jnp.asarray")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{what} has dtype {x.dtype}; surrogate gradients need a real floating array "
            "(float16, bfloat16, float32 or float64): cast it first, e.g. "
            f"{what}.astype(jnp.float32)"
        )
    return x


def compute(x: jax.Array) -> jax.Array:
    """``x`` in its compute dtype (float32 for float16/bfloat16)."""
    return x.astype(compute_dtype_for(jnp, x.dtype))


class _IEEE:
    """``jax.numpy`` whose ``divide`` and ``multiply`` round as IEEE arithmetic does.

    XLA on CPU replaces a division by a constant or by a broadcast divisor with a
    multiplication by its reciprocal (off by one unit in the last place for about one
    quotient in six), and contracts a product that feeds a sum into a fused multiply-add;
    the recurrence and the error-free transformations must round as in every other
    binding.  ``divide`` corrects the quotient
    with its exact residual ``a - q*b`` (an error-free product); ``multiply`` passes the
    product through a select, which the contraction does not cross (the same value, NaN
    included).
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(jnp, name)

    @staticmethod
    def multiply(a: Any, b: Any) -> jax.Array:
        a = jnp.asarray(a)
        return jnp.where(jnp.isnan(a), a, a * jnp.asarray(b, dtype=a.dtype))

    @staticmethod
    def keep_rounded(v: Any) -> jax.Array:
        """``v`` behind an optimization barrier: XLA's algebraic simplifier rewrites
        ``t - (t - a)`` to ``a``, which undoes an error-free split or sum."""
        return jax.lax.optimization_barrier(v)

    @staticmethod
    def divide(a: Any, b: Any) -> jax.Array:
        a = jnp.asarray(a)
        b = jnp.asarray(b, dtype=a.dtype)
        q = a / b
        p, e = two_prod_arrays(q, jnp.broadcast_to(b, q.shape), jnp)
        corrected = q + ((a - p) - e) / b
        return jnp.where(jnp.isfinite(corrected), corrected, q)


exact_namespace = _IEEE()
