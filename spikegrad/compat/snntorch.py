"""snntorch's surrogate API (``snntorch.surrogate``) over spikegrad's definitions.

``from spikegrad.compat import snntorch as surrogate`` and then
``snn.Leaky(beta=0.9, spike_grad=surrogate.atan(alpha=2.0))``: the factories
(``atan``, ``fast_sigmoid``, ``sigmoid``, ``spike_rate_escape``, ``SFS``, ``SSO``,
``LSO``, ``triangular``, ``straight_through_estimator``, ``heaviside``,
``custom_surrogate``) return callables, and the classes (``ATan``, ``FastSigmoid``, ...)
have snntorch's ``apply(input_, *params)``; each is computed by the alias
``snntorch:<name>`` (``spikegrad show snntorch:atan``).  Spikes are ``1[x > 0]`` as in
snntorch.

Differences kept on purpose: ``LSO`` is the leaky spike operator (snntorch's factory
calls the stochastic operator by mistake, catalogued); ``SSO`` draws from its own
``torch.Generator`` (``generator=``; snntorch uses torch's global generator); outputs
keep the input's dtype (snntorch returns float32); the callables pickle and print their
parameters (snntorch's are closures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import _registry
from . import _torch as _t

#: factory name -> (class name, alias name)
_FACTORIES = {
    "atan": ("ATan", "atan"), "fast_sigmoid": ("FastSigmoid", "fast_sigmoid"),
    "sigmoid": ("Sigmoid", "sigmoid"), "spike_rate_escape": ("SpikeRateEscape",
                                                            "spike_rate_escape"),
    "SFS": ("SparseFastSigmoid", "SFS"), "SSO": ("StochasticSpikeOperator", "SSO"),
    "LSO": ("LeakySpikeOperator", "LSO"), "triangular": ("Triangular", "triangular"),
    "straight_through_estimator": ("StraightThroughEstimator",
                                   "straight_through_estimator"),
    "heaviside": ("Heaviside", "heaviside"),
}

__all__ = ["CustomSurrogate", "custom_surrogate", *_FACTORIES,
           *(c for c, _ in _FACTORIES.values())]


def _names(alias: str) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    params = _registry.entry(alias).params
    return tuple(p.name for p in params), tuple(p.default for p in params)


class _SurrogateFunction:
    """snntorch's autograd functions: ``ATan.apply(input_, alpha)``."""

    _alias = ""
    _stochastic = False

    @classmethod
    def apply(cls, input_: torch.Tensor, *args: Any, generator: Any = None) -> torch.Tensor:
        names, _ = _names(cls._alias)
        values = dict(zip(names, args, strict=False))
        if cls._stochastic and generator is None:
            generator = torch.Generator(device=input_.device)
        return _t.spike(cls._alias, input_, values, key=generator)


class _Spike:
    """What a factory returns: ``spike_grad(x)`` gives the spike with the surrogate
    gradient; picklable, with snntorch's name and the parameters in its ``repr``."""

    def __init__(self, name: str, alias: str, values: dict[str, Any], stochastic: bool,
                 generator: Any) -> None:
        self.__name__ = name
        self._alias, self._values = alias, values
        self.generator = generator if generator is not None or not stochastic \
            else torch.Generator()
        _t.bound(alias, values)  # validates: ValueError naming the parameter

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _t.spike(self._alias, x, self._values, key=self.generator)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{self.__name__}({inner})"


def _factory(name: str, cls_name: str, alias: str) -> tuple[Callable[..., _Spike], type]:
    names, defaults = _names(alias)
    stochastic = _registry.entry(alias).stochastic

    def factory(*args: Any, generator: torch.Generator | None = None,
                **kwargs: Any) -> _Spike:
        values = dict(zip(names, defaults, strict=True))
        values.update(zip(names, args, strict=False))
        unknown = set(kwargs) - set(names)
        if unknown:
            raise TypeError(f"{name}() got unexpected arguments {sorted(unknown)}")
        values.update(kwargs)
        return _Spike(name, alias, values, stochastic, generator)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f"snntorch's ``{name}`` over spikegrad's ``{alias}`` "
                       f"(``spikegrad show {alias}``): returns ``spike_grad(x)``.")
    extra = (("generator", None),) if stochastic else ()
    factory.__signature__ = _t.signature(list(names), list(defaults), (), extra)  # type: ignore[attr-defined]
    cls = type(cls_name, (_SurrogateFunction,), {
        "_alias": alias, "_stochastic": stochastic, "__module__": __name__,
        "__doc__": f"snntorch's ``{cls_name}``: ``{cls_name}.apply(input_, "
                   f"{', '.join(names)})`` over ``{alias}``."})
    return factory, cls


for _name, (_cls, _alias) in _FACTORIES.items():
    globals()[_name], globals()[_cls] = _factory(_name, _cls, f"snntorch:{_alias}")
del _name, _cls, _alias


class CustomSurrogate(torch.autograd.Function):
    """snntorch's ``CustomSurrogate``: the spike ``1[x > 0]`` whose backward is the user's
    ``custom_surrogate_function(input_, grad_input, spikes)``."""

    @staticmethod
    def forward(ctx: Any, input_: torch.Tensor,
                custom_surrogate_function: Callable[..., torch.Tensor]) -> torch.Tensor:
        out = _t.bound("snntorch:heaviside", {}).spike(input_.detach())
        ctx.save_for_backward(input_, out)
        ctx.custom_surrogate_function = custom_surrogate_function
        return out

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, None]:
        input_, out = ctx.saved_tensors
        return ctx.custom_surrogate_function(input_, grad_output.clone(), out), None


def custom_surrogate(custom_surrogate_function: Callable[..., torch.Tensor]
                     ) -> Callable[[torch.Tensor], torch.Tensor]:
    """snntorch's ``custom_surrogate``: a spike whose gradient is computed by
    ``custom_surrogate_function(input_, grad_input, spikes)`` (for a surrogate written
    once for every framework, see :func:`spikegrad.define`)."""
    func = custom_surrogate_function

    def inner(data: torch.Tensor) -> torch.Tensor:
        return CustomSurrogate.apply(data, func)

    return inner
