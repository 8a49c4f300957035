"""Learnable parameters at kernel speed: ``grad_x`` and the parameters' gradients of an
eager CPU backward come from one generated loop (the parameter derivative the tangent of
the traced primitive), for every parameter layout, checked against finite differences of
the primitive (the independent oracle).

Finding: a learnable 0-d alpha cost 16-27x the number-alpha path at 2^18, because the
parameter gradient ran the framework's autodiff of the primitive on every call.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")

import spikegrad  # noqa: E402
import spikegrad.torch as sgt  # noqa: E402
from spikegrad.adapters import torch as adapter  # noqa: E402
from spikegrad.codegen import cpu  # noqa: E402
from spikegrad.codegen.tangent import tangent  # noqa: E402
from spikegrad.codegen.trace import TraceNamespace  # noqa: E402

from ._param_oracle import fd_param_grads  # noqa: E402

X_SHAPE = (8, 16)
LAYOUTS = {"0-d": (), "one element": (1,), "per channel": (16,), "per row": (8, 1),
           "per neuron": X_SHAPE}


@pytest.fixture
def fused(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each backward with tensor parameters took a fused kernel: the Python
    Function's (its fused backward returned a result) or the C++ parameter node's (it
    served the call, and its backward did not fall back to Python)."""
    seen: list[bool] = []
    real = adapter._fused_param_backward

    def spy(*args):
        out = real(*args)
        seen.append(out is not None)
        return out

    real_node = adapter._native_param_spike

    def node_spy(*args, **kwargs):
        out = real_node(*args, **kwargs)
        if out is not None:  # the node's kernel, unless its backward falls back
            seen.append(True)
        return out

    real_slow = adapter._slow_param_backward

    def slow_spy(*args):
        seen[-1] = False
        return real_slow(*args)

    monkeypatch.setattr(adapter, "_fused_param_backward", spy)
    monkeypatch.setattr(adapter, "_native_param_spike", node_spy)
    monkeypatch.setattr(adapter, "_slow_param_backward", slow_spy)
    return seen


def _fd_theta(name: str, pname: str, theta: np.ndarray, x: np.ndarray,
              G: np.ndarray) -> np.ndarray:
    """Σ G ∂g/∂θ per element of θ by central differences of the float64 primitive."""
    return fd_param_grads(name, {pname: theta}, x, G)[pname]


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name,pname,value", [("atan", "alpha", 2.0),
                                              ("sigmoid", "alpha", 4.0),
                                              ("triangle", "half_width", 0.7),
                                              ("erf", "alpha", 2.5)])
def test_every_layout_matches_finite_differences(name: str, pname: str, value: float,
                                                 layout: str, fused: list[bool]) -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.5, 1.5, X_SHAPE)
    G = rng.uniform(-1, 1, X_SHAPE)
    shape = LAYOUTS[layout]
    theta = value * (1 + 0.1 * rng.uniform(-1, 1, shape)) if shape else np.asarray(value)
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    gx, gt = torch.autograd.grad(sgt.spike(xt, name, **{pname: t}), (xt, t),
                                 torch.tensor(G))
    assert fused == [True]
    assert gt.shape == t.shape and gt.dtype == t.dtype
    np.testing.assert_allclose(gt.numpy(), _fd_theta(name, pname, theta, x, G), rtol=1e-6,
                               atol=1e-8)
    want_x = G * spikegrad.get(name, **{pname: np.broadcast_to(theta, X_SHAPE)}).derivative(x)
    np.testing.assert_allclose(gx.numpy(), want_x, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_low_precision_inputs_use_the_float32_kernel(dtype: torch.dtype,
                                                     fused: list[bool]) -> None:
    x = torch.linspace(-0.5, 1.5, 64, dtype=dtype, requires_grad=True)  # Σ ∂g/∂α != 0
    a = torch.tensor(2.0, requires_grad=True)
    gx, ga = torch.autograd.grad(sgt.atan(x, alpha=a).sum(), (x, a))
    assert fused == [True] and gx.dtype == dtype and ga.dtype == torch.float32
    xd = x.detach().double().numpy()
    want = ((xd / 2) / (1 + (math.pi / 2 * 2.0 * xd) ** 2)).sum()  # ∂/∂α of atan's g
    np.testing.assert_allclose(ga.item(), want, rtol=1e-5)


def test_create_graph_keeps_the_differentiable_path(fused: list[bool]) -> None:
    """A backward that must itself be differentiable (meta-gradients) is not fused."""
    x = torch.linspace(-1.5, 1.5, 64, dtype=torch.float64, requires_grad=True)
    a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    (ga,) = torch.autograd.grad(sgt.atan(x, alpha=a).sum(), a, create_graph=True)
    assert fused == [False] and ga.requires_grad
    (gaa,) = torch.autograd.grad(ga, a)
    assert torch.isfinite(gaa)


def test_a_new_parameter_tensor_per_call_traces_and_compiles_nothing() -> None:
    x = torch.linspace(-1.5, 1.5, 64, requires_grad=True)
    a = torch.tensor(2.0, requires_grad=True)
    torch.autograd.grad(sgt.atan(x, alpha=a).sum(), (x, a))
    before = cpu.param_kernel.cache_info()
    for i in range(20):
        a = torch.tensor(2.0 + 0.01 * i, requires_grad=True)
        torch.autograd.grad(sgt.atan(x, alpha=a).sum(), (x, a))
    after = cpu.param_kernel.cache_info()
    # no new kernel: the C++ node keeps its entry per definition (no lookup at all),
    # the Python Function looks its kernel up (a hit per call)
    assert after.misses == before.misses and after.hits in (before.hits,
                                                            before.hits + 20)


@pytest.mark.parametrize("divisor", [3.0, -math.pi, 1e-30, 1e-39])
def test_a_tangent_multiplies_where_its_primal_divides_by_a_constant(divisor: float) -> None:
    """A vector division costs several multiplications (atan's alpha tangent had two: the
    kernel took 80 us at 2^18 against 60 us with the constant one a product): a tangent
    divides by a constant as a product with its reciprocal, where that reciprocal is a
    normal number of the dtype (float32's 1 / 1e-39 is not: there it divides)."""
    ns = TraceNamespace("float32")
    x, t = ns.input("x"), ns.input("t")
    d = tangent((t * x) / divisor, t)
    assert d is not None
    ops = {n.op for n in ns.nodes[d.index - 1: d.index + 1]}
    info = np.finfo(np.float32)
    normal = float(info.tiny) <= abs(1 / divisor) <= float(info.max)
    assert (d.op == "mul") == normal and ("div" in ops) != normal
    if normal:
        assert math.isclose(d.args[1], 1.0 / divisor)


def test_tangent_rules_against_finite_differences_of_every_operation() -> None:
    """Each tangent rule (forward mode over the traced graph) against central differences
    of the same C expression: compile g(x; θ) and ∂g/∂θ, compare."""
    from spikegrad.codegen.c import C_PRELUDE, emit_expressions

    exprs = {
        "exp": lambda ns, x, t: ns.exp(x * t), "log": lambda ns, x, t: ns.log(t + x * x),
        "log1p": lambda ns, x, t: ns.log1p(t * x * x), "expm1": lambda ns, x, t: ns.expm1(t * x),
        "sqrt": lambda ns, x, t: ns.sqrt(t + x * x), "sinh": lambda ns, x, t: ns.sinh(t * x),
        "cosh": lambda ns, x, t: ns.cosh(t * x), "tanh": lambda ns, x, t: ns.tanh(t * x),
        "sin": lambda ns, x, t: ns.sin(t * x), "cos": lambda ns, x, t: ns.cos(t * x),
        "atan": lambda ns, x, t: ns.atan(t * x), "abs": lambda ns, x, t: ns.abs(t * x - 0.3),
        "erfc": lambda ns, x, t: ns.erfc(t * x), "div": lambda ns, x, t: x / (t + x * x),
        "pow": lambda ns, x, t: ns.pow(t + x * x, t), "atan2": lambda ns, x, t: ns.atan2(t, x),
        "where": lambda ns, x, t: ns.where(x < 0.2, t * x, t * t),
        "clip": lambda ns, x, t: ns.clip(t * x, -0.5, 0.5),
        "minimum": lambda ns, x, t: ns.minimum(t * x, t * 0.5),
        "maximum": lambda ns, x, t: ns.maximum(t * x, t * 0.5),
        "remainder": lambda ns, x, t: ns.remainder(x + 3.05, t),  # no jump at the xs
        "fma": lambda ns, x, t: ns.fused_multiply_add(t, x, t * t),
        "div by a constant": lambda ns, x, t: (t * x) / 3.0,
    }
    xs = np.linspace(-1.3, 1.4, 41)
    theta, h = 1.7, 1e-6
    for op, build in exprs.items():
        ns = TraceNamespace("float64")
        x, t = ns.input("x"), ns.input("t")
        out = build(ns, x, t)
        d = tangent(out, t)
        lines, (gv, dv) = emit_expressions((out, d), {"x": "x[i]", "t": "t"})
        body = "\n        ".join(lines)
        src = f"""{C_PRELUDE}
void sg_derivative(const double* x, double* out, int64_t n, const double* c) {{
    double t = c[0];
    for (int64_t i = 0; i < n; ++i) {{
        {body}
        out[2 * i] = {gv}; out[2 * i + 1] = {dv};
    }}
}}
void sg_backward(const double* x, const double* g, double* out, int64_t n,
                 const double* c) {{ }}
"""
        lib = cpu.library(src)

        def run(th: float) -> np.ndarray:
            out = np.empty(2 * xs.size)
            c = np.array([th])
            lib.derivative(xs.ctypes.data, out.ctypes.data, xs.size, c.ctypes.data)
            return out.reshape(-1, 2)

        got = run(theta)[:, 1]
        fd = (run(theta + h)[:, 0] - run(theta - h)[:, 0]) / (2 * h)
        np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-6, err_msg=op)


@pytest.mark.parametrize("alpha", [2.0, "per channel"])
def test_learnable_layer_takes_the_fused_kernel(fused: list[bool], alpha: object) -> None:
    """A ``Surrogate(..., learnable=True)`` holds its parameters as ``nn.Parameter``, which
    overrides no operation: its backward takes the fused kernel as a plain tensor's does,
    with the same gradients as autodiff of the primitive."""
    value = torch.linspace(1.5, 2.5, X_SHAPE[1], dtype=torch.float64) \
        if alpha == "per channel" else alpha
    layer = sgt.Surrogate("atan", alpha=value, learnable=True)
    x = torch.randn(X_SHAPE, dtype=torch.float64, requires_grad=True)
    G = torch.randn(X_SHAPE, dtype=torch.float64)
    (layer(x) * G).sum().backward()
    assert fused == [True]
    a = layer.alpha.detach().clone().requires_grad_(True)
    xr = x.detach().clone().requires_grad_(True)
    g = spikegrad.get("atan", alpha=a).primitive(xr)
    gx, ga = torch.autograd.grad((g * G).sum(), (xr, a))
    torch.testing.assert_close(x.grad, gx, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(layer.alpha.grad, ga, rtol=1e-10, atol=1e-12)


# -- the C++ parameter node ----------------------------------------------------------------
@pytest.fixture
def native() -> None:
    status = sgt.build_fast_path(timeout=900)
    if status != "ready":
        pytest.skip(f"the C++ node is not available here: {status}")


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_learnable_alpha_takes_the_cpp_node(native: None, layout: str) -> None:
    """Finding: a learnable alpha paid two Python round trips per step (Function.apply and
    its backward: ~90 us of a 110 us call at 2^10); every layout now runs in the C++ node,
    whose kernel gives the finite-difference gradients."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-1.5, 1.5, X_SHAPE)
    G = rng.uniform(-1, 1, X_SHAPE)
    shape = LAYOUTS[layout]
    theta = 2.0 * (1 + 0.1 * rng.uniform(-1, 1, shape)) if shape else np.asarray(2.0)
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    y = sgt.spike(xt, "atan", alpha=t)
    assert y.grad_fn.name() == "SpikegradParamSpikeBackward"
    gx, gt = torch.autograd.grad(y, (xt, t), torch.tensor(G))
    np.testing.assert_allclose(gt.numpy(), _fd_theta("atan", "alpha", theta, x, G),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        gx.numpy(), G * spikegrad.get("atan", alpha=theta).derivative(x), rtol=1e-13)


def test_cpp_node_two_parameters_and_what_needs_a_gradient(native: None) -> None:
    rng = np.random.default_rng(6)
    x = rng.uniform(-2, 2, 200)
    G = rng.uniform(-1, 1, 200)
    mu = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x)  # x needs no gradient: only the parameters get one
    y = sgt.spike(xt, "gaussian", mu=mu, sigma=sigma)
    assert y.grad_fn.name() == "SpikegradParamSpikeBackward"
    gm, gs = torch.autograd.grad(y, (mu, sigma), torch.tensor(G))

    want = fd_param_grads("gaussian", {"mu": np.asarray(0.1), "sigma": np.asarray(0.6)},
                          x, G)
    np.testing.assert_allclose([float(gm), float(gs)], [float(want["mu"]),
                                                       float(want["sigma"])], rtol=1e-6)


@pytest.mark.parametrize("name,values", [
    ("gaussian", {"sigma": 0.6, "scale": 0.8, "mu": 0.1}),
    ("multi_gaussian", {"h": 0.2, "s": 5.0, "sigma": 0.6, "scale": 0.4}),
])
def test_cpp_node_serves_every_parameter_count(native: None, name: str, values: dict,
                                               fused: list[bool]) -> None:
    """Finding: the C++ node served 1 or 2 tensor parameters (one kernel signature per
    count); ``Surrogate("gaussian", learnable=True)`` (3 parameters) and multi_gaussian (4)
    paid the Python Function's two round trips per step.  The kernels take their
    parameters as arrays of addresses: every count runs in the node (one per channel, the
    others one value), against finite differences."""
    rng = np.random.default_rng(8)
    x = rng.uniform(-2, 2, (12, 5))
    G = rng.uniform(-1, 1, (12, 5))
    first = next(iter(values))
    arrays = {k: (v * (1 + 0.1 * rng.uniform(-1, 1, (5,))) if k == first else np.asarray(v))
              for k, v in values.items()}
    ts = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
          for k, v in arrays.items()}
    xt = torch.tensor(x, requires_grad=True)
    y = sgt.spike(xt, name, **ts)
    assert y.grad_fn.name() == "SpikegradParamSpikeBackward"
    got = torch.autograd.grad(y, (xt, *ts.values()), torch.tensor(G))
    assert fused == [True]
    want = fd_param_grads(name, arrays, x, G)
    for (k, t), gk in zip(ts.items(), got[1:], strict=True):
        assert gk.shape == t.shape
        np.testing.assert_allclose(gk.numpy(), want[k], rtol=1e-6, atol=1e-9, err_msg=k)
    want_x = G * spikegrad.get(name, **arrays).derivative(x)
    np.testing.assert_allclose(got[0].numpy(), want_x, rtol=1e-12, atol=1e-300)


def test_cpp_node_refuses_a_parameter_changed_in_place_after_the_forward(native: None
                                                                          ) -> None:
    """The node saves the parameter as autograd does: an optimizer step between forward
    and backward is an error, not a gradient of the new value."""
    x = torch.linspace(-1, 1, 32, requires_grad=True)
    a = torch.tensor(2.0, requires_grad=True)
    y = sgt.spike(x, "atan", alpha=a)
    with torch.no_grad():
        a.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_cpp_node_half_input_and_double_parameter(native: None) -> None:
    """float16 input (computed in float32) with a float64 parameter: the gradients come
    back in each one's dtype, equal to the float64 computation rounded."""
    x64 = torch.linspace(-1.5, 1.5, 64, dtype=torch.float64)
    x = x64.to(torch.float16).requires_grad_(True)
    a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    y = sgt.spike(x, "atan", alpha=a)
    assert y.grad_fn.name() == "SpikegradParamSpikeBackward" and y.dtype == torch.float16
    G = torch.linspace(0.5, 1.5, 64, dtype=torch.float16)  # not symmetric: sum != 0
    gx, ga = torch.autograd.grad(y, (x, a), G)
    assert gx.dtype == torch.float16 and ga.dtype == torch.float64
    xs, gs = x.detach().double().numpy(), G.double().numpy()
    np.testing.assert_allclose(gx.double().numpy(),
                               gs * spikegrad.get("atan", alpha=2.0).derivative(xs), rtol=2e-3)
    np.testing.assert_allclose(float(ga), float(_fd_theta("atan", "alpha", np.asarray(2.0),
                                                          xs, gs)), rtol=1e-5)


#: (x's shape, the parameter's shape, (channels, inner)): the parameter spans one block of
#: x's dimensions, summed in the kernel per channel (inner 1: the channels are x's last
#: dimensions; else a row of ``inner`` elements per channel); sizes beyond 32,768 elements
#: run on several threads, odd ones leave a remainder
CHANNELS = {
    "features of a batch": ((6, 7), (7,), (7, 1)),
    "last two dimensions": ((6, 5, 7), (5, 7), (35, 1)),
    "rows of 7": ((6, 5, 7), (5, 1), (5, 7)),
    "conv channels": ((2, 3, 4, 5), (3, 1, 1), (3, 20)),
    "a leading 1": ((2, 3, 4, 5), (1, 3, 4, 1), (12, 5)),
    "threads, trailing": ((300, 129), (129,), (129, 1)),
    "threads, rows": ((9, 33, 131), (33, 1), (33, 131)),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("route", ["cpp node", "python function"])
@pytest.mark.parametrize("case", list(CHANNELS))
def test_per_channel_parameters_are_summed_in_the_kernel(
        case: str, route: str, dtype: torch.dtype, fused: list[bool],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding: a per-channel alpha was expanded to x's shape (a copy), its gradient
    written per element and summed by torch afterwards (2.9x the number-alpha path at
    2^18, against 1.5x for a 0-d alpha).  Such a parameter is now read per channel and
    its gradient summed per channel in the loop (two parameters: gaussian's sigma per
    channel, mu 0-d), through the C++ node and the Python Function alike, against finite
    differences of the primitive."""
    xs, ps, dims = CHANNELS[case]
    if route == "cpp node":
        if sgt.build_fast_path(timeout=900) != "ready":
            pytest.skip("the C++ node is not available here")
    else:
        monkeypatch.setattr(adapter, "NATIVE_PARAM_COUNTS", ())
    rng = np.random.default_rng(11)
    x = rng.uniform(-1.5, 1.5, xs)
    G = rng.uniform(-1, 1, xs)
    sigma = 0.6 * (1 + 0.2 * rng.uniform(-1, 1, ps))
    mu = np.asarray(0.1)
    ts = torch.tensor(sigma, dtype=dtype, requires_grad=True)
    tm = torch.tensor(mu, dtype=dtype, requires_grad=True)
    assert adapter.param_layouts(xs, (ts, tm)) == (("c", "s"), dims)
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    gx, gs, gm = torch.autograd.grad(sgt.spike(xt, "gaussian", sigma=ts, mu=tm),
                                     (xt, ts, tm), torch.tensor(G, dtype=dtype))
    assert fused == [True]
    assert (gs.shape, gs.dtype, gm.shape) == (ts.shape, dtype, tm.shape)
    want = fd_param_grads("gaussian", {"sigma": sigma, "mu": mu}, x, G)
    tol = {"rtol": 1e-6, "atol": 1e-8} if dtype == torch.float64 else {"rtol": 2e-4,
                                                                      "atol": 1e-3}
    np.testing.assert_allclose(gs.double().numpy(), want["sigma"], **tol)
    np.testing.assert_allclose(gm.double().numpy(), want["mu"], **tol)
    want_x = G * spikegrad.get("gaussian", sigma=np.broadcast_to(sigma, xs),
                               mu=0.1).derivative(x)
    np.testing.assert_allclose(gx.double().numpy(), want_x,
                               **({"rtol": 1e-13} if dtype == torch.float64
                                  else {"rtol": 1e-5, "atol": 1e-6}))


@pytest.mark.parametrize("xs,ps", [((6, 7), (6, 7)), ((1, 6, 7), (6, 1)),
                                   ((2, 3, 4), (2, 1, 4)), ((6, 7), (1, 1))])
def test_other_layouts_are_not_per_channel(xs: tuple[int, ...], ps: tuple[int, ...]) -> None:
    """Per element (no batch to sum over), a single row, dimensions that are not one block,
    one value: not the per-channel layout."""
    p = torch.ones(ps)
    want = ("s",) if p.numel() == 1 else ("e",)
    assert adapter.param_layouts(xs, (p,)) == (want, ())


@pytest.mark.parametrize("xdtype", [torch.float16, torch.bfloat16])
def test_per_channel_half_input_strided_views_and_a_bfloat16_parameter(
        native: None, xdtype: torch.dtype, fused: list[bool]) -> None:
    """The per-channel layout with a half input (computed in float32), x a transposed
    view and the parameter a strided bfloat16 view: the gradients come back in each one's
    dtype and layout, equal to the float64 computation rounded."""
    rng = np.random.default_rng(12)
    base = torch.tensor(rng.uniform(-1.5, 1.5, (9, 40)), dtype=xdtype)
    x = base.t().requires_grad_(True)  # (40, 9), not contiguous
    wide = torch.tensor(1.6 + 0.4 * rng.uniform(-1, 1, 18), dtype=torch.bfloat16)
    a = wide[::2].detach().requires_grad_(True)  # (9,) strided
    assert adapter.param_layouts(x.shape, (a,)) == (("c",), (9, 1))
    y = sgt.spike(x, "atan", alpha=a)
    assert y.grad_fn.name() == "SpikegradParamSpikeBackward" and y.dtype == xdtype
    G = torch.tensor(rng.uniform(0.5, 1.5, (40, 9)), dtype=xdtype)
    gx, ga = torch.autograd.grad(y, (x, a), G)
    assert fused == [True]
    assert (gx.dtype, gx.shape, ga.dtype, ga.shape) == (xdtype, x.shape, torch.bfloat16,
                                                       a.shape)
    xs, gs, th = x.detach().double().numpy(), G.double().numpy(), a.detach().double().numpy()
    want_x = gs * spikegrad.get("atan", alpha=np.broadcast_to(th, xs.shape)).derivative(xs)
    np.testing.assert_allclose(gx.double().numpy(), want_x, rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(ga.double().numpy(), _fd_theta("atan", "alpha", th, xs, gs),
                               rtol=1e-2)


def _one_value_graphs() -> list[tuple[str, str, tuple]]:
    """``(definition, parameter, outs)``: the float32 graph of every definition's kernel
    for one real parameter as a one-value array (the others at their defaults)."""
    from spikegrad.codegen.tangent import param_graph

    cases = []
    for name in [*spikegrad.names(), *spikegrad.aliases()]:
        e = spikegrad.entry(name)
        if e.formula.stochastic_backward or e.formula.primitive is None:
            continue
        for p in e.params:
            if p.static:
                continue
            static = tuple((q.name, None if q.name == p.name else e.defaults()[q.name])
                           for q in e.params)
            cases.append((name, p.name, param_graph(e, static, "float32")[1]))
    return cases


def _shared_cases() -> list[tuple[str, str]]:
    """(definition, parameter) whose one-value parameter kernel shares a division of
    ``g'`` (spikegrad.codegen.share)."""
    from spikegrad.codegen import share

    return [(name, pname) for name, pname, outs in _one_value_graphs()
            if share.share_divisions(outs[0], tuple(outs[1:]), {"p0"}, "float32")[1]]


SHARED = _shared_cases()


def _loop_divisions(src: str) -> list[int]:
    """The number of divisions in each generated loop of a parameter kernel (once for its
    threaded copy and its serial copy, which are the same statements)."""
    loops = re.split(r"for \(int64_t i = \w+; i < \w+; \+\+i\) \{", src)[1:]
    bodies = [re.split(r"\n\s*\}\n", loop)[0] for loop in loops]
    assert len(bodies) % 2 == 0 and bodies[::2] == bodies[1::2], src
    return [sum(line.count(" / ") for line in body.splitlines()) for body in bodies[::2]]


def test_atan_s_tangent_shares_the_division_of_its_derivative() -> None:
    """Finding: a learnable 0-d alpha's kernel had two vector divisions per element
    (g' = (alpha/2) / (1 + t^2) and the tangent's (dt/dalpha) / (t^2 + 1)): at 2^18 float32
    each division pass costs as much as the whole number-alpha kernel.  The tangent now
    multiplies by g''s quotient times 1 / (alpha/2), computed once: one division, and
    the plain loop kept for a numerator out of range."""
    assert ("atan", "alpha") in SHARED and len(SHARED) >= 6
    e = spikegrad.entry("atan")
    for dtype in ("float32", "float64"):
        src, _ = cpu.param_source_and_constants(e, (("alpha", None),), dtype, ("s",))
        assert _loop_divisions(src) == [1, 2], src


def _varying_ops(outs: tuple, tangents: tuple) -> int:
    """Operations of ``tangents`` outside the graph of ``outs`` (``g'``) that read ``x``:
    what the loop computes per element for them."""
    from spikegrad.codegen import share

    deps: dict[int, frozenset[str]] = {}
    done = {id(n) for n in share._reachable(outs)}
    return sum(1 for n in share._reachable(tangents)
               if id(n) not in done and n.op not in ("input", "const")
               and "x" in share._inputs(n, deps))


def test_a_tangents_loop_invariant_factors_are_multiplied_once() -> None:
    """Finding: atan's one-value alpha kernel multiplied each element by pi/2, by
    1 / (alpha/2) and by 1/pi one after the other (four multiplications of thirteen
    operations), as the tangent's chain rule wrote them; their product does not change
    along the loop.  It is now formed once (the compiler moves it before the loop): two
    per-element operations fewer for atan (kernel at 2^18 float32: 46 -> 40 us on 2
    threads), and never more for any definition and parameter."""
    from spikegrad.codegen import share

    fewer = []
    for name, pname, outs in _one_value_graphs():
        tangents, ms = share.share_divisions(outs[0], tuple(outs[1:]), {"p0"}, "float32")
        invariant = {"p0", *(f"sg_inv{j}" for j in range(len(ms)))}
        grouped = share.group_invariant_factors(tangents, outs[:1], invariant, "float32")
        before = _varying_ops(outs[:1], tangents)
        after = _varying_ops(outs[:1], grouped)
        assert after <= before, (name, pname, before, after)
        if after < before:
            fewer.append((name, pname, before - after))
    assert any(f[:2] == ("atan", "alpha") and f[2] >= 2 for f in fewer), fewer


def test_a_sums_stride_0_cotangent_reaches_the_one_value_kernel_in_torch() -> None:
    """Finding: ``loss = spikes.sum()`` hands the C++ parameter node a stride-0 cotangent,
    which it copied out (a megabyte at 2^18) for the kernel that reads one cotangent per
    element: 1.21-1.25x the number-alpha path with a 0-d alpha, 1.02-1.10x now.  Where
    every parameter is one value, a one-value cotangent goes to the kernel that reads
    ``g[0]``.  Shown by an entry whose one-value kernels are another formula's: a sum's
    cotangent gets that formula's gradients, a dense one (a mean's is dense in torch)
    the entry's own."""
    torch = pytest.importorskip("torch")
    import spikegrad.torch as sgt
    from spikegrad.adapters import _torch_native

    if not _torch_native.ensure(600):
        pytest.skip(f"no C++ node: {_torch_native.status()}")
    native = _torch_native.module()
    static = (("alpha", None),)

    def kernels(name: str, one: bool) -> list:
        return [cpu.param_kernel(spikegrad.entry(name), static, dt, ("s",), one)
                for dt in ("float32", "float64")]

    (a32, a64), (s32, s64) = kernels("atan", False), kernels("sigmoid", True)
    entry = native.param_entry(
        a32.address, a64.address, [0],
        torch.from_numpy(a32.constants), torch.from_numpy(a64.constants),
        s32.address, s64.address,
        torch.from_numpy(s32.constants), torch.from_numpy(s64.constants))
    for dtype in (torch.float32, torch.float64):
        x = torch.linspace(-1, 3, 4096, dtype=dtype, requires_grad=True)
        a = torch.tensor(3.0, dtype=dtype, requires_grad=True)

        def grads(loss):  # type: ignore[no-untyped-def]
            out = native.param_spike(x, False, entry, spikegrad.get("atan", alpha=a), [a], [])
            if loss is None:  # a dense cotangent
                return torch.autograd.grad(out, (x, a), torch.full_like(x, 2.5))
            return torch.autograd.grad(loss(out), (x, a))

        def want(name: str, g: float):  # type: ignore[no-untyped-def]
            out = sgt.spike(x, name, alpha=a)
            return torch.autograd.grad(out, (x, a), torch.full_like(x, g))

        for got, (wx, wa) in ((grads(lambda o: o.sum() * 2.5), want("sigmoid", 2.5)),
                              (grads(lambda o: o.mean()), want("atan", 1 / 4096)),
                              (grads(None), want("atan", 2.5))):
            torch.testing.assert_close(got[0], wx)
            torch.testing.assert_close(got[1], wa, rtol=1e-5, atol=1e-6)


def test_a_one_value_sum_is_multiplied_by_its_invariant_factor_once() -> None:
    """Finding: with its invariant factors grouped, atan's one-value alpha kernel still
    multiplied every element's term by their product k before adding it to the sum
    (jax ``jit(grad)`` of a sum: 1.4-1.7x the number-alpha path at 2^18).  The sum is now
    of the terms without k, multiplied by k once after the loop: one per-element
    operation fewer for atan, never more for any definition and parameter, and k's
    product is out of the loop in the source."""
    import re

    from spikegrad.codegen import share

    fewer = []
    for name, pname, outs in _one_value_graphs():
        tangents, ms = share.share_divisions(outs[0], tuple(outs[1:]), {"p0"}, "float32")
        invariant = {"p0", *(f"sg_inv{j}" for j in range(len(ms)))}
        grouped = share.group_invariant_factors(tangents, outs[:1], invariant, "float32")
        split = tuple(share.split_invariant_factor(t, invariant, "float32")[0]
                      for t in grouped)
        before, after = _varying_ops(outs[:1], grouped), _varying_ops(outs[:1], split)
        assert after <= before, (name, pname, before, after)
        if after < before:
            fewer.append((name, pname, before - after))
    assert any(f[:2] == ("atan", "alpha") for f in fewer), fewer
    src, _ = cpu.param_source_and_constants(spikegrad.entry("atan"), (("alpha", None),),
                                            "float32", ("s",), one_cotangent=True)
    assert src.count("a0 *= (double)sg_k0;") == 2, src  # after each of the two loops
    for body in re.findall(r"#pragma omp simd[^\n]*\n(.*?)\n        \}", src, re.S):
        assert "b0 += v" in body and not re.search(r"b0 \+= \w+ \*", body), body


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,pname", [("atan", "alpha"), ("sigmoid", "alpha"),
                                        ("gaussian", "sigma")])
def test_a_one_value_cotangent_kernel_reads_one_value(name: str, pname: str,
                                                      dtype: str) -> None:
    """Finding: ``jit(grad)`` of a sum with a learnable 0-d alpha (jax) read a cotangent
    array of copies of one value and multiplied every element's parameter term by it:
    1.75x the number-alpha path at 2^18.  The one-value variant reads ``g[0]`` and
    multiplies each sum once; its results match the array variant given the broadcast,
    and finite differences of the primitive."""
    import ctypes

    e = spikegrad.entry(name)
    static = tuple((q.name, None if q.name == pname else e.defaults()[q.name])
                   for q in e.params)
    src, _ = cpu.param_source_and_constants(e, static, dtype, ("s",), one_cotangent=True)
    assert "g[0]" in src and "g[i]" not in src, src
    with pytest.raises(ValueError, match="one-value or per-element layouts"):
        cpu.param_source_and_constants(e, static, dtype, ("c",), one_cotangent=True)
    theta = float(spikegrad.get(name).params[pname])
    rng = np.random.default_rng(3)
    n = 3 * cpu.SUM_BLOCK + 5
    x = rng.uniform(-2.0, 2.0, size=n).astype(dtype)
    G = 0.37
    p = np.asarray([theta], dtype)
    out = {}
    for one in (True, False):
        kern = cpu.param_kernel(e, static, dtype, ("s",), one)
        g = np.full(1 if one else n, G, dtype)
        gx = np.empty_like(x)
        acc = np.zeros(1)
        pp = (ctypes.c_void_p * 1)(p.ctypes.data)
        gpp = (ctypes.c_void_p * 1)(None)
        rc = kern.function(x.ctypes.data, g.ctypes.data, gx.ctypes.data, pp, gpp,
                           acc.ctypes.data, n, kern.constants.ctypes.data, None)
        assert rc == 0
        out[one] = (gx, acc[0])
    np.testing.assert_array_equal(out[True][0], out[False][0])
    want = fd_param_grads(name, {pname: np.asarray(theta)}, x.astype(np.float64),
                          np.full(n, G))[pname]
    rtol = 1e-4 if dtype == "float32" else 1e-7
    for one in (True, False):
        np.testing.assert_allclose(out[one][1], float(want), rtol=rtol,
                                   atol=rtol * G * n * 1e-3)


def _real_param_cases() -> list[tuple[str, str]]:
    """(definition, parameter) for every definition's real parameters."""
    return [(name, pname) for name, pname, _ in _one_value_graphs()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,pname", _real_param_cases())
def test_a_nan_x_gives_a_nan_gradient_and_adds_nothing_to_the_parameter_s(
        name: str, pname: str, dtype: str) -> None:
    """The NaN rule in the fused parameter kernel, now that the emitter drops the rule's
    select where ``g'`` is NaN at a NaN ``x`` anyway (:func:`~spikegrad.codegen.trace.
    nan_follows`): ``grad_x`` is NaN exactly at NaN ``x``, and such an element adds nothing
    to the parameter's gradient (the same bits as the same call with the element finite and
    its cotangent 0)."""
    import ctypes

    e = spikegrad.entry(name)
    static = tuple((q.name, None if q.name == pname else e.defaults()[q.name])
                   for q in e.params)
    kern = cpu.param_kernel(e, static, dtype, ("s",))
    base = spikegrad.get(name)
    scale = float(base.entry.x_scale(base.params)) or 1.0
    rng = np.random.default_rng(11)
    n = 2 * cpu.SUM_BLOCK + 7
    x = (rng.uniform(-2.0, 2.0, size=n) / scale).astype(dtype)
    nan = rng.choice(n, size=9, replace=False)
    G = rng.uniform(0.5, 1.5, size=n).astype(dtype)
    p = np.asarray([base.params[pname]], dtype)

    def run(xv: np.ndarray, gv: np.ndarray) -> tuple[np.ndarray, float]:
        gx = np.empty_like(xv)
        acc = np.zeros(1)
        pp = (ctypes.c_void_p * 1)(p.ctypes.data)
        gpp = (ctypes.c_void_p * 1)(None)
        assert kern.function(xv.ctypes.data, gv.ctypes.data, gx.ctypes.data, pp, gpp,
                             acc.ctypes.data, n, kern.constants.ctypes.data, None) == 0
        return gx, float(acc[0])

    with_nan, g_nan = x.copy(), G.copy()
    with_nan[nan] = np.nan
    finite, g_zero = x.copy(), G.copy()
    g_zero[nan] = 0
    gx, total = run(with_nan, g_nan)
    gx0, total0 = run(finite, g_zero)
    assert np.isnan(gx[nan]).all()
    keep = np.setdiff1d(np.arange(n), nan)
    if np.isfinite(gx0[keep]).all():
        assert not np.isnan(gx[keep]).any()
    np.testing.assert_array_equal(gx[keep], gx0[keep])
    assert total == total0 or (np.isnan(total) and np.isnan(total0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("name,pname", SHARED)
def test_a_shared_division_matches_finite_differences(name: str, pname: str,
                                                      dtype: torch.dtype,
                                                      fused: list[bool]) -> None:
    base = spikegrad.get(name)
    theta = float(base.params[pname])
    scale = float(base.entry.x_scale(base.params)) or 1.0
    rng = np.random.default_rng(5)
    x = rng.uniform(-2.0, 2.0, size=(4, 33)) / scale
    G = rng.normal(size=x.shape)
    want = fd_param_grads(name, {pname: np.asarray(theta)}, x, G)[pname]
    t = torch.tensor(theta, dtype=dtype, requires_grad=True)
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    _, gt = torch.autograd.grad(sgt.spike(xt, name, **{pname: t}), (xt, t),
                                torch.tensor(G, dtype=dtype))
    assert fused and all(fused)
    # float32: the inputs themselves are rounded to float32 for the kernel, the oracle's not
    rtol, atol = (1e-6, 1e-9) if dtype == torch.float64 else (2e-3, 2e-4)
    np.testing.assert_allclose(gt.item(), float(want), rtol=rtol,
                               atol=atol * np.abs(G).sum())


@pytest.mark.parametrize("alpha", [2.0**-18, 2.0**19])
def test_a_numerator_out_of_range_takes_the_plain_loop(alpha: float) -> None:
    """atan's g' numerator is alpha/2: far from 1 the quotient could overflow or lose
    precision where the plain division does not, so the plain loop runs; its result
    matches finite differences too."""
    x = np.linspace(-3, 3, 64) / (alpha * math.pi / 2)
    G = np.linspace(-1, 1, 64)
    t = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    _, gt = torch.autograd.grad(sgt.atan(xt, alpha=t), (xt, t), torch.tensor(G))
    want = fd_param_grads("atan", {"alpha": np.asarray(alpha)}, x, G,
                          h=1e-7 * min(1.0, alpha))["alpha"]
    np.testing.assert_allclose(gt.item(), float(want), rtol=1e-6)


def test_signed_zeros_are_not_one_value() -> None:
    """``x + 0.0`` and ``x + -0.0`` differ at ``x = -0`` (and ``x * 0.0``, ``x * -0.0``
    wherever x is not NaN): a tangent dividing by one is not rewritten with a quotient
    by the other (found by review: the keys of 0.0 and -0.0 were equal)."""
    from spikegrad.codegen import share

    ns = TraceNamespace("float32")
    x, p = ns.input("x"), ns.input("p0")
    vn: dict[int, object] = {}
    assert share.value_number(x + 0.0, "float32", vn) != share.value_number(x + -0.0,
                                                                             "float32", vn)
    assert share.value_number(x * 0.0, "float32", vn) != share.value_number(x * -0.0,
                                                                             "float32", vn)
    assert share.value_number(x + 1.0, "float32", vn) == share.value_number(1.0 + x,
                                                                             "float32", vn)
    d = p / (x + 0.0)
    t = (3.0 * x) / (x + -0.0)
    assert share.share_divisions(d, (t,), {"p0"}, "float32")[1] == []
    t_same = (3.0 * x) / (0.0 + x)
    assert len(share.share_divisions(d, (t_same,), {"p0"}, "float32")[1]) == 1


@pytest.mark.parametrize("n", [2**18 + 37, 1000])
def test_a_one_value_gradient_sum_keeps_float32_precision(n: int) -> None:
    """A 0-d alpha's gradient sums n terms: in float32 within blocks of ``SUM_BLOCK``
    elements, the blocks in double (a double sum of every element cost a quarter of the
    kernel).  Terms of one sign (atan's dg/dalpha = x / 2 / (1 + u^2) for x > 0, G > 0)
    let no cancellation hide the sum's error: a float32 sum of every element drifts by
    6e-7 here, blocks stay within a float32 ulp or two (7e-8)."""
    rng = np.random.default_rng(11)
    x = rng.uniform(0.01, 1.0, size=n).astype(np.float32)
    G = rng.uniform(0.5, 1.0, size=n).astype(np.float32)
    want = fd_param_grads("atan", {"alpha": np.asarray(2.0)}, x.astype(np.float64),
                          G.astype(np.float64))["alpha"]
    t = torch.tensor(2.0, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    _, gt = torch.autograd.grad(sgt.atan(xt, alpha=t), (xt, t), torch.tensor(G))
    np.testing.assert_allclose(gt.item(), float(want), rtol=3e-7)
