"""norse's threshold API (``norse.torch.functional.threshold``) over spikegrad's
definitions.

``threshold(x, method, alpha)``, ``sign``, ``heaviside``, the functional forms
(``super_fn``/``superspike_fn``, ``heavi_tanh_fn``, ``heavi_circ_fn``, ``heavi_erfc_fn``,
``triangle_fn``, ``logistic_fn``, ``circ_dist_fn``) and the autograd-style classes
(``SuperSpike.apply(x, alpha)``, ...) behave as norse's, each computed by the alias
``norse:<name>`` (``spikegrad show norse:super``).  ``alpha`` may be a number or a tensor
(0-d or one element, as norse's neurons pass it; a tensor that requires grad learns).

Differences kept on purpose: the stochastic ``logistic_fn``/``circ_dist_fn`` take a
``generator=`` (default: a ``torch.Generator`` per call site is not kept, so pass one for
reproducible draws; norse samples from torch's global generator); outputs keep the input's
dtype.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import _registry
from . import _torch as _t

#: function name -> (class name, alias name, parameter name in norse's signature)
_FUNCTIONS = {
    "super_fn": ("SuperSpike", "super"), "heavi_tanh_fn": ("HeaviTanh", "tanh"),
    "heavi_circ_fn": ("HeaviCirc", "circ"), "triangle_fn": ("Triangle", "triangle"),
    "heavi_erfc_fn": ("HeaviErfc", "heavi_erfc_fn"), "logistic_fn": ("Logistic",
                                                                     "logistic_fn"),
    "circ_dist_fn": ("CircDist", "circ_dist_fn"),
}
#: ``threshold(x, method, alpha)``'s methods
_METHODS = {"super": "super_fn", "triangle": "triangle_fn", "tanh": "heavi_tanh_fn",
            "circ": "heavi_circ_fn", "heavi_erfc": "heavi_erfc_fn"}

__all__ = ["heaviside", "sign", "superspike_fn", "threshold", *_FUNCTIONS,
           *(c for c, _ in _FUNCTIONS.values())]


def heaviside(data: torch.Tensor) -> torch.Tensor:
    """``1[x > 0]`` in ``x``'s dtype (no surrogate gradient), as norse's."""
    return _t.bound("norse:super", {"alpha": 100.0}).spike(data.detach())


def _alpha(value: Any) -> Any:
    """norse passes ``alpha`` as it comes: a number, or a tensor of any numeric dtype,
    often with one element; spikegrad takes a number or a floating tensor."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            value = value.to(torch.get_default_dtype())
        if value.numel() == 1 and value.ndim > 0:
            value = value.reshape(())
    return value


def _make(fn_name: str, cls_name: str, alias_name: str) -> tuple[Any, type]:
    alias = f"norse:{alias_name}"
    entry = _registry.entry(alias)
    (param,) = entry.params
    stochastic = entry.stochastic

    def fn(x: torch.Tensor, k: Any = param.default, generator: Any = None) -> torch.Tensor:
        if stochastic and generator is None:
            generator = torch.Generator(device=x.device)
        return _t.spike(alias, x, {param.name: _alpha(k)}, key=generator)

    fn.__name__ = fn.__qualname__ = fn_name
    fn.__doc__ = f"norse's ``{fn_name}`` over spikegrad's ``{alias}``."

    def apply(x: torch.Tensor, k: Any = param.default, generator: Any = None
              ) -> torch.Tensor:
        return fn(x, k, generator)

    cls = type(cls_name, (), {"apply": staticmethod(apply), "__module__": __name__,
                              "__doc__": f"norse's ``{cls_name}``: ``{cls_name}.apply(x, "
                                         f"alpha)`` over ``{alias}``."})
    return fn, cls


for _fn, (_cls, _alias) in _FUNCTIONS.items():
    globals()[_fn], globals()[_cls] = _make(_fn, _cls, _alias)
del _fn, _cls, _alias
superspike_fn = super_fn  # noqa: F821 - defined in the loop above


def threshold(x: torch.Tensor, method: str, alpha: Any) -> torch.Tensor:
    """The spike of ``x`` with the surrogate ``method`` (norse's names)."""
    if method == "heaviside":
        return heaviside(x)
    name = _METHODS.get(method)
    if name is None:
        raise ValueError(
            f"Attempted to apply threshold function {method}, but no such function exist. "
            "We currently support heaviside, super, tanh, triangle, circ, and heavi_erfc.")
    return globals()[name](x, alpha)


def sign(x: torch.Tensor, method: str, alpha: Any) -> torch.Tensor:
    """``2 * threshold(x, method, alpha) - 1``."""
    return 2 * threshold(x, method, alpha) - 1
