"""What the torch-backed compat modules share: a peer alias bound once per parameter set,
and its spike, primitive and derivative with torch tensors."""

from __future__ import annotations

from typing import Any

import torch

from ..adapters import torch as _adapter
from ._bound import bound
from ._signature import signature

__all__ = ["bound", "derivative", "grad_x", "primitive", "signature", "spike"]

def spike(alias: str, x: torch.Tensor, values: dict[str, Any], key: Any = None
          ) -> torch.Tensor:
    """The spike of ``x`` with the alias's surrogate gradient."""
    return _adapter.spike(bound(alias, values), x, key)


def primitive(alias: str, x: torch.Tensor, values: dict[str, Any]) -> torch.Tensor:
    """The alias's primitive ``g(x)`` (differentiable)."""
    b = bound(alias, values)
    return _adapter.primitive(b, x, b.array_values)


def derivative(alias: str, x: torch.Tensor, values: dict[str, Any]) -> torch.Tensor:
    """The alias's ``g'(x)``."""
    b = bound(alias, values)
    return _adapter.derivative(b, x, None, b.array_values)


def grad_x(alias: str, x: torch.Tensor, grad: torch.Tensor, values: dict[str, Any]
           ) -> torch.Tensor:
    """``grad * g'(x)`` as the spike's own backward computes it (the generated kernel on
    eager CPU tensors with number parameters, torch ops elsewhere)."""
    b = bound(alias, values)
    return _adapter._grad_x(b, x, grad, None, b.array_values)
