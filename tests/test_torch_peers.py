"""Drop-in proof against real clients: snntorch and spikingjelly networks trained with
spikegrad's surrogate follow the same loss trajectory as with their own surrogate."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch==2.13.0)")

import spikegrad.torch as sgt  # noqa: E402

STEPS = 20
T = 8


def _ulp32(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float32).ravel()
    b = b.astype(np.float32).ravel()
    scale = np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(np.float32))
    scale = np.maximum(scale, np.finfo(np.float32).smallest_subnormal)
    return float(np.max(np.abs(a.astype(np.float64) - b) / scale))


def _train(make_net, seed: int = 0) -> tuple[list[float], list[np.ndarray]]:
    torch.manual_seed(seed)
    net, run = make_net()
    data = torch.rand(T, 16, 12) * 2.0
    target = torch.rand(16, 3)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    losses: list[float] = []
    first_grads: list[np.ndarray] = []
    for step in range(STEPS):
        opt.zero_grad()
        rate = run(net, data)
        loss = torch.nn.functional.mse_loss(rate, target)
        loss.backward()
        if step == 0:
            first_grads = [p.grad.detach().numpy().copy() for p in net.parameters()]
        opt.step()
        losses.append(loss.item())
    return losses, first_grads


def _compare(ours: tuple, theirs: tuple) -> None:
    l1, g1 = ours
    l2, g2 = theirs
    assert len(l1) == STEPS
    rel = np.abs(np.asarray(l1) - np.asarray(l2)) / np.abs(np.asarray(l2))
    assert np.all(rel <= 1e-5), rel
    assert max(_ulp32(a, b) for a, b in zip(g1, g2, strict=True)) <= 4
    assert l1[-1] < l1[0]  # it actually trains


def test_snntorch_leaky_drop_in() -> None:
    snn = pytest.importorskip("snntorch", reason="snntorch is a test extra")
    from snntorch import surrogate

    def make(spike_grad):
        def build():
            net = torch.nn.ModuleDict({
                "fc1": torch.nn.Linear(12, 20),
                "lif1": snn.Leaky(beta=0.9, spike_grad=spike_grad),
                "fc2": torch.nn.Linear(20, 3),
                "lif2": snn.Leaky(beta=0.8, spike_grad=spike_grad),
            })

            def run(net, data):
                m1 = net["lif1"].init_leaky()
                m2 = net["lif2"].init_leaky()
                count = 0
                for t in range(T):
                    s1, m1 = net["lif1"](net["fc1"](data[t]), m1)
                    s2, m2 = net["lif2"](net["fc2"](s1), m2)
                    count = count + s2 + 0.1 * m2
                return count / T

            return net, run

        return build

    ours = _train(make(sgt.Surrogate("snntorch:atan")))
    theirs = _train(make(surrogate.atan()))
    _compare(ours, theirs)


def test_spikingjelly_lif_drop_in() -> None:
    pytest.importorskip("spikingjelly", reason="spikingjelly is a test extra")
    from spikingjelly.activation_based import functional, neuron, surrogate

    def make(sg):
        def build():
            net = torch.nn.Sequential(
                torch.nn.Linear(12, 20), neuron.LIFNode(tau=2.0, surrogate_function=sg),
                torch.nn.Linear(20, 20), neuron.LIFNode(tau=2.0, surrogate_function=sg),
                torch.nn.Linear(20, 3))  # non-spiking read-out: a continuous loss

            def run(net, data):
                functional.reset_net(net)
                out = 0
                for t in range(T):
                    out = out + net(data[t])
                return out / T

            return net, run

        return build

    ours = _train(make(sgt.Surrogate("spikingjelly:ATan")))
    theirs = _train(make(surrogate.ATan()))
    _compare(ours, theirs)
