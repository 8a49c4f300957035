"""Kernels generated from the spec: traced, emitted as C, compiled on this machine and
checked against the golden vectors; a new surrogate gets a kernel with no other edit."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import spikegrad
from spikegrad._spec import Domain, Entry, Formula, Param
from spikegrad.codegen import cpu
from spikegrad.codegen.c import emit_expression
from spikegrad.codegen.trace import TraceNamespace, UnsupportedTrace, trace_formula
from spikegrad.conformance import goldens
from spikegrad.conformance.accuracy import _floor

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine")

#: Declared tolerance of the generated CPU kernels (float32 computed in float32, libmvec
#: math functions within 4 ULP): max ULP of g' in the core range.
KERNEL_CORE_ULP = {"float64": 16.0, "float32": 16.0, "float16": 1.0}
CASES = [c for c in goldens.cases()]


def run_kernel(bound: spikegrad.Bound, x: np.ndarray) -> np.ndarray:
    """g'(x) through the generated kernel; float16 through the float32 kernel."""
    work = x.astype(np.float32) if x.dtype == np.float16 else np.ascontiguousarray(x)
    k = cpu.kernels(bound, str(work.dtype))
    out = np.empty_like(work)
    k.derivative(work.ctypes.data, out.ctypes.data, work.size)
    return out.astype(x.dtype)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_generated_kernel_matches_goldens(case: goldens.Case) -> None:
    s = spikegrad.get(case.name, **case.params)
    got = run_kernel(s, case.inputs())
    m = goldens.compare(got, case.d_hi, case.d_lo, case.x, case.dtype,
                        float(s.entry.x_scale(s.params)), _floor(case))
    assert m.bad_special == []
    assert m.max_ulp_core <= KERNEL_CORE_ULP[case.dtype], (m.max_ulp_core, m.worst_x)
    assert m.max_rel_normal <= 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backward_kernel_multiplies_the_gradient(dtype: str) -> None:
    s = spikegrad.get("sigmoid")
    x = np.linspace(-3, 3, 100_001).astype(dtype)  # large enough for the threaded loop
    g = np.linspace(-1, 1, x.size).astype(dtype)
    out = np.empty_like(x)
    k = cpu.kernels(s, dtype)
    k.backward(x.ctypes.data, g.ctypes.data, out.ctypes.data, x.size)
    d = np.empty_like(x)
    k.derivative(x.ctypes.data, d.ctypes.data, x.size)
    np.testing.assert_array_equal(out, g * d)


def test_branches_are_selects_not_mask_products() -> None:
    """spikingjelly's generator multiplied masks: inf * 0 = NaN at x = -1 (S2NN) and x = 0
    (LogTailedReLU).  Here branches are ternaries, and the kernels stay finite."""
    src = cpu.source(spikegrad.get("s2nn"), "float64")
    assert " ? " in src
    np.testing.assert_allclose(run_kernel(spikegrad.get("s2nn"), np.array([-1.0])),
                               spikegrad.get("s2nn").derivative(np.array([-1.0])))
    assert run_kernel(spikegrad.get("log_tailed_relu", alpha=0.1), np.array([0.0]))[0] == 0.1


def test_no_hand_written_kernel_exists() -> None:
    """Kernel sources are generated per surrogate from its formula (nothing in the package
    spells a surrogate's math in C)."""
    from importlib import resources

    import spikegrad.codegen as pkg

    a = cpu.source(spikegrad.get("atan"), "float32")
    b = cpu.source(spikegrad.get("sigmoid"), "float32")
    assert a != b and "generated from\n   the spec" in a
    for path in resources.files(pkg).iterdir():
        if path.name.endswith((".c", ".cu", ".h", ".cuh")):
            pytest.fail(f"hand-written kernel file {path.name}")


def _new_surrogate() -> spikegrad.Bound:
    """A surrogate registered nowhere before: g' = (a/2) sech(a x) (area pi/2)."""

    def derivative(x, /, *, xp, a):
        e = xp.exp(-a * xp.abs(x))
        return a * e / (1.0 + e * e)

    entry = Entry(name="test_sech", canonical="test_sech",
                  params=(Param("a", 1.5, Domain.positive(), "width"),),
                  formula=Formula("test_sech", derivative), summary="test")
    return entry.bind()


def test_a_new_surrogate_gets_a_kernel_with_no_other_edit() -> None:
    s = _new_surrogate()
    x = np.linspace(-6, 6, 4097)
    expected = 0.75 / np.cosh(1.5 * x)  # independent closed form: (a/2) sech(a x)
    np.testing.assert_allclose(run_kernel(s, x), expected, rtol=1e-14)
    np.testing.assert_allclose(run_kernel(s, x.astype(np.float32)), expected, rtol=1e-6)
    assert np.isnan(run_kernel(s, np.array([np.nan]))[0])  # the NaN rule comes for free


def test_tracer_rejects_python_branching_on_values() -> None:
    def bad(x, /, *, xp):
        return x if x > 0 else -x

    with pytest.raises(UnsupportedTrace, match="branched in Python"):
        trace_formula(bad, {}, "float64")


def test_common_subexpressions_are_shared() -> None:
    ns = TraceNamespace("float64")
    x = ns.input()
    a = ns.exp(x * 2.0)
    b = ns.exp(x * 2.0)
    assert a is b
    lines, _ = emit_expression(a + b, {"x": "x[i]"})
    assert sum("exp(" in line for line in lines) == 1


def test_parameter_values_are_run_time_arguments() -> None:
    """One source (one compiled library) per formula shape; a new value is new constants."""
    a, ca = cpu.source_and_constants(spikegrad.get("atan", alpha=2.0), "float32")
    b, cb = cpu.source_and_constants(spikegrad.get("atan", alpha=3.1), "float32")
    assert a == b and ca != cb


def test_sweeping_a_parameter_compiles_no_new_kernel() -> None:
    """A training loop that changes alpha every step compiles one library, and each value
    still matches the reference."""
    x = np.linspace(-3, 3, 101)
    cpu.kernels(spikegrad.get("triangle", half_width=0.35), "float64")
    before = cpu.compiled_count()
    for i in range(100):
        s = spikegrad.get("triangle", half_width=0.35 + 0.0123 * i, height=0.5 + 0.01 * i)
        k = cpu.kernels(s, "float64")
        out = np.empty_like(x)
        k.derivative(x.ctypes.data, out.ctypes.data, x.size)
        np.testing.assert_allclose(out, s.derivative(x), rtol=1e-15, atol=0)
    assert cpu.compiled_count() == before


def test_a_damaged_cached_kernel_is_rebuilt(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPIKEGRAD_CACHE", str(tmp_path))
    src = cpu.source(spikegrad.get("erf"), "float64")
    path = cpu._build(src)
    path.write_bytes(b"not a shared library")
    monkeypatch.setattr(cpu, "_LIBRARIES", {})
    lib = cpu.library(src)
    x = np.array([0.0, 0.5])
    out = np.empty_like(x)
    lib.derivative(x.ctypes.data, out.ctypes.data, 2,
                   np.asarray(cpu.source_and_constants(spikegrad.get("erf"), "float64")[1])
                   .ctypes.data)
    np.testing.assert_allclose(out, spikegrad.get("erf").derivative(x), rtol=1e-15)


def test_the_cache_removes_the_least_recently_used_never_a_fresh_one(tmp_path,
                                                                    monkeypatch) -> None:
    """Finding: with more kernels than the cap, a library another process had just found
    was removed before it loaded it, and that backward fell back to torch ops (values a
    unit in the last place apart, decided by lot)."""
    import os
    import time

    monkeypatch.setattr(cpu, "MAX_CACHED_LIBRARIES", 3)
    now = time.time()
    ages = {"a": 5000, "b": 4000, "c": 3000, "d": 2000, "e": 30, "f": 10}
    for name, age in ages.items():
        p = tmp_path / f"sg_{name}.so"
        p.write_bytes(b"")
        os.utime(p, (now - age, now - age))
    cpu._trim(tmp_path, tmp_path / "sg_f.so")
    left = sorted(p.name for p in tmp_path.glob("sg_*.so"))
    # six files, cap three: the three oldest go ("a", "b", "c"); "e" and "f" are fresh
    assert left == ["sg_d.so", "sg_e.so", "sg_f.so"]
    monkeypatch.setattr(cpu, "MAX_CACHED_LIBRARIES", 1)
    cpu._trim(tmp_path, tmp_path / "sg_f.so")
    assert sorted(p.name for p in tmp_path.glob("sg_*.so")) == ["sg_e.so", "sg_f.so"]


@pytest.mark.parametrize("kind", ["derivative", "param one-value", "param per element"])
def test_a_small_array_runs_a_copy_of_the_loop_outside_openmp(kind: str) -> None:
    """Finding (benchmark): ``#pragma omp parallel ... if(n > 32768)`` enters the OpenMP
    runtime even where the clause is false: 0.3 us on a loop of 0.16 us at 2^10, a tenth
    of the jax custom call's cost there.  Every threaded loop now sits under
    ``if (n > THREADS_ABOVE)`` with the same statements in the ``else`` branch, and no
    directive there opens a parallel region."""
    from spikegrad.codegen import cpu

    if kind == "derivative":
        src = cpu.source(spikegrad.get("atan", alpha=2.0), "float32")
    else:
        layout = "s" if kind == "param one-value" else "e"
        src, _ = cpu.param_source_and_constants(spikegrad.entry("atan"), (("alpha", None),),
                                                "float32", (layout,))
    found = list(re.finditer(r"    if \(n > (\d+)\) \{\n    #pragma omp parallel[^\n]*\n"
                             r"(.*?)    \} else \{\n(    #pragma omp simd\n)?", src, re.S))
    assert found, src
    assert src.count("omp parallel") == len(found)
    for m in found:
        assert int(m.group(1)) == cpu.THREADS_ABOVE
        assert src[m.end():].startswith(m.group(2) + "    }\n"), src[m.start():]


def test_the_nan_rule_s_select_goes_where_the_formula_is_nan_at_a_nan_x_anyway() -> None:
    """Finding (benchmark): every kernel computed ``isnan(x) ? x : g'`` per element, also
    where ``g'`` is NaN at a NaN ``x`` by its arithmetic (atan: ``(a/2) / (1 + (k x)^2)``);
    the select cost 12 % of atan's one-value parameter kernel at 2^18 (41.7 -> 36.8 us,
    float32, one thread).  The emitter now drops it there, judged from the graph's
    operations (:func:`~spikegrad.codegen.trace.nan_follows`), and keeps it where a branch
    is a constant (the NaN at a NaN x is then still kept: the golden special values)."""
    from spikegrad.codegen.trace import TraceNamespace, nan_follows

    atan = cpu.source(spikegrad.get("atan"), "float32")
    assert "isnan" not in atan.split("void sg_derivative")[1], atan
    piecewise = cpu.source(spikegrad.get("rect"), "float32")
    assert "isnan(v0)" in piecewise.split("void sg_derivative")[1], piecewise
    for name in ("atan", "rect"):
        assert np.isnan(run_kernel(spikegrad.get(name), np.array([np.nan, 1.0]))[0])
    ns = TraceNamespace("float32")
    x = ns.input("x")
    assert nan_follows(ns.exp(x * 2.0) / (1.0 + x * x), x)
    assert nan_follows(ns.where(x < 0.0, -x, ns.atan(x)), x)
    assert not nan_follows(ns.where(x < 0.0, 0.0 * x + 1.0, ns.zeros_like(x)), x)
    assert not nan_follows(ns.where(x < 0.0, x, ns.zeros_like(x)), x)
    assert not nan_follows(ns.pow(x, 0.0), x)  # pow(NaN, 0) is 1
    assert not nan_follows(ns.clip(ns.ones_like(x), min=x), x)  # NaN only through the value
    assert nan_follows(ns.clip(x, min=0.0), x)
    assert not nan_follows(ns.astype(x < 1.0, "float32"), x)
