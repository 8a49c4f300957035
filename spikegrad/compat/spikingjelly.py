"""spikingjelly's surrogate API (``spikingjelly.activation_based.surrogate``) over
spikegrad's definitions.

``from spikegrad.compat import spikingjelly as surrogate`` and then
``surrogate.ATan(alpha=2.0)``, ``surrogate.Sigmoid(spiking=False)``, ``set_spiking_mode``,
the static ``spiking_function``/``primitive_function``/``backward``, the autograd-style
functions (``surrogate.atan.apply(x, alpha)``), the ``*_backward`` helpers and
``heaviside`` behave as spikingjelly's, each computed by the alias
``spikingjelly:<Name>`` (``spikegrad show spikingjelly:ATan``).

spikingjelly's fused CuPy neurons inline a surrogate's gradient through
``surrogate_function.cuda_codes(y, x, dtype)``: every class whose spike is the Heaviside step
with a deterministic gradient provides it, generated from the same definition by
:func:`spikegrad.codegen.cuda.statements` at the instance's current parameter values
(``"float"``, and ``"half2"`` computed in float per lane and rounded once).

What else spikingjelly reads from a surrogate object, and the spikingjelly versions each
behaviour follows (``FOLLOWS``; "HEAD" is the repository's ``master`` at the commit
named):

========================  ==================  ==============================================
behaviour                 follows             what
========================  ==================  ==============================================
surrogate API             2.0.0, HEAD         names, signatures, defaults, ``_sg_params``,
                                              ``spiking``, ``set_spiking_mode``, ``repr``
heaviside                 2.0.0, HEAD         ``(x >= 0).to(x)``
forward aten ops          2.0.0, HEAD         inside a dispatch mode (op counters, tracers)
                                              the spike is ``aten.ge.Scalar`` then
                                              ``aten._to_copy``, as ``heaviside``
inductor cache key        HEAD                ``neuron.inductor_cache.surrogate_key``
fused-op surrogate table  2.0.0               ``spikingjelly._ops.surrogate._surrogate_spec``
                                              never matches: neurons call the compat class
cuda_codes                2.0.0, HEAD         ``cuda_codes(y, x, dtype)``
random source             2.0.0, HEAD         no ``generator=``: torch's global generator
SoftSign primitive        2.0.0, HEAD         ``(softsign(alpha x) + 1) / 2``
MultiLevelSpikeCount      2.0.0, HEAD         ``(max_spike_count, spiking, grad_window)``
========================  ==================  ==============================================

The inductor backend of spikingjelly's neurons caches one compiled graph per key
``(type(sg).__module__, __qualname__, sg.spiking, sorted(sg._sg_params.items()))``, built
only for classes of spikingjelly's surrogate module that define ``spiking_function`` and
``primitive_function`` themselves (``None`` otherwise: no cache).  The compat classes define
them in the same classes as spikingjelly, and their ``__module__`` names the module they
are found under: this module's name, or spikingjelly's surrogate module's name while this
module is installed as it (``sys.modules``); then the key is spikingjelly's.  Imported
beside spikingjelly's own module they are spikegrad's classes and the key is ``None``.
spikingjelly 2.0.0's fused neuron ops compute their own formula for a surrogate whose class's
``__module__`` equals the bound surrogate module's ``__name__``: neither name matches for
the compat classes (installed, the module's ``__name__`` stays this one), so the neurons
call them.

Inside a dispatch mode (op counters, tracers) the spike emits ``heaviside``'s ops;
elsewhere (and for a parameter that requires grad) it writes the spike in one fused
operation (``aten.empty_like``, ``aten.ge.Scalar_out``).  The gradient is computed the same
way in both: the kernel generated from the definition on eager CPU tensors with number
parameters, the definition's formula in torch ops otherwise.

Differences kept on purpose: ``PoissonPass`` and ``poisson_pass.apply`` also take a
``generator=`` (a ``torch.Generator``; without one they draw from torch's global generator,
as spikingjelly; ``torch.bernoulli``'s draws for float32 and float64 on the CPU);
``cuda_codes`` exists for more classes than in spikingjelly (all but ``PoissonPass`` and
``MultiLevelSpikeCount``), refuses a parameter that requires grad (a kernel constant has
no gradient) and raises ``ValueError`` for a dtype other than ``"float"``/``"half2"``;
spikingjelly's Triton neurons select their surrogate by its class among spikingjelly's
own, so they take ``backend="cupy"``, ``"inductor"`` or ``"torch"`` with these; outputs keep
the input's dtype.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

import torch
from torch import nn

from .. import _registry
from ..codegen import cuda as _cuda
from . import _torch as _t

#: class name -> lowercase function name, in spikingjelly's order
_NAMES = {
    "Sigmoid": "sigmoid", "ATan": "atan", "PiecewiseQuadratic": "piecewise_quadratic",
    "PiecewiseExp": "piecewise_exp", "SoftSign": "soft_sign", "SuperSpike": "super_spike",
    "Erf": "erf", "QPseudoSpike": "q_pseudo_spike", "DSpike": "dspike", "Rect": "rect",
    "NonzeroSignLogAbs": "nonzero_sign_log_abs",
    "PiecewiseLeakyReLU": "piecewise_leaky_relu",
    "SquarewaveFourierSeries": "squarewave_fourier_series", "S2NN": "s2nn",
    "LeakyKReLU": "leaky_k_relu", "LogTailedReLU": "log_tailed_relu",
    "FakeNumericalGradient": "fake_numerical_gradient",
    "DeterministicPass": "deterministic_pass", "PoissonPass": "poisson_pass",
}
#: classes whose constructor has no ``spiking`` argument in spikingjelly
_NO_SPIKING = {"FakeNumericalGradient"}
#: classes that do not define both static functions themselves in spikingjelly (their
#: ``forward`` is their own): the functions they do define; the others define both
_OWN_STATICS = {"DeterministicPass": (), "PoissonPass": (),
                "FakeNumericalGradient": ("spiking_function",)}
#: the name of spikingjelly's surrogate module
_PEER = "spikingjelly.activation_based.surrogate"

_HEAD = "HEAD afb132264a8c (2026-08-08)"
#: behaviour -> the spikingjelly versions it follows (checked against each)
FOLLOWS: dict[str, tuple[str, ...]] = {
    "surrogate API": ("2.0.0", _HEAD),
    "heaviside": ("2.0.0", _HEAD),
    "forward aten ops": ("2.0.0", _HEAD),
    "inductor cache key": (_HEAD,),
    "fused-op surrogate table": ("2.0.0",),
    "cuda_codes": ("2.0.0", _HEAD),
    "random source": ("2.0.0", _HEAD),
    "SoftSign primitive": ("2.0.0", _HEAD),
    "MultiLevelSpikeCount": ("2.0.0", _HEAD),
}

__all__ = ["MultiLevelSpikeCount", "SurrogateFunctionBase", "check_manual_grad", "heaviside",
           "plot_surrogate_function", *_NAMES,
           *_NAMES.values(), *(f"{n}_backward" for n in _NAMES.values())]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """``1[x >= 0]`` in ``x``'s dtype (no gradient), as spikingjelly's."""
    return (x >= 0).to(x)


def check_manual_grad(primitive_function: Any, spiking_function: Any, *args: Any,
                      **kwargs: Any) -> None:
    """Print the largest difference between the autograd gradient of
    ``primitive_function`` and the surrogate gradient of ``spiking_function`` on
    ``[-2, 2)``, as spikingjelly's helper does."""
    x = torch.arange(-2, 2, 32 / 8192).requires_grad_(True)
    primitive_function(x, *args, **kwargs).sum().backward()
    auto = x.grad.clone()
    x.grad.zero_()
    spiking_function(x, *args, **kwargs).sum().backward()
    manual = x.grad.clone()
    print("Surrogate gradient comparison: auto=", auto, "manual=", manual)
    err = (manual - auto).abs()
    idx = err.argmax()
    print("Surrogate gradient maximum error=", err[idx], "at x=", x[idx])
    print("Surrogate gradient values: auto=", auto[idx], "manual=", manual[idx])


def plot_surrogate_function(surrogate_function: Any) -> None:
    """Plot the primitive and the gradient of a surrogate module with the Heaviside step,
    and save ``<Name>.pdf``/``.svg`` (needs matplotlib: ``pip install
    "spikegrad[plot]"``)."""
    try:
        import matplotlib.pyplot as plt  # optional (plot extra): imported only to draw
    except ImportError as exc:
        raise ImportError("plot_surrogate_function needs matplotlib: pip install "
                          "'spikegrad[plot]'") from exc
    name = type(surrogate_function).__name__
    x = torch.arange(-2.5, 2.5, 0.001)
    plt.figure()
    plt.plot(x, heaviside(x), label="Heaviside", linestyle="-.")
    spiking = surrogate_function.spiking
    surrogate_function.set_spiking_mode(False)
    plt.plot(x, surrogate_function(x).detach(), label="Primitive")
    surrogate_function.set_spiking_mode(True)
    xg = x.clone().requires_grad_(True)
    surrogate_function(xg).sum().backward()
    surrogate_function.set_spiking_mode(spiking)
    plt.plot(x, xg.grad, label="Gradient")
    plt.xlim(-2, 2)
    plt.legend()
    plt.title(f"{name} surrogate function")
    plt.xlabel("Input")
    plt.ylabel("Output")
    plt.grid(linestyle="--")
    plt.savefig(f"./{name}.pdf", bbox_inches="tight")
    plt.savefig(f"./{name}.svg", bbox_inches="tight")
    plt.show()


class _Served(type):
    """Metaclass of the surrogate classes: ``__module__`` names the module a class is found
    under — spikingjelly's surrogate module's name while this module is installed as it
    (``sys.modules``), the defining module's otherwise (a user's subclass keeps its own)."""

    @property
    def __module__(cls) -> str:  # type: ignore[override]
        home = type.__dict__["__module__"].__get__(cls)
        if home == __name__ and sys.modules.get(_PEER) is sys.modules.get(__name__):
            return _PEER
        return home

    @__module__.setter
    def __module__(cls, value: str) -> None:
        type.__dict__["__module__"].__set__(cls, value)


def _observed() -> bool:
    """Whether a dispatch mode sees the aten ops (op counters, tracers), outside
    ``torch.compile``."""
    return not torch.compiler.is_compiling() and torch._C._len_torch_dispatch_stack() > 0


class _ObservedSpike(torch.autograd.Function):
    """The spike as spikingjelly's ``heaviside`` computes it (``ge``, ``_to_copy``), with
    the gradient the spike's own backward computes: served inside dispatch modes, which see
    the forward's aten ops."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, alias: str, values: dict[str, Any]) -> torch.Tensor:
        return heaviside(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])
        ctx.alias, ctx.values = inputs[1], inputs[2]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        return _t.grad_x(ctx.alias, x, grad, ctx.values), None, None

    @staticmethod
    def jvp(ctx: Any, x_t: torch.Tensor, *_: Any) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return x_t * _t.derivative(ctx.alias, x, ctx.values)


def _spike(alias: str, x: torch.Tensor, values: dict[str, Any], key: Any = None
           ) -> torch.Tensor:
    """The spike of ``x`` with the alias's surrogate gradient; inside a dispatch mode, with
    ``heaviside``'s aten ops (a Heaviside spike with a deterministic gradient and no
    parameter that requires grad)."""
    if (_observed() and key is None and alias in _HEAVISIDE
            and not any(isinstance(v, torch.Tensor) and v.requires_grad
                        for v in values.values())):
        return _ObservedSpike.apply(x, alias, values)
    return _t.spike(alias, x, values, key)


def _global_generator(device: torch.device) -> torch.Generator:
    """torch's global generator for ``device`` (what ``torch.bernoulli`` draws from)."""
    if device.type == "cpu":
        return torch.default_generator
    backend = getattr(torch, device.type, None)
    generators = getattr(backend, "default_generators", ())
    if not generators:
        raise TypeError(f"no global torch generator is known for device {device}: pass "
                        "generator=torch.Generator(device=...)")
    index = device.index if device.index is not None else backend.current_device()
    return generators[index]


class SurrogateFunctionBase(nn.Module, metaclass=_Served):
    """Base of the surrogate modules: parameters as attributes, ``spiking`` switches
    between the spike (with its surrogate gradient) and the primitive."""

    def __init__(self, spiking: bool = True, **kwargs: Any) -> None:
        super().__init__()
        self.spiking = spiking
        self._sg_param_names = tuple(kwargs.keys())
        for k, v in kwargs.items():
            setattr(self, k, v)

    def set_spiking_mode(self, spiking: bool) -> None:
        self.spiking = spiking

    @property
    def _sg_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._sg_param_names}

    def extra_repr(self) -> str:
        parts = [f"{k}={v}" for k, v in self._sg_params.items()]
        parts.append(f"spiking={self.spiking}")
        return ", ".join(parts)

    @staticmethod
    def spiking_function(x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def primitive_function(x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spiking:
            return self.spiking_function(x, **self._sg_params)
        return self.primitive_function(x, **self._sg_params)

    def cuda_codes(self, y: str, x: str, dtype: str) -> str:
        """CUDA statements assigning the surrogate gradient at ``x`` to ``y``, for
        spikingjelly's fused neuron kernels.

        Parameters
        ----------
        y : str
            The output variable, optionally with its declaration
            (``"const float grad_s_to_h"``).
        x : str
            A CUDA expression of the input.
        dtype : {"float", "half2"}
            The CUDA type of ``x`` and ``y``.

        Returns
        -------
        str
            The statements (:func:`spikegrad.codegen.cuda.statements`).

        Raises
        ------
        NotImplementedError
            For this class: its spike is not the Heaviside step of the fused neurons, or
            its gradient is not deterministic.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no fused-kernel gradient (its spike is not the "
            "Heaviside step with a deterministic gradient): use backend='torch'")


def _kernel_values(cls_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The parameter values written into a kernel: numbers, and one-element tensors that
    do not require grad read as numbers."""
    out = {}
    for k, v in values.items():
        if isinstance(v, torch.Tensor):
            if v.requires_grad:
                raise NotImplementedError(
                    f"{cls_name}.cuda_codes: {k} requires grad, and a kernel constant has "
                    f"no gradient: use backend='torch' to learn {k}")
            if v.numel() != 1:
                raise NotImplementedError(
                    f"{cls_name}.cuda_codes: {k} has {v.numel()} elements; a kernel "
                    "takes one value: use backend='torch'")
            v = v.item()
        out[k] = v
    return out


def _values(names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
            ) -> dict[str, Any]:
    values = dict(zip(names, args, strict=False))
    values.update(kwargs)
    return values


class _Function:
    """spikingjelly's lowercase autograd functions: ``atan.apply(x, alpha)``."""

    def __init__(self, name: str, alias: str, names: tuple[str, ...]) -> None:
        self.__name__ = self.__qualname__ = name
        self._alias, self._names = alias, names

    def apply(self, x: torch.Tensor, *args: Any, generator: Any = None,
              **kwargs: Any) -> torch.Tensor:
        if generator is None and _registry.entry(self._alias).stochastic:
            generator = _global_generator(x.device)
        return _spike(self._alias, x, _values(self._names, args, kwargs), key=generator)

    def __call__(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.apply(x, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<spikegrad.compat.spikingjelly.{self.__name__}>"

    def __reduce__(self) -> Any:
        return (getattr, (_module(), self.__name__))


def _module() -> Any:
    return sys.modules[__name__]


def _backward_fn(name: str, alias: str, names: tuple[str, ...]) -> Any:
    def backward(grad_output: torch.Tensor, x: torch.Tensor, *args: Any, **kwargs: Any
                 ) -> tuple[Any, ...]:
        g = grad_output * _t.derivative(alias, x, _values(names, args, kwargs))
        return (g, *([None] * len(names)))

    backward.__name__ = backward.__qualname__ = f"{name}_backward"
    backward.__doc__ = f"``(grad_output * g'(x), None, ...)`` of ``{alias}``."
    return backward


def _make_class(cls_name: str, fn_name: str) -> type:
    alias = f"spikingjelly:{cls_name}"
    entry = _registry.entry(alias)
    names = tuple(p.name for p in entry.params)
    defaults = [p.default for p in entry.params]
    stochastic = entry.stochastic
    has_spiking = cls_name not in _NO_SPIKING

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        order = (*names, "spiking") if has_spiking else names
        given = dict(zip(order, args, strict=False))
        given.update(kwargs)
        spiking = given.pop("spiking", True)
        generator = given.pop("generator", None)
        unknown = set(given) - set(names)
        if unknown:
            raise TypeError(f"{cls_name}() got unexpected arguments {sorted(unknown)}")
        values = {n: given.get(n, d) for n, d in zip(names, defaults, strict=True)}
        _t.bound(alias, values)  # validates: ValueError naming the parameter
        SurrogateFunctionBase.__init__(self, spiking=spiking, **values)
        if stochastic:
            self.generator = generator  # None: torch's global generator at each call

    def spiking_function(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        key = _global_generator(x.device) if stochastic else None
        return _spike(alias, x, _values(names, args, kwargs), key)

    def primitive_function(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return _t.primitive(alias, x, _values(names, args, kwargs))

    def backward(grad_output: torch.Tensor, x: torch.Tensor, *args: Any,
                 **kwargs: Any) -> torch.Tensor:
        return grad_output * _t.derivative(alias, x, _values(names, args, kwargs))

    statics = {"spiking_function": staticmethod(spiking_function),
               "primitive_function": staticmethod(primitive_function)}
    own = _OWN_STATICS.get(cls_name, tuple(statics))
    body: dict[str, Any] = {
        **{k: v for k, v in statics.items() if k in own},
        "__init__": __init__, "backward": staticmethod(backward), "__module__": __name__,
        "__doc__": f"spikingjelly's ``{cls_name}`` over spikegrad's ``{alias}`` "
                   f"(``spikegrad show {alias}``).",
    }
    base: type = SurrogateFunctionBase
    if len(own) < len(statics):  # the others are inherited, as spikingjelly's class does
        base = _Served(f"_{cls_name}Functions", (SurrogateFunctionBase,), {
            **{k: v for k, v in statics.items() if k not in own}, "__module__": __name__})
    if entry.forward == "ge" and not entry.formula.stochastic_backward:
        def cuda_codes(self: Any, y: str, x: str, dtype: str) -> str:
            b = _t.bound(alias, _kernel_values(cls_name, self._sg_params))
            return _cuda.statements(b, y, x, dtype)

        cuda_codes.__doc__ = (
            f"CUDA statements assigning ``{alias}``'s g'(x) at the instance's parameter "
            "values to ``y`` (``dtype`` ``\"float\"`` or ``\"half2\"``; "
            ":func:`spikegrad.codegen.cuda.statements`), for spikingjelly's fused neuron "
            "kernels.")
        body["cuda_codes"] = cuda_codes
    if stochastic:
        def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
            if self.spiking:
                key = self.generator
                return _t.spike(alias, x, self._sg_params,
                                key=_global_generator(x.device) if key is None else key)
            return x  # spikingjelly's non-spiking mode passes the input through

        body["forward"] = forward
    init_extra = (("spiking", True),) if has_spiking else ()
    if stochastic:
        init_extra += (("generator", None),)
    __init__.__signature__ = _t.signature(list(names), defaults, ("self",), init_extra)
    spiking_function.__signature__ = _t.signature(list(names), defaults, ("x",))
    return _Served(cls_name, (base,), body)


class MultiLevelSpikeCount(SurrogateFunctionBase):
    """spikingjelly's ``MultiLevelSpikeCount(max_spike_count, spiking=True,
    grad_window=None)`` over ``spikingjelly:MultiLevelSpikeCount``: the output is the spike
    count ``clamp(round(x), 0, max_spike_count)``; the gradient passes inside
    ``grad_window`` (default ``[0, max_spike_count]``)."""

    _alias = "spikingjelly:MultiLevelSpikeCount"

    def __init__(self, max_spike_count: int, spiking: bool = True,
                 grad_window: tuple[float, float] | None = None) -> None:
        if not isinstance(max_spike_count, numbers.Integral) or isinstance(max_spike_count,
                                                                              bool):
            raise TypeError("max_spike_count must be an integer.")
        max_spike_count = int(max_spike_count)
        if max_spike_count < 1:
            raise ValueError("max_spike_count must be >= 1.")
        if grad_window is None:
            grad_min, grad_max = 0.0, float(max_spike_count)
        else:
            grad_min, grad_max = grad_window
            if grad_min > grad_max:
                raise ValueError("grad_window must satisfy grad_min <= grad_max.")
        super().__init__(spiking=spiking, max_spike_count=max_spike_count,
                         grad_min=float(grad_min), grad_max=float(grad_max))

    @staticmethod
    def spiking_function(x: torch.Tensor, max_spike_count: int, grad_min: float,
                         grad_max: float) -> torch.Tensor:
        return _t.spike(MultiLevelSpikeCount._alias, x, {
            "max_spike_count": max_spike_count, "grad_window": (grad_min, grad_max)})

    @staticmethod
    def primitive_function(x: torch.Tensor, max_spike_count: int, grad_min: float,
                           grad_max: float) -> torch.Tensor:
        return _t.primitive(MultiLevelSpikeCount._alias, x, {
            "max_spike_count": max_spike_count, "grad_window": (grad_min, grad_max)})


#: aliases whose spike is spikingjelly's ``heaviside`` with a deterministic gradient
_HEAVISIDE = frozenset(
    a for a in (f"spikingjelly:{n}" for n in _NAMES)
    if _registry.entry(a).forward == "ge" and not _registry.entry(a).stochastic)

for _cls, _fn in _NAMES.items():
    _c = _make_class(_cls, _fn)
    _names = tuple(p.name for p in __import__("spikegrad").entry(f"spikingjelly:{_cls}").params)
    globals()[_cls] = _c
    globals()[_fn] = _Function(_fn, f"spikingjelly:{_cls}", _names)
    globals()[f"{_fn}_backward"] = _backward_fn(_fn, f"spikingjelly:{_cls}", _names)
del _cls, _fn, _c, _names
