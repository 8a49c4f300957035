"""The generated pages hold what they promise, read from the built site: table cells are
whole (formulas with ``|`` included), every surrogate page has runnable "Use it" snippets,
the multi-step entries have pages of their own, and the catalogue index is a table by
family."""

from __future__ import annotations

import html
import importlib.util
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import spikegrad

ROOT = Path(__file__).resolve().parent.parent
PEERS = ("snntorch", "spikingjelly", "braintools")

#: the cells a formula with an absolute value used to cut (library, alias name)
ABSOLUTE_VALUES = [("spyx", "triangular"), ("spyx", "boxcar"),
                   *((lib, n) for lib in ("braintools", "brainstate")
                     for n in ("SlayerGrad", "QPseudoSpike", "PiecewiseLeakyRelu"))]
PAGES_WITH_ABSOLUTE_VALUES = ("triangle", "piecewise_exp", "piecewise_leaky_relu",
                              "q_pseudo_spike", "rect")


@pytest.fixture(scope="module")
def ext() -> ModuleType:
    """The docs extension (it imports sphinx)."""
    pytest.importorskip("sphinx", reason="the docs extra: pip install -e '.[docs]'")
    path = ROOT / "docs" / "_ext" / "spikegrad_docs.py"
    spec = importlib.util.spec_from_file_location("spikegrad_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("spikegrad_docs", module)
    spec.loader.exec_module(module)
    return module


def _text(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


class _Tables(HTMLParser):
    """Every table of a page as rows of (cell text, colspan)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[tuple[str, int]]]] = []
        self._cell: list[str] | None = None
        self._span = 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell, self._span = [], int(dict(attrs).get("colspan") or 1)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append((" ".join("".join(self._cell).split()), self._span))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(page: Path) -> list[list[list[tuple[str, int]]]]:
    parser = _Tables()
    parser.feed(page.read_text())
    return parser.tables


def _cells(page: Path) -> list[str]:
    return [c for t in _tables(page) for r in t for c, _ in r]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _section(page: Path, anchor: str) -> str:
    text = page.read_text()
    start = text.index(f'<section id="{anchor}">')
    depth, pos = 0, start
    for m in re.finditer(r"<(/?)section\b", text[start:]):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            pos = start + m.end()
            break
    return text[start:pos]


def _code_blocks(fragment: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", b))
            for b in re.findall(r'<div class="highlight"><pre>(.*?)</pre>', fragment, re.S)]


def test_no_table_cell_is_cut(site: Path) -> None:
    pages = [site / "generated" / "translation.html", site / "choosing.html",
             site / "generated" / "surrogates" / "index.html",
             *(site / "generated" / "surrogates" / f"{n}.html"
               for n in (*spikegrad.names(user=False), *spikegrad.multistep_names()))]
    for page in pages:
        for table in _tables(page):
            widths = {sum(span for _, span in row) for row in table}
            assert len(widths) == 1, (page.name, widths)
            for row in table:
                for text, _ in row:
                    assert "`" not in text, (page.name, text)
    translation = _cells(site / "generated" / "translation.html")
    for lib, local in ABSOLUTE_VALUES:
        mapping = _squash(spikegrad.entry(f"{lib}:{local}").mapping_doc)
        assert "|" in mapping, (lib, local)
        assert mapping in translation, (lib, local, mapping)
    triangular = [c for c in translation if c.startswith("triangle(height = 1, half_width = 1/k)")]
    assert triangular and "|kx|" in triangular[0], triangular
    for name in PAGES_WITH_ABSOLUTE_VALUES:
        cells = _cells(site / "generated" / "surrogates" / f"{name}.html")
        cut = [a for a in spikegrad.aliases(name) if "|" in spikegrad.entry(a).mapping_doc]
        assert cut, name
        for alias in cut:
            assert _squash(spikegrad.entry(alias).mapping_doc) in cells, (name, alias)
    # every mapping with an absolute value, wherever it is shown
    for alias in spikegrad.aliases():
        mapping = _squash(spikegrad.entry(alias).mapping_doc)
        if "|" in mapping:
            assert mapping in translation, alias


def test_cell_check_fails_on_a_stray_backtick(ext: ModuleType) -> None:
    good = ext.table(["library", "computes"], [["spyx", ext.code("max(0, 1 - |kx|)")]])
    assert ext.check_tables("\n".join(good)) == []
    assert "\\|kx\\|" in good[-1]
    stray = "| library | computes |\n|---|---|\n| spyx | `max(0, 1 - |kx|)` |\n"
    problems = ext.check_tables(stray)
    assert problems and any("backtick" in p for _, p in problems), problems
    assert problems[0][0] == 3  # the line of the cut row
    too_many = "| a | b |\n|---|---|\n| 1 | 2 | 3 |\n"
    assert any("3 cells" in p for _, p in ext.check_tables(too_many))
    fenced = "```\n| a | b |\n|---|---|\n| `x |\n```\n"
    assert ext.check_tables(fenced) == []  # code blocks hold no tables


def _doctree_table(rows: list[list[tuple[str, int]]]) -> Any:
    """A docutils table of two columns; a cell is (text, rows it spans below)."""
    from docutils import nodes

    table = nodes.table()
    group = nodes.tgroup(cols=2)
    table += group
    group += nodes.colspec()
    group += nodes.colspec()
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for text, below in cells:
            entry = nodes.entry("", nodes.paragraph("", text))
            if below:
                entry["morerows"] = below
            row += entry
        body += row
    return table


def test_the_doctree_check_reports_a_stray_backtick(ext: ModuleType) -> None:
    cut = _doctree_table([[("a", 0), ("b", 0)], [("`max(0, 1 - ", 0)]])
    problems = ext.doctree_table_problems(cut)
    assert any("backtick" in p for _, p in problems), problems
    assert any("1 of 2" in p for _, p in problems), problems
    spanning = _doctree_table([[("a", 1), ("b", 0)], [("c", 0)]])  # a spans two rows
    assert ext.doctree_table_problems(spanning) == []


def _snippets(site: Path, name: str) -> dict[str, str]:
    """The "Use it" code blocks of a page, by what they use."""
    page = site / "generated" / "surrogates" / f"{name}.html"
    blocks = _code_blocks(_section(page, "use-it"))
    out: dict[str, str] = {}
    for code in blocks:
        if "spike_grad=" in code:
            out["snntorch"] = code
        elif "surrogate_function=" in code:
            out["spikingjelly"] = code
        elif "spk_fun" in code:
            out["braintools"] = code
        elif "import spikegrad.torch" in code:
            out["torch"] = code
        elif "import spikegrad.jax" in code:
            out["jax"] = code
    return out


def _one_line(code: str) -> str:
    """``code`` with calls written one argument a line joined into one line."""
    code = re.sub(r",\n\s*\)", ")", code)
    code = re.sub(r"\(\n\s*", "(", code)
    return re.sub(r",\n\s+", ", ", code)


def _run(code: str) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    exec(compile(code, "<snippet>", "exec"), scope)  # the page's own code
    return scope


def _compat(code: str) -> str:
    """The snippet with the peer's surrogate module replaced by spikegrad.compat's (the
    line the snippet shows as a comment)."""
    lines = code.splitlines()
    alt = [ln for ln in lines if ln.startswith("# or") and "spikegrad.compat" in ln]
    if not alt:
        return code
    swap = alt[0].split(": ", 1)[1]
    module = swap.rsplit(" as ", 1)[-1]
    out = [swap if re.search(rf"\bas {module}$|import {module}$", ln) and "compat" not in ln
           else ln for ln in lines]
    return "\n".join(out)


def test_every_page_has_use_it_snippets(site: Path, ext: ModuleType) -> None:
    torch = pytest.importorskip("torch")
    for name in spikegrad.names(user=False):
        snippets = _snippets(site, name)
        assert set(snippets) == {"torch", "jax", *PEERS}, (name, set(snippets))
        flat = {k: _one_line(v) for k, v in snippets.items()}
        e = spikegrad.entry(name)
        assert f'sgt.spike(x, "{name}"' in flat["torch"], name
        assert f'sgt.Surrogate("{name}"' in flat["torch"], name
        assert f'sgj.spike(x, "{name}"' in flat["jax"], name
        for p in e.params:  # every default, as the registry has it
            assert f"{p.name}={ext.py_value(p.default)}" in snippets["torch"], (name, p.name)
        for lib in PEERS:
            found = ext.peer_equivalent(name, lib)
            code = flat[lib]
            if found is not None:
                alias, params, _ = found
                local = alias.split(":", 1)[1]
                assert f"surrogate.{local}(" in code, (name, lib, code)
                for k, v in params.items():
                    assert f"{k}={ext.py_value(v)}" in code, (name, lib, k)
            else:
                assert "Surrogate(" in code and f'"{name}"' in code, (name, lib, code)
        # the torch block runs for every page, the spike carries g'
        scope = _run(snippets["torch"])
        x = scope["x"]
        assert x.grad is not None and torch.isfinite(x.grad).all(), name
        if not e.stochastic:
            expected = spikegrad.get(name).derivative(x.detach().numpy())
            assert torch.allclose(x.grad, torch.as_tensor(expected), equal_nan=True), name


@pytest.mark.parametrize("name", ["atan", "triangle", "rect", "stochastic_spike_operator",
                                  "heaviside_window", "multi_level_spike_count"])
def test_a_few_pages_run_every_spikegrad_block(site: Path, name: str) -> None:
    pytest.importorskip("jax")
    import numpy as np

    snippets = _snippets(site, name)
    scope = _run(snippets["jax"])
    assert np.all(np.isfinite(np.asarray(scope["grad"]))), name
    if not spikegrad.entry(name).stochastic:
        expected = spikegrad.get(name).derivative(np.asarray(scope["x"]))
        np.testing.assert_allclose(np.asarray(scope["grad"]), expected, rtol=1e-6)
    for lib in PEERS:  # the drop-in line runs spikegrad.compat's object in the peer's place
        pytest.importorskip({"braintools": "jax"}.get(lib, "torch"))
        code = snippets[lib]
        needs = {"snntorch": "snntorch", "spikingjelly": "spikingjelly"}.get(lib)
        if needs is not None and importlib.util.find_spec(needs) is None:
            continue
        _run(_compat(code))


def test_multistep_entries_have_pages_with_plot_and_bibtex(site: Path) -> None:
    index = (site / "generated" / "surrogates" / "index.html").read_text()
    for name in spikegrad.multistep_names():
        page = site / "generated" / "surrogates" / f"{name}.html"
        assert page.exists(), name
        text = page.read_text()
        e = spikegrad.entry(name)
        assert f"_images/{name}.png" in text, name
        assert (site / "_images" / f"{name}.png").stat().st_size > 5000
        for p in e.params:
            assert f'<span class="pre">{p.name}</span>' in text, (name, p.name)
        for part in e.latex.values():  # every formula, as the entry has it
            assert html.escape(part, quote=False) in text, (name, part)
        bib = spikegrad.get(name).cite()
        if bib:
            assert "highlight-bibtex" in text, name
            key = re.search(r"@\w+\{([^,]+),", bib)
            assert key is not None and key.group(1) in text, name
        assert f'href="{name}.html"' in index, name
        code = _code_blocks(_section(page, "use-it"))
        assert any(f'"{name}"' in c and "import spikegrad.torch" in c for c in code), name


def _unmath(text: str) -> str:
    """A cell's text without the inline-math delimiters MathJax reads."""
    return text.replace("\\(", "").replace("\\)", "").strip()


def test_catalogue_index_is_a_table_by_family(site: Path) -> None:
    import numpy as np

    page = site / "generated" / "surrogates" / "index.html"
    text = page.read_text()
    tables = _tables(page)
    assert len(tables) >= 5  # one per family
    rows = {}
    for table in tables:
        head = [_unmath(c) for c, _ in table[0]]
        assert head[0] == "surrogate", head
        for row in table[1:]:
            rows[row[0][0]] = dict(zip(head, (_unmath(c) for c, _ in row), strict=True))
    for name in spikegrad.names(user=False):
        assert name in rows, name
        row = rows[name]
        assert f'href="{name}.html"' in text, name
        assert {"description", "g'(0)", "peak g'", "support", "defaults"} <= set(row), row
        b = spikegrad.get(name)
        assert row["peak g'"] == f"{b.peak:.6g}", (name, row)
        if not b.entry.formula.stochastic_backward:
            g0 = float(b.derivative(np.zeros(1))[0])
            assert row["g'(0)"] == f"{g0:.6g}", (name, row)
        for p in b.entry.params:
            assert p.name in row["defaults"], (name, p.name)
        assert row["description"], name
    assert rows["atan"]["support"] == "ℝ"
    assert rows["triangle"]["support"].replace(" ", "") in ("[−1,1]", "[-1,1]")
    for name in spikegrad.multistep_names():
        assert name in rows, name
    # the overview is a gallery of readable thumbnails, each linking to its page
    overview = (site / "overview.html").read_text()
    for name in spikegrad.names(user=False):
        if not spikegrad.entry(name).stochastic:
            assert re.search(rf'href="generated/surrogates/{name}.html"[^>]*>(?:<span[^>]*>)?'
                             rf'<img[^>]+thumb_{name}\.png', overview), name
    assert "_images/overview.png" in overview  # g' by family, a legend per panel
