"""``cupy.fft`` of the stand-in (NumPy's, wrapped)."""

import numpy as _np

from .._core import namespace as _namespace

globals().update(_namespace(_np.fft))
