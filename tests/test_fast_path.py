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
    assert not torch_tensors.fast_path_ok(torch.nn.Parameter(torch.zeros(3)).data.as_subclass(
        torch.nn.Parameter))
    assert not torch_tensors.fast_path_ok(x, torch.zeros(3, device="meta"))
    seen = []
    torch.func.grad(lambda v: seen.append(torch_tensors.fast_path_ok(v)) or v.sum())(x)
    assert seen == [False]
    sgt.set_fast_path(False)
    try:
        assert not torch_tensors.fast_path_ok(x)
    finally:
        sgt.set_fast_path(True)
