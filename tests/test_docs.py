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
    assert "spikegrad.get" in (site / "generated" / "api" / "spikegrad.html").read_text()
    assert "DSRIFNode" in (site / "generated" / "api" / "spikegrad.torch.html").read_text()


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


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


def test_landing_page_has_install_and_examples_that_run() -> None:
    """The landing page shows the install lines (with PyTorch's CPU wheel index) and a
    torch and a jax example; the examples run as written."""
    page = ROOT / "docs" / "index.md"
    text = page.read_text()
    assert "pip install -e ." in text
    assert "--index-url https://download.pytorch.org/whl/cpu" in text
    blocks = _python_blocks(page)
    assert any("spikegrad.torch" in b for b in blocks)
    assert any("spikegrad.jax" in b for b in blocks)
    for block in blocks:
        framework = "torch" if "spikegrad.torch" in block else "jax"
        pytest.importorskip(framework)
        exec(compile(block, f"docs/index.md ({framework})", "exec"), {"__name__": "landing"})


def test_api_reference_lists_every_public_name(site: Path) -> None:
    """Every name in every public module's ``__all__`` has an entry (an anchor) in the API
    reference, and every module the README imports is a public module there."""
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    import spikegrad_api

    missing = []
    for module in spikegrad_api.PUBLIC_MODULES:
        html = (site / "generated" / "api" / f"{module}.html").read_text()
        for name in spikegrad_api.public_names(module):
            if f'id="{module}.{name}"' not in html:
                missing.append(f"{module}.{name}")
    assert missing == []
    readme = (ROOT / "README.md").read_text()
    public = set(spikegrad_api.PUBLIC_MODULES)
    undocumented = [m for m in re.findall(r"^\s*import (spikegrad[\w.]*)", readme, re.M)
                    if m not in public]
    for module, names in re.findall(r"^\s*from (spikegrad[\w.]*) import ([\w, ]+)", readme,
                                    re.M):
        for name in (n.split(" as ")[0].strip() for n in names.split(",")):
            if f"{module}.{name}" not in public and (
                    module not in public or name not in spikegrad_api.public_names(module)):
                undocumented.append(f"{module}.{name}")
    assert undocumented == []


def test_code_blocks_have_copy_buttons(site: Path) -> None:
    html = (site / "index.html").read_text()
    assert "copybutton" in html


def broken_links(site: Path) -> list[str]:
    """Every internal link of the built site (``href`` and ``src`` to a file of the site,
    with its ``#anchor``) that does not resolve: the offline link check."""
    from html.parser import HTMLParser
    from urllib.parse import unquote, urlsplit

    class _Page(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.ids: set[str] = set()
            self.links: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            for key, value in attrs:
                if key in ("id", "name") and value:
                    self.ids.add(value)
                elif key in ("href", "src") and value and tag in ("a", "img", "link", "script"):
                    self.links.append(value)

    pages: dict[Path, _Page] = {}

    def parsed(path: Path) -> _Page:
        if path not in pages:
            p = _Page()
            p.feed(path.read_text(errors="replace"))
            pages[path] = p
        return pages[path]

    broken = []
    for html in sorted(site.rglob("*.html")):
        if "_static" in html.parts or "_modules" in html.parts:
            continue
        for link in parsed(html).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "mailto:", "javascript:")):
                continue
            target = (html.parent / unquote(parts.path)).resolve() if parts.path else html
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{html.relative_to(site)} -> {link} (no such file)")
            elif parts.fragment and target.suffix == ".html" and \
                    unquote(parts.fragment) not in parsed(target).ids:
                broken.append(f"{html.relative_to(site)} -> {link} (no such anchor)")
    return broken


def test_every_internal_link_resolves(site: Path) -> None:
    assert broken_links(site) == []


def test_link_check_finds_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text('<a href="b.html#there">b</a><a href="c.html">c</a>'
                                     '<p id="here"></p><a href="#here">self</a>')
    (tmp_path / "b.html").write_text('<p id="elsewhere"></p>')
    assert broken_links(tmp_path) == ["a.html -> b.html#there (no such anchor)",
                                      "a.html -> c.html (no such file)"]
