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

Differences kept on purpose: ``PoissonPass`` draws from its own ``torch.Generator``
(``generator=``; spikingjelly draws from torch's global generator); ``cuda_codes`` exists
for more classes than in spikingjelly (all but ``PoissonPass`` and
``MultiLevelSpikeCount``), refuses a parameter that requires grad (a kernel constant has
no gradient) and raises ``ValueError`` for a dtype other than ``"float"``/``"half2"``;
spikingjelly's Triton neurons select their surrogate by its class among spikingjelly's
own, so they take ``backend="cupy"`` or ``"torch"`` with these; outputs keep the input's
dtype.
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


class SurrogateFunctionBase(nn.Module):
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
            raise TypeError(
                f"{self.__name__} is stochastic: spikingjelly draws from torch's global "
                f"generator, spikegrad from an explicit one: {self.__name__}.apply(x, "
                "generator=torch.Generator().manual_seed(0)), or hold one in the module "
                "(instances of the class form hold their own)")
        return _t.spike(self._alias, x, _values(self._names, args, kwargs), key=generator)

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
            self.generator = generator if generator is not None else torch.Generator()

    def spiking_function(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return _t.spike(alias, x, _values(names, args, kwargs))

    def primitive_function(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return _t.primitive(alias, x, _values(names, args, kwargs))

    def backward(grad_output: torch.Tensor, x: torch.Tensor, *args: Any,
                 **kwargs: Any) -> torch.Tensor:
        return grad_output * _t.derivative(alias, x, _values(names, args, kwargs))

    body: dict[str, Any] = {
        "__init__": __init__, "spiking_function": staticmethod(spiking_function),
        "primitive_function": staticmethod(primitive_function),
        "backward": staticmethod(backward), "__module__": __name__,
        "__doc__": f"spikingjelly's ``{cls_name}`` over spikegrad's ``{alias}`` "
                   f"(``spikegrad show {alias}``).",
    }
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
                return _t.spike(alias, x, self._sg_params, key=self.generator)
            return x  # spikingjelly's non-spiking mode passes the input through

        body["forward"] = forward
    init_extra = (("spiking", True),) if has_spiking else ()
    if stochastic:
        init_extra += (("generator", None),)
    __init__.__signature__ = _t.signature(list(names), defaults, ("self",), init_extra)
    spiking_function.__signature__ = _t.signature(list(names), defaults, ("x",))
    return type(cls_name, (SurrogateFunctionBase,), body)


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


for _cls, _fn in _NAMES.items():
    _c = _make_class(_cls, _fn)
    _names = tuple(p.name for p in __import__("spikegrad").entry(f"spikingjelly:{_cls}").params)
    globals()[_cls] = _c
    globals()[_fn] = _Function(_fn, f"spikingjelly:{_cls}", _names)
    globals()[f"{_fn}_backward"] = _backward_fn(_fn, f"spikingjelly:{_cls}", _names)
del _cls, _fn, _c, _names
