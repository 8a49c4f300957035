"""How closely ``spikegrad.compat.<peer>`` agrees with each installed peer, bit for bit.

For every deterministic surrogate that a compat module mirrors, at the peer's defaults,
the script evaluates the peer's own implementation and the compat one on the same dense
float32 grid (:func:`grid`: 131,071 evenly spaced points over ``[-8, 8]`` with full
significands, every multiple of 1/64 there, 32,768 magnitudes spaced evenly in the bits
from the smallest subnormal to 8 with both signs, and ``0``, ``-0``, ``±1.4e-45``,
``±1.2e-38``, ``±1e30``, ``±3.4e38``), and reports per surrogate:

* ``g′``: the gradient of the spike with respect to ``x`` for an upstream gradient of 1
  (the surrogate derivative as each side returns it): the share of elements whose float32
  bits are equal, and the largest distance in units in the last place (ULP);
* ``G·g′``: the same for the upstream gradient ``G`` of :func:`upstream` (deterministic,
  in ``[0.5, 1.5)``, full significands), which is what backpropagation computes in a
  network;
* where the ``G·g′`` values differ, which side equals the correctly rounded float32 value
  of the peer's documented formula (:data:`ORACLES`: closed forms evaluated in float64,
  then rounded once; they restate the peers' formulas on purpose, as an independent check);
* whether the spikes are bit-equal, and where not.

NaN counts as equal to NaN (any payload); ``-0`` and ``+0`` are bit-unequal but 0 ULP
apart; a NaN on one side only is an infinite distance.  The rows measure one form per
surrogate (snntorch's factories, spikingjelly's modules with ``spiking=True``, braintools'
classes under ``jax.jit``, norse's ``threshold(x, method, alpha)``); the other forms of a
surrogate call the same code on both sides.  Not measured: the names of :data:`SKIPPED`.

The figures depend on the machine: torch's CPU kernels (their vector width), spikegrad's
generated CPU kernels (glibc's vector math; without a C compiler, or with
``spikegrad.torch.set_fast_path(False)`` (``--torch-ops``), the backward uses torch ops,
whose rounding differs) and XLA's.  :func:`environment` names what each peer's rows were
measured with.

:func:`training_rows` trains the float32 networks of ``tests/test_compat.py``
(``_losses_snntorch``, ``_losses_braintools``) for :data:`STEPS` steps with the peer's
surrogate and with compat's, and reports after which step their weights and their losses
first differ, and by how much the losses differ.

    python compat/gradient_agreement.py                   # every installed peer
    python compat/gradient_agreement.py --peer snntorch   # one peer
    python compat/gradient_agreement.py --torch-ops       # spikegrad without its kernels
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import math
import platform
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

#: peer -> (the peer's module, the compat module, the framework its arrays belong to)
PEERS: dict[str, tuple[str, str, str]] = {
    "braintools": ("braintools.surrogate", "spikegrad.compat.braintools", "jax"),
    "norse": ("norse.torch.functional.threshold", "spikegrad.compat.norse", "torch"),
    "snntorch": ("snntorch.surrogate", "spikegrad.compat.snntorch", "torch"),
    "spikingjelly": ("spikingjelly.activation_based.surrogate",
                     "spikegrad.compat.spikingjelly", "torch"),
}

#: compat names that mirror a peer's but are not in the table, and why
SKIPPED: dict[str, str] = {
    "snntorch LSO": "snntorch 1.0's factory calls the stochastic operator and raises",
    "snntorch SSO, spikingjelly PoissonPass, norse logistic_fn and circ_dist_fn": "random",
    "snntorch spike_rate_escape": "different on purpose: snntorch shifts the rate by the "
                                  "threshold twice (catalogued), spikegrad peaks at x = 0",
    "norse super at alpha != 1; tanh, heavi_erfc at k != 2; circ at alpha != 1/2":
        "different on purpose: norse 1.1.0 ignores SuperSpike's alpha, its tanh and erfc "
        "gradients lack k/2 and circ's is 2 alpha times the documented one (catalogued)",
    "norse heaviside": "no gradient on either side",
    "spikingjelly DSpike": "not in spikingjelly 2.0.0 (compat follows its HEAD)",
}


# -- the oracle: each peer's documented g'(x) in float64 (restated here on purpose) -----------
def _sigmoid_slope(x: np.ndarray, a: float) -> np.ndarray:
    """``a σ(ax) σ(-ax)``, without overflow."""
    e = np.exp(-a * np.abs(x))
    return a * e / (1.0 + e) ** 2


def _sech2(t: np.ndarray) -> np.ndarray:
    """``1 - tanh(t)^2 = sech(t)^2``, without cancellation."""
    e = np.exp(-2.0 * np.abs(t))
    return 4.0 * e / (1.0 + e) ** 2


def _gauss(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-((x - mu) ** 2) / (2.0 * sigma**2)) / (math.sqrt(2.0 * math.pi) * sigma)


def _fourier(x: np.ndarray, terms: int, period: float) -> np.ndarray:
    """``4/T Σ_{i<=terms} cos((2i-1) 2π x / T)``; the phase in half-turns is reduced
    exactly (exact for a period that is a power of two, as the defaults)."""
    out = np.zeros_like(x)
    for i in range(1, terms + 1):
        out += np.cos(math.pi * np.fmod(x * (2 * i - 1) * 2.0 / period, 2.0))
    return 4.0 / period * out


def _step(cond: np.ndarray) -> np.ndarray:
    return cond.astype(np.float64)


ORACLES: dict[tuple[str, str], Callable[..., np.ndarray]] = {
    # snntorch 1.0 (docstrings of snntorch.surrogate; atan's code has alpha/2 where its
    # docstring has 1/pi, and the alias follows the code)
    ("snntorch", "atan"): lambda x, alpha: alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2),
    ("snntorch", "fast_sigmoid"): lambda x, slope: 1 / (1 + slope * np.abs(x)) ** 2,
    ("snntorch", "sigmoid"): lambda x, slope: _sigmoid_slope(x, slope),
    ("snntorch", "SFS"): lambda x, slope, B: _step(x > B) / (1 + slope * np.abs(x)) ** 2,
    ("snntorch", "triangular"): lambda x, threshold: np.where(x < 0, threshold, -threshold),
    ("snntorch", "straight_through_estimator"): lambda x: np.ones_like(x),
    ("snntorch", "heaviside"): lambda x: _step(x > 0),
    # spikingjelly 2.0.0
    ("spikingjelly", "Sigmoid"): lambda x, alpha: _sigmoid_slope(x, alpha),
    ("spikingjelly", "ATan"): lambda x, alpha: alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2),
    ("spikingjelly", "PiecewiseQuadratic"):
        lambda x, alpha: np.where(np.abs(x) > 1 / alpha, 0.0, alpha - alpha**2 * np.abs(x)),
    ("spikingjelly", "PiecewiseExp"): lambda x, alpha: alpha / 2 * np.exp(-alpha * np.abs(x)),
    ("spikingjelly", "SoftSign"): lambda x, alpha: alpha / (2 * (1 + alpha * np.abs(x)) ** 2),
    ("spikingjelly", "SuperSpike"): lambda x, alpha: alpha / (np.abs(x) + 1) ** 2,
    ("spikingjelly", "Erf"):
        lambda x, alpha: alpha / math.sqrt(math.pi) * np.exp(-((alpha * x) ** 2)),
    ("spikingjelly", "QPseudoSpike"):
        lambda x, alpha: (1 + 2 / (alpha - 1) * np.abs(x)) ** -alpha,
    ("spikingjelly", "Rect"): lambda x, alpha: alpha * _step(np.abs(x) < 0.5 / alpha),
    ("spikingjelly", "NonzeroSignLogAbs"): lambda x, alpha: 1 / (1 / alpha + np.abs(x)),
    ("spikingjelly", "PiecewiseLeakyReLU"):
        lambda x, w, c: np.where(np.abs(x) < w, 1 / (2 * w), c),
    ("spikingjelly", "SquarewaveFourierSeries"):
        lambda x, n, T_period: _fourier(x, n - 1, T_period),
    ("spikingjelly", "S2NN"):
        lambda x, alpha, beta: np.where(x < 0, _sigmoid_slope(x, alpha),
                                        beta / (np.maximum(x, 0) + 1)),
    ("spikingjelly", "LeakyKReLU"): lambda x, leak, k: np.where(x >= 0, k, leak),
    ("spikingjelly", "LogTailedReLU"):
        lambda x, alpha: np.where(x > 1, 1 / np.maximum(x, 1), np.where(x <= 0, alpha, 1.0)),
    ("spikingjelly", "FakeNumericalGradient"):  # clip(sign(x)/x, alpha) = min(1/|x|, alpha)
        lambda x, alpha: np.minimum(1 / np.abs(x), alpha),
    ("spikingjelly", "DeterministicPass"): lambda x: np.ones_like(x),
    ("spikingjelly", "MultiLevelSpikeCount"):
        lambda x, max_spike_count: _step((x >= 0) & (x <= max_spike_count)),
    # braintools 0.3.0 (its surrogate_grad; the same code in 0.4.0)
    ("braintools", "Sigmoid"): lambda x, alpha: _sigmoid_slope(x, alpha),
    ("braintools", "PiecewiseQuadratic"):
        lambda x, alpha: np.where(np.abs(x) > 1 / alpha, 0.0, alpha - alpha**2 * np.abs(x)),
    ("braintools", "PiecewiseExp"): lambda x, alpha: alpha / 2 * np.exp(-alpha * np.abs(x)),
    ("braintools", "SoftSign"): lambda x, alpha: alpha / 2 / (1 + np.abs(alpha * x)) ** 2,
    ("braintools", "Arctan"):
        lambda x, alpha: alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2),
    ("braintools", "NonzeroSignLog"): lambda x, alpha: 1 / (1 / alpha + np.abs(x)),
    ("braintools", "ERF"):
        lambda x, alpha: alpha / math.sqrt(math.pi) * np.exp(-(alpha**2) * x * x),
    ("braintools", "PiecewiseLeakyRelu"):
        lambda x, c, w: np.where(np.abs(x) > w, c, 1 / (2 * w)),
    ("braintools", "SquarewaveFourierSeries"):
        lambda x, n, t_period: _fourier(x, n, t_period),
    ("braintools", "S2NN"):
        lambda x, alpha, beta, epsilon: np.where(x < 0, _sigmoid_slope(x, alpha),
                                                 beta / (np.maximum(x, 0) + 1)),
    ("braintools", "QPseudoSpike"):
        lambda x, alpha: (1 + 2 / (alpha + 1) * np.abs(x)) ** -alpha,
    ("braintools", "LeakyRelu"): lambda x, alpha, beta: np.where(x < 0, alpha, beta),
    ("braintools", "LogTailedRelu"):
        lambda x, alpha: np.where(x > 1, 1 / np.maximum(x, 1), np.where(x > 0, 1.0, alpha)),
    ("braintools", "ReluGrad"):
        lambda x, alpha, width: np.maximum(alpha * (width - np.abs(x)), 0.0),
    ("braintools", "GaussianGrad"): lambda x, sigma, alpha: alpha * _gauss(x, 0.0, sigma),
    ("braintools", "MultiGaussianGrad"):
        lambda x, h, s, sigma, scale: scale * ((1 + h) * _gauss(x, 0.0, sigma)
                                               - h * _gauss(x, sigma, s * sigma)
                                               - h * _gauss(x, -sigma, s * sigma)),
    ("braintools", "InvSquareGrad"): lambda x, alpha: 1 / (alpha * np.abs(x) + 1) ** 2,
    ("braintools", "SlayerGrad"): lambda x, alpha: np.exp(-alpha * np.abs(x)),
    # norse 1.1.0 (docstrings: h = 1/2 + 1/2 tanh(kx), ... ; SuperSpike 1/(alpha|x| + 1)^2)
    ("norse", "super"): lambda x, alpha: 1 / (alpha * np.abs(x) + 1) ** 2,
    ("norse", "triangle"): lambda x, alpha: alpha * np.maximum(1 - np.abs(x), 0.0),
    ("norse", "tanh"): lambda x, alpha: alpha / 2 * _sech2(alpha * x),
    ("norse", "circ"): lambda x, alpha: alpha**2 / (2 * (x * x + alpha**2) ** 1.5),
    ("norse", "heavi_erfc"):
        lambda x, alpha: alpha / math.sqrt(math.pi) * np.exp(-((alpha * x) ** 2)),
}


@dataclass(frozen=True)
class Case:
    """One surrogate of one peer at the parameters measured: ``build(module)`` gives the
    spike function from the peer's module or from the compat module."""

    peer: str
    surrogate: str
    params: tuple[tuple[str, Any], ...] = ()
    note: str = ""  # why these parameters, where they are not the peer's defaults

    def build(self, module: Any) -> Callable[[Any], Any]:
        """The spike function of this surrogate in ``module`` (the peer's or compat's)."""
        kw = dict(self.params)
        if self.peer == "norse":
            return lambda x: module.threshold(x, self.surrogate, kw["alpha"])
        return getattr(module, self.surrogate)(**kw)

    @property
    def parameters(self) -> str:
        text = ", ".join(f"{k}={v!r}" for k, v in self.params) or "—"
        return f"{text} ({self.note})" if self.note else text

    def oracle(self, x: np.ndarray) -> np.ndarray:
        """The peer's documented ``g'(x)`` in float64."""
        with np.errstate(all="ignore"):
            return np.asarray(ORACLES[self.peer, self.surrogate](x, **dict(self.params)),
                              dtype=np.float64)


def _defaults(peer: str, name: str) -> tuple[tuple[str, Any], ...]:
    """The defaults of the installed peer's constructor or factory ``name``."""
    sig = inspect.signature(getattr(importlib.import_module(PEERS[peer][0]), name))
    return tuple((p.name, p.default) for p in sig.parameters.values()
                 if p.default is not inspect.Parameter.empty and p.name != "spiking")


#: norse's threshold methods, at the parameter where norse 1.1.0 computes its documented
#: derivative (``threshold`` has no default; norse's neurons default to super, alpha=100)
_NORSE = {"super": (1.0, "norse ignores alpha; equal at 1 only"),
          "triangle": (0.3, "triangle_fn's default"),
          "tanh": (2.0, "norse lacks k/2; equal at k = 2 only"),
          "circ": (0.5, "norse's is 2 alpha times; equal at 1/2 only"),
          "heavi_erfc": (2.0, "norse lacks k/2; equal at k = 2 only")}


def _order(peer: str, name: str) -> tuple[str, str, str]:
    return peer, name.lower(), name


def cases(peer: str) -> list[Case]:
    """The measured surrogates of ``peer`` (installed), in the table's order."""
    if peer == "norse":
        out = [Case("norse", m, (("alpha", a),), note) for m, (a, note) in _NORSE.items()]
    else:
        theirs = importlib.import_module(PEERS[peer][0])
        out = [Case(peer, name, (("max_spike_count", 3),), "no default")
               if name == "MultiLevelSpikeCount" else Case(peer, name, _defaults(peer, name))
               for p, name in ORACLES if p == peer and hasattr(theirs, name)]
    return sorted(out, key=lambda c: _order(c.peer, c.surrogate))


# -- the grid and the upstream gradient ----------------------------------------------------------
def grid() -> np.ndarray:
    """The float32 inputs, sorted by value (``-0`` before ``0``), each once."""
    f32 = np.float32
    uniform = np.linspace(-8.0, 8.0, 131_071).astype(f32)  # step 16/131070: not dyadic
    dyadic = (np.arange(-512, 513) / 64).astype(f32)
    top = int(f32(8.0).view(np.uint32))
    mags = np.linspace(1, top, 32_768).astype(np.uint32).view(f32)
    tiny, big = np.finfo(f32).tiny, np.finfo(f32).max
    special = np.array([0.0, 1e-45, tiny, 1e30, big], dtype=f32)
    x = np.concatenate([uniform, dyadic, mags, -mags, special, -special])
    _, first = np.unique(x.view(np.uint32), return_index=True)
    x = x[np.sort(first)]
    return x[np.lexsort((~np.signbit(x), x))]


def upstream(n: int) -> np.ndarray:
    """``G_i = 1/2 + frac(i φ)`` in float32: deterministic, full significands."""
    i = np.arange(n, dtype=np.float64)
    return (0.5 + np.modf(i * 0.6180339887498949)[0]).astype(np.float32)


# -- measuring ------------------------------------------------------------------------------------
def _torch_eval(fn: Callable[[Any], Any], x: np.ndarray, g: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import torch

    import spikegrad.torch

    spikegrad.torch.build_fast_path(timeout=600)  # the same path from the first call on
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    y = fn(xt)
    (g1,) = torch.autograd.grad(y, xt, torch.ones_like(y), retain_graph=True)
    (gg,) = torch.autograd.grad(y, xt, torch.from_numpy(g).to(y.dtype))
    return y.detach().numpy(), g1.numpy(), gg.numpy()


def _jax_eval(fn: Callable[[Any], Any], x: np.ndarray, g: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import jax
    import jax.numpy as jnp

    @jax.jit
    def run(x: Any, g: Any) -> tuple[Any, Any, Any]:
        y, vjp = jax.vjp(fn, x)
        return y, vjp(jnp.ones_like(y))[0], vjp(g.astype(y.dtype))[0]

    y, g1, gg = run(jnp.asarray(x), jnp.asarray(g))
    return np.asarray(y), np.asarray(g1), np.asarray(gg)


def _ordered(a: np.ndarray) -> np.ndarray:
    """float32 values as integers in which neighbouring floats differ by 1 (``±0`` -> 0)."""
    b = np.asarray(a, np.float32).view(np.int32).astype(np.int64)
    return np.where(b < 0, -(b & 0x7FFFFFFF), b)


def bit_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: the float32 bits agree, or both are NaN."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise distance in float32 ULP (float; ``inf`` where one side only is NaN)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    d = np.abs(_ordered(a) - _ordered(b)).astype(np.float64)
    na, nb = np.isnan(a), np.isnan(b)
    return np.where(na & nb, 0.0, np.where(na | nb, np.inf, d))


def _same_value(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


@dataclass
class Measurement:
    """The arrays of one case: inputs, upstream gradient, both sides' spikes, ``g'`` and
    ``G g'`` (each a pair: the peer's, compat's), and the oracle's ``G g'`` rounded once
    to float32."""

    case: Case
    x: np.ndarray
    g: np.ndarray
    spike: tuple[np.ndarray, np.ndarray]
    grad: tuple[np.ndarray, np.ndarray]
    upstream_grad: tuple[np.ndarray, np.ndarray]
    exact: np.ndarray

    @property
    def exact_grad(self) -> np.ndarray:
        """The oracle's ``g'`` rounded once to float32."""
        return self.case.oracle(self.x.astype(np.float64)).astype(np.float32)


def measure(case: Case, x: np.ndarray | None = None) -> Measurement:
    """Evaluate ``case`` on both sides (on :func:`grid` unless ``x`` is given)."""
    x = grid() if x is None else np.asarray(x, np.float32)
    g = upstream(x.size)
    theirs_name, ours_name, framework = PEERS[case.peer]
    run = _jax_eval if framework == "jax" else _torch_eval
    theirs = run(case.build(importlib.import_module(theirs_name)), x, g)
    ours = run(case.build(importlib.import_module(ours_name)), x, g)
    with np.errstate(all="ignore"):
        exact = (g.astype(np.float64) * case.oracle(x.astype(np.float64))).astype(np.float32)
    return Measurement(case, x, g, (theirs[0], ours[0]), (theirs[1], ours[1]),
                       (theirs[2], ours[2]), exact)


@dataclass(frozen=True)
class Row:
    """One line of the gradient table."""

    peer: str
    surrogate: str
    parameters: str
    grad_equal: str
    grad_ulp: str
    upstream_equal: str
    upstream_ulp: str
    rounded: str
    spike_equal: str

    def markdown(self) -> str:
        cells = (self.peer, f"`{self.surrogate}`", self.parameters, self.grad_equal,
                 self.grad_ulp, self.upstream_equal, self.upstream_ulp, self.rounded,
                 self.spike_equal)
        return "| " + " | ".join(cells) + " |"


HEADER = ("| peer | surrogate | parameters | g′ bit-equal | g′ max ULP | G·g′ bit-equal "
          "| G·g′ max ULP | correctly rounded where G·g′ differs | spike bit-equal |\n"
          "|---|---|---|---:|---:|---:|---:|---|---|")


def _percent(share: float) -> str:
    """``100 %`` only when all agree and ``0 %`` only when none does; otherwise two
    decimals rounded toward 50 %, so that a near miss never prints as an extreme."""
    if share in (0.0, 1.0):
        return f"{share * 100:.0f} %"
    p = share * 100
    p = math.floor(p * 100) / 100 if p > 50 else math.ceil(p * 100) / 100
    return f"{min(max(p, 0.01), 99.99):.2f} %"


def _ulp(theirs: np.ndarray, ours: np.ndarray) -> str:
    d = ulp_distance(theirs, ours)
    finite = d[np.isfinite(d)]
    text = f"{int(finite.max()) if finite.size else 0}"
    nans = [(side, int((np.isnan(a) & ~np.isnan(b)).sum()))
            for side, a, b in (("peer", theirs, ours), ("spikegrad", ours, theirs))]
    nans = [f"{side} NaN at {n}" for side, n in nans if n]
    return f"∞ ({', '.join(nans)}; else {text})" if nans else text


def _rounded(m: Measurement) -> str:
    theirs, ours = m.upstream_grad
    differ = ~bit_equal(theirs, ours)
    n = int(differ.sum())
    if n == 0:
        return "—"
    peer_ok = _same_value(theirs[differ], m.exact[differ])
    ours_ok = _same_value(ours[differ], m.exact[differ])
    parts = [("spikegrad", ours_ok & ~peer_ok), ("peer", peer_ok & ~ours_ok),
             ("neither", ~ours_ok & ~peer_ok), ("both (±0)", ours_ok & peer_ok)]
    return ", ".join(f"{name} {_percent(int(k.sum()) / n)}" for name, k in parts if k.any())


def _spikes(m: Measurement) -> str:
    theirs, ours = m.spike
    if theirs.dtype != ours.dtype:
        return f"no: dtype {theirs.dtype} vs {ours.dtype}"
    eq = bit_equal(theirs, ours)
    if eq.all():
        return "yes"
    bad = m.x[~eq]
    where = f"x = {bad[0]:.2g}" if bad.size == 1 else f"x in [{bad.min():.2g}, {bad.max():.2g}]"
    return f"no at {bad.size} ({where})"


def summarize(m: Measurement) -> Row:
    """The table row of a measurement."""
    (t1, o1), (tg, og) = m.grad, m.upstream_grad
    return Row(m.case.peer, m.case.surrogate, m.case.parameters,
               _percent(float(bit_equal(t1, o1).mean())), _ulp(t1, o1),
               _percent(float(bit_equal(tg, og).mean())), _ulp(tg, og),
               _rounded(m), _spikes(m))


def installed(peer: str) -> bool:
    """Whether ``peer`` and the framework it runs on can be imported."""
    module, _, framework = PEERS[peer]
    return all(importlib.util.find_spec(name) is not None
               for name in (module.split(".")[0], framework))


def rows(peer: str) -> list[Row]:
    """The gradient-table rows of one installed peer, sorted by surrogate."""
    x = grid()
    return [summarize(measure(c, x)) for c in cases(peer)]


def table(all_rows: Iterable[Row], header: str = HEADER) -> str:
    """A markdown table, rows sorted stably by peer then surrogate."""
    ordered = sorted(all_rows, key=lambda r: _order(r.peer, r.surrogate))
    return "\n".join([header, *(r.markdown() for r in ordered)])


def _kernels() -> str:
    """How spikegrad's torch backward runs here: its generated CPU kernels (and with
    what), or torch ops."""
    import spikegrad.torch
    from spikegrad.codegen import cpu

    status = spikegrad.torch.build_fast_path(timeout=600)
    if status == "disabled":
        return "spikegrad with torch ops (fast path off)"
    try:
        cc = cpu.compiler()
    except cpu.CompilerUnavailable:
        return "spikegrad with torch ops (no C compiler)"
    out = subprocess.run([cc, "-dumpfullversion"], capture_output=True, text=True)
    libc, libc_version = platform.libc_ver()
    return (f"spikegrad's generated CPU kernels ({Path(cc).name} {out.stdout.strip()}, "
            f"{libc} {libc_version})")


def _cpu_vendor() -> str:
    """The CPU's vendor (``GenuineIntel``, ``AuthenticAMD``, ...): torch's math libraries
    take vendor-specific paths, so the last bits of the peers' ``exp`` and of the training
    runs' products depend on it (measured: the rows of snntorch's ``sigmoid``,
    spikingjelly's ``Erf`` and norse's ``circ`` moved, and the training of snntorch's
    ``fast_sigmoid`` parted at step 1 instead of 10, on an AMD CPU with the same torch)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown vendor"


def environment(peer: str) -> str:
    """What ``peer``'s rows were measured with: the peer's version, its framework's, the
    CPU and how spikegrad's backward ran."""
    framework = PEERS[peer][2]
    if framework == "jax":
        where = (f"jax {version('jax')}, jaxlib {version('jaxlib')} "
                 f"({platform.machine()}, {_cpu_vendor()}, under jax.jit)")
    else:
        import torch

        where = (f"torch {torch.__version__} ({platform.machine()}, "
                 f"{torch.backends.cpu.get_cpu_capability()}, {_cpu_vendor()}), "
                 f"{_kernels()}")
    return f"{peer} {version(peer)}: {where}"


# -- training: the float32 networks of tests/test_compat.py --------------------------------------
#: training steps measured (tests/test_compat.py runs the first 20)
STEPS = 200
FIRST = 20

#: the training comparisons: the helpers' own surrogates (atan, Arctan at alpha = 2) and
#: surrogates whose gradients differ in the table
TRAINING = [Case("snntorch", "atan", (("alpha", 2.0),)),
            Case("snntorch", "fast_sigmoid", (("slope", 25),)),
            Case("braintools", "Arctan", (("alpha", 2.0),)),
            Case("braintools", "ERF", (("alpha", 1.0),)),
            Case("braintools", "Sigmoid", (("alpha", 4.0),))]


def train_snntorch(spike_grad: Callable[[Any], Any], steps: int = STEPS
                   ) -> tuple[list[float], list[np.ndarray]]:
    """``tests/test_compat.py::_losses_snntorch``'s network with ``spike_grad``: the
    losses and the weights after each step."""
    import snntorch as snn
    import torch

    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 6)
    lif = snn.Leaky(beta=0.9, spike_grad=spike_grad)
    opt = torch.optim.SGD(lin.parameters(), lr=0.5)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(10, 4, 8, generator=g) * 2
    target = torch.rand(4, 6, generator=g)
    losses, weights = [], []
    for _ in range(steps):
        mem = lif.init_leaky()
        spikes = []
        for t in range(x.shape[0]):
            spk, mem = lif(lin(x[t]), mem)
            spikes.append(spk)
        loss = ((torch.stack(spikes).mean(0) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        weights.append(np.concatenate([p.detach().numpy().ravel() for p in lin.parameters()]))
    return losses, weights


def train_braintools(spike: Callable[[Any], Any], steps: int = STEPS
                     ) -> tuple[list[float], list[np.ndarray]]:
    """``tests/test_compat.py::_losses_braintools``'s network with ``spike``: the losses
    and the weights after each step."""
    import jax
    import jax.numpy as jnp

    w = jax.random.normal(jax.random.key(0), (8, 6), dtype=jnp.float32) * 0.5
    x = jax.random.uniform(jax.random.key(1), (10, 4, 8), dtype=jnp.float32) * 2
    target = jax.random.uniform(jax.random.key(2), (4, 6), dtype=jnp.float32)

    def loss(w: Any) -> Any:
        def step(v: Any, xt: Any) -> tuple[Any, Any]:
            v = 0.9 * v + xt @ w
            s = spike(v - 1.0)
            return v - s, s

        _, s = jax.lax.scan(step, jnp.zeros((4, 6), jnp.float32), x)
        return jnp.mean((s.mean(0) - target) ** 2)

    grad = jax.jit(jax.value_and_grad(loss))
    losses, weights = [], []
    for _ in range(steps):
        value, gw = grad(w)
        w = w - 0.5 * gw
        losses.append(float(value))
        weights.append(np.asarray(w).ravel())
    return losses, weights


TRAINING_HEADER = (f"| peer | surrogate | parameters | weights first differ after step "
                   f"| losses first differ at step | largest relative loss difference, "
                   f"steps 1–{FIRST} | steps 1–{STEPS} |\n|---|---|---|---:|---:|---:|---:|")


@dataclass(frozen=True)
class TrainingRow:
    """One line of the training table."""

    peer: str
    surrogate: str
    parameters: str
    weights_part: str
    losses_part: str
    first: str
    all: str

    def markdown(self) -> str:
        cells = (self.peer, f"`{self.surrogate}`", self.parameters, self.weights_part,
                 self.losses_part, self.first, self.all)
        return "| " + " | ".join(cells) + " |"


def _first_step(differ: Iterable[bool]) -> str:
    return next((str(i + 1) for i, d in enumerate(differ) if d), "—")


def _relative(a: np.ndarray, b: np.ndarray) -> str:
    r = float(np.max(np.abs(a - b) / np.abs(a)))
    return "0" if r == 0 else f"{r * 100:.2g} %"


def training_row(case: Case, steps: int = STEPS) -> TrainingRow:
    """Train ``case``'s network with the peer's surrogate and with compat's."""
    theirs_name, ours_name, _ = PEERS[case.peer]
    train = train_braintools if case.peer == "braintools" else train_snntorch
    (la, wa), (lb, wb) = (train(case.build(importlib.import_module(name)), steps)
                          for name in (theirs_name, ours_name))
    a, b = np.asarray(la), np.asarray(lb)
    return TrainingRow(case.peer, case.surrogate, case.parameters,
                       _first_step(not np.array_equal(u, v) for u, v in zip(wa, wb,
                                                                             strict=True)),
                       _first_step(a != b), _relative(a[:FIRST], b[:FIRST]), _relative(a, b))


def training_rows(peer: str) -> list[TrainingRow]:
    """The training-table rows of one installed peer (none for peers without one)."""
    return [training_row(c) for c in TRAINING if c.peer == peer]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", action="append", choices=sorted(PEERS),
                    help="peers to measure (default: every installed one)")
    ap.add_argument("--torch-ops", action="store_true",
                    help="spikegrad's torch backward with torch ops, not its CPU kernels")
    ap.add_argument("--no-training", action="store_true", help="skip the training table")
    args = ap.parse_args(argv)
    if args.torch_ops:
        import spikegrad.torch

        spikegrad.torch.set_fast_path(False)
    peers = args.peer or sorted(PEERS)
    here = sorted(p for p in set(peers) if installed(p))
    print(table(r for p in here for r in rows(p)))
    print("\nMeasured with:\n")
    for p in here:
        print(f"* {environment(p)}")
    if not args.no_training:
        print()
        print(table((r for p in here for r in training_rows(p)), TRAINING_HEADER))
    print("\nNot measured:\n")
    for names, why in SKIPPED.items():
        print(f"* {names}: {why}")
    for p in sorted(set(peers) - set(here)):
        print(f"* {p}: not installed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
