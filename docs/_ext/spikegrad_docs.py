"""Sphinx extension: the pages generated from spikegrad's definitions, and tutorials that
run during the build.

On ``builder-inited`` it writes ``generated/`` (ignored by git): one page per canonical
surrogate (formula, plot, parameters, peak and area, rules, aliases with their mappings and
notes, measured accuracy, references with BibTeX), the catalogue index, the translation
table, the peers' defaults side by side and the overview figure.  Nothing is retyped: every
value comes from the definitions, the aliases and the shipped golden vectors.

The tutorials run in ``spikegrad_tutorials.py``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from sphinx.util import logging

import spikegrad

LOGGER = logging.getLogger(__name__)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "—" if v is None else str(v)


def _family(e: Any) -> str:
    return e.formula.derivative.__module__.rsplit(".", 1)[-1]


def _param_sets() -> dict[str, list[dict[str, Any]]]:
    from spikegrad.conformance import goldens

    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in goldens.cases():
        if case.params not in out[case.name]:
            out[case.name].append(case.params)
    return out


def _plots(out: Path, names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikegrad._plot import figure, half_width

    sets = _param_sets()
    for name in names:
        e = spikegrad.entry(name)
        if e.stochastic:
            continue
        params = sets.get(name) or [{}]
        bounds = [spikegrad.get(name, **p) for p in params]
        labels = [", ".join(f"{k}={_fmt(v)}" for k, v in p.items()) or "default"
                  for p in params]
        fig = figure(bounds, labels)
        fig.savefig(out / f"{name}.png", dpi=110)
        plt.close(fig)
    # the overview: every deterministic surrogate, by family
    fams: dict[str, list[str]] = defaultdict(list)
    for name in names:
        if not spikegrad.entry(name).stochastic:
            fams[_family(spikegrad.entry(name))].append(name)
    import numpy as np

    cols = 6
    rows = sum((len(v) + cols - 1) // cols for v in fams.values())
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 2.0),
                             constrained_layout=True, squeeze=False)
    r = 0
    for fam, members in fams.items():
        for i, name in enumerate(members):
            ax = axes[r + i // cols][i % cols]
            b = spikegrad.get(name)
            width = half_width(b)
            x = np.linspace(-width, width, 801)
            ax.plot(x, b.derivative(x), color="C1")
            if b.has_primitive:
                ax.plot(x, b.primitive(x), color="C0", lw=0.8)
            ax.set_title(f"{name}  [{fam}]", fontsize=8)
            ax.tick_params(labelsize=6)
        for j in range(len(members), ((len(members) + cols - 1) // cols) * cols):
            axes[r + j // cols][j % cols].axis("off")
        r += (len(members) + cols - 1) // cols
    fig.savefig(out / "overview.png", dpi=90)
    plt.close(fig)


def _accuracy() -> dict[str, Any]:
    from spikegrad.conformance.accuracy import accuracy_table

    return {row.name: row for row in accuracy_table(native=False)}


def _surrogate_page(name: str, accuracy: dict[str, Any]) -> str:
    e = spikegrad.entry(name)
    b = e.bind()
    lines = [f"(surrogate-{name})=", f"# {name}", "", e.summary, ""]
    lines += ["## Formula", ""]
    if e.latex_primitive:
        lines += ["$$", e.latex_primitive, "$$", ""]
    else:
        lines += ["(no primitive)", ""]
    lines += ["$$", e.latex_derivative, "$$", ""]
    if not e.stochastic:
        lines += [f"```{{image}} ../img/{name}.png", f":alt: g and g' of {name}", "```", "",
                  "Left: $g$; right: $g'$, for the default and the other golden parameter "
                  "sets.", ""]
    lines += ["## Parameters", "", "| parameter | default | domain | meaning |",
              "|---|---|---|---|"]
    for p in e.params:
        lines.append(f"| `{p.name}` | {_fmt(p.default)} | {p.domain.text} | {p.doc} |")
    if not e.params:
        lines.append("| (none) | | | |")
    lines += ["", f"Peak $g'$ = {_fmt(b.peak)}; area $\\int g'$ = {_fmt(b.area)}.", ""]
    for label, text in (("Boundary", e.boundary), ("Limits", e.limits), ("Notes", e.notes)):
        if text:
            lines += [f"**{label}:** {text}", ""]
    row = accuracy.get(name)
    if row is not None:
        lines += ["## Accuracy of the reference engine", "",
                  "Max ULP error against the golden vectors (mpmath, 50 digits) in the core "
                  "range $|x \\cdot \\mathrm{scale}| \\le 10$:", "",
                  "| input dtype | $g'$ | $g$ |", "|---|---|---|"]
        for d in ("float16", "float32", "float64"):
            lines.append(f"| {d} | {_fmt(row.d.get(d))} | {_fmt(row.g.get(d))} |")
        lines.append("")
    als = spikegrad.aliases(name)
    lines += ["## In other libraries", ""]
    if als:
        lines += ["| library name | parameters (defaults) | computes | notes |",
                  "|---|---|---|---|"]
        for a in als:
            ae = spikegrad.entry(a)
            params = ", ".join(f"{p.name}={_fmt(p.default)}" for p in ae.params) or "—"
            notes = (ae.notes or "").replace("|", "\\|")
            lines.append(f"| `{a}` | {params} | `{ae.mapping_doc}` | {notes} |")
    else:
        lines.append("No peer library has this surrogate under a name of its own.")
    lines += ["", "## References", ""]
    refs = b.references
    lines += [f"- {r}" for r in refs] or ["(none published)"]
    bib = b.cite()
    if bib:
        lines += ["", "```bibtex", bib, "```"]
    return "\n".join(lines) + "\n"


def _translation(names: list[str]) -> str:
    lines = ["# Translation between libraries", "",
             "For each surrogate, every library's name for the same function, with its "
             "parameters and defaults and the exact mapping onto spikegrad's parameters "
             "(`spikegrad convert SOURCE PARAM=VALUE --to LIBRARY` solves for the "
             "parameters).", ""]
    for name in names:
        als = spikegrad.aliases(name)
        if not als:
            continue
        lines += [f"## [{name}](surrogates/{name}.md)", "",
                  "| library | name (defaults) | computes |", "|---|---|---|"]
        for a in als:
            ae = spikegrad.entry(a)
            lib, _, local = a.partition(":")
            params = ", ".join(f"{p.name}={_fmt(p.default)}" for p in ae.params)
            lines.append(f"| {lib} | `{local}({params})` | `{ae.mapping_doc}` |")
        lines.append("")
    return "\n".join(lines)


def _defaults(names: list[str]) -> str:
    libs = sorted({a.split(":", 1)[0] for a in spikegrad.aliases()})
    head = "| surrogate | " + " | ".join(libs) + " |"
    lines = [head, "|" + "---|" * (len(libs) + 1)]
    for name in names:
        cells = []
        for lib in libs:
            found = [a for a in spikegrad.aliases(name) if a.startswith(lib + ":")]
            cells.append("<br>".join(
                f"`{a.split(':', 1)[1]}(" + ", ".join(
                    f"{p.name}={_fmt(p.default)}" for p in spikegrad.entry(a).params) + ")`"
                for a in found))
        # included from docs/choosing.md: links relative to it
        lines.append(f"| [{name}](generated/surrogates/{name}.md) | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines) + "\n"


def generate(app: Any) -> None:
    root = Path(app.srcdir) / "generated"
    pages, img = root / "surrogates", root / "img"
    pages.mkdir(parents=True, exist_ok=True)
    img.mkdir(parents=True, exist_ok=True)
    names = spikegrad.names(user=False)
    accuracy = _accuracy()
    index = ["# The catalogue", "",
             "Every canonical surrogate, by family, with its page.", "", "```{toctree}",
             ":maxdepth: 1", ""]
    for name in names:
        (pages / f"{name}.md").write_text(_surrogate_page(name, accuracy))
        index.append(name)
    index += ["```", ""]
    fams: dict[str, list[str]] = defaultdict(list)
    for name in names:
        fams[_family(spikegrad.entry(name))].append(name)
    for fam, members in fams.items():
        index += [f"**{fam}:** " + ", ".join(f"[{n}]({n}.md)" for n in members), ""]
    (pages / "index.md").write_text("\n".join(index))
    (root / "translation.md").write_text(_translation(names))
    (root / "defaults.md").write_text(_defaults(names))
    _plots(img, names)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
