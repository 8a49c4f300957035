"""Figures of surrogates: ``g`` and ``g'`` side by side (``spikegrad plot``; needs the
``plot`` extra, matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._spec import Bound

__all__ = ["figure", "half_width"]


def half_width(b: Bound) -> float:
    """A plotting half-width showing ``b``'s shape: three units of its x-scale, and its
    boundaries and peaks with a margin."""
    marks = [abs(float(v)) for v in (*b.entry.boundaries(b.params), *b.entry.peak_at(b.params))
             if v is not None and np.isfinite(float(v))]
    return max([3.0 / float(b.entry.x_scale(b.params) or 1.0)] + [1.5 * m for m in marks])


def figure(bounds: list[Bound], labels: list[str] | None = None,
           x_range: tuple[float, float] | None = None) -> Any:
    """A matplotlib figure with ``g(x)`` (left; the spike where there is no primitive) and
    ``g'(x)`` (right) of every bound surrogate, computed by the reference engine."""
    try:
        import matplotlib  # optional (plot extra): imported only to draw

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt  # optional (plot extra): imported only to draw
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'spikegrad[plot]'") from exc
    labels = labels or [repr(b) for b in bounds]
    if x_range is None:
        width = max(half_width(b) for b in bounds)
        x_range = (-width, width)
    x = np.linspace(x_range[0], x_range[1], 2001)
    fig, (ax_g, ax_d) = plt.subplots(1, 2, figsize=(9.0, 3.4), constrained_layout=True)
    for b, label in zip(bounds, labels, strict=True):
        if b.stochastic:
            raise ValueError(f"{b.name} is stochastic: its g' is random, there is no curve "
                             "to plot")
        d = b.derivative(x)
        g = b.primitive(x) if b.has_primitive else b.spike(x)
        ax_g.plot(x, g, label=label)
        ax_d.plot(x, d, label=label)
    ax_g.set_title("g(x)  (the spike where no primitive)")
    ax_d.set_title("g'(x)  (the surrogate gradient)")
    for ax in (ax_g, ax_d):
        ax.set_xlabel("x = membrane potential - threshold")
        ax.grid(alpha=0.3)
    ax_d.legend(fontsize=8)
    return fig
