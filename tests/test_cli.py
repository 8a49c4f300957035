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
    assert "@article{Fang2023," in capsys.readouterr().out
    from tests.user_definitions import SECH2  # a definition without references

    spikegrad.register(SECH2)
    try:
        assert main(["cite", "testdefs:sech2"]) == 0
        assert "no published reference" in capsys.readouterr().err
    finally:
        spikegrad.unregister("testdefs:sech2")


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


@pytest.mark.parametrize(("source", "params", "lib", "target", "want"), [
    ("norse:super", {"alpha": 0.0}, "snntorch", "snntorch:fast_sigmoid", {"slope": 0.0}),
    ("fast_sigmoid", {"k": 0.0}, "norse", "norse:super", {"alpha": 0.0}),
    ("snntorch:fast_sigmoid", {"slope": 0.0}, "norse", "norse:super", {"alpha": 0.0}),
])
def test_convert_solves_to_a_parameter_at_zero(source, params, lib, target, want) -> None:
    """Finding: a parameter the formula takes at 0 (norse's SuperSpike alpha = 0, g' = 1)
    was never reached (the solver works in log space) and convert found nothing."""
    import numpy as np

    from spikegrad._convert import convert

    found = [c for c in convert(source, params, lib) if c.exact]
    assert [(c.target, c.params) for c in found] == [(target, want)]
    x = np.linspace(-4, 4, 801)
    np.testing.assert_array_equal(spikegrad.get(target, **want).derivative(x),
                                  np.ones_like(x))  # the closed form at 0: 1 / (1 + 0)^2


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


# -- command-line errors: one line, the closest valid choices, exit status 2 --------------------


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a failed command wrote to stderr (and nothing on stdout)."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_accuracy_takes_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accuracy", "atan"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert "atan" in rows and "sigmoid" not in rows
    assert main(["accuracy", "snntorch:atan", "erf"]) == 0  # an alias reports its canonical
    out = capsys.readouterr().out
    assert "atan" in out and "erf" in out and "all within" in out and "sigmoid" not in out
    assert main(["accuracy", "atann"]) == 2
    line = _error_line(capsys)
    assert line.startswith("spikegrad accuracy: unknown surrogate 'atann'")
    assert "did you mean 'atan'" in line


def test_accuracy_of_a_surrogate_without_goldens_is_an_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("stochastic_spike_operator", "dsr_if"):
        assert main(["accuracy", name]) == 2
        assert f"{name} has no golden vectors" in _error_line(capsys)


def test_library_typo_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["list", "--library", "snntroch"], ["convert", "atan", "--to", "snntroch"]):
        assert main(argv) == 2
        line = _error_line(capsys)
        assert line.startswith(f"spikegrad {argv[0]}: unknown library 'snntroch'; "
                               "did you mean 'snntorch'?"), line
        assert "(libraries: arcana, " in line and "spyx)" in line


def test_surrogate_typo_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["show", "atann"], ["cite", "atann"], ["plot", "atann"],
                 ["plot", "sigmoid", "--compare", "atann(alpha=3)"],
                 ["convert", "atann", "--to", "snntorch"]):
        assert main(argv) == 2
        line = _error_line(capsys)
        assert line.startswith(f"spikegrad {argv[0]}: unknown surrogate 'atann'; "
                               "did you mean 'atan'"), line
        assert "spikegrad.names()" not in line  # command-line words, not the Python API's


def test_conformance_unknown_adapter_message_has_no_stray_quotes(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "numpyy"]) == 2
    line = _error_line(capsys)
    assert '"' not in line, line
    assert line.startswith("spikegrad conformance: cannot load adapter 'numpyy': "), line
    assert "no such adapter; did you mean 'numpy'" in line and "MODULE:OBJECT" in line
    assert main(["conformance", "spikegrad:no_such_object"]) == 2
    assert "has no attribute 'no_such_object'" in _error_line(capsys)


def test_conformance_unknown_surrogate_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "numpy", "--only", "atann"]) == 2
    line = _error_line(capsys)
    assert line.startswith("spikegrad conformance: unknown surrogate 'atann'; "
                           "did you mean 'atan'"), line
    assert "spikegrad.names()" not in line


def _plotted(monkeypatch: pytest.MonkeyPatch, tmp_path, argv: list[str]):
    """Run ``spikegrad plot ARGV`` and return the matplotlib figure it drew."""
    pytest.importorskip("matplotlib")
    import spikegrad.cli

    draw = spikegrad.cli.figure
    drawn = []

    def keep(*args, **kwargs):
        drawn.append(draw(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(spikegrad.cli, "figure", keep)
    assert main(["plot", *argv, "-o", str(tmp_path / "f.png")]) == 0
    return drawn[0]


def test_plot_legend_names_parameter_values(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    fig = _plotted(monkeypatch, tmp_path, ["atan", "--compare", "sigmoid",
                                           "fast_sigmoid(k=10)", "snntorch:atan(alpha=3)"])
    legend = fig.axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "atan (alpha=2)", "sigmoid (alpha=4)", "fast_sigmoid (k=10)", "snntorch:atan (alpha=3)"]
    fig = _plotted(monkeypatch, tmp_path, ["atan", "alpha=0.5"])
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["atan (alpha=0.5)"]


def test_plot_axes_have_labels() -> None:
    pytest.importorskip("matplotlib")
    from spikegrad._plot import figure

    fig = figure([spikegrad.get("atan"), spikegrad.get("sparse_fast_sigmoid")])
    left, right = fig.axes
    assert left.get_title() == "primitive g(x) (smooth stand-in for the spike)"
    assert right.get_title() == "surrogate gradient g'(x)"
    for ax in (left, right):
        assert ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in right.get_legend().get_texts()] == [
        "atan (alpha=2)", "sparse_fast_sigmoid (slope=25, B=1)"]
    # a surrogate with no primitive is drawn as its spike, and the left panel says so
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "sparse_fast_sigmoid: the spike (no primitive)"]


def test_param_not_a_number_is_a_cli_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", "atan", "alpha=abc"]) == 2
    assert _error_line(capsys) == ("spikegrad plot: alpha=abc: not a number (expected "
                                   "PARAM=VALUE with a number, e.g. alpha=2.0)")
    assert main(["convert", "atan", "alpha=abc", "--to", "snntorch"]) == 2
    assert _error_line(capsys).startswith("spikegrad convert: alpha=abc: not a number")
    assert main(["plot", "atan", "--compare", "fast_sigmoid(k=abc)"]) == 2
    assert _error_line(capsys).startswith("spikegrad plot: k=abc: not a number")


def test_param_without_equals_is_a_cli_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", "atan", "alpha"]) == 2
    assert _error_line(capsys) == ("spikegrad plot: alpha: expected PARAM=VALUE, "
                                   "e.g. alpha=2.0")
    assert main(["plot", "atan", "=2"]) == 2
    assert _error_line(capsys).startswith("spikegrad plot: =2: expected PARAM=VALUE")


def test_unknown_param_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", "atan", "alfa=2"]) == 2
    assert _error_line(capsys) == ("spikegrad plot: unknown parameter 'alfa' of atan; "
                                   "did you mean 'alpha'? (parameters: alpha)")
    assert main(["convert", "straight_through", "alpha=2", "--to", "snntorch"]) == 2
    assert "straight_through takes no parameters" in _error_line(capsys)


def test_param_out_of_domain_passes_the_library_message(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", "atan", "alpha=-1"]) == 2
    line = _error_line(capsys)
    assert line.startswith("spikegrad plot: atan: alpha must be in [1e-06, 1e+06]"), line
    assert line.endswith("got -1.0")
    assert main(["plot", "heaviside_window", "inclusive=maybe"]) == 2
    assert _error_line(capsys).startswith("spikegrad plot: inclusive=maybe: not True or False")


def test_multistep_surrogate_is_not_plotted_or_converted(
        capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["plot", "dsr_if"], ["convert", "dsr_if", "--to", "snntorch"]):
        assert main(argv) == 2
        assert _error_line(capsys).startswith(
            f"spikegrad {argv[0]}: dsr_if is a multi-step surrogate")
