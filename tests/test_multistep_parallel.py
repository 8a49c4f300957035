"""Data parallelism is the framework's job: torch DDP (gloo, 2 processes) and a jax batch
sharded over 2 host devices give the same gradients as one process on the whole batch, for
a multi-step surrogate's threshold and an elementwise surrogate's learnable width alike."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torch_ddp_matches_one_process(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available in this build")
    from . import _ddp_worker as w

    res = subprocess.run([sys.executable, "-m", "tests._ddp_worker", "2", str(_free_port()),
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    # one process, the whole batch, the same loss (a mean over the batch)
    net = w.build()
    x = w.data().requires_grad_(True)
    w.loss_fn(net(x)).backward()
    for name, p in net.named_parameters():
        for r in ranks:  # DDP averages every parameter's gradient, the threshold included
            torch.testing.assert_close(r["grads"][name], p.grad, rtol=1e-12, atol=1e-12)
    assert float(net[1].v_threshold.grad) != 0.0  # the checks are not vacuous
    assert float(net[3].alpha.grad) != 0.0  # an elementwise surrogate's learnable width
    # each rank's input gradient is its slice of the whole batch's, times the world size
    # (its loss is a mean over its half of the batch)
    per = x.shape[1] // 2
    for r, got in enumerate(ranks):
        torch.testing.assert_close(got["x_grad"], 2 * x.grad[:, r * per:(r + 1) * per],
                                   rtol=1e-12, atol=1e-12)


def test_jax_sharded_batch_matches_one_device() -> None:
    pytest.importorskip("jax")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    res = subprocess.run([sys.executable, "-m", "tests._jax_sharded"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    for name, r in out.items():
        assert r["sharded_over"] == 2, name
        assert r["gx_max_diff"] <= 1e-6 * max(r["gx_abs"], 1.0), (name, r)
        gv1, gv2 = r["gv"]
        assert gv1 != 0.0, name  # not vacuous
        assert gv2 == pytest.approx(gv1, rel=1e-5), (name, r)
