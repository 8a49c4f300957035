"""pytest plugin: replace a peer's surrogate module by spikegrad's compat module before the
peer is imported (``-p swap_plugin``, with ``SPIKEGRAD_COMPAT_SWAP="peer.module=spikegrad.
compat.peer"``; set by ``run_peer_suites.py``, never read by spikegrad itself)."""

from __future__ import annotations

import importlib
import os
import sys


def _install() -> None:
    spec = os.environ.get("SPIKEGRAD_COMPAT_SWAP", "")
    for pair in filter(None, spec.split(",")):
        target, replacement = pair.split("=")
        module = importlib.import_module(replacement)
        sys.modules[target] = module
        parent, _, child = target.rpartition(".")
        if parent:  # the peer's package sees the replacement as its attribute too
            setattr(importlib.import_module(parent), child, module)


_install()
