"""The ``spikegrad`` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spikegrad.cli import main


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "atan" in out and "alpha=2" in out and "33 surrogates" in out
    assert "q_pseudo_spike" in out and "poisson_pass" in out


def test_show_canonical_and_alias(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "atan"]) == 0
    out = capsys.readouterr().out
    assert "snntorch:atan" in out and "Fang" in out and "peak g' = 1" in out
    assert main(["show", "braintools:QPseudoSpike"]) == 0
    out = capsys.readouterr().out
    assert "alias of q_pseudo_spike" in out and "alpha + 1" in out


def test_cite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cite", "super_spike"]) == 0
    assert "@article{SuperSpike," in capsys.readouterr().out
    assert main(["cite", "fake_numerical_gradient"]) == 0
    assert "no published reference" in capsys.readouterr().err


def test_unknown_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "atann"]) == 2
    assert "did you mean 'atan'" in capsys.readouterr().err


def test_accuracy_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accuracy"]) == 0
    out = capsys.readouterr().out
    assert "all within" in out and "sigmoid" in out


def test_console_script_is_installed() -> None:
    out = subprocess.run([sys.executable, "-m", "spikegrad.cli", "list"], capture_output=True,
                         text=True, check=True)
    assert "sigmoid" in out.stdout
