"""The parameter-domain fuzzer: what one example checks, and the strategies that draw them.

An *example* is one entry (canonical, alias or user definition), one parameter set drawn
over the entry's declared domains (edges included), and a vector of inputs (±0, subnormals,
±max, ±inf, NaN, points next to every support edge in every dtype, the core range and the
whole float range).  Each installed *path* (the numpy reference engine and
``Bound.derivative``, torch's native node, torch's operator path through ``torch.func``,
torch with tensor parameters, jax eager, jax under ``jit``, jax with array parameters)
computes the input gradient in every dtype it supports; each result is checked by the
conformance suite's own rule (``check_backward_values``: NaN/inf where and only where the
truth has them, relative error below 1e-3 where the truth is a normal number, the
adapter's declared ULP tolerance in the core range) against the truth:

* canonical surrogates: the independent mpmath oracles of ``conformance/oracles.py``
  (50 digits, exact parameters), the same that made the golden vectors;
* aliases and user definitions: the float64 reference engine (their formulas are the
  canonical ones, whose float64 path the canonical examples hold to the oracles).

A failure prints one line that reproduces it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import spikegrad
from spikegrad.conformance import harness as harnesses
from spikegrad.conformance.checks import check_backward_values
from spikegrad.conformance.goldens import Case, finfo, np_dtype

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))

from generate_goldens import evaluate as oracle_evaluate
from oracles import ORACLES

DTYPES = ("float16", "bfloat16", "float32", "float64")




# -- paths --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FuzzPath:
    """One way of computing ``g'``: ``grad(bound, x) -> numpy array`` in x's dtype."""

    name: str
    adapter: Any  # the conformance adapter whose tolerances and flushing apply
    dtypes: tuple[str, ...]
    grad: Callable[[spikegrad.Bound, np.ndarray], np.ndarray]
    repro: Callable[[str, dict[str, Any], str, float], str]
    array_params: bool = False


def _fmt_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _numpy_paths() -> list[FuzzPath]:
    from spikegrad.adapters import reference as engine

    a = harnesses.NumpyHarness()

    def reference(s: spikegrad.Bound, x: np.ndarray) -> np.ndarray:
        key = np.random.default_rng(0)
        return engine.backward(s, engine.forward(s, x, key=key)[1], np.ones_like(x), key=key)

    def native(s: spikegrad.Bound, x: np.ndarray) -> np.ndarray:
        return np.asarray(s.derivative(x, key=np.random.default_rng(0)))

    def rep(api: str) -> Callable[[str, dict[str, Any], str, float], str]:
        def r(name: str, params: dict[str, Any], dtype: str, x: float) -> str:
            call = ("spikegrad.adapters.reference.derivative_values(s, xs)" if api == "engine"
                    else "s.derivative(xs)")
            return (f"python -c \"import numpy as np, spikegrad, spikegrad.adapters.reference; "
                    f"s = spikegrad.get({name!r}, {_fmt_params(params)}); "
                    f"xs = np.array([{x!r}], {dtype!r}); print({call})\"")
        return r

    dts = ("float16", "float32", "float64")
    return [FuzzPath("numpy.reference", a, dts, reference, rep("engine")),
            FuzzPath("numpy.derivative", _ArrayAPI(), dts, native, rep("bound"))]


def _torch_paths() -> list[FuzzPath]:
    try:
        a = harnesses.load_harness("torch")
    except ImportError:
        return []
    import torch

    import spikegrad.torch as sgt

    def _tensor(x: np.ndarray, dtype: str) -> Any:
        if dtype == "bfloat16":
            return torch.from_numpy(x.astype(np.float32)).to(torch.bfloat16)
        return torch.from_numpy(np.ascontiguousarray(x))

    def _out(t: Any) -> np.ndarray:
        t = t.detach()
        if t.dtype == torch.bfloat16:
            return t.to(torch.float32).numpy().astype(np_dtype("bfloat16"))
        return t.numpy()

    def native(s: spikegrad.Bound, x: np.ndarray) -> np.ndarray:
        v = _tensor(x, str(x.dtype)).requires_grad_(True)
        key = torch.Generator().manual_seed(0) if s.stochastic else None
        y = sgt.spike(v, s, key=key)
        return _out(torch.autograd.grad(y, v, torch.ones_like(y))[0])

    def ops(s: spikegrad.Bound, x: np.ndarray) -> np.ndarray:
        v = _tensor(x, str(x.dtype))
        key = torch.Generator().manual_seed(0) if s.stochastic else None
        y, pull = torch.func.vjp(lambda u: sgt.spike(u, s, key=key), v)
        return _out(pull(torch.ones_like(y))[0])

    def tensor_params(s: spikegrad.Bound, x: np.ndarray) -> np.ndarray:
        arr = {p.name: torch.tensor(float(s.params[p.name]), dtype=torch.float64)
               for p in s.entry.params if p.domain.kind == "real" and p.array_ok
               and not p.static}
        return native(s.replace(**arr), x)

    def rep(kind: str) -> Callable[[str, dict[str, Any], str, float], str]:
        def r(name: str, params: dict[str, Any], dtype: str, x: float) -> str:
            if kind == "ops":
                body = ("y, f = torch.func.vjp(lambda u: sgt.spike(u, s), v); "
                        "print(f(torch.ones_like(y))[0])")
            else:
                body = "sgt.spike(v, s).sum().backward(); print(v.grad)"
            ps = params if kind != "tensor" else {
                k: (f"torch.tensor({v!r}, dtype=torch.float64)" if isinstance(v, float)
                    else repr(v)) for k, v in params.items()}
            inner = (", ".join(f"{k}={v}" for k, v in ps.items()) if kind == "tensor"
                     else _fmt_params(params))
            return (f"python -c \"import torch, spikegrad, spikegrad.torch as sgt; "
                    f"s = spikegrad.get({name!r}, {inner}); "
                    f"v = torch.tensor([{x!r}], dtype=torch.{dtype}, "
                    f"requires_grad={kind != 'ops'}); {body}\"")
        return r

    return [FuzzPath("torch.native", a, DTYPES, native, rep("native")),
            FuzzPath("torch.ops", a, DTYPES, ops, rep("ops")),
            FuzzPath("torch.tensor_params", a, DTYPES, tensor_params, rep("tensor"), True)]


def _jax_paths() -> list[FuzzPath]:
    try:
        a = harnesses.load_harness("jax")
    except ImportError:
        return []
    import jax
    import jax.numpy as jnp

    import spikegrad.jax as sgj

    def x64(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        """The path with 64-bit types on in its own scope (float64 inputs stay float64;
        the harness no longer turns them on for the process)."""
        def run(*args: Any) -> np.ndarray:
            with jax.enable_x64(True):
                return fn(*args)
        return run

    def _out(t: Any, dtype: str) -> np.ndarray:
        return np.asarray(t).astype(np_dtype(dtype))

    def _in(x: np.ndarray) -> Any:
        return jnp.asarray(x)

    @x64
    def eager(s: spikegrad.Bound, x: np.ndarray) -> np.ndarray:
        key = jax.random.key(0) if s.stochastic else None
        v = _in(x)
        y, pull = jax.vjp(lambda u: sgj.spike(u, s, key=key), v)
        return _out(pull(jnp.ones_like(y))[0], str(x.dtype))

    @x64
    def jitted(s: spikegrad.Bound, x: np.ndarray) -> np.ndarray:
        key = jax.random.key(0) if s.stochastic else None
        f = jax.jit(lambda u: jax.vjp(lambda w: sgj.spike(w, s, key=key), u)[1](
            jnp.ones_like(u))[0])
        return _out(f(_in(x)), str(x.dtype))

    @x64
    def array_params(s: spikegrad.Bound, x: np.ndarray) -> np.ndarray:
        names = [p.name for p in s.entry.params if p.domain.kind == "real" and p.array_ok
                 and not p.static]
        key = jax.random.key(0) if s.stochastic else None

        def run(u: Any, theta: Any) -> Any:
            b = s.replace(**dict(zip(names, theta, strict=True)))
            return jax.vjp(lambda w: sgj.spike(w, b, key=key), u)[1](jnp.ones_like(u))[0]

        theta = tuple(jnp.asarray(float(s.params[n]), jnp.float64) for n in names)
        return _out(jax.jit(run)(_in(x), theta), str(x.dtype))

    def rep(kind: str) -> Callable[[str, dict[str, Any], str, float], str]:
        def r(name: str, params: dict[str, Any], dtype: str, x: float) -> str:
            wrap = "jax.jit(g)" if kind != "eager" else "g"
            return (f"python -c \"import jax, jax.numpy as jnp, spikegrad, spikegrad.jax as "
                    f"sgj; jax.config.update('jax_enable_x64', True); "
                    f"s = spikegrad.get({name!r}, {_fmt_params(params)}); "
                    f"g = jax.grad(lambda u: sgj.spike(u, s).sum()); "
                    f"print({wrap}(jnp.array([{x!r}], jnp.{dtype})))\""
                    + ("  # parameters as jnp arrays" if kind == "array" else ""))
        return r

    return [FuzzPath("jax.eager", a, DTYPES, eager, rep("eager")),
            FuzzPath("jax.jit", a, DTYPES, jitted, rep("jit")),
            FuzzPath("jax.array_params", a, DTYPES, array_params, rep("array"), True)]


_PATHS: list[FuzzPath] | None = None


def paths() -> list[FuzzPath]:
    """Every path installed here (numpy always; torch and jax when importable)."""
    global _PATHS
    if _PATHS is None:
        _PATHS = [*_numpy_paths(), *_torch_paths(), *_jax_paths()]
    return _PATHS


# -- truth --------------------------------------------------------------------------------
def truth(s: spikegrad.Bound, x64: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(hi, lo)`` of the true ``g'`` at float64 inputs ``x64``."""
    e = s.entry
    if not e.is_alias and not e.user and e.name in ORACLES:
        params = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                  for k, v in s.params.items()}
        return oracle_evaluate(ORACLES[e.name][0], e.name, x64, params)
    from spikegrad.adapters import reference as engine

    hi = np.asarray(engine.derivative_values(s, x64), dtype=np.float64)
    return hi, np.zeros_like(hi)


class _ArrayAPI(harnesses.Harness):
    """``Bound.derivative``: the formulas in the compute dtype on any array namespace
    (the default tolerances of an adapter, as torch and jax declare)."""

    name = "array-api"


# -- one example --------------------------------------------------------------------------
@dataclass
class Failure:
    path: str
    dtype: str
    detail: str
    repro: str

    def __str__(self) -> str:
        return f"[{self.path} {self.dtype}] {self.detail}\n    repro: {self.repro}"


def _worst_x(detail: str, x: np.ndarray) -> float:
    if "x=" in detail:
        token = detail.split("x=", 1)[1].split(":", 1)[0].strip()
        token = token.removeprefix("np.float64(").removesuffix(")")
        try:
            return float(token)
        except ValueError:
            pass
    return float(x[0]) if x.size else 0.0


def around(*points: float, k: int = 3) -> list[float]:
    """Each point (rounded to float32) and its ``k`` float32 neighbours on either side: the
    inputs of a named regression case at an edge or a worst point."""
    out = []
    for p in points:
        c = np.float32(p)
        up = down = c
        out.append(float(c))
        for _ in range(k):
            up = np.nextafter(up, np.float32(np.inf))
            down = np.nextafter(down, np.float32(-np.inf))
            out += [float(up), float(down)]
    return out


def framework_pairs() -> list[tuple[str, str]]:
    """The (path, dtype) pairs of the framework paths (all but the numpy engines)."""
    return [(p.name, d) for p in paths() if not p.name.startswith("numpy.")
            for d in p.dtypes]


def check_example(s: spikegrad.Bound, xs: np.ndarray, selected: list[FuzzPath],
                  counter: dict[str, int] | None = None,
                  pairs: set[tuple[str, str]] | None = None) -> list[Failure]:
    """Every selected path × dtype on inputs ``xs`` (float64 values, cast per dtype);
    with ``pairs``, only those (path, dtype) pairs besides the numpy engines."""
    failures: list[Failure] = []
    cache: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def truth_for(dtype: str, rounded: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # array parameters are computed in the compute dtype (float32 below float64):
        # their true value is the rounded one
        if (dtype, rounded) not in cache:
            with np.errstate(over="ignore"):
                x = xs.astype(np_dtype(dtype))
            b = s
            if rounded:
                cdt = np.float64 if dtype == "float64" else np.float32
                # (bound directly: the rounded value may fall just outside the domain)
                statics = {p.name: p.static for p in s.entry.params}
                b = spikegrad.Bound(s.entry, tuple(
                    (k, v if statics[k] else float(cdt(v)))
                    for k, v in s.param_items))
            cache[(dtype, rounded)] = (x, *truth(b, x.astype(np.float64)))
        return cache[(dtype, rounded)]

    params = dict(s.params)
    for path in selected:
        if path.array_params and not any(not p.static for p in s.entry.params):
            continue
        for dtype in path.dtypes:
            if (pairs is not None and not path.name.startswith("numpy.")
                    and (path.name, dtype) not in pairs):
                continue
            x, hi, lo = truth_for(dtype, path.array_params)
            case = Case(name=s.name, index=0, params=params, dtype=dtype,
                        x=x.astype(np.float64), d_hi=hi, d_lo=lo, g_hi=None, g_lo=None)
            try:
                got = path.grad(s, x)
                if got.dtype != x.dtype or got.shape != x.shape:
                    ok, detail = False, f"gradient {got.dtype}{got.shape} for {x.dtype}{x.shape}"
                else:
                    ok, _, detail = check_backward_values(
                        case, got, path.adapter.tolerance_ulp[dtype],
                        harnesses.flushes(path.adapter, dtype), bound=s)
            except Exception as exc:  # a crash is a finding, reported with its repro
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            if counter is not None:
                counter["cases"] = counter.get("cases", 0) + x.size
            if not ok:
                failures.append(Failure(path.name, dtype, detail,
                                        path.repro(s.name, params, dtype,
                                                   _worst_x(detail, case.x))))
    return failures


# -- strategies ---------------------------------------------------------------------------
def real_values(domain: spikegrad.Domain) -> list[float]:
    """Edge values of a real domain: its bounds (or the nearest values inside), 0 and
    the smallest nonzero magnitude where it holds them, the smallest and largest
    magnitudes it allows."""
    lo, hi = domain.low, domain.high
    out = [0.0]
    m = domain.min_magnitude
    if m:
        out += [m, -m]
    big = [1.0, 1e-300, 5e-324, 1e-38, 1e38, 1e300, float(np.finfo(np.float64).max)]
    for v in [*big, *(-b for b in big)]:
        if domain.check(v):
            out.append(v)
    for edge, inclusive, direction in ((lo, domain.low_inclusive, math.inf),
                                       (hi, domain.high_inclusive, -math.inf)):
        if math.isfinite(edge):
            out.append(edge if inclusive else math.nextafter(edge, direction))
    return [v for v in out if domain.check(v)]


def param_strategy(param: spikegrad.Param) -> Any:
    from hypothesis import strategies as st

    d = param.domain
    if d.kind == "bool":
        return st.booleans()
    if d.kind == "choice":
        return st.sampled_from(d.choices)
    if d.kind == "int":
        hi = int(min(d.high, 1000)) if math.isfinite(d.high) else 1000
        return st.integers(int(d.low), hi)
    if d.kind == "window":
        pair = st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)).map(
            lambda t: (min(t), max(t)))
        return st.one_of(st.none(), pair)
    lo = max(d.low, -1e300)
    hi = min(d.high, 1e300)
    positive = d.low >= 0.0

    def log_uniform(t: tuple[float, int]) -> float:
        return math.copysign(10.0 ** t[0], 1 if positive else t[1])

    edges = real_values(d)
    lo_exp = -8.0
    if positive and d.low > 0:
        lo_exp = math.log10(max(d.low, 1e-300))
    elif positive and d.min_magnitude > 1e-8:  # 0 or in [m, ...]: typical values from m
        lo_exp = math.log10(d.min_magnitude)
    hi_exp = math.log10(hi) if hi > 0 and math.isfinite(hi) else 8.0
    typical = st.tuples(st.floats(min(lo_exp, hi_exp), hi_exp),
                        st.sampled_from([-1, 1])).map(log_uniform)
    wide = st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    choices = [typical, wide, st.just(float(param.default))] if isinstance(
        param.default, (int, float)) else [typical, wide]
    if edges:
        choices.append(st.sampled_from(edges))
    return st.one_of(*choices).filter(d.check)


def input_values(s: spikegrad.Bound, raw: list[float]) -> np.ndarray:
    """The drawn values plus the fixed specials and the points next to each edge."""
    specials = [0.0, -0.0, math.inf, -math.inf, math.nan]
    pts = [*specials, *raw]
    for dtype in DTYPES:
        fi = finfo(dtype)
        tiny = float(fi.smallest_subnormal)
        pts += [tiny, -tiny, float(fi.smallest_normal), float(fi.max), -float(fi.max)]
    try:
        edges = [float(b) for b in s.entry.boundaries(s.params)]
    except Exception:  # array parameters have no host edges: none to add
        edges = []
    for b in edges:
        for dtype in DTYPES:
            dt = np_dtype(dtype)
            with np.errstate(over="ignore"):
                c = np.asarray(b).astype(dt)
            up, down = c, c
            pts.append(float(c))
            for _ in range(2):
                up = np.nextafter(up, np.asarray(np.inf, dt)) if dtype != "bfloat16" else \
                    (up.astype(np.float32) * np.float32(1.0079)).astype(dt)
                down = np.nextafter(down, np.asarray(-np.inf, dt)) if dtype != "bfloat16" \
                    else (down.astype(np.float32) * np.float32(0.9922)).astype(dt)
                pts += [float(up), float(down)]
    return np.asarray(pts, dtype=np.float64)


def x_strategy(scale: float) -> Any:
    """One input: the core range ``|scale x| <= 10``, log-uniform magnitudes over the
    whole float range, or a subnormal."""
    from hypothesis import strategies as st

    core = st.floats(-10.0, 10.0).map(lambda u: u / scale)
    mag = st.tuples(st.floats(-320, 308.25), st.booleans()).map(
        lambda t: (-1.0 if t[1] else 1.0) * 10.0 ** t[0])
    return st.one_of(core, core, mag)
