"""The stand-in's arrays: NumPy arrays behind a CuPy-like ``ndarray`` on virtual devices.

What CuPy enforces and a plain NumPy array would let pass is enforced here too, so a
binding that works on the stand-in is not merely working on NumPy:

* no implicit host conversion: ``numpy.asarray(x)`` raises ``TypeError`` (``.get()`` /
  ``cupy.asnumpy`` convert), and NumPy arrays are refused as operands of functions and
  operators;
* devices: every array lives on a device (``x.device``); operations run on the *current*
  device (``with cupy.cuda.Device(i)``), put their results there and refuse operands
  from another one (CuPy without peer access); views keep their array's device;
* no floating-point warnings (a GPU raises none); reductions give 0-d arrays.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

#: Virtual devices (cupy.cuda.runtime.getDeviceCount()).
DEVICE_COUNT = 2

_state = threading.local()


class CUDARuntimeError(RuntimeError):
    """As ``cupy_backends.cuda.api.runtime.CUDARuntimeError``."""


def current_device_id() -> int:
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else getattr(_state, "base", 0)


class Device:
    """``cupy.cuda.Device``: a context manager making device ``id`` current."""

    def __init__(self, device: Any = None):
        if device is None:
            device = current_device_id()
        elif isinstance(device, Device):
            device = device.id
        self.id = int(device)
        if not 0 <= self.id < DEVICE_COUNT:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def __enter__(self) -> Device:
        if not hasattr(_state, "stack"):
            _state.stack = []
        _state.stack.append(self.id)
        return self

    def __exit__(self, *exc: object) -> None:
        _state.stack.pop()

    def use(self) -> None:
        _state.base = self.id

    def synchronize(self) -> None:
        pass

    @property
    def compute_capability(self) -> str:
        return "90"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("cuda", self.id))

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


def _peer_error(array_device: int, current: int) -> ValueError:
    return ValueError(f"The device where the array resides ({array_device}) is different "
                      f"from the current device ({current}). Peer access is unavailable "
                      "between these devices.")


class ndarray(NDArrayOperatorsMixin):
    """Multi-dimensional array on a (virtual) CUDA device, held as a NumPy array."""

    __slots__ = ("_a", "_dev")

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None,
                 strides: Any = None, order: str = "C"):
        self._a = np.empty(shape, dtype=dtype, order=order)
        self._dev = current_device_id()

    # -- conversion -----------------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def get(self, stream: Any = None, order: str = "C", out: Any = None) -> np.ndarray:
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order)

    def __repr__(self) -> str:
        return repr(self._a)

    def __str__(self) -> str:
        return str(self._a)

    # -- attributes -----------------------------------------------------------------------
    @property
    def device(self) -> Device:
        return Device(self._dev)

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: _view(self, self._a.T))
    mT = property(lambda self: _view(self, np.swapaxes(self._a, -1, -2)))
    real = property(lambda self: _view(self, self._a.real))
    imag = property(lambda self: _view(self, self._a.imag))

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __complex__(self) -> complex:
        return complex(self._a)

    def __index__(self) -> int:
        return self._a.__index__()

    def item(self) -> Any:
        return self._a.item()

    def tolist(self) -> Any:
        return self._a.tolist()

    # -- indexing (views keep the array's device) -------------------------------------------
    def __getitem__(self, index: Any) -> ndarray:
        return _view(self, self._a[_index(index, self._dev)])

    def __setitem__(self, index: Any, value: Any) -> None:
        _on_current(self)
        if isinstance(value, ndarray):
            value = _operand(value, current_device_id())
        with np.errstate(all="ignore"):
            self._a[_index(index, self._dev)] = value

    # -- methods --------------------------------------------------------------------------
    def astype(self, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None,
               copy: bool = True) -> ndarray:
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        _on_current(self)
        with np.errstate(all="ignore"):
            return _new(self._a.astype(dtype, order=order))

    def copy(self, order: str = "C") -> ndarray:  # to the current device (a peer copy)
        return _new(self._a.copy(order=order))

    def fill(self, value: Any) -> None:
        _on_current(self)
        self._a.fill(value)

    def reshape(self, *shape: Any, order: str = "C") -> ndarray:
        return _view(self, self._a.reshape(*shape, order=order))

    def view(self, dtype: Any = None) -> ndarray:
        return _view(self, self._a.view() if dtype is None else self._a.view(dtype))

    def transpose(self, *axes: Any) -> ndarray:
        return _view(self, self._a.transpose(*axes))

    def swapaxes(self, a: int, b: int) -> ndarray:
        return _view(self, self._a.swapaxes(a, b))

    def squeeze(self, axis: Any = None) -> ndarray:
        return _view(self, self._a.squeeze(axis))

    def ravel(self, order: str = "C") -> ndarray:
        flat = self._a.ravel(order)
        if np.shares_memory(flat, self._a):
            return _view(self, flat)
        _on_current(self)
        return _new(flat)

    def __getattr__(self, name: str) -> Any:
        """Other NumPy methods (``sum``, ``max``, ``any``, ``flatten``, ...): a kernel on the
        current device, results there (reductions as 0-d arrays)."""
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return attr

        def method(*args: Any, **kwargs: Any) -> Any:
            _on_current(self)
            dev = current_device_id()
            args, kwargs = _unwrap_all(args, kwargs, dev)
            with np.errstate(all="ignore"):
                return _wrap_result(attr(*args, **kwargs), dev)

        return method

    # -- NumPy protocols: operators and numpy functions on these arrays ----------------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        dev = current_device_id()
        args = [_operand(a, dev) for a in inputs]
        out = kwargs.pop("out", None)
        if out is not None:
            if not all(isinstance(o, ndarray) for o in out):
                raise TypeError("out must be a cupy.ndarray")
            kwargs["out"] = tuple(_operand(o, dev) for o in out)
        with np.errstate(all="ignore"):
            result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap_result(result, dev)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        import cupy

        mod = func.__module__ or ""
        space = {"numpy": cupy, "numpy.linalg": cupy.linalg, "numpy.fft": cupy.fft}.get(mod)
        impl = getattr(space, func.__name__, None) if space is not None else None
        if impl is None:
            return NotImplemented
        return impl(*args, **kwargs)


ndarray.__module__ = "cupy"
ndarray.__qualname__ = "ndarray"


# -- helpers ------------------------------------------------------------------------------
def _new(a: Any, dev: int | None = None) -> ndarray:
    """Wrap NumPy array ``a`` (scalars become 0-d arrays) on ``dev`` (default: current)."""
    out = object.__new__(ndarray)
    out._a = a if isinstance(a, np.ndarray) else np.asarray(a)
    out._dev = current_device_id() if dev is None else dev
    return out


def _view(base: ndarray, a: np.ndarray) -> ndarray:
    return _new(a, base._dev)


def _on_current(x: ndarray) -> None:
    cur = current_device_id()
    if x._dev != cur:
        raise _peer_error(x._dev, cur)


def _operand(x: Any, dev: int) -> Any:
    """The NumPy array behind an operand on device ``dev``; scalars pass."""
    if isinstance(x, ndarray):
        if x._dev != dev:
            raise _peer_error(x._dev, dev)
        return x._a
    if isinstance(x, (np.ndarray, list, tuple)) or not (
            isinstance(x, (bool, int, float, complex, np.generic)) or x is None):
        raise TypeError(f"Unsupported type {type(x)}")
    return x


def _index(index: Any, dev: int) -> Any:
    if isinstance(index, tuple):
        return tuple(_index(i, dev) for i in index)
    if isinstance(index, ndarray):
        return _operand(index, dev)
    return index


def _unwrap(x: Any, dev: int, host_ok: bool) -> Any:
    if isinstance(x, ndarray):
        return _operand(x, dev)
    if isinstance(x, np.ndarray):
        if not host_ok:
            raise TypeError(f"Unsupported type {type(x)}")
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, dev, host_ok) for v in x)
    return x


def _unwrap_all(args: tuple[Any, ...], kwargs: dict[str, Any], dev: int,
                host_ok: bool = False) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (tuple(_unwrap(a, dev, host_ok) for a in args),
            {k: _unwrap(v, dev, host_ok) for k, v in kwargs.items()})


def _wrap_result(r: Any, dev: int) -> Any:
    if isinstance(r, (np.ndarray, np.generic)):
        return _new(r, dev)
    if isinstance(r, tuple) and not hasattr(r, "_fields"):
        return tuple(_wrap_result(v, dev) for v in r)
    if isinstance(r, list):
        return [_wrap_result(v, dev) for v in r]
    if hasattr(r, "_fields"):  # named tuples (unique_all, ...)
        return type(r)(*(_wrap_result(v, dev) for v in r))
    return r


def _first_array(args: tuple[Any, ...]) -> ndarray | None:
    for a in args:
        if isinstance(a, ndarray):
            return a
        if isinstance(a, (list, tuple)):
            found = _first_array(tuple(a))
            if found is not None:
                return found
    return None


#: Functions that return views (no kernel: the array's device, no device check).
VIEWS = frozenset({
    "reshape", "transpose", "permute_dims", "expand_dims", "squeeze", "broadcast_to",
    "broadcast_arrays", "swapaxes", "moveaxis", "rollaxis", "atleast_1d", "atleast_2d",
    "atleast_3d", "matrix_transpose", "real", "imag", "diagonal", "split", "array_split",
    "unstack",
})

#: Functions reading no array data (shapes, dtypes): anything goes, nothing is wrapped.
METADATA = frozenset({
    "shape", "ndim", "size", "result_type", "can_cast", "isdtype", "issubdtype", "dtype",
    "finfo", "iinfo", "promote_types", "min_scalar_type", "isscalar", "broadcast_shapes",
    "get_printoptions", "set_printoptions", "printoptions", "ndindex", "ndenumerate",
})


def wrap_function(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A CuPy-like function over NumPy's ``fn``: stand-in arrays in (on the current device;
    NumPy arrays refused), results on the current device (views on their array's)."""
    if name in METADATA:
        def meta(*args: Any, **kwargs: Any) -> Any:
            return fn(*(a._a if isinstance(a, ndarray) else a for a in args), **kwargs)

        meta.__name__ = meta.__qualname__ = name
        meta.__doc__ = fn.__doc__
        return meta

    view = name in VIEWS

    def function(*args: Any, **kwargs: Any) -> Any:
        if view:
            base = _first_array(args)
            dev = base._dev if base is not None else current_device_id()
        else:
            dev = current_device_id()
        args, kwargs = _unwrap_all(args, kwargs, dev)
        with np.errstate(all="ignore"):
            return _wrap_result(fn(*args, **kwargs), dev)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = fn.__doc__
    return function


def namespace(module: Any, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """CuPy-like names of NumPy module ``module``: types and constants as they are,
    functions wrapped (:func:`wrap_function`)."""
    out: dict[str, Any] = {}
    for name in dir(module):
        if name.startswith("_") or name in skip:
            continue
        obj = getattr(module, name)
        if isinstance(obj, type) or not callable(obj):
            if type(obj).__name__ != "module":
                out[name] = obj
            continue
        out[name] = wrap_function(name, obj)
    return out


# -- creation ------------------------------------------------------------------------------
def asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> Any:
    """A stand-in array as it is (cast when ``dtype`` differs); anything else copied from
    the host to the current device."""
    if isinstance(a, ndarray):
        return a if dtype is None else a.astype(dtype, copy=False)
    return _new(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj: Any, dtype: Any = None, copy: Any = True, order: str = "K",
          subok: bool = False, ndmin: int = 0, *, blocking: bool = False) -> Any:
    if isinstance(obj, ndarray):
        if copy is False or copy is None:
            return obj if dtype is None else obj.astype(dtype, copy=False)
        out = obj.copy() if dtype is None else obj.astype(dtype)
        return out
    return _new(np.array(obj, dtype=dtype, order=order, copy=True, ndmin=ndmin))


def ascontiguousarray(a: Any, dtype: Any = None) -> Any:
    a = asarray(a)
    if (dtype is None or np.dtype(dtype) == a.dtype) and a.ndim and a.flags.c_contiguous:
        return a
    _on_current(a)
    return _new(np.ascontiguousarray(a._a, dtype=dtype))


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None,
            blocking: bool = True) -> np.ndarray:
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args: Any) -> Any:
    import cupy

    return cupy if any(isinstance(a, ndarray) for a in args) else np
