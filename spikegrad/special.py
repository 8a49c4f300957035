"""Functions outside the array API standard, with one native implementation per namespace.

Surrogate formulas call these instead of branching on the framework themselves:

* :func:`erfc` — complementary error function (primitives of the Gaussian family);
* :func:`uniform` — uniform draws in [0, 1) from an explicit generator or key.

A namespace is recognised by its module name, so no framework is imported to inspect an
array.  Adding a backend means adding one row to each table below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["erfc", "namespace_name", "uniform"]

Array = Any


def namespace_name(xp: Any) -> str:
    """Short name of an array namespace: ``numpy``, ``torch``, ``jax``, ``cupy``, …"""
    name = getattr(xp, "__name__", type(xp).__name__)
    if name.startswith("array_api_compat."):
        name = name.split(".", 1)[1]
    if name.startswith("jax"):
        return "jax"
    return name.split(".", 1)[0]


def _to_numpy(x: Array) -> Any:
    if isinstance(x, np.ndarray):
        return x
    return np.from_dlpack(x)


# -- erfc ---------------------------------------------------------------------------------
def _erfc_numpy_like(x: Array, xp: Any) -> Array:
    xn = _to_numpy(x)
    vec = np.frompyfunc(math.erfc, 1, 1)
    out = np.asarray(vec(xn.astype(np.float64)), dtype=np.float64).astype(xn.dtype)
    if xp is np or namespace_name(xp) == "numpy":
        return out
    return xp.asarray(out)


def _erfc_torch(x: Array, xp: Any) -> Array:
    import torch  # optional: only for torch tensors

    return torch.special.erfc(x)


def _erfc_jax(x: Array, xp: Any) -> Array:
    import jax.scipy.special as jss  # optional: only for jax arrays

    return jss.erfc(x)


def _erfc_cupy(x: Array, xp: Any) -> Array:
    import cupyx.scipy.special as css  # optional: only for cupy arrays

    return css.erfc(x)


def _erfc_trace(x: Array, xp: Any) -> Array:
    return xp._node("erfc", (x,))


_ERFC: dict[str, Callable[[Array, Any], Array]] = {
    "spikegrad_trace": _erfc_trace,
    "numpy": _erfc_numpy_like,
    "array_api_strict": _erfc_numpy_like,
    "torch": _erfc_torch,
    "jax": _erfc_jax,
    "cupy": _erfc_cupy,
}


def erfc(x: Array, xp: Any) -> Array:
    """Complementary error function of a real floating array, in its namespace.

    Raises
    ------
    TypeError
        If the namespace has no registered implementation.
    """
    name = namespace_name(xp)
    try:
        impl = _ERFC[name]
    except KeyError:
        raise TypeError(
            f"spikegrad.special.erfc has no implementation for namespace {name!r}; "
            "register one in spikegrad.special._ERFC"
        ) from None
    return impl(x, xp)


# -- remainder and double precision --------------------------------------------------------
def has_float64(xp: Any) -> bool:
    """Whether namespace ``xp`` computes in float64 (jax only with ``jax_enable_x64``)."""
    if namespace_name(xp) == "jax":
        import jax  # optional: only for jax arrays

        return bool(jax.config.jax_enable_x64)
    return True


def remainder(x: Array, period: Any, xp: Any) -> Array:
    """``x mod period`` in ``[0, period)``, exact (the array API leaves its precision open:
    torch computes ``x - period * floor(x / period)``, wrong far from 0 and NaN near the
    largest float; ``fmod`` is exact, and only its sign is fixed here)."""
    if namespace_name(xp) == "torch":
        import torch  # optional: the torch branch runs on torch tensors only

        # torch's vectorised fmod is exact only while x / period is finite: reduce by
        # period * 2**m >= 1 first (an exact multiple of period)
        if isinstance(period, (int, float)):
            if period < 1.0:
                x = torch.fmod(x, math.ldexp(period, -math.frexp(period)[1] + 1))
        else:
            exponent = torch.frexp(period)[1]
            x = torch.fmod(x, torch.where(period < 1.0, torch.ldexp(period, 1 - exponent),
                                          period))
        r = torch.fmod(x, period)
        return torch.where(r < 0, r + period, r)
    return xp.remainder(x, period)


# -- uniform ------------------------------------------------------------------------------
def _uniform_numpy(key: Any, shape: tuple[int, ...], dtype: Any, like: Array, xp: Any) -> Array:
    if not isinstance(key, np.random.Generator):
        raise TypeError(
            "numpy arrays need key=numpy.random.Generator, e.g. numpy.random.default_rng(0); "
            f"got {type(key).__name__}"
        )
    out = key.random(shape, dtype=np.float64)
    if namespace_name(xp) == "numpy":
        return out.astype(dtype)
    return xp.asarray(out, dtype=dtype)


def _uniform_torch(key: Any, shape: tuple[int, ...], dtype: Any, like: Array, xp: Any) -> Array:
    import torch  # optional: only for torch tensors

    if not isinstance(key, torch.Generator):
        raise TypeError(
            f"torch tensors need key=torch.Generator(device=...); got {type(key).__name__}"
        )
    return torch.rand(shape, generator=key, dtype=dtype, device=like.device)


def _uniform_jax(key: Any, shape: tuple[int, ...], dtype: Any, like: Array, xp: Any) -> Array:
    import jax  # optional: only for jax arrays

    return jax.random.uniform(key, shape, dtype=dtype)


def _uniform_cupy(key: Any, shape: tuple[int, ...], dtype: Any, like: Array, xp: Any) -> Array:
    import cupy  # optional: only for cupy arrays

    if not isinstance(key, cupy.random.Generator):
        raise TypeError(
            f"cupy arrays need key=cupy.random.default_rng(seed); got {type(key).__name__}"
        )
    return key.random(shape, dtype=dtype)


_UNIFORM: dict[str, Callable[..., Array]] = {
    "numpy": _uniform_numpy,
    "array_api_strict": _uniform_numpy,
    "torch": _uniform_torch,
    "jax": _uniform_jax,
    "cupy": _uniform_cupy,
}


def uniform(key: Any, like: Array, dtype: Any, xp: Any) -> Array:
    """Uniform draws in [0, 1) with ``like``'s shape, from an explicit ``key``.

    ``key`` is a ``numpy.random.Generator`` (numpy, array-api-strict), a
    ``torch.Generator``, a ``jax.random`` key or a ``cupy.random.Generator``.
    """
    name = namespace_name(xp)
    if key is None:
        raise TypeError(
            "this surrogate is stochastic: pass key= (numpy.random.default_rng(seed), "
            "torch.Generator, jax.random.key(seed) or cupy.random.default_rng(seed)); "
            "spikegrad never uses hidden global random state"
        )
    try:
        impl = _UNIFORM[name]
    except KeyError:
        raise TypeError(f"no uniform sampler registered for namespace {name!r}") from None
    return impl(key, tuple(like.shape), dtype, like, xp)
