"""The error-free product ``a*b = p + e`` of :mod:`spikegrad._numerics`, on every route that
forms it: Veltkamp/Dekker splitting (numpy; the same code serves torch and jax), the
shortcut for an exact power-of-two scaling, and the fused multiply-add of the generated C
kernels.  Each route is checked against exact rational arithmetic, and the routes against
one another bit for bit (every binding must form the same argument for ``exp``)."""

from __future__ import annotations

import ctypes
import shutil
from fractions import Fraction

import numpy as np
import pytest

from spikegrad import _numerics
from spikegrad.codegen import cpu
from spikegrad.codegen.c import C_PRELUDE, emit_expression
from spikegrad.codegen.trace import TraceNamespace

DTYPES = ["float32", "float64"]
#: inexact in every dtype, exact in float64 only, a power of two (the shortcut), a power of
#: two below 1 (not the shortcut: the product can become subnormal), a negative power of
#: two, many significant bits, a short significand
SCALES = [2.0 / 3.0, 0.1, 4.0, 0.25, -2.0, 4097.5, 3.0, 1e-3]


def _inputs(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(11)
    info = np.finfo(dtype)
    bulk = rng.standard_normal(4000) * np.exp(rng.uniform(-30, 30, 4000))
    edges = [0.0, -0.0, 1.0, -1.0, float(info.tiny), float(info.smallest_subnormal),
             -float(info.smallest_subnormal), float(info.max), -float(info.max),
             float(info.max) / 4097.0 / 2.0, float(info.max) / 9.0, 1e30, np.inf, -np.inf,
             np.nan]
    return np.concatenate([bulk, edges]).astype(dtype)


def _exact_error(a: float, b: float, p: float) -> float:
    """``a*b - p`` in rationals, as a Python float (0 where ``p`` is not finite)."""
    if not np.isfinite(p):
        return 0.0
    return float(Fraction(a) * Fraction(b) - Fraction(p))


@pytest.mark.parametrize("b", SCALES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_two_prod_error_is_exact(dtype: str, b: float) -> None:
    """``e`` is the exact error of the rounded product with the constant rounded to the
    dtype, plus ``a*(b - fl(b))`` for the constant's own rounding (0 where the product
    overflows or the split cannot apply)."""
    x = _inputs(dtype)
    with np.errstate(all="ignore"):  # the inputs overflow on purpose
        p, e = _numerics.two_prod(x, b, np)
    assert p.dtype == e.dtype == x.dtype
    b_r = float(np.asarray(b, dtype=dtype))
    limit = float(np.finfo(dtype).max) / (2.0 ** ((np.finfo(dtype).nmant + 2) // 2) + 1) / 2
    for a, pi, ei in zip(x.tolist(), p.tolist(), e.tolist(), strict=True):
        if not np.isfinite(a):
            assert ei == 0.0
            continue
        with np.errstate(over="ignore"):
            assert pi == float(np.asarray(a, dtype=dtype) * np.asarray(b_r, dtype=dtype))
        if abs(a) >= limit:
            assert ei == 0.0, a
            continue
        want = _exact_error(a, b_r, pi) + a * (b - b_r)
        want = float(np.asarray(want, dtype=dtype))
        if abs(pi) < float(np.finfo(dtype).tiny) * 2.0 ** (np.finfo(dtype).nmant + 1):
            # the halves' products are subnormal: exact to a few subnormal units only
            assert abs(ei - want) <= 4 * float(np.finfo(dtype).smallest_subnormal), (a, ei)
            continue
        assert ei == want or abs(ei - want) <= abs(a * (b - b_r)) * 1e-6, (a, ei, want)


def test_exact_scaling_is_a_power_of_two_of_magnitude_at_least_one() -> None:
    assert [_numerics._exact_scaling(b) for b in (1.0, 2.0, -4.0, 2.0**100)] == [True] * 4
    assert [_numerics._exact_scaling(b) for b in (0.5, 3.0, 0.1, 2.0**-3)] == [False] * 4


def _kernel(dtype: str, b: float):
    """``e`` of ``two_prod(x, b)`` traced, emitted as C and compiled like the kernels."""
    ns = TraceNamespace(dtype, distinct_constants=True)
    _, e = _numerics.two_prod(ns.input("x"), b, ns)
    constants: list[float] = []
    lines, var = emit_expression(e, {"x": "x[i]"}, constants)
    body = "\n        ".join(lines)
    t = {"float32": "float", "float64": "double"}[dtype]
    src = f"""{C_PRELUDE}
void sg_derivative(const {t}* restrict x, {t}* restrict out, int64_t n,
                   const double* restrict c) {{
    for (int64_t i = 0; i < n; ++i) {{
        {body}
        out[i] = {var};
    }}
}}
void sg_backward(const {t}* restrict x, const {t}* restrict g, {t}* restrict out,
                 int64_t n, const double* restrict c) {{ }}
"""
    return src, cpu.library(src), np.asarray(constants, dtype=np.float64)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="no C compiler on this machine")
@pytest.mark.parametrize("b", SCALES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_fma_route_equals_the_split_bit_for_bit(dtype: str, b: float) -> None:
    """The generated kernel forms ``e`` with one ``fma``; it equals the split's ``e`` of
    the array code in every element, edges included."""
    src, lib, constants = _kernel(dtype, b)
    assert ("fmaf(" if dtype == "float32" else "fma(") in src
    x = _inputs(dtype)
    out = np.empty_like(x)
    lib.derivative(x.ctypes.data, out.ctypes.data, ctypes.c_int64(x.size),
                   constants.ctypes.data)
    with np.errstate(all="ignore"):
        _, want = _numerics.two_prod(x, b, np)
    np.testing.assert_array_equal(out, want)


def test_the_kernel_shape_does_not_depend_on_the_scale() -> None:
    """A power of two takes no shortcut in a kernel: its constants are run-time values."""
    assert _kernel("float32", 4.0)[0] == _kernel("float32", 2.0 / 3.0)[0]


def test_vector_math_loops_get_wide_vectors() -> None:
    """Loops that call a vector math function are compiled for the widest vectors (fewer
    calls, fewer spills); plain arithmetic keeps the compiler's width."""
    import platform

    import spikegrad

    sigmoid = cpu.flags(cpu.source(spikegrad.get("sigmoid"), "float32"))
    atan = cpu.flags(cpu.source(spikegrad.get("atan"), "float32"))
    assert atan == cpu.FLAGS
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert sigmoid == cpu.FLAGS + cpu.VECTOR_MATH_FLAGS
    else:
        assert sigmoid == cpu.FLAGS
