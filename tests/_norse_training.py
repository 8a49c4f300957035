"""20 training steps of a norse LIF network; prints the losses as JSON.  Run as
``python -m tests._norse_training [swap]``: with ``swap``, norse's threshold module is
spikegrad.compat.norse (installed before norse is imported, as compat/swap_plugin.py
does)."""

from __future__ import annotations

import json
import sys


def main() -> None:
    if sys.argv[1:] == ["swap"]:
        import importlib

        sys.modules["norse.torch.functional.threshold"] = importlib.import_module(
            "spikegrad.compat.norse")
    import torch
    from norse.torch import LIFCell, LIFParameters

    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 6).double()
    # "triangle": a method norse 1.1.0 computes as documented (see docs/compat.md)
    cell = LIFCell(LIFParameters(method="triangle", alpha=torch.tensor(0.3))).double()
    opt = torch.optim.SGD(lin.parameters(), lr=0.5)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(20, 4, 8, generator=g, dtype=torch.float64) * 40
    target = torch.rand(4, 6, generator=g, dtype=torch.float64)
    losses = []
    for _ in range(20):
        state = None
        spikes = []
        for t in range(x.shape[0]):
            z, state = cell(lin(x[t]), state)
            spikes.append(z)
        loss = ((torch.stack(spikes).mean(0) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    from norse.torch.functional import lif

    print(json.dumps({"threshold": lif.threshold.__module__, "losses": losses}))


if __name__ == "__main__":
    main()
