"""One fast-path decision for the torch bindings, and one public switch.

Findings: the decision "may a generated CPU kernel serve this call?" was made in five
places with different conditions (the multi-step kernels ignored the switch), and the
switches lived in private modules the README documented as API.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch (pip install torch)")

import spikegrad  # noqa: E402
import spikegrad.torch as sgt  # noqa: E402
from spikegrad.adapters import torch as adapter  # noqa: E402
from spikegrad.adapters import torch_multistep, torch_tensors  # noqa: E402


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Which generated kernels were asked for (single-step, multi-step)."""
    seen: list[str] = []
    single, multi = adapter._kernel, torch_multistep._kernels
    monkeypatch.setattr(adapter, "_kernel", lambda *a: seen.append("single") or single(*a))
    monkeypatch.setattr(torch_multistep, "_kernels",
                        lambda *a: seen.append("multi") or multi(*a))
    yield seen
    sgt.set_fast_path(True)


def _run_all() -> None:
    x = torch.linspace(-2, 2, 64, requires_grad=True)
    y = adapter.function_for().apply(x, spikegrad.get("atan", alpha=3.0), None,
                                     *([None] * adapter.MAX_TENSOR_PARAMS))
    y.sum().backward()
    seq = torch.randn(4, 8, requires_grad=True)
    sgt.multistep(seq, "dsr_if", v_threshold=0.5).sum().backward()


def test_the_switch_turns_every_site_off(calls: list[str]) -> None:
    sgt.set_fast_path(False)
    assert sgt.build_fast_path(0) == "disabled"
    _run_all()
    x = torch.linspace(-2, 2, 64, requires_grad=True)
    y = sgt.atan(x)
    assert y.grad_fn.name() != "SpikegradSpikeBackward"
    assert calls == []


def test_with_the_switch_on_every_site_asks_for_its_kernel(calls: list[str]) -> None:
    sgt.set_fast_path(True)
    _run_all()
    assert "single" in calls and "multi" in calls


def test_the_decision_refuses_what_it_must() -> None:
    x = torch.zeros(3)
    assert torch_tensors.fast_path_ok(x)
    assert torch_tensors.fast_path_ok(torch.nn.Parameter(torch.zeros(3)))  # overrides nothing

    class Logged(torch.Tensor):  # a subclass that may override any operation
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return super().__torch_function__(func, types, args, kwargs or {})

    assert not torch_tensors.fast_path_ok(torch.zeros(3).as_subclass(Logged))
    assert not torch_tensors.fast_path_ok(x, torch.zeros(3, device="meta"))
    seen = []
    torch.func.grad(lambda v: seen.append(torch_tensors.fast_path_ok(v)) or v.sum())(x)
    assert seen == [False]
    sgt.set_fast_path(False)
    try:
        assert not torch_tensors.fast_path_ok(x)
    finally:
        sgt.set_fast_path(True)


def _native() -> object:
    from spikegrad.adapters import _torch_native

    status = sgt.build_fast_path()
    if status != "ready":
        pytest.skip(f"the C++ node is {status}")
    return _torch_native.module()


_BACKWARD_CASES = {
    "same dtype and shape": (torch.float32, torch.float32, (4, 3), (4, 3)),
    "float64": (torch.float64, torch.float64, (5,), (5,)),
    "float16": (torch.float16, torch.float16, (5,), (5,)),
    "bfloat16": (torch.bfloat16, torch.bfloat16, (5,), (5,)),
    "gradient of another dtype": (torch.float32, torch.float64, (5,), (5,)),
    "gradient of another shape": (torch.float32, torch.float32, (4, 3), (12,)),
    "integer input": (torch.int32, torch.int32, (5,), (5,)),
}


@pytest.mark.parametrize("grad_mode", [False, True], ids=["no_grad", "create_graph"])
@pytest.mark.parametrize("case", list(_BACKWARD_CASES), ids=list(_BACKWARD_CASES))
def test_the_backward_rule_is_the_same_in_python_and_in_the_cpp_node(
        case: str, grad_mode: bool) -> None:
    """The backward-time half of the decision is written in Python (the Function route)
    and in C++ (the node decides without Python): the same answer for every case."""
    native = _native()
    xd, gd, xs, gs = _BACKWARD_CASES[case]
    x, g = torch.zeros(xs, dtype=xd), torch.zeros(gs, dtype=gd)
    with torch.set_grad_enabled(grad_mode):
        want = torch_tensors.backward_applies(x, g)
        assert native.backward_applies(x, g) == want
    assert want == (not grad_mode and case in ("same dtype and shape", "float64", "float16",
                                               "bfloat16"))


def test_the_cpp_node_runs_its_kernel_unless_the_backward_must_be_differentiable() -> None:
    """The node calls back into Python only where the rule says so: create_graph=True."""
    native = _native()
    sgt.atan(torch.zeros(3, requires_grad=True))  # the node is connected to Python
    seen: list[str] = []

    def counting(bound, x, grad):
        seen.append(bound.name)
        return adapter._slow_backward(bound, x, grad)

    native.set_slow(counting)
    try:
        x = torch.linspace(-2, 2, 64, requires_grad=True)
        y = sgt.atan(x)
        assert y.grad_fn.name() == "SpikegradSpikeBackward"
        (gx,) = torch.autograd.grad(y.sum(), x)
        assert seen == []
        (gx2,) = torch.autograd.grad(sgt.atan(x).sum(), x, create_graph=True)
        assert seen == ["atan"] and gx2.requires_grad
        torch.testing.assert_close(gx2.detach(), gx, rtol=1e-6, atol=0)
    finally:
        native.set_slow(adapter._slow_backward)


@pytest.mark.parametrize("alpha", [2.0, "tensor"])
def test_a_dispatch_mode_sees_torch_ops_not_a_kernel(alpha: object) -> None:
    """Under ``make_fx`` (a dispatch mode that records operations and replays them) the
    fused kernels' work is invisible: the replayed graph gave uninitialised memory for the
    gradient.  A recording mode gets torch ops, and the replay equals eager."""
    from torch.fx.experimental.proxy_tensor import make_fx

    a = torch.tensor(2.0) if alpha == "tensor" else alpha

    def grad(v: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(sgt.spike(v, "atan", alpha=a).sum(), v)[0]

    x = torch.linspace(-2, 2, 7)
    eager = grad(x.clone().requires_grad_(True))
    replay = make_fx(grad)(x.clone().requires_grad_(True))
    torch.testing.assert_close(replay(x.clone().requires_grad_(True)), eager)
