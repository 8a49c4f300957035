"""A torch DDP rank for tests/test_multistep_parallel.py (spawned; gloo on CPU).

Run as ``python -m tests._ddp_worker WORLD PORT OUTDIR``; each rank takes its share of the
batch (axis 1 of ``[T, B, F]``) and saves its gradients.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def build() -> Any:
    """Linear(16, 32), a DSR-LIF layer (some neurons saturate), then an elementwise
    surrogate with a learnable width, float64, the same weights in every process."""
    import torch

    import spikegrad.torch as sgt

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), sgt.DSRLIFNode(v_threshold=0.5),
                               _shift(-9.0),
                               sgt.Surrogate("atan", alpha=0.05, learnable=True)).double()


def _shift_class() -> Any:
    import torch

    class Shift(torch.nn.Module):
        """``x + offset``: puts the DSR output (0 or 10) on both sides of the threshold."""

        def __init__(self, offset: float) -> None:
            super().__init__()
            self.offset = offset

        def forward(self, x: Any) -> Any:
            return x + self.offset

    return Shift


def _shift(offset: float) -> Any:
    return _shift_class()(offset)


def data() -> Any:
    """The whole batch, ``[T=8, B=6, F=16]``, with rates across the layer's range."""
    import torch

    g = torch.Generator().manual_seed(7)
    return torch.randn(8, 6, 16, generator=g, dtype=torch.float64) * 5 + 60


def loss_fn(y: Any) -> Any:
    """Mean over the batch (axis 1) of a per-sample loss."""
    return y.pow(2).mean(dim=(0, 2)).sum() / y.shape[1]


def run(rank: int, world: int, port: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        net = torch.nn.parallel.DistributedDataParallel(build())
        x = data()
        per = x.shape[1] // world
        xs = x[:, rank * per:(rank + 1) * per].clone().requires_grad_(True)
        loss_fn(net(xs)).backward()
        grads = {n: p.grad.clone() for n, p in net.module.named_parameters()}
        torch.save({"grads": grads, "x_grad": xs.grad}, os.path.join(out, f"rank{rank}.pt"))
        dist.barrier()  # no rank tears the group down while another still uses it
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    import torch.multiprocessing as mp

    world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    mp.spawn(run, args=(world, port, out), nprocs=world, join=True)
