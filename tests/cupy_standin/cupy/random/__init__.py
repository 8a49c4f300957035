"""``cupy.random`` of the stand-in: generators drawing on the current device (NumPy's
PCG64 streams, so a seed gives NumPy's ``default_rng(seed)`` values)."""

from typing import Any

import numpy as _np

from .._core import _new

__all__ = ["Generator", "default_rng"]


class Generator:
    """``cupy.random.Generator``."""

    def __init__(self, bit_generator: Any):
        self._rng = _np.random.Generator(bit_generator)

    def random(self, size: Any = None, dtype: Any = _np.float64, out: Any = None) -> Any:
        return _new(self._rng.random(size, dtype=dtype))

    def standard_normal(self, size: Any = None, dtype: Any = _np.float64) -> Any:
        return _new(self._rng.standard_normal(size, dtype=dtype))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None,
                dtype: Any = _np.float64) -> Any:
        return _new(self._rng.uniform(low, high, size).astype(dtype))

    def integers(self, low: int, high: Any = None, size: Any = None,
                 dtype: Any = _np.int64, endpoint: bool = False) -> Any:
        return _new(self._rng.integers(low, high, size, dtype=dtype, endpoint=endpoint))


def default_rng(seed: Any = None) -> Generator:
    return Generator(_np.random.PCG64(seed))
