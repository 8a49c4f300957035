"""The conformance harness: how the suite drives an adapter, and the built-in harnesses.

An *adapter* (a binding) evaluates spikegrad's surrogates on an array framework; its
*harness* is what the conformance suite drives to certify it: a class or instance with
these attributes:

``name`` : str
    Short name used in reports (``"torch"``).
``dtypes`` : tuple of str
    Input dtypes it supports, among ``"float16"``, ``"float32"``, ``"float64"``.
``capabilities`` : frozenset of str
    Transforms it claims: ``"jit"`` (compiled execution), ``"vmap"`` (batching),
    ``"forward_mode"`` (JVP), ``"double_backward"`` (second derivatives).  A claimed
    capability that fails is a failure; an unclaimed one is reported as not claimed.
``tolerance_ulp`` : dict
    Declared max ULP error of ``g'`` in the core range, per dtype (``"bfloat16"``
    included where the framework has it).
``flushes_subnormals`` : bool or set of str
    True where the backend flushes subnormal inputs/results of its computation to zero
    (XLA on CPU), or the input dtypes for which it does (CuPy's ``-ftz=true`` touches
    single precision only: ``{"float16", "float32"}``, float16 being computed in float32).
``load()``
    Import the framework; raise ``ImportError`` (with the fix) when it is missing.
``from_numpy(a)`` / ``to_numpy(a)``
    Move test data in and out (dtype preserved).
``forward(s, x)``
    The spike of native array ``x`` for bound surrogate ``s``.
``vjp(s, x, g)``
    ``g * g'(x)``: the input cotangent through the spike.

Optional, for the claimed capabilities: ``jit_vjp(s, x, g)``, ``vmap_vjp(s, x, g)``
(the same values through the transform), ``jvp(s, x, t)`` and ``second_derivative(s, x)``.

Harnesses are found by the adapter's name: the built-ins below, entry points of the group
``spikegrad.adapters`` (``name = "package.module:object"``, the harness of a third party's
adapter), or a dotted path ``package.module:object`` given directly.
"""

from __future__ import annotations

import functools
import importlib
from importlib import metadata
from typing import Any

import numpy as np

from .._spec import Bound
from ..adapters import reference as engine

__all__ = ["BUILTIN", "Harness", "available_adapters", "flushes", "load_harness"]

_DEFAULT_TOL = {"float64": 16.0, "float32": 16.0, "float16": 1.0, "bfloat16": 1.0}


class Harness:
    """Base class with the protocol's defaults (no capabilities, numpy data)."""

    name = "adapter"
    dtypes: tuple[str, ...] = ("float16", "float32", "float64")
    capabilities: frozenset[str] = frozenset()
    tolerance_ulp: dict[str, float] = _DEFAULT_TOL
    flushes_subnormals: bool | frozenset[str] = False

    def load(self) -> None:
        """Import the framework (raise ImportError naming the fix)."""

    def from_numpy(self, a: np.ndarray) -> Any:
        return a

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(a)

    def forward(self, s: Bound, x: Any) -> Any:
        raise NotImplementedError

    def vjp(self, s: Bound, x: Any, g: Any) -> Any:
        raise NotImplementedError


def flushes(adapter: Any, dtype: str) -> bool:
    """Whether ``adapter`` flushes subnormals for inputs of ``dtype``."""
    f = adapter.flushes_subnormals
    if isinstance(f, (set, frozenset, tuple, list)):
        return dtype in f
    return bool(f)


class NumpyHarness(Harness):
    """The reference engine itself (explicit forward, manual backward)."""

    name = "numpy"
    tolerance_ulp = {"float64": 16.0, "float32": 4.0, "float16": 1.0}  # noqa: RUF012

    def forward(self, s: Bound, x: Any) -> Any:
        return engine.forward(s, x, key=np.random.default_rng(0))[0]

    def vjp(self, s: Bound, x: Any, g: Any) -> Any:
        return engine.backward(s, x, g, key=np.random.default_rng(0))

    def multistep_vjp(self, s: Any, x: Any, g: Any) -> tuple[Any, Any, Any]:
        """(output sequence, dL/dx, dL/dv_threshold) of a multi-step surrogate."""
        return (s.forward(x), *s.backward(x, g))


class TorchHarness(Harness):
    """``spikegrad.torch`` (autograd.Function, C++ node, torch.func, torch.compile)."""

    name = "torch"
    capabilities = frozenset({"jit", "vmap", "forward_mode", "double_backward"})

    def load(self) -> None:
        try:
            self.torch = importlib.import_module("torch")
            self.sgt = importlib.import_module("spikegrad.torch")
        except ImportError as exc:
            raise ImportError(f"the torch adapter needs PyTorch ({exc}); "
                              "pip install torch") from exc
        self._compiled: dict[Any, Any] = {}

    def from_numpy(self, a: np.ndarray) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(a))

    def to_numpy(self, a: Any) -> np.ndarray:
        return a.detach().cpu().numpy()

    def _key(self, s: Bound) -> Any:
        return self.torch.Generator().manual_seed(0) if s.stochastic else None

    def forward(self, s: Bound, x: Any) -> Any:
        return self.sgt.spike(x, s, key=self._key(s))

    def _grad(self, fn: Any, x: Any, g: Any) -> Any:
        x = x.detach().clone().requires_grad_(True)
        y = fn(x)
        return self.torch.autograd.grad(y, x, g)[0]

    def vjp(self, s: Bound, x: Any, g: Any) -> Any:
        key = self._key(s)
        return self._grad(lambda v: self.sgt.spike(v, s, key=key), x, g)

    def jit_vjp(self, s: Bound, x: Any, g: Any) -> Any:
        if s.entry.forward.startswith("bernoulli"):
            raise NotImplementedError("a stochastic forward takes a Generator: not compiled")
        module = self.sgt.Surrogate(s, key=self._key(s))
        self.torch._dynamo.reset()  # one fresh graph per case (no recompile-limit fallback)
        fn = self.torch.compile(lambda v: module(v), fullgraph=True, dynamic=False,
                                backend="aot_eager")
        return self._grad(fn, x, g)

    def vmap_vjp(self, s: Bound, x: Any, g: Any) -> Any:
        key = self._key(s)
        flat = x.reshape(-1)
        randomness = "different" if s.stochastic else "error"
        grads = self.torch.func.vmap(self.torch.func.grad(
                                     lambda v: self.sgt.spike(v, s, key=key)),
                                     randomness=randomness)(flat)
        return (grads * g.reshape(-1)).reshape(x.shape)

    def jvp(self, s: Bound, x: Any, t: Any) -> Any:
        key = self._key(s)
        return self.torch.func.jvp(lambda v: self.sgt.spike(v, s, key=key), (x,), (t,))[1]

    def second_derivative(self, s: Bound, x: Any) -> Any:
        x = x.detach().clone().requires_grad_(True)
        y = self.sgt.spike(x, s, key=self._key(s))
        (g,) = self.torch.autograd.grad(y.sum(), x, create_graph=True)
        return self.torch.autograd.grad(g.sum(), x)[0]

    def multistep_vjp(self, s: Any, x: Any, g: Any) -> tuple[Any, Any, Any]:
        """(output sequence, dL/dx, dL/dv_threshold), the threshold a float64 tensor."""
        torch = self.torch
        v = torch.nn.Parameter(torch.tensor(float(s.params["v_threshold"]),
                                            dtype=torch.float64))
        x = x.detach().clone().requires_grad_(True)
        y = self.sgt.multistep(x, s.replace(v_threshold=v))
        gx, gv = torch.autograd.grad(y, (x, v), g)
        return y, gx, gv


def _x64(method: Any) -> Any:
    """Run a jax harness method with 64-bit types on (``jax.enable_x64``, a scope of this
    call on this thread): the float64 cases need them, and the process that runs the
    suite keeps its own setting."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.jax.enable_x64(True):
            return method(self, *args, **kwargs)

    return run


class JaxHarness(Harness):
    """``spikegrad.jax`` (custom_jvp) under jit, vmap, jvp and nested grad; each call with
    64-bit types on in its own scope (the process's ``jax_enable_x64`` is left as it is).
    """

    name = "jax"
    capabilities = frozenset({"jit", "vmap", "forward_mode", "double_backward"})
    flushes_subnormals = True

    def load(self) -> None:
        try:
            self.jax = importlib.import_module("jax")
            self.sgj = importlib.import_module("spikegrad.jax")
        except ImportError as exc:
            raise ImportError(f"the jax adapter needs JAX ({exc}); pip install jax") from exc

    @_x64
    def from_numpy(self, a: np.ndarray) -> Any:
        return self.jax.numpy.asarray(a)

    def _key(self, s: Bound) -> Any:
        return self.jax.random.key(0) if s.stochastic else None

    @_x64
    def forward(self, s: Bound, x: Any) -> Any:
        return self.sgj.spike(x, s, key=self._key(s))

    @_x64
    def vjp(self, s: Bound, x: Any, g: Any) -> Any:
        key = self._key(s)
        return self.jax.vjp(lambda v: self.sgj.spike(v, s, key=key), x)[1](g)[0]

    @_x64
    def jit_vjp(self, s: Bound, x: Any, g: Any) -> Any:
        key = self._key(s)
        f = self.jax.jit(lambda v, c: self.jax.vjp(
            lambda u: self.sgj.spike(u, s, key=key), v)[1](c)[0])
        return f(x, g)

    @_x64
    def vmap_vjp(self, s: Bound, x: Any, g: Any) -> Any:
        key = self._key(s)
        jnp = self.jax.numpy
        per = self.jax.vmap(self.jax.grad(
            lambda v: self.sgj.spike(v, s, key=key).astype(jnp.float32)))
        return per(x) * g

    @_x64
    def jvp(self, s: Bound, x: Any, t: Any) -> Any:
        key = self._key(s)
        return self.jax.jvp(lambda v: self.sgj.spike(v, s, key=key), (x,), (t,))[1]

    @_x64
    def second_derivative(self, s: Bound, x: Any) -> Any:
        key = self._key(s)
        jnp = self.jax.numpy
        d2 = self.jax.grad(self.jax.grad(lambda v: self.sgj.spike(v, s, key=key)
                                         .astype(jnp.float64)))
        return self.jax.vmap(d2)(x)

    @_x64
    def multistep_vjp(self, s: Any, x: Any, g: Any) -> tuple[Any, Any, Any]:
        """(output sequence, dL/dx, dL/dv_threshold) under jit, the threshold float64."""
        jnp = self.jax.numpy
        v = jnp.asarray(float(s.params["v_threshold"]), jnp.float64)
        static = {k: val for k, val in s.params.items() if k != "v_threshold"}
        name = s.name

        def run(x: Any, v: Any, g: Any) -> Any:
            y, pull = self.jax.vjp(
                lambda a, b: self.sgj.multistep(a, name, v_threshold=b, **static), x, v)
            return (y, *pull(g))

        return self.jax.jit(run)(x, v, g)


class CupyHarness(Harness):
    """``spikegrad.cupy`` (generated ElementwiseKernels) on the current CUDA device.

    CuPy compiles with ``-ftz=true``: single-precision subnormals flush to zero (float16
    is computed in float32; float64 is exact)."""

    name = "cupy"
    flushes_subnormals = frozenset({"float16", "float32"})

    def load(self) -> None:
        try:
            self.cupy = importlib.import_module("cupy")
            self.sgc = importlib.import_module("spikegrad.cupy")
            if self.cupy.cuda.runtime.getDeviceCount() < 1:
                raise ImportError("no CUDA device")
        except Exception as exc:
            raise ImportError(f"the cupy adapter needs CuPy and a CUDA device ({exc}); "
                              "pip install 'spikegrad[cupy]'") from exc

    def from_numpy(self, a: np.ndarray) -> Any:
        return self.cupy.asarray(a)

    def to_numpy(self, a: Any) -> np.ndarray:
        return self.cupy.asnumpy(a)

    def forward(self, s: Bound, x: Any) -> Any:
        return self.sgc.forward(s, x, key=self.cupy.random.default_rng(0))[0]

    def vjp(self, s: Bound, x: Any, g: Any) -> Any:
        return self.sgc.backward(s, x, g, key=self.cupy.random.default_rng(0))

    def multistep_vjp(self, s: Any, x: Any, g: Any) -> tuple[Any, Any, Any]:
        """(output sequence, dL/dx, dL/dv_threshold) by the generated RawKernels."""
        return (self.sgc.multistep_forward(s, x), *self.sgc.multistep_backward(s, x, g))


BUILTIN: dict[str, type[Harness]] = {
    "numpy": NumpyHarness, "torch": TorchHarness, "jax": JaxHarness, "cupy": CupyHarness,
}


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in metadata.entry_points(group="spikegrad.adapters")}


def available_adapters() -> list[str]:
    """Built-in and entry-point adapter names (not necessarily loadable here)."""
    return [*BUILTIN, *(n for n in _entry_points() if n not in BUILTIN)]


def load_harness(spec: str) -> Harness:
    """Instantiate and load adapter ``spec``: a registered name or ``module:object``.

    Raises
    ------
    ImportError
        When the adapter or its framework cannot be imported (never a silent skip).
    KeyError
        For an unknown name.
    """
    if spec in BUILTIN:
        obj: Any = BUILTIN[spec]
    elif spec in _entry_points():
        obj = _entry_points()[spec].load()
    elif ":" in spec:
        mod, _, attr = spec.partition(":")
        obj = getattr(importlib.import_module(mod), attr)
    else:
        known = ", ".join(available_adapters())
        raise KeyError(f"unknown adapter {spec!r}; known: {known}, or give module:object")
    adapter = obj() if isinstance(obj, type) else obj
    adapter.load()
    return adapter
