"""A NumPy-backed stand-in for CuPy, for spikegrad's tests on machines without a GPU.

Installed on ``sys.path`` only inside the tests that use it (``tests.cupy_standin.
installed()``).  Arrays are NumPy arrays behind a CuPy-like ``ndarray`` (its type's module
is ``cupy``, so spikegrad and array-api-compat take it for a CuPy array) on two virtual
devices; ``ElementwiseKernel`` and ``RawModule`` run the kernels' own CUDA text compiled
for the host by the C twins of ``tests/_cupy_emulation.py``.  See ``_core`` for what is
enforced as on a GPU (no implicit host conversion, devices, no warnings).
"""

import numpy as _np

from . import _core
from ._core import array as array
from ._core import asarray as asarray
from ._core import ascontiguousarray as ascontiguousarray
from ._core import asnumpy as asnumpy
from ._core import get_array_module as get_array_module
from ._core import ndarray as ndarray

_OWN = frozenset({"ndarray", "asarray", "array", "ascontiguousarray", "asanyarray",
                  "asfortranarray", "matrix", "memmap", "recarray", "random", "linalg",
                  "fft", "testing", "info", "show_config", "show_runtime"})
globals().update(_core.namespace(_np, skip=_OWN))
asanyarray = asarray

from . import cuda as cuda  # noqa: E402
from . import fft as fft  # noqa: E402
from . import linalg as linalg  # noqa: E402
from . import random as random  # noqa: E402
from ._kernels import ElementwiseKernel as ElementwiseKernel  # noqa: E402
from ._kernels import RawKernel as RawKernel  # noqa: E402
from ._kernels import RawModule as RawModule  # noqa: E402

__version__ = "14.0.0"
#: Marks the stand-in (tests tell it from a real CuPy by this).
__spikegrad_standin__ = True
