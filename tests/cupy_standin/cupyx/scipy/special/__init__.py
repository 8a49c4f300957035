"""``cupyx.scipy.special`` of the CuPy stand-in: elementwise on the current device, in
the input's dtype (computed in double, rounded once)."""

import math
from collections.abc import Callable
from typing import Any

import numpy as _np
from cupy._core import _new, _operand, current_device_id

__all__ = ["erf", "erfc"]


def _elementwise(fn: Callable[[float], float]) -> Callable[[Any], Any]:
    vec = _np.frompyfunc(fn, 1, 1)

    def apply(x: Any) -> Any:
        a = _operand(x, current_device_id())
        a = _np.asarray(a)
        out = _np.asarray(vec(a.astype(_np.float64)), dtype=_np.float64)
        dtype = a.dtype if a.dtype.kind == "f" else _np.dtype(_np.float64)
        return _new(out.astype(dtype))

    apply.__name__ = fn.__name__
    return apply


erf = _elementwise(math.erf)
erfc = _elementwise(math.erfc)
