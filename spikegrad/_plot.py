"""Figures of surrogates: ``g`` and ``g'`` side by side (``spikegrad plot``; needs the
``plot`` extra, matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._spec import Bound

__all__ = ["figure", "half_width", "label"]


def half_width(b: Bound) -> float:
    """A plotting half-width showing ``b``'s shape: three units of its x-scale, and its
    boundaries and peaks with a margin."""
    marks = [abs(float(v)) for v in (*b.entry.boundaries(b.params), *b.entry.peak_at(b.params))
             if v is not None and np.isfinite(float(v))]
    return max([3.0 / float(b.entry.x_scale(b.params) or 1.0)] + [1.5 * m for m in marks])


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def label(b: Bound, name: str | None = None) -> str:
    """A legend entry for ``b``: its name and every parameter value, e.g.
    ``atan (alpha=2)`` (the name alone when it takes no parameters).

    Parameters
    ----------
    b : Bound
        The bound surrogate.
    name : str, optional
        The name to show (default: ``b``'s own, an alias as such).

    Returns
    -------
    str
        The entry.
    """
    values = ", ".join(f"{k}={_value(v)}" for k, v in b.params.items())
    return f"{name or b.name}" + (f" ({values})" if values else "")


def _draw(ax_g: Any, ax_d: Any, b: Bound, text: str, x: np.ndarray) -> None:
    """``b``'s ``g`` on ``ax_g`` (its spike, dashed and labelled so, where it has no
    primitive) and ``g'`` on ``ax_d``, in one colour."""
    if b.stochastic:
        raise ValueError(f"{b.name} is stochastic: its g' is random, there is no curve "
                         "to plot")
    (line,) = ax_d.plot(x, b.derivative(x), label=text)
    if b.has_primitive:
        ax_g.plot(x, b.primitive(x), color=line.get_color())
    else:
        ax_g.plot(x, b.spike(x), color=line.get_color(), linestyle="--",
                  label=f"{b.name}: the spike (no primitive)")


def figure(bounds: list[Bound], labels: list[str] | None = None,
           x_range: tuple[float, float] | None = None) -> Any:
    """A matplotlib figure of every bound surrogate, computed by the reference engine.

    The left panel shows the primitive ``g(x)``, the smooth function that stands in for
    the spike in the backward pass (the spike itself, dashed, for a surrogate with no
    primitive); the right panel the surrogate gradient ``g'(x)``, with the legend.

    Parameters
    ----------
    bounds : list of Bound
        The surrogates to draw.
    labels : list of str, optional
        Their legend entries (default: :func:`label`, the name and parameter values).
    x_range : (float, float), optional
        The x range (default: symmetric, wide enough for every surrogate's shape).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (on the non-interactive Agg backend unless another was chosen).

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        For a stochastic surrogate (its ``g'`` is random: there is no curve).
    """
    try:
        import matplotlib  # optional (plot extra): imported only to draw

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt  # optional (plot extra): imported only to draw
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'spikegrad[plot]'") from exc
    labels = labels or [label(b) for b in bounds]
    if x_range is None:
        width = max(half_width(b) for b in bounds)
        x_range = (-width, width)
    x = np.linspace(x_range[0], x_range[1], 2001)
    fig, (ax_g, ax_d) = plt.subplots(1, 2, figsize=(9.0, 3.4), constrained_layout=True)
    for b, text in zip(bounds, labels, strict=True):
        _draw(ax_g, ax_d, b, text, x)
    ax_g.set_title("primitive g(x) (smooth stand-in for the spike)")
    ax_g.set_ylabel("g(x)")
    ax_d.set_title("surrogate gradient g'(x)")
    ax_d.set_ylabel("g'(x) = dg/dx")
    for ax in (ax_g, ax_d):
        ax.set_xlabel("x = membrane potential - threshold")
        ax.grid(alpha=0.3)
    if ax_g.get_legend_handles_labels()[0]:
        ax_g.legend(fontsize=8)
    ax_d.legend(fontsize=8)
    return fig
