"""Sphinx extension: the pages generated from spikegrad's definitions.

On ``builder-inited`` it writes ``generated/`` (ignored by git): one page per canonical
surrogate (formula, plot, parameters, peak and area, rules, "Use it" snippets for
spikegrad and the peers, aliases with their mappings and notes, measured accuracy,
references with BibTeX), one page per multi-step surrogate (formulas, a plot of its
spike-rate mapping and gradients, parameters, snippets, references), the catalogue index
(a table per family), the translation table, the peers' defaults side by side, the
overview figure (``g'`` by family, a legend per panel) and the overview gallery
(``gallery.inc``, included by ``overview.md``: a thumbnail per surrogate, each a link to
its page).  Nothing is retyped: every value comes from the definitions, the aliases, the
converter and the shipped golden vectors, and every figure is computed by the reference
engine.

Every table cell goes through :func:`cell` (one escaping rule: a ``|`` inside a cell,
code spans and math included, is written ``\\|``).  Each generated file is checked as it
is written (:func:`check_tables`: every row has the header's cell count, every code span
is closed), and every resolved page's tables are checked again
(:func:`doctree_table_problems`: equal cell counts, no stray backtick in the text); a
problem is a Sphinx warning, which ``-W`` makes an error.

The tutorials run in ``spikegrad_tutorials.py``.
"""

from __future__ import annotations

import importlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from docutils import nodes
from sphinx.util import logging

import spikegrad

LOGGER = logging.getLogger(__name__)

#: the peers a "Use it" section shows
PEERS = ("snntorch", "spikingjelly", "braintools")


# -- markdown: cells, tables and their check ----------------------------------------------
def cell(text: str) -> str:
    """``text`` as the content of a table cell: every ``|`` escaped.  A table splits its
    rows at every unescaped ``|``, inside code spans and math too; the table parser turns
    ``\\|`` back into ``|`` before the cell is read."""
    return text.replace("|", "\\|")


def code(text: str) -> str:
    """An inline code span holding ``text`` (a longer fence where it holds backticks)."""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plain(text: str) -> str:
    """``text`` shown as it is: markdown's inline syntax characters escaped."""
    return re.sub(r"([\\`*_\[\]<>$])", r"\\\1", text)


def row(cells: Iterable[str]) -> str:
    """One table row of markdown cells (each escaped by :func:`cell`)."""
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a markdown table: header, delimiter and rows (cells are markdown)."""
    return [row(header), "|" + "---|" * len(header), *(row(r) for r in rows)]


_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def split_row(line: str) -> list[str]:
    """A table line's cells by the table parser's rule: a ``|`` ends a cell unless a
    backslash precedes it (an escaped one stays in the cell as ``|``); an empty first and
    last piece (the enclosing pipes) are dropped."""
    cells, current, escaped = [], "", False
    for ch in line.strip():
        if ch == "|" and not escaped:
            cells.append(current)
            current = ""
        elif ch == "|":
            current = current[:-1] + ch
        else:
            current += ch
        escaped = ch == "\\"
    cells.append(current)
    if cells and cells[0] == "":
        cells.pop(0)
    if cells and cells[-1] == "":
        cells.pop()
    return cells


def stray_backtick(text: str) -> int | None:
    """The position of the first backtick run in ``text`` that opens no code span (no
    closing run of the same length follows), or ``None``."""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch != "`":
            i += 1
            continue
        run = len(text[i:]) - len(text[i:].lstrip("`"))
        closing = re.compile(rf"(?<!`)`{{{run}}}(?!`)")
        found = closing.search(text, i + run)
        if found is None:
            return i
        i = found.end()
    return None


def check_tables(markdown: str) -> list[tuple[int, str]]:
    """Problems of the tables in ``markdown`` as ``(line number, message)``: a row whose
    cell count differs from its header's (a ``|`` that should have been escaped), a cell
    with a backtick that opens no code span.  Fenced code blocks hold no tables."""
    lines = markdown.splitlines()
    problems: list[tuple[int, str]] = []
    fence: str | None = None
    i = 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        opener = re.match(r"(`{3,}|~{3,})", stripped)
        if fence is not None:
            if stripped.startswith(fence) and not stripped[len(fence):].strip():
                fence = None
            i += 1
            continue
        if opener:
            fence = opener.group(1)
            i += 1
            continue
        if ("|" in lines[i] and i + 1 < len(lines) and "-" in lines[i + 1]
                and _DELIMITER.match(lines[i + 1])):
            width = len(split_row(lines[i]))
            j = i
            while j < len(lines) and lines[j].strip():
                if j != i + 1:
                    cells = split_row(lines[j])
                    if len(cells) != width:
                        problems.append((j + 1, f"table row has {len(cells)} cells, its "
                                                f"header {width} (an unescaped '|'?)"))
                    for c in cells:
                        at = stray_backtick(c)
                        if at is not None:
                            problems.append((j + 1, f"stray backtick in table cell "
                                                    f"{c.strip()!r}"))
                j += 1
            i = j
            continue
        i += 1
    return problems


def _write(path: Path, text: str) -> None:
    """Write a generated file, warning (an error under ``-W``) about each cut table cell."""
    for line, message in check_tables(text):
        LOGGER.warning(f"generated table: {message}", location=f"{path}:{line}")
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


_VERBATIM = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.raw)


def doctree_table_problems(tree: nodes.Node) -> list[tuple[nodes.Node, str]]:
    """Problems of the tables in a resolved doctree: a row whose cells do not fill the
    table's columns, a backtick in a cell's text (outside code and math: a code span
    that a ``|`` cut open)."""
    problems: list[tuple[nodes.Node, str]] = []
    tables = [tree] if isinstance(tree, nodes.table) else list(tree.findall(nodes.table))
    for tab in tables:
        for group in tab.findall(nodes.tgroup):
            cols = int(group.get("cols", 0))
            for part in group.children:
                if not isinstance(part, (nodes.thead, nodes.tbody)):
                    continue
                spanned: list[tuple[int, int]] = []  # (rows left, columns) from above
                for r in part.children:
                    width = sum(c for _, c in spanned)
                    spanned = [(n - 1, c) for n, c in spanned if n > 1]
                    for e in r.children:
                        if isinstance(e, nodes.entry):
                            span = 1 + int(e.get("morecols", 0))
                            width += span
                            if int(e.get("morerows", 0)):
                                spanned.append((int(e["morerows"]), span))
                    if width != cols:
                        problems.append((r, f"table row fills {width} of {cols} columns"))
        for text in tab.findall(nodes.Text):
            parent = text.parent
            verbatim = False
            while parent is not None and parent is not tab:
                if isinstance(parent, _VERBATIM):
                    verbatim = True
                    break
                parent = parent.parent
            if not verbatim and "`" in text.astext():
                problems.append((text.parent or tab,
                                 f"stray backtick in table cell text {text.astext()!r}"))
    return problems


def _check_doctree(app: Any, doctree: nodes.document, docname: str) -> None:
    for node, message in doctree_table_problems(doctree):
        LOGGER.warning(message, location=node)


# -- values ------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "—" if v is None else str(v)


def _family(e: Any) -> str:
    fn = e.formula.rate_gradients if getattr(e, "multistep", False) else e.formula.derivative
    return fn.__module__.rsplit(".", 1)[-1]


def _family_doc(family: str) -> str:
    """The first sentence of the family module's docstring."""
    doc = importlib.import_module(f"spikegrad.surrogates.{family}").__doc__ or ""
    para = " ".join(doc.strip().split("\n\n", 1)[0].split())
    return para.split(". ", 1)[0].rstrip(".") + "."


def _defaults_text(e: Any) -> str:
    return ", ".join(f"{p.name}={_fmt(p.default)}" for p in e.params) or "(none)"


def _param_sets() -> dict[str, list[dict[str, Any]]]:
    from spikegrad.conformance import goldens

    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in goldens.cases():
        if case.params not in out[case.name]:
            out[case.name].append(case.params)
    return out


def _noise(b: Any) -> Any:
    """A fixed random source for a surrogate whose ``g'`` draws noise."""
    return np.random.default_rng(0) if b.entry.formula.stochastic_backward else None


def g_prime_at_zero(b: Any) -> float | None:
    """``g'(0)`` (``None`` where it is random)."""
    if b.entry.formula.stochastic_backward:
        return None
    return float(np.asarray(b.derivative(np.zeros(1)))[0])


def support(b: Any) -> str:
    """The closed hull of the points where ``g' != 0``, as text (``ℝ``, ``[-1, 1]``,
    ``[0, ∞)``): measured on a grid four half-widths wide, its ends snapped to the
    entry's declared boundaries; an end that reaches the grid's edge is infinite."""
    from spikegrad._plot import half_width

    w = 4.0 * half_width(b)
    x = np.linspace(-w, w, 16001)
    d = np.asarray(b.derivative(x, key=_noise(b)))
    nz = np.flatnonzero(d != 0)
    if nz.size == 0:
        return "(empty)"
    marks = [float(m) for m in b.entry.boundaries(b.params) if m is not None]
    step = x[1] - x[0]

    def end(i: int) -> float:
        if i in (0, x.size - 1):
            return math.copysign(math.inf, x[i])
        near = [m for m in marks if abs(m - x[i]) <= 2 * step]
        return min(near, key=lambda m: abs(m - x[i])) if near else float(x[i])

    lo, hi = end(int(nz[0])), end(int(nz[-1]))
    if math.isinf(lo) and math.isinf(hi):
        return "ℝ"
    left = "(−∞" if math.isinf(lo) else f"[{_fmt(lo + 0.0)}"
    right = "∞)" if math.isinf(hi) else f"{_fmt(hi + 0.0)}]"
    return f"{left}, {right}"


# -- "Use it" snippets ---------------------------------------------------------------------
@dataclass(frozen=True)
class Snippet:
    """One "Use it" block: a heading, a sentence and the code."""

    title: str
    text: str
    code: str


def py_value(v: Any) -> str:
    """A parameter value as Python source (strings in double quotes)."""
    return f'"{v}"' if isinstance(v, str) and '"' not in v else repr(v)


def _call(target: str, func: str, args: Sequence[str], kwargs: dict[str, Any],
          *extra: str) -> str:
    """``target = func(args, k=v..., extra...)`` on one line, or one argument a line when
    longer than 88 characters (``args`` and ``extra`` are code)."""
    parts = [*args, *(f"{k}={py_value(v)}" for k, v in kwargs.items()), *extra]
    one = f"{target} = {func}({', '.join(parts)})"
    if len(one) <= 88:
        return one
    return f"{target} = {func}(\n" + "".join(f"    {p},\n" for p in parts) + ")"


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def peer_equivalent(name: str, library: str) -> tuple[str, dict[str, Any], str] | None:
    """``(alias, parameters, note)``: the surrogate of ``library`` that computes exactly
    ``name``'s ``g'`` at its default parameters (``spikegrad convert``), preferring one
    with the same forward; ``note`` says where the spike differs.  ``None`` where the
    library has none."""
    from spikegrad._convert import convert

    own = set(spikegrad.aliases(name))
    try:
        found = [(c.target, c.params, c.forward_note) for c in convert(name, {}, library)
                 if c.exact]
    except TypeError:  # a g' that draws noise: the aliases that bind to the same formula
        goal = spikegrad.get(name)
        found = []
        for alias in sorted(own):
            if alias.startswith(library + ":"):
                b = spikegrad.get(alias)
                if b.formula_params == goal.formula_params and b.scale == goal.scale:
                    note = "" if b.entry.forward == goal.entry.forward else (
                        f"the spike differs at x = 0: {name} fires where x "
                        f"{'>' if goal.entry.forward == 'gt' else '>='} 0, {alias} where "
                        f"x {'>' if b.entry.forward == 'gt' else '>='} 0")
                    found.append((alias, b.params, note))
    goal_forward = spikegrad.entry(name).forward
    same = {goal_forward} | ({"ge", "gt"} if goal_forward in ("ge", "gt") else set())
    found = [f for f in found if spikegrad.entry(f[0]).forward in same]  # spikes alike
    if not found:
        return None
    found.sort(key=lambda f: (bool(f[2]), f[0] not in own))
    return found[0]


def use_it(name: str) -> list[Snippet]:
    """The "Use it" snippets of a canonical surrogate: spikegrad with torch and jax, and
    how each peer takes it (its own name with the converted parameters where it has one,
    spikegrad's object otherwise)."""
    e = spikegrad.entry(name)
    params = {p.name: p.default for p in e.params}
    keys = {"torch": ("key=torch.Generator().manual_seed(0)",) if e.stochastic else (),
            "jax": ("key=jax.random.key(0)",) if e.stochastic else ()}
    quoted = f'"{name}"'
    out = [
        Snippet("spikegrad with torch",
                "The spike, whose gradient is $g'(x)$; the same as an `nn.Module` "
                "(with `learnable=True` its parameters train).",
                "\n".join(["import torch", "import spikegrad.torch as sgt", "",
                           "x = torch.linspace(-1.0, 1.0, 9, requires_grad=True)",
                           _call("spikes", "sgt.spike", ["x", quoted], params,
                                 *keys["torch"]),
                           "spikes.sum().backward()  # x.grad holds g'(x)",
                           _call("layer", "sgt.Surrogate", [quoted], params,
                                 *keys["torch"])])),
        Snippet("spikegrad with jax",
                "The spike; the same as a pytree callable (through `jit`, `grad` and "
                "`vmap`), and $g'(x)$ by `jax.grad`.",
                "\n".join(["import jax", "import jax.numpy as jnp",
                           "import spikegrad.jax as sgj", "",
                           "x = jnp.linspace(-1.0, 1.0, 9)",
                           _call("spikes", "sgj.spike", ["x", quoted], params, *keys["jax"]),
                           _call("layer", "sgj.Surrogate", [quoted], params, *keys["jax"]),
                           "grad = jax.grad(lambda x: layer(x).sum())(x)  # g'(x)"])),
    ]
    out += [_peer_snippet(name, lib, params, keys) for lib in PEERS]
    return out


#: per peer: its surrogate-module import lines, spikegrad.compat's replacement, the
#: framework of spikegrad's stand-in, the variable and how a neuron takes it
_PEER_FORMS = {
    "snntorch": (("import snntorch as snn", "from snntorch import surrogate"),
                 "from spikegrad.compat import snntorch as surrogate", "torch",
                 "spike_grad", "lif = snn.Leaky(beta=0.9, spike_grad=spike_grad)"),
    "spikingjelly": (("from spikingjelly.activation_based import neuron",
                      "from spikingjelly.activation_based import surrogate"),
                     "from spikegrad.compat import spikingjelly as surrogate", "torch",
                     "surrogate_function",
                     "lif = neuron.LIFNode(surrogate_function=surrogate_function)"),
    "braintools": (("import jax.numpy as jnp", "import braintools.surrogate as surrogate"),
                   "from spikegrad.compat import braintools as surrogate", "jax", "spk_fun",
                   "spikes = spk_fun(jnp.linspace(-1.0, 1.0, 9))\n"
                   "# a neuron takes it as spk_fun=, e.g. brainpy.state.LIF(n, "
                   "spk_fun=spk_fun)"),
}


def _peer_snippet(name: str, lib: str, params: dict[str, Any],
                  keys: dict[str, tuple[str, ...]]) -> Snippet:
    imports, compat, framework, var, use = _PEER_FORMS[lib]
    found = peer_equivalent(name, lib)
    if found is not None:
        alias, values, note = found
        local = alias.split(":", 1)[1]
        text = (f"{_possessive(lib)} own `{local}`, with the parameters that give this "
                f"$g'$ (`spikegrad convert {name} --to {lib}`), as `{var}=`; "
                f"`spikegrad.compat.{lib}` is the same API computed by spikegrad.")
        if note:
            text += f"  Note: {plain(note)}."
        lines = [*imports, f"# or, the same API computed by spikegrad: {compat}", "",
                 _call(var, f"surrogate.{local}", [], values), use]
        return Snippet(lib, text, "\n".join(lines))
    alias = "sgt" if framework == "torch" else "sgj"
    first = [*((f"import {framework}",) if keys[framework] else ()),
             *(i for i in imports if "surrogate" not in i),
             f"import spikegrad.{framework} as {alias}"]
    kind = "`nn.Module`" if framework == "torch" else "jax callable (a pytree)"
    related = [a.split(":", 1)[1] for a in spikegrad.aliases(name)
               if a.startswith(lib + ":")]
    if related:
        text = (f"{lib} names a related surrogate, " + ", ".join(code(r) for r in related)
                + " (its mapping is in *In other libraries* below), "
                f"but no parameters of it give this $g'$ at these defaults; spikegrad's "
                f"{kind} goes in its place, as `{var}=`.")
    else:
        text = (f"{lib} has no surrogate that computes this $g'$; spikegrad's {kind} goes "
                f"in its place, as `{var}=`.")
    lines = [*first, "", _call(var, f"{alias}.Surrogate", [f'"{name}"'], params,
                                *keys[framework]), use]
    return Snippet(lib, text, "\n".join(lines))


def _node_class(name: str) -> str | None:
    """The spikingjelly-style neuron class of ``spikegrad.torch`` bound to ``name``."""
    try:
        import spikegrad.torch as sgt
    except ImportError:
        return None
    for attr in sgt.__all__:
        obj = getattr(sgt, attr)
        if (isinstance(obj, type) and issubclass(obj, sgt.MultiStepNode)
                and obj is not sgt.MultiStepNode):
            try:
                if obj().bound.name == name:
                    return attr
            except (TypeError, ValueError):
                continue
    return None


def use_it_multistep(name: str) -> list[Snippet]:
    """The "Use it" snippets of a multi-step surrogate (torch and jax)."""
    e = spikegrad.entry(name)
    params = {p.name: p.default for p in e.params}
    quoted = f'"{name}"'
    torch_lines = ["import torch", "import spikegrad.torch as sgt", "",
                   "x_seq = (torch.rand(8, 32) * 3).requires_grad_(True)  # [T, ...]",
                   _call("y", "sgt.multistep", ["x_seq", quoted], params),
                   "y.sum().backward()  # x_seq.grad: the spike-representation gradient",
                   f"layer = sgt.MultiStepNode({quoted})  # the threshold an nn.Parameter"]
    node = _node_class(name)
    if node is not None:
        torch_lines.append(f"node = sgt.{node}()  # with spikingjelly's {node} arguments")
    return [
        Snippet("spikegrad with torch",
                "The output sequence of a `[T, ...]` input (time first), and the same as "
                "a layer.", "\n".join(torch_lines)),
        Snippet("spikegrad with jax", "The same with jax arrays (through `jit` and `grad`).",
                "\n".join(["import jax.numpy as jnp", "import spikegrad.jax as sgj", "",
                           "x_seq = jnp.linspace(0.0, 3.0, 8 * 32).reshape(8, 32)",
                           _call("y", "sgj.multistep", ["x_seq", quoted], params),
                           f"layer = sgj.MultiStep({quoted})"])),
    ]


def _snippets_md(snippets: Sequence[Snippet]) -> list[str]:
    lines = ["## Use it", ""]
    for s in snippets:
        lines += [f"### {s.title}", "", s.text, "", "```python", s.code, "```", ""]
    return lines


# -- figures -----------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plots(out: Path, names: list[str]) -> None:
    plt = _pyplot()
    from spikegrad._plot import figure

    sets = _param_sets()
    for name in names:
        if spikegrad.entry(name).stochastic:
            continue
        fig = figure([spikegrad.get(name, **p) for p in sets.get(name) or [{}]])
        fig.savefig(out / f"{name}.png", dpi=110)
        plt.close(fig)
        _thumbnail(out / f"thumb_{name}.png", name)


def _thumbnail(path: Path, name: str) -> None:
    """A small readable figure of ``name`` at its defaults: ``g`` and ``g'`` on one axis."""
    plt = _pyplot()
    from spikegrad._plot import half_width

    b = spikegrad.get(name)
    w = half_width(b)
    x = np.linspace(-w, w, 801)
    fig, ax = plt.subplots(figsize=(2.8, 2.1), constrained_layout=True)
    if b.has_primitive:
        ax.plot(x, b.primitive(x), color="C0", lw=1.0, label="g")
    else:
        ax.plot(x, b.spike(x), color="C0", lw=1.0, ls="--", label="spike")
    ax.plot(x, b.derivative(x), color="C1", lw=1.6, label="g'")
    ax.set_title(name, fontsize=10)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _overview(path: Path, names: list[str], per_panel: int = 5) -> None:
    """Every deterministic surrogate's ``g'`` at its defaults, by family: a panel holds at
    most ``per_panel`` curves of one family (members of similar width together), with a
    legend."""
    plt = _pyplot()
    from spikegrad._plot import half_width

    fams: dict[str, list[str]] = defaultdict(list)
    for name in names:
        if not spikegrad.entry(name).stochastic:
            fams[_family(spikegrad.entry(name))].append(name)
    panels: list[tuple[str, list[str]]] = []
    for fam, members in fams.items():
        members = sorted(members, key=lambda n: half_width(spikegrad.get(n)))
        chunks = math.ceil(len(members) / per_panel)
        size = math.ceil(len(members) / chunks)
        for k in range(chunks):
            part = f" ({k + 1}/{chunks})" if chunks > 1 else ""
            panels.append((fam.capitalize() + part, members[k * size:(k + 1) * size]))
    cols = 2
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(9.0, 2.7 * rows), constrained_layout=True,
                             squeeze=False)
    for ax, (title, members) in zip(axes.flat, panels, strict=False):
        bounds = [spikegrad.get(n) for n in members]
        w = max(half_width(b) for b in bounds)
        x = np.linspace(-w, w, 1601)
        for b in bounds:
            ax.plot(x, b.derivative(x), lw=1.5, label=b.name)
        ax.set_title(title, fontsize=11)
        ax.tick_params(labelsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc="best", frameon=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    fig.supxlabel("x = membrane potential - threshold", fontsize=10)
    fig.supylabel("g'(x) at the default parameters", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _multistep_plot(path: Path, name: str, steps: int = 1000) -> None:
    """The spike-rate mapping of a multi-step surrogate at its defaults, computed by the
    reference engine for a constant input ``r`` over ``steps`` steps: the mean output,
    the input gradient and the threshold gradient for an upstream gradient of 1."""
    plt = _pyplot()
    b = spikegrad.get(name)
    probe = np.logspace(-3, 6, 901)
    seq = np.broadcast_to(probe, (4, probe.size)).copy()
    dx, _ = b.backward(seq, np.ones_like(seq))
    inside = probe[np.asarray(dx)[0] != 0]
    extent = float(inside.max()) if inside.size else 1.0
    r = np.linspace(-0.25 * extent, 1.5 * extent, 141)
    seq = np.broadcast_to(r, (steps, r.size)).copy()
    ones = np.ones_like(seq)
    rate = np.asarray(b.forward(seq)).mean(axis=0)
    dx, _ = b.backward(seq, ones)
    dv = [float(b.backward(seq[:, j:j + 1], ones[:, j:j + 1])[1]) / steps
          for j in range(r.size)]
    fig, axes = plt.subplots(1, 3, figsize=(11.0, 3.3), constrained_layout=True)
    panels = ((rate, f"mean output over T = {steps} steps", "mean of $y_t$"),
              (np.asarray(dx)[0], "input gradient", r"$\partial L/\partial x_t$"),
              (dv, "threshold gradient", r"$(1/T)\ \partial L/\partial V$"))
    for ax, (values, title, ylabel) in zip(axes, panels, strict=True):
        ax.plot(r, values, color="C1" if ax is not axes[0] else "C0")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("input rate r (a constant input)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{name} at its defaults, upstream gradient $\\partial L/\\partial y_t = 1$",
                 fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- pages -------------------------------------------------------------------------------
def _accuracy() -> dict[str, Any]:
    from spikegrad.conformance.accuracy import accuracy_table

    return {r.name: r for r in accuracy_table(native=False)}


def _references(b: Any) -> list[str]:
    lines = ["## References", ""]
    lines += [f"- {plain(r)}" for r in b.references] or ["(none published)"]
    bib = b.cite()
    if bib and bib.strip():
        lines += ["", "```bibtex", bib.strip("\n"), "```"]
    return lines


def _surrogate_page(name: str, accuracy: dict[str, Any]) -> str:
    e = spikegrad.entry(name)
    b = e.bind()
    lines = [f"(surrogate-{name})=", f"# {name}", "", plain(e.summary), ""]
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
    lines += ["## Parameters", ""]
    lines += table(["parameter", "default", "domain", "meaning"],
                   [[code(p.name), _fmt(p.default), plain(p.domain.text), plain(p.doc)]
                    for p in e.params] or [["(none)", "", "", ""]])
    lines += ["", f"Peak $g'$ = {_fmt(b.peak)}; area $\\int g'$ = {_fmt(b.area)}.", ""]
    for label, text in (("Boundary", e.boundary), ("Limits", e.limits), ("Notes", e.notes)):
        if text:
            lines += [f"**{label}:** {plain(text)}", ""]
    lines += _snippets_md(use_it(name))
    acc = accuracy.get(name)
    if acc is not None:
        lines += ["## Accuracy of the reference engine", "",
                  "Max ULP error against the golden vectors (mpmath, 50 digits) in the core "
                  "range $|x \\cdot \\mathrm{scale}| \\le 10$:", ""]
        lines += table(["input dtype", "$g'$", "$g$"],
                       [[d, _fmt(acc.d.get(d)), _fmt(acc.g.get(d))]
                        for d in ("float16", "float32", "float64")])
        lines.append("")
    als = spikegrad.aliases(name)
    lines += ["## In other libraries", ""]
    if als:
        rows = []
        for a in als:
            ae = spikegrad.entry(a)
            params = ", ".join(f"{p.name}={_fmt(p.default)}" for p in ae.params) or "—"
            rows.append([code(a), plain(params), code(ae.mapping_doc), plain(ae.notes or "")])
        lines += table(["library name", "parameters (defaults)", "computes", "notes"], rows)
    else:
        lines.append("No peer library has this surrogate under a name of its own.")
    lines += ["", *_references(b)]
    return "\n".join(lines) + "\n"


#: captions of a multi-step entry's formulas, by their key in ``entry.latex``
_MULTISTEP_PARTS = {"forward": "The forward, a recurrence over the time steps",
                    "rate": "The spike representation, a clamped firing rate",
                    "grad_x": "The gradient of each input step",
                    "grad_v": "The gradient of the threshold"}


def _multistep_page(name: str) -> str:
    e = spikegrad.entry(name)
    b = spikegrad.get(name)
    lines = [f"(surrogate-{name})=", f"# {name}", "", plain(e.summary) + ".", "",
             "A multi-step surrogate: it acts on a whole `[T, ...]` sequence (time first); "
             "its backward is the derivative of a spike representation, not an "
             "elementwise $g'$.", "", "## Formula", ""]
    for key, latex in e.latex.items():
        lines += [f"{_MULTISTEP_PARTS.get(key, key)}:", "", "$$", latex, "$$", ""]
    lines += [f"```{{image}} ../img/{name}.png",
              f":alt: mean output, input gradient and threshold gradient of {name}", "```",
              "", "For a constant input $r$ at the default parameters, computed by the "
              "reference engine: the mean output over the steps (left), the gradient of "
              "each input step (middle) and the threshold gradient per element divided by "
              "$T$ (right), for an upstream gradient of 1 at every step.", ""]
    lines += ["## Parameters", ""]
    lines += table(["parameter", "default", "domain", "meaning"],
                   [[code(p.name), _fmt(p.default), plain(p.domain.text), plain(p.doc)]
                    for p in e.params])
    lines.append("")
    if e.notes:
        lines += [f"**Notes:** {plain(e.notes)}", ""]
    lines += _snippets_md(use_it_multistep(name))
    lines += ["See also the [DSR tutorial](../../tutorials/dsr.md).", ""]
    lines += _references(b)
    return "\n".join(lines) + "\n"


def _index(names: list[str], multistep: list[str]) -> str:
    lines = ["# The catalogue", "",
             "Every surrogate, by family: $g'(0)$, the peak of $g'$, where $g'$ is nonzero "
             "and the default parameters, at the defaults.  The multi-step surrogates act "
             "on a whole sequence.  The [overview](../../overview.md) shows them all.", "",
             "```{toctree}", ":hidden:", "", *names, *multistep, "```", ""]
    fams: dict[str, list[str]] = defaultdict(list)
    for name in names:
        fams[_family(spikegrad.entry(name))].append(name)
    for fam, members in fams.items():
        lines += [f"## {fam.capitalize()}", "", plain(_family_doc(fam)), ""]
        rows = []
        for name in members:
            b = spikegrad.get(name)
            g0 = g_prime_at_zero(b)
            rows.append([f"[{name}]({name}.md)", plain(b.entry.summary),
                         "random" if g0 is None else _fmt(g0), _fmt(b.peak),
                         plain(support(b)), code(_defaults_text(b.entry))])
        lines += table(["surrogate", "description", "$g'(0)$", "peak $g'$", "support",
                        "defaults"], rows)
        lines.append("")
    ms_fams: dict[str, list[str]] = defaultdict(list)
    for name in multistep:
        ms_fams[_family(spikegrad.entry(name))].append(name)
    for fam, members in ms_fams.items():
        lines += [f"## Multi-step: {fam.upper()}", "", plain(_family_doc(fam)), ""]
        lines += table(["surrogate", "description", "defaults"],
                       [[f"[{n}]({n}.md)", plain(spikegrad.entry(n).summary),
                         code(_defaults_text(spikegrad.entry(n)))] for n in members])
        lines.append("")
    return "\n".join(lines)


def _gallery(names: list[str]) -> str:
    """The overview's gallery (included by ``overview.md``: paths relative to it): a
    section per family with a thumbnail per surrogate, each linking to its page."""
    fams: dict[str, list[str]] = defaultdict(list)
    for name in names:
        fams[_family(spikegrad.entry(name))].append(name)
    lines: list[str] = []
    for fam, members in fams.items():
        lines += [f"## {fam.capitalize()}", "", plain(_family_doc(fam)), ""]
        drawn = [n for n in members if not spikegrad.entry(n).stochastic]
        lines += [f"[![{n}](generated/img/thumb_{n}.png)](generated/surrogates/{n}.md)"
                  for n in drawn]
        random = [n for n in members if spikegrad.entry(n).stochastic]
        if random:
            lines += ["", "Random, so not drawn: " + ", ".join(
                f"[{n}](generated/surrogates/{n}.md)" for n in random) + "."]
        lines.append("")
    return "\n".join(lines)


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
        lines += [f"## [{name}](surrogates/{name}.md)", ""]
        rows = []
        for a in als:
            ae = spikegrad.entry(a)
            lib, _, local = a.partition(":")
            params = ", ".join(f"{p.name}={_fmt(p.default)}" for p in ae.params)
            rows.append([lib, code(f"{local}({params})"), code(ae.mapping_doc)])
        lines += table(["library", "name (defaults)", "computes"], rows)
        lines.append("")
    return "\n".join(lines)


def _defaults(names: list[str]) -> str:
    libs = sorted({a.split(":", 1)[0] for a in spikegrad.aliases()})
    rows = []
    for name in names:
        cells = []
        for lib in libs:
            found = [a for a in spikegrad.aliases(name) if a.startswith(lib + ":")]
            cells.append("<br>".join(
                code(f"{a.split(':', 1)[1]}(" + ", ".join(
                    f"{p.name}={_fmt(p.default)}" for p in spikegrad.entry(a).params) + ")")
                for a in found))
        # included from docs/choosing.md: links relative to it
        rows.append([f"[{name}](generated/surrogates/{name}.md)", *cells])
    return "\n".join(table(["surrogate", *libs], rows)) + "\n"


def generate(app: Any) -> None:
    root = Path(app.srcdir) / "generated"
    pages, img = root / "surrogates", root / "img"
    pages.mkdir(parents=True, exist_ok=True)
    img.mkdir(parents=True, exist_ok=True)
    names = spikegrad.names(user=False)
    multistep = list(spikegrad.multistep_names())
    accuracy = _accuracy()
    for name in names:
        _write(pages / f"{name}.md", _surrogate_page(name, accuracy))
    for name in multistep:
        _write(pages / f"{name}.md", _multistep_page(name))
        _multistep_plot(img / f"{name}.png", name)
    _write(pages / "index.md", _index(names, multistep))
    _write(root / "translation.md", _translation(names))
    _write(root / "defaults.md", _defaults(names))
    _write(root / "gallery.inc", _gallery(names))
    _plots(img, names)
    _overview(img / "overview.png", names)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    app.connect("doctree-resolved", _check_doctree)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
