"""The torch multi-step modules against spikingjelly 2.0's DSR nodes (test extra), the seed's
hazards as named regression tests, and the modules' own contracts."""

from __future__ import annotations

import copy
import io
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch==2.13.0)")

import spikegrad  # noqa: E402
import spikegrad.torch as sgt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "conformance"))
import dsr_oracle  # noqa: E402

#: spikingjelly's defaults and two other parameter sets per node
SJ_PARAMS = {
    "if": [{}, {"v_threshold": 1.0, "alpha": 0.3, "v_threshold_grad_scaling": 0.5},
           {"v_threshold": 0.25, "alpha": 1.0, "v_threshold_grad_scaling": 2.0}],
    "lif": [{}, {"v_threshold": 0.5, "tau": 5.0, "delta_t": 0.1, "alpha": 0.5},
            {"v_threshold": 2.0, "tau": 1.5, "delta_t": 0.2, "alpha": 1.0,
             "v_threshold_grad_scaling": 0.25}],
}
OURS = {"if": sgt.DSRIFNode, "lif": sgt.DSRLIFNode}


def _peer(kind: str):
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron",
                                 reason="spikingjelly 2.0 is a test extra")
    return {"if": neuron.DSRIFNode, "lif": neuron.DSRLIFNode}[kind]


def _inputs(kind: str, steps: int, params: dict, seed: int = 0) -> tuple:
    """Inputs whose rates span below 0, inside and above saturation."""
    g = torch.Generator().manual_seed(seed)
    v = params.get("v_threshold", 6.0 if kind == "if" else 1.0)
    top = v if kind == "if" else v * params.get("tau", 2.0) / params.get("delta_t", 0.05)
    centre = torch.linspace(-0.3 * top, 1.5 * top, 64 * 32).reshape(64, 32)
    x = centre + torch.randn(steps, 64, 32, generator=g) * 0.5 * top
    return x, torch.randn(steps, 64, 32, generator=g)


@pytest.mark.parametrize("steps", [1, 8, 32])
@pytest.mark.parametrize("which", [0, 1, 2])
@pytest.mark.parametrize("kind", ["if", "lif"])
def test_matches_spikingjelly(kind: str, which: int, steps: int) -> None:
    params = SJ_PARAMS[kind][which]
    peer = _peer(kind)(T=steps, **{k: float(v) for k, v in params.items()})
    ours = OURS[kind](T=steps, **params)
    x, g = _inputs(kind, steps, params, seed=which)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = peer(xa), ours(xb)
    assert torch.equal(ya, yb)  # the same spikes, bit for bit
    gxa, gva = torch.autograd.grad(ya, (xa, peer.v_threshold), g)
    gxb, gvb = torch.autograd.grad(yb, (xb, ours.v_threshold), g)
    torch.testing.assert_close(gxb, gxa, rtol=1e-6, atol=1e-7)
    # the threshold gradient is a sum over 2048 elements: compare within the rounding of
    # that sum (relative to the sum of magnitudes), not of its (cancelling) result
    scale = float(g.abs().sum(0).sum()) * params.get("v_threshold_grad_scaling", 1.0)
    assert abs(float(gvb) - float(gva)) <= 1e-6 * scale, (float(gvb), float(gva))
    # and both agree with the independent float64 oracle
    p = {"v_threshold": float(ours.v_threshold.detach()), "alpha": ours.bound.params["alpha"],
         "v_threshold_grad_scaling": ours.bound.params["v_threshold_grad_scaling"]}
    xn, gn = x.double().numpy(), g.double().numpy()
    if kind == "if":
        ox, ov, amb = dsr_oracle.backward_if(xn, gn, p["v_threshold"], p["alpha"],
                                             p["v_threshold_grad_scaling"], ambiguity=1e-5)
    else:
        sp = ours.bound.params
        ox, ov, amb = dsr_oracle.backward_lif(xn, gn, p["v_threshold"], p["alpha"], sp["tau"],
                                              sp["delta_t"], p["v_threshold_grad_scaling"],
                                              ambiguity=1e-5)
    clear = np.broadcast_to(~amb, ox.shape)
    np.testing.assert_allclose(gxb.double().numpy()[clear], ox[clear], rtol=1e-5, atol=1e-6)
    if not amb.any():
        assert abs(float(gvb) - ov) <= 1e-5 * scale


# -- the seed's hazards, and what spikegrad does instead --------------------------------------
def test_hazard_T_differs_from_the_sequence_length() -> None:
    """spikingjelly stacks T copies in the backward and fails with a shape error when
    T != x.shape[0]; spikegrad takes the steps from the input and refuses a T that
    disagrees, before computing anything."""
    x = torch.rand(6, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"6 steps .* T=4"):
        sgt.DSRIFNode(T=4)(x)
    y = sgt.DSRIFNode()(x)  # T=None: the input decides
    y.sum().backward()
    assert x.grad.shape == x.shape


def test_hazard_no_collective_in_the_backward(monkeypatch) -> None:
    """The seed called dist.all_reduce inside the backward (crash without a process group,
    double counting under DDP, deadlock when a rank skips the layer); spikegrad's backward
    calls no collective."""
    import torch.distributed as dist

    def forbidden(*args, **kwargs):
        raise AssertionError("a collective was called inside the backward")

    monkeypatch.setattr(dist, "all_reduce", forbidden)
    for node in (sgt.DSRIFNode(), sgt.DSRLIFNode()):
        x = (torch.rand(4, 8) * 50).requires_grad_(True)
        node(x).sum().backward()
        assert node.v_threshold.grad is not None


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_hazard_output_dtype_is_the_inputs(dtype: torch.dtype) -> None:
    """spikingjelly's output is float32 whatever the input; spikegrad keeps the input's
    dtype (float16/bfloat16 computed in float32 and rounded once)."""
    x = (torch.rand(5, 7) * 12).to(dtype).requires_grad_(True)
    y = sgt.DSRIFNode()(x)
    assert y.dtype == dtype
    (gx,) = torch.autograd.grad(y.sum(), x)
    assert gx.dtype == dtype
    want = spikegrad.get("dsr_if").forward(x.detach().float().numpy())
    np.testing.assert_array_equal(y.detach().float().numpy(), want)


# -- the modules ----------------------------------------------------------------------------
def test_threshold_is_a_parameter_and_learns() -> None:
    node = sgt.DSRIFNode(v_threshold=1.0)
    assert [n for n, _ in node.named_parameters()] == ["v_threshold"]
    frozen = sgt.DSRIFNode(v_threshold=1.0, v_threshold_training=False)
    assert list(frozen.parameters()) == [] and "v_threshold" in frozen.state_dict()
    opt = torch.optim.SGD(node.parameters(), lr=0.01)
    x = torch.full((4, 10), 3.0)  # rate 3 > V = 1: the threshold gradient is nonzero
    node(x).sum().backward()
    before = float(node.v_threshold.detach())
    opt.step()
    assert float(node.v_threshold.detach()) != before


def test_lower_bound_clamp_and_project() -> None:
    x = torch.full((4, 3), 5.0)
    clamp = sgt.DSRIFNode(v_threshold=1.0, v_threshold_lower_bound=0.5)
    project = sgt.DSRIFNode(v_threshold=1.0, v_threshold_lower_bound=0.5,
                            lower_bound="project")
    with torch.no_grad():
        clamp.v_threshold.fill_(0.1)
        project.v_threshold.fill_(0.1)
    yc, yp = clamp(x), project(x)
    assert torch.equal(yc, yp)  # both fire with V = 0.5
    assert float(clamp.v_threshold.detach()) == pytest.approx(0.1)  # never changed
    assert float(project.v_threshold.detach()) == 0.5  # projected in place
    yc.sum().backward()
    yp.sum().backward()
    assert float(clamp.v_threshold.grad) == 0.0  # below the bound: no gradient
    assert float(project.v_threshold.grad) != 0.0


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="step_mode"):
        sgt.DSRIFNode(step_mode="s")
    with pytest.raises(ValueError, match="v_threshold must be >="):
        sgt.DSRIFNode(v_threshold=0.001)
    with pytest.raises(ValueError, match="backend"):
        sgt.DSRLIFNode(backend="cupy")
    with pytest.raises(ValueError, match="elementwise"):
        sgt.multistep(torch.rand(3, 2), "atan")
    with pytest.raises(ValueError, match="0-d"):
        sgt.dsr_if(torch.rand(3, 2), v_threshold=torch.ones(2, requires_grad=True))


def test_modules_pickle_deepcopy_and_save() -> None:
    x = (torch.rand(6, 4) * 40).requires_grad_(True)
    for node in (sgt.DSRIFNode(v_threshold=2.0), sgt.DSRLIFNode(threshold_grad_factor="1/dt")):
        for clone in (pickle.loads(pickle.dumps(node)), copy.deepcopy(node)):
            assert torch.equal(clone(x), node(x))
        buf = io.BytesIO()
        torch.save(node, buf)
        buf.seek(0)
        loaded = torch.load(buf, weights_only=False)
        ya, yb = node(x), loaded(x)
        assert torch.equal(ya, yb)
        ga = torch.autograd.grad(ya.sum(), (x, node.v_threshold))
        gb = torch.autograd.grad(yb.sum(), (x, loaded.v_threshold))
        assert all(torch.equal(a, b) for a, b in zip(ga, gb, strict=True))


def test_functional_forms_and_bound_dispatch() -> None:
    x = (torch.rand(5, 3) * 10).requires_grad_(True)
    v = torch.nn.Parameter(torch.tensor(4.0))
    a = sgt.dsr_if(x, v_threshold=v)
    b = sgt.multistep(x, "dsr_if", v_threshold=v)
    c = spikegrad.get("dsr_if", v_threshold=v).spike(x)  # dispatch by array type
    assert torch.equal(a, b) and torch.equal(a, c)
    assert c.grad_fn is not None
    (gv,) = torch.autograd.grad(c.sum(), v, allow_unused=True)
    assert gv is not None


def test_kernels_and_torch_ops_agree_on_large_shapes() -> None:
    """The generated CPU kernels (fast path) and the torch-ops path give the same spikes
    and gradients at a realistic shape."""
    from spikegrad.adapters import torch_multistep

    x = (torch.randn(8, 4, 16, 8, 8) * 3 + 2).requires_grad_(True)
    g = torch.randn_like(x)
    for name in ("dsr_if", "dsr_lif"):
        v = torch.nn.Parameter(torch.tensor(1.5))
        b = spikegrad.get(name, v_threshold=v)
        y1 = torch_multistep.apply(b, x)
        g1 = torch.autograd.grad(y1, (x, v), g)
        sgt.set_fast_path(False)  # the torch-ops path
        try:
            y2 = torch_multistep.apply(b, x)
            g2 = torch.autograd.grad(y2, (x, v), g)
        finally:
            sgt.set_fast_path(True)
        assert torch.equal(y1, y2)
        torch.testing.assert_close(g1[0], g2[0], rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(g1[1], g2[1], rtol=1e-5, atol=1e-4)
