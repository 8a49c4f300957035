"""spikingjelly's kernel hook ``cuda_codes(y, x, dtype)`` on the compat surrogates: the
statements :func:`spikegrad.codegen.cuda.statements` generates from the definition, in the
form spikingjelly's fused neuron kernels inline (``"float"`` and ``"half2"``).

The statements are compiled for the CPU as C twins (``half2`` emulated as two ``_Float16``
lanes with CUDA's conversions) and checked against the goldens of every surrogate and
against the float64 reference for every compat class; NVRTC compiles them as spikingjelly
builds its kernels (``-use_fast_math``, ``cuda_fp16.h``) where it is installed.  The call
shape of spikingjelly's kernel generators is replayed here: the registry's
``cuda_codes(y="const <dtype> grad_s_to_h", x="over_th", dtype=...)``, keyed by the
returned text, and the code typer that joins the statements and splits them at ``;``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import spikegrad
from spikegrad._spec import Domain, Entry, Formula, Param
from spikegrad.adapters.reference import derivative_values
from spikegrad.codegen import cuda
from spikegrad.conformance import goldens
from spikegrad.conformance.checks import check_backward_values
from spikegrad.conformance.harness import CupyHarness, flushes

from .test_cupy import HOST_CC, NVRTC_MISSING, unavailable

torch = pytest.importorskip("torch")
sj = pytest.importorskip("spikegrad.compat.spikingjelly")

#: compat classes with the hook (spike = Heaviside step, deterministic gradient)
HOOKED = sorted(n for n in sj.__all__ if isinstance(getattr(sj, n), type)
                and getattr(sj, n) is not sj.SurrogateFunctionBase
                and "cuda_codes" in vars(getattr(sj, n)))
#: the classes whose hook spikingjelly's own tests call
SPIKINGJELLY_HOOKED = ["Sigmoid", "ATan", "PiecewiseLeakyReLU", "S2NN", "QPseudoSpike",
                       "LeakyKReLU", "FakeNumericalGradient", "LogTailedReLU"]
#: golden cases of every surrogate with a deterministic gradient, float32 and float16
GOLDEN = [c for c in goldens.cases()
          if c.dtype in ("float32", "float16")
          and not spikegrad.entry(c.name).formula.stochastic_backward]
#: the CUDA type of the statements checked against a golden dtype
INLINE = {"float32": "float", "float16": "half2"}

#: the CUDA conversions of ``half2`` for the twins: exact widening, one rounding to nearest
HALF2_PRELUDE = r"""
typedef struct { _Float16 x, y; } half2;
typedef struct { float x, y; } float2;
static inline float2 __half22float2(half2 h) { float2 f = {(float)h.x, (float)h.y}; return f; }
static inline half2 __floats2half2_rn(float a, float b) {
    half2 h = {(_Float16)a, (_Float16)b}; return h; }
static inline half2 sg_make_half2(_Float16 a, _Float16 b) { half2 h = {a, b}; return h; }
static inline double __longlong_as_double(long long v) {
    double d; memcpy(&d, &v, sizeof d); return d; }
"""


def piece(name: str, code_for: dict[str, str] | str, dtype: str) -> cuda.Elementwise:
    """A C twin of inlined statements.  ``float``: input ``x``, output ``out`` (the
    statements' ``sg_r``).  ``half2``: lanes ``a`` and ``b`` in one ``half2`` ``h2``, outputs
    ``lo`` and ``hi``.  ``code_for`` maps outputs to the statements assigning them (one
    string: the statements assigning ``sg_r``)."""
    codes = {"sg_r": code_for} if isinstance(code_for, str) else code_for
    body = "\n".join(codes.values())
    if dtype == "float":
        op = f"{body}\nout = {' + '.join(codes)};"
        return cuda.Elementwise("float32 x", "float32 out", op, name, HALF2_PRELUDE)
    first = next(iter(codes))
    op = (f"const half2 h2 = sg_make_half2(a, b);\n{body}\n"
          f"lo = {first}.x; hi = {first}.y;")
    return cuda.Elementwise("float16 a, float16 b", "float16 lo, float16 hi", op, name,
                            HALF2_PRELUDE)


def codes(s: spikegrad.Bound, dtype: str, out: str = "sg_r") -> str:
    arg = "x" if dtype == "float" else "h2"
    return cuda.statements(s, f"const {dtype} {out}", arg, dtype)


class Twins:
    """The compiled twins of this module, by name."""

    def __init__(self, pieces: list[cuda.Elementwise], workdir: Path) -> None:
        from ._cupy_emulation import HostTwins

        self.pieces = {p.name: p for p in pieces}
        self.host = HostTwins(pieces, HOST_CC, None, workdir)

    def __call__(self, name: str, x: np.ndarray) -> np.ndarray:
        """g'(x) through twin ``name``; ``half2``: ``x`` in the low lanes and reversed in
        the high lanes, both returned in ``x``'s order (they must agree)."""
        p = self.pieces[name]
        if p.in_params.startswith("float32"):
            return self.host.run(p, x)[0]
        lo, hi = self.host.run(p, x, x[::-1].copy())
        np.testing.assert_array_equal(lo.view(np.uint16), hi[::-1].view(np.uint16))
        return lo


def _class_bound(name: str, params: dict | None = None) -> spikegrad.Bound:
    inst = getattr(sj, name)(**(params or {}))
    return spikegrad.get(f"spikingjelly:{name}", **inst._sg_params)


def _oracle_case(name: str, dtype: str) -> tuple[goldens.Case, spikegrad.Bound]:
    """A case of the compat class at its defaults: the golden inputs of its formula, the
    float64 reference as the expected values."""
    b = _class_bound(name)
    x = next(goldens.cases(b.canonical, dtype)).x
    ref = derivative_values(b, x.astype(np.float64))
    return goldens.Case(f"spikingjelly:{name}", 0, dict(b.params), dtype, x, ref,
                        np.zeros_like(ref), None, None), b


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """Every twin of the module, compiled once."""
    if HOST_CC is None:
        unavailable("no C compiler on this machine")
    pieces = [piece(f"golden_{i}", codes(spikegrad.get(c.name, **c.params), INLINE[c.dtype]),
                    INLINE[c.dtype]) for i, c in enumerate(GOLDEN)]
    for name in HOOKED:
        for dt in ("float", "half2"):
            code = getattr(sj, name)().cuda_codes(f"const {dt} sg_r", "x" if dt == "float"
                                                  else "h2", dt)
            pieces.append(piece(f"class_{name}_{dt}", code, dt))
            pieces.append(piece(f"typed_{name}_{dt}", code_typer(code), dt))
    for dt in ("float", "half2"):
        pieces.append(piece(f"wrong_alpha_{dt}", codes(spikegrad.get("atan", alpha=2.2), dt), dt))
        two = {"grad_a": codes(_class_bound("ATan"), dt, "grad_a"),
               "grad_b": codes(_class_bound("Sigmoid"), dt, "grad_b")}
        pieces.append(piece(f"two_{dt}", two, dt) if dt == "float"
                      else piece(f"two_{dt}", {"grad_ab": _sum_half2(two)}, dt))
        for out in ("grad_a", "grad_b"):
            pieces.append(piece(f"one_{out}_{dt}", codes(
                _class_bound("ATan" if out == "grad_a" else "Sigmoid"), dt), dt))
        pieces.append(piece(f"infinite_{dt}", codes(_with_infinite_constant(), dt), dt))
    return Twins(pieces, tmp_path_factory.mktemp("cuda_codes"))


def _sum_half2(two: dict[str, str]) -> str:
    """Both half2 calls, then their lane sums (in float) into ``grad_ab``."""
    return "\n".join([*two.values(), "const half2 grad_ab = __floats2half2_rn("
                      "(float)grad_a.x + (float)grad_b.x, (float)grad_a.y + (float)grad_b.y);"])


def _with_infinite_constant() -> spikegrad.Bound:
    """A surrogate whose formula holds an infinite constant and a NaN-aware minimum."""

    def derivative(x, /, *, xp, a):
        return xp.minimum(a * xp.exp(-xp.abs(x)), float("inf"))

    entry = Entry(name="test_inf", canonical="test_inf",
                  params=(Param("a", 0.5, Domain.positive(), "height"),),
                  formula=Formula("test_inf", derivative), summary="test")
    return entry.bind()


def code_typer(codes: str, indent: int = 18) -> str:
    """What spikingjelly's kernel generators do with inlined statements: remove the line
    breaks, split at ``;`` and write each piece on a line of its own, ``;``-terminated."""
    out = "\n"
    for code in codes.replace("\n", "").split(";"):
        if code:
            out += " " * indent + code + ("\n" if code in ("{", "}") else ";\n")
    return out


# -- the hook on the compat classes -------------------------------------------------------

def test_every_heaviside_class_with_a_deterministic_gradient_has_the_hook() -> None:
    assert set(SPIKINGJELLY_HOOKED) <= set(HOOKED)
    assert {"PoissonPass", "MultiLevelSpikeCount"}.isdisjoint(HOOKED)
    assert len(HOOKED) == 18


@pytest.mark.parametrize("dtype", ["float", "half2"])
@pytest.mark.parametrize("name", SPIKINGJELLY_HOOKED)
def test_spikingjelly_contract_exposes_only_cuda_codes(name: str, dtype: str) -> None:
    """spikingjelly's own check: ``cuda_codes`` names the output, no ``cuda_code``."""
    sg = getattr(sj, name)()
    assert not hasattr(sg, "cuda_code")
    assert "grad_s" in sg.cuda_codes(y=f"{dtype} grad_s", x="over_th", dtype=dtype)


@pytest.mark.parametrize("name", HOOKED)
def test_registry_call_shape_and_cache_key(name: str) -> None:
    """The registry calls ``cuda_codes(y="const <dtype> grad_s_to_h", x="over_th")`` and
    caches kernels by the returned text: equal parameters give equal text (in any
    instance), other values other text, and the parameters are read at call time."""
    cls = getattr(sj, name)
    for dtype in ("float", "half2"):
        a = cls().cuda_codes(y=f"const {dtype} grad_s_to_h", x="over_th", dtype=dtype)
        assert a == cls().cuda_codes(y=f"const {dtype} grad_s_to_h", x="over_th", dtype=dtype)
        assert a.splitlines()[-1].startswith(f"const {dtype} grad_s_to_h = ")
        assert sum(line.startswith(f"const {dtype} grad_s_to_h ") for line in a.splitlines()) == 1
        _assert_plain_statements(a)
    inst = cls()
    if not inst._sg_param_names:
        return
    k = inst._sg_param_names[0]
    before = inst.cuda_codes("const float g", "over_th", "float")
    setattr(inst, k, getattr(inst, k) * 1.25 + 0.25 if k != "n" else getattr(inst, k) + 1)
    after = inst.cuda_codes("const float g", "over_th", "float")
    assert after != before
    assert after == cuda.statements(spikegrad.get(f"spikingjelly:{name}", **inst._sg_params),
                                    "const float g", "over_th", "float")


def _assert_plain_statements(code: str) -> None:
    """One ``;``-terminated statement per line: no comments, blocks or directives that a
    code typer joining lines and splitting at ``;`` would break."""
    for line in code.splitlines():
        assert line.endswith(";") and line.count(";") == 1, line
        assert not re.search(r"//|/\*|[{}#]", line), line


def test_the_code_typer_keeps_the_statements() -> None:
    """spikingjelly's bptt kernels check the statements appear in the kernel, whitespace
    aside, after its code typer."""
    code = sj.ATan().cuda_codes(y="const half2 grad_s_to_h", x="over_th", dtype="half2")
    assert "".join(code.split()) in "".join(code_typer(code).split())


def test_dtype_and_output_errors() -> None:
    with pytest.raises(ValueError, match="dtype 'double'"):
        sj.ATan().cuda_codes("const double g", "over_th", "double")
    with pytest.raises(ValueError, match="y must be a variable"):
        sj.ATan().cuda_codes("const float g = 0", "over_th", "float")
    with pytest.raises(ValueError, match="one C expression"):
        sj.ATan().cuda_codes("g", "a; b", "float")
    with pytest.raises(NotImplementedError, match=r"PoissonPass.*backend='torch'"):
        sj.PoissonPass().cuda_codes("const float g", "over_th", "float")
    with pytest.raises(NotImplementedError, match="MultiLevelSpikeCount"):
        sj.MultiLevelSpikeCount(3).cuda_codes("const float g", "over_th", "float")
    with pytest.raises(NotImplementedError, match="stochastic"):
        cuda.statements(spikegrad.get("stochastic_spike_operator"), "g", "x")


def test_tensor_parameters() -> None:
    """A one-element tensor is read as its value; one that requires grad is refused (a
    kernel constant has no gradient)."""
    assert (sj.ATan(alpha=torch.tensor(3.0)).cuda_codes("g", "x", "float")
            == sj.ATan(alpha=3.0).cuda_codes("g", "x", "float"))
    with pytest.raises(NotImplementedError, match="alpha requires grad"):
        sj.ATan(alpha=torch.tensor(3.0, requires_grad=True)).cuda_codes("g", "x", "float")
    with pytest.raises(NotImplementedError, match="2 elements"):
        sj.ATan(alpha=torch.tensor([3.0, 2.0])).cuda_codes("g", "x", "float")


@pytest.mark.parametrize("name", ["ATan", "QPseudoSpike", "S2NN"])
def test_parameters_are_literals_that_round_trip(name: str) -> None:
    """The literals are exactly the run-time constants of the generated kernels."""
    b = _class_bound(name, {"alpha": 2.0 / 3.0 + (1.0 if name == "QPseudoSpike" else 0.0)})
    code = getattr(sj, name)(**b.params).cuda_codes("g", "x", "float")
    assert "c[" not in code
    literals = {float(v) for v in re.findall(r"\(float\)\(?(-?[0-9.e+-]+)\)?\)", code)}
    assert literals == set(cuda._body(b, "float32", "x")[2])


def test_outputs_and_inputs_of_any_form() -> None:
    """``y`` declared, plain or indexed; ``x`` an expression, evaluated once."""
    s = _class_bound("ATan")
    plain = cuda.statements(s, "g", "h_seq[t] - v_th")
    assert plain.splitlines()[0] == "const float g_sg_x = (h_seq[t] - v_th);"
    assert plain.count("h_seq[t]") == 1 and plain.splitlines()[-1].startswith("g = ")
    indexed = cuda.statements(s, "grad[t]", "over_th")
    assert indexed.splitlines()[-1].startswith("grad[t] = ")
    assert cuda.statements(s, "grad[i]", "x") != cuda.statements(s, "grad_i", "x")


# -- values: the C twins against the goldens and the reference ----------------------------

@pytest.mark.parametrize("index", range(len(GOLDEN)), ids=[c.id for c in GOLDEN])
def test_statements_match_goldens(index: int, twins) -> None:
    """Every surrogate: ``float`` within the float32 tolerance of the generated CUDA
    kernels, ``half2`` within one float16 rounding, under flush-to-zero (spikingjelly
    compiles with ``-use_fast_math``, which flushes)."""
    case = GOLDEN[index]
    got = twins(f"golden_{index}", case.inputs())
    tol = CupyHarness.tolerance_ulp[case.dtype]
    ok, _, detail = check_backward_values(case, got, tol, flushes(CupyHarness, case.dtype))
    assert ok, detail


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", HOOKED)
def test_class_hook_matches_the_reference(name: str, dtype: str, twins) -> None:
    """Each compat class's own ``cuda_codes``, as given and after spikingjelly's code
    typer, against the float64 reference of its alias on the golden inputs."""
    case, b = _oracle_case(name, dtype)
    dt = INLINE[dtype]
    got = twins(f"class_{name}_{dt}", case.inputs())
    typed = twins(f"typed_{name}_{dt}", case.inputs())
    np.testing.assert_array_equal(typed.view(np.uint16 if dt == "half2" else np.uint32),
                                  got.view(np.uint16 if dt == "half2" else np.uint32))
    ok, _, detail = check_backward_values(case, got, CupyHarness.tolerance_ulp[dtype],
                                          flushes(CupyHarness, dtype), bound=b)
    assert ok, detail


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_wrong_formula_fails_the_value_check(dtype: str, twins) -> None:
    """The check has teeth: atan's statements for alpha = 2.2 against the goldens of
    alpha = 2."""
    case = next(c for c in goldens.cases("atan", dtype) if c.params == {"alpha": 2.0})
    got = twins(f"wrong_alpha_{INLINE[dtype]}", case.inputs())
    ok, _, detail = check_backward_values(case, got, CupyHarness.tolerance_ulp[dtype],
                                          flushes(CupyHarness, dtype))
    assert not ok, detail


@pytest.mark.parametrize("dt", ["float", "half2"])
def test_two_inlined_calls_share_a_scope(dt: str, twins) -> None:
    """ATan into ``grad_a`` and Sigmoid into ``grad_b`` in one function: no local in
    common, and the sum of the two equals the two computed apart."""
    a = codes(_class_bound("ATan"), dt, "grad_a")
    b = codes(_class_bound("Sigmoid"), dt, "grad_b")
    assert not _declared(a) & _declared(b)
    x = np.linspace(-3, 3, 601, dtype=np.float32 if dt == "float" else np.float16)
    both = twins(f"two_{dt}", x)
    ga = twins(f"one_grad_a_{dt}", x).astype(np.float32)
    gb = twins(f"one_grad_b_{dt}", x).astype(np.float32)
    np.testing.assert_array_equal(both, (ga + gb).astype(x.dtype))


def _declared(code: str) -> set[str]:
    return set(re.findall(r"^const \w+ (\w+) =", code, flags=re.M))


@pytest.mark.parametrize("dt", ["float", "half2"])
def test_infinite_constants_and_minimum_are_inlined(dt: str, twins) -> None:
    s = _with_infinite_constant()
    code = codes(s, dt)
    assert "__longlong_as_double(0x7ff0000000000000LL)" in code and "sg_minimum" not in code
    x = np.array([-np.inf, -2.0, -0.5, 0.0, 0.5, 2.0, np.inf, np.nan],
                 dtype=np.float32 if dt == "float" else np.float16)
    got = twins(f"infinite_{dt}", x)
    np.testing.assert_allclose(got, s.derivative(x), rtol=1e-3 if dt == "half2" else 1e-6)


# -- NVRTC: compiled as spikingjelly builds its kernels -----------------------------------

def test_nvrtc_compiles_the_hooks_as_spikingjelly_inlines_them() -> None:
    """One kernel per class and dtype, laid out as spikingjelly's own compile test, the
    statements through its code typer, two calls in one scope, with spikingjelly's
    ``-use_fast_math`` (no GPU needed)."""
    if NVRTC_MISSING:
        unavailable(NVRTC_MISSING)
    from ._cupy_emulation import nvrtc_compile

    kernels = []
    for name in HOOKED:
        for dt in ("float", "half2"):
            code = getattr(sj, name)().cuda_codes(y=f"{dt} result", x="over_th", dtype=dt)
            kernels.append((f"k_{name}_{dt}", dt, code_typer(code), "result"))
    for dt in ("float", "half2"):
        two = (sj.ATan().cuda_codes(f"const {dt} grad_a", "over_th", dt) + "\n"
               + sj.Sigmoid().cuda_codes(f"const {dt} grad_b", "over_th", dt))
        add = "grad_a + grad_b" if dt == "float" else "__hadd2(grad_a, grad_b)"
        kernels.append((f"k_two_{dt}", dt, two, add))
    source = "#include <cuda_fp16.h>\n" + "\n".join(
        f'extern "C" __global__ void {k}(const {dt}* x, {dt}* y) {{\n'
        f"    const int index = blockIdx.x * blockDim.x + threadIdx.x;\n"
        f"    {dt} over_th = x[index];\n{code}\n    y[index] = {out};\n}}\n"
        for k, dt, code, out in kernels)
    ptx = nvrtc_compile(source, ("-use_fast_math",))
    assert ptx.count(".entry") == len(kernels)

