"""Importing and using spikegrad imports no array framework."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import numpy as np
import spikegrad
spikegrad.names(); spikegrad.aliases()
s = spikegrad.get('atan')
s.derivative(np.linspace(-1, 1, 5)); s.spike(np.zeros(2)); s.peak; s.area
from spikegrad.adapters import reference as ref
ref.backward(s, ref.forward(s, np.zeros(3))[1], np.ones(3))
heavy = [m for m in ('torch', 'jax', 'jaxlib', 'cupy', 'tensorflow', 'mpmath', 'scipy')
         if m in sys.modules]
print(','.join(heavy))
"""


def test_import_pulls_in_no_framework() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", out.stdout


def test_package_ships_typing_marker_and_goldens() -> None:
    from importlib import resources

    root = resources.files("spikegrad")
    assert (root / "py.typed").is_file()
    assert (root / "conformance" / "data" / "goldens.npz").is_file()
    assert (root / "conformance" / "data" / "goldens.json").is_file()
