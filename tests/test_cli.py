"""The ``spikegrad`` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

import spikegrad
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


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"spikegrad {spikegrad.__version__}"


def test_list_one_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--library", "snntorch"]) == 0
    out = capsys.readouterr().out
    assert "snntorch:fast_sigmoid" in out and "fast_sigmoid(k = slope)" in out
    assert "spikingjelly:" not in out
    assert main(["list", "--library", "nosuchlib"]) == 2
    assert "libraries:" in capsys.readouterr().err


def test_convert_exact_and_nearest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "snntorch:fast_sigmoid", "slope=25", "--to", "braintools"]) == 0
    out = capsys.readouterr().out
    assert "= braintools:InvSquareGrad(alpha=25)" in out
    assert "differs at x = 0" in out  # snntorch fires at x > 0, braintools at x >= 0
    # spikingjelly has no fast sigmoid of peak 1: the nearest is SoftSign, 12.5 times as large
    assert main(["convert", "snntorch:fast_sigmoid", "slope=25", "--to", "spikingjelly"]) == 1
    out = capsys.readouterr().out
    assert "no exact spikingjelly equivalent" in out and "SoftSign(alpha=25)" in out
    assert "12.5 times" in out
    assert main(["convert", "atan", "--to", "braintools"]) == 0
    assert "braintools:Arctan(alpha=2)" in capsys.readouterr().out
    assert main(["convert", "snntorch:triangular", "--to", "spikingjelly"]) == 1
    assert "no spikingjelly surrogate computes sign_triangular" in capsys.readouterr().out


def test_convert_answers_are_exact() -> None:
    """Every exact answer computes the source's g' (checked on a grid of its own)."""
    import numpy as np

    from spikegrad._convert import convert

    x = np.linspace(-4, 4, 801)
    for source, params, lib in [("spikingjelly:Sigmoid", {"alpha": 3.0}, "snntorch"),
                                ("snntorch:atan", {"alpha": 1.5}, "spikingjelly"),
                                ("braintools:Arctan", {"alpha": 0.7}, "spikingjelly")]:
        want = spikegrad.get(source, **params).derivative(x)
        found = [c for c in convert(source, params, lib) if c.exact]
        assert found, (source, lib)
        for c in found:
            got = spikegrad.get(c.target, **c.params).derivative(x)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_plot_writes_a_figure(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "f.png"
    assert main(["plot", "atan", "--compare", "sigmoid", "fast_sigmoid(k=10)", "-o",
                 str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    svg = tmp_path / "f.svg"
    assert main(["plot", "snntorch:atan", "alpha=3", "-o", str(svg)]) == 0
    assert svg.read_text().lstrip().startswith("<?xml")


def test_cli_errors_are_messages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "atann"]) == 2
    assert "spikegrad list" in capsys.readouterr().err
    assert main(["plot", "atan", "alpha=-1"]) == 2
    assert "alpha must be in [1e-06, 1e+06]" in capsys.readouterr().err


def test_conformance_pairwise_report_gives_a_verdict() -> None:
    import numpy as np

    from spikegrad.conformance.report import compare_adapters

    key = ("atan", 0, "float32")
    x = np.linspace(-1, 1, 11)
    a = 1 / (1 + x**2)
    close = a * (1 + 2 * np.finfo(np.float32).eps)
    far = a * (1 + 100 * np.finfo(np.float32).eps)
    core = {key: np.abs(x) <= 0.5}
    tol = {"p": {"float32": 4.0}, "q": {"float32": 4.0}, "r": {"float32": 4.0}}
    text = compare_adapters({"p": {key: a}, "q": {key: close}, "r": {key: far}},
                            core=core, tolerances=tol)
    lines = text.splitlines()
    assert "allowed the sum of the two adapters' declared tolerances" in lines[0]
    assert "p vs q" in lines[1] and lines[1].endswith("within the declared tolerances")
    assert "p vs r" in lines[2] and lines[2].endswith("OUTSIDE the declared tolerances")
