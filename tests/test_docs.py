"""The documentation site builds with warnings as errors (its tutorials run during the
build) and its pages hold what they promise: a page per canonical surrogate with a plot and
a BibTeX block, every alias in the translation table, math served from a local MathJax."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import spikegrad

ROOT = Path(__file__).resolve().parent.parent


def test_every_surrogate_has_a_page_with_plot_and_bibtex(site: Path) -> None:
    for name in spikegrad.names(user=False):
        page = site / "generated" / "surrogates" / f"{name}.html"
        assert page.exists(), name
        html = page.read_text()
        b = spikegrad.get(name)
        if not b.stochastic:
            assert f"_images/{name}.png" in html, name
            assert (site / "_images" / f"{name}.png").stat().st_size > 5000
        if b.cite():
            assert "highlight-bibtex" in html and "@" in html, name
        for p in b.entry.params:
            assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">"\
                   f"{p.name}</span></code>" in html, (name, p.name)


def test_translation_table_lists_every_alias(site: Path) -> None:
    html = (site / "generated" / "translation.html").read_text()
    rows = [re.sub(r"<[^>]+>", " ", r) for r in re.findall(r"<tr.*?</tr>", html, re.S)]
    for alias in spikegrad.aliases():
        lib, local = alias.split(":", 1)
        assert any(f" {lib} " in r and f"{local}(" in r for r in rows), alias


def test_math_is_served_locally(site: Path) -> None:
    html = (site / "generated" / "surrogates" / "atan.html").read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert any("_static/mathjax/es5/tex-mml-chtml.js" in s for s in scripts)
    assert not [s for s in scripts if s.startswith(("http:", "https:", "//"))]
    assert (site / "_static" / "mathjax" / "es5" / "tex-mml-chtml.js").exists()
    assert (site / "searchindex.js").exists()  # search works offline too


def test_tutorials_and_guides_are_built(site: Path) -> None:
    for page in ("overview", "choosing", "compat", "certify", "api", "tutorials/dsr",
                 "tutorials/define_your_own", "tutorials/learnable",
                 "tutorials/torch_and_jax"):
        assert (site / f"{page}.html").exists(), page
    api = (site / "api.html").read_text()
    assert "spikegrad.get" in api and "DSRIFNode" in api


def test_math_renders_in_a_browser(site: Path) -> None:
    """Headless Chromium (system package; skipped without it): MathJax rendered every
    formula of a surrogate page from the local copy, with no raw TeX left."""
    import shutil

    if not any(shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no Chromium here (apt-get install chromium)")
    sys.path.insert(0, str(ROOT / "docs"))
    import screenshots

    n, raw = screenshots.rendered_math(site / "generated" / "surrogates" / "atan.html")
    assert n >= 5 and raw == []
