"""The tutorials run during the build and show what they print and draw: every page has
output after its code, the peer networks train a learnable α, torch and jax give the same
losses; a warning or an exception raised by a tutorial is a build warning (an error under
``-W``)."""

from __future__ import annotations

import html as html_lib
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted(p.stem for p in (ROOT / "docs" / "tutorials").glob("*.md")
                   if p.stem != "index")
FLOAT = r"[-+]?\d+\.\d+(?:e[-+]?\d+)?"


def _runner() -> Any:
    pytest.importorskip("sphinx", reason="the docs extra: pip install -e '.[docs]'")
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        import spikegrad_tutorials
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    return spikegrad_tutorials


def _outputs(page: str) -> list[str]:
    """The text of every output block of a built page, in order."""
    blocks = re.findall(r'<div class="[^"]*tutorial-output[^"]*"[^>]*>(.*?)</pre>', page,
                        re.S)
    return [html_lib.unescape(re.sub(r"<[^>]+>", "", b)) for b in blocks]


def _page(site: Path, name: str) -> str:
    return (site / "tutorials" / f"{name}.html").read_text()


class _Logger:
    """Stands in for the extension's Sphinx logger: records what it is told."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.warnings.append(msg % args)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.infos.append(msg % args)


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> tuple[str, _Logger]:
    """The runner on a fake page ``tutorials/fake``: the page's new source and the log."""
    runner = _runner()
    logger = _Logger()
    monkeypatch.setattr(runner, "LOGGER", logger)
    (tmp_path / "src" / "tutorials").mkdir(parents=True)
    app = SimpleNamespace(srcdir=str(tmp_path / "src"), doctreedir=str(tmp_path / "doctrees"))
    source = [text]
    runner.run_tutorial(app, "tutorials/fake", source)
    return source[0], logger


def test_tutorial_output_is_captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = "# Fake\n\n```python\nx = 6 * 7\nprint('the answer is', x)\n```\n\nAfter.\n"
    out, log = _run(monkeypatch, tmp_path, text)
    assert log.warnings == []
    code_end = out.index("print('the answer is', x)\n```") + len("print('the answer is', x)\n```")
    rest = out[code_end:]
    assert "tutorial-output" in rest and rest.index("the answer is 42") < rest.index("After.")


def test_tutorial_figure_is_saved_and_shown(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    text = ("```python\nimport matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\n"
            "plt.show()\n```\n")
    out, log = _run(monkeypatch, tmp_path, text)
    assert log.warnings == []
    images = re.findall(r"```\{image\} (\S+)", out)
    assert len(images) == 1
    png = (tmp_path / "src" / "tutorials" / images[0]).resolve()
    assert png.suffix == ".png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tutorial_warning_fails_the_build(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    text = ("```python\nimport warnings\nwarnings.warn('a tutorial must not warn', "
            "UserWarning)\nprint('still runs')\n```\n\n```python\nprint('next block')\n```\n")
    out, log = _run(monkeypatch, tmp_path, text)
    assert len(log.warnings) == 1, log.warnings
    assert "UserWarning" in log.warnings[0] and "a tutorial must not warn" in log.warnings[0]
    assert "tutorials/fake[block 1]" in log.warnings[0]
    assert "still runs" in out and "next block" in out  # reported, and the page goes on


def test_tutorial_exception_fails_the_build(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    text = ("```python\nprint('before')\nraise RuntimeError('boom')\n```\n\n"
            "```python\nprint('never')\n```\n")
    out, log = _run(monkeypatch, tmp_path, text)
    assert len(log.warnings) == 1 and "RuntimeError: boom" in log.warnings[0]
    assert "before" in out and "never" not in out.split("```python\nprint('never')")[1]


def test_tutorials_show_output(site: Path) -> None:
    index = (site / "tutorials" / "index.html").read_text()
    for name in TUTORIALS:
        assert f'href="{name}.html"' in index, name  # every tutorial is in the toctree
        page = _page(site, name)
        code = page.find("highlight-python")
        output = page.find("tutorial-output")
        assert code != -1 and output > code, name
        assert any(o.strip() for o in _outputs(page)), name


def _losses_and_alphas(text: str) -> tuple[list[float], list[float]]:
    losses = [float(v) for v in re.findall(rf"loss ({FLOAT})", text)]
    alphas = [float(v) for v in re.findall(rf"alpha ({FLOAT})", text)]
    return losses, alphas


def _check_peer_tutorial(site: Path, name: str, neuron: str) -> str:
    """The peer's neuron fed a surrogate of ``spikegrad.compat.<peer>``; the printed losses
    fall and α starts at 2.0 and moves.  Returns the page."""
    page = _page(site, name)
    code = html_lib.unescape(re.sub(r"<[^>]+>", "", page))
    assert neuron in code and f"from spikegrad.compat import {name} as surrogate" in code
    losses, alphas = _losses_and_alphas("\n".join(_outputs(page)))
    assert len(losses) >= 4 and min(losses[1:]) < losses[0], losses
    assert alphas[0] == 2.0 and abs(alphas[-1] - 2.0) > 0.05, alphas
    return code


def test_snntorch_tutorial_trains_learnable_alpha(site: Path) -> None:
    assert "spike_grad=" in _check_peer_tutorial(site, "snntorch", "snn.Leaky(")


def test_spikingjelly_tutorial_trains_learnable_alpha(site: Path) -> None:
    code = _check_peer_tutorial(site, "spikingjelly", "neuron.LIFNode(")
    assert "surrogate_function=" in code and "functional.reset_net(" in code


def test_torch_and_jax_losses_agree(site: Path) -> None:
    text = "\n".join(_outputs(_page(site, "torch_and_jax")))
    seqs = {}
    for fw in ("torch", "jax"):
        m = re.search(rf"^{fw} losses:((?:\s+{FLOAT})+)\s*$", text, re.M)
        assert m, (fw, text)
        seqs[fw] = np.array([float(v) for v in m.group(1).split()])
    assert len(seqs["torch"]) == len(seqs["jax"]) >= 5
    np.testing.assert_allclose(seqs["torch"], seqs["jax"], rtol=1e-5)
    assert seqs["torch"][-1] < seqs["torch"][0]  # it trains


def test_learnable_tutorial_shows_the_domain_check(site: Path) -> None:
    text = "\n".join(_outputs(_page(site, "learnable")))
    assert re.search(r"ValueError: .*alpha must be in", text), text
    assert len(re.findall(rf"alpha ({FLOAT})", text)) >= 4


def test_define_your_own_tutorial_certifies(site: Path) -> None:
    text = "\n".join(_outputs(_page(site, "define_your_own")))
    assert re.search(r"tutorial:box\s+ok", text), text
    assert "self_consistency" in text  # the wrong primitive is caught
