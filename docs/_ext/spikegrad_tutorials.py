"""Sphinx extension: tutorials that run during the build and show what they print.

On ``source-read`` of a page under ``tutorials/`` it executes the page's ```` ```python ````
blocks in order, in one namespace per page, and inserts after each block

* what the block printed (its standard output), as a ``text`` code block with the class
  ``tutorial-output`` (standard error, where libraries log, goes to the build's log);
* every matplotlib figure the block left open (``plt.show()`` is a no-op while a tutorial
  runs), saved as a PNG under the build's doctree directory and shown as an image with the
  class ``tutorial-figure``.

Failures are build warnings, which ``-W`` turns into a failed build: an exception stops the
page's remaining blocks and is reported with its traceback; every Python warning a block
raises (a ``UserWarning`` from torch, a ``DeprecationWarning`` from a library, ...) is
recorded and reported with its category, message and origin, so no tutorial warns
silently.  The runner seeds nothing: each tutorial seeds its own random generators, in
its code, where the reader sees it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)

#: A fenced Python block: the opening fence (three or more backticks) at a line start,
#: the code, and the closing fence of the same length.
_PY = re.compile(r"^(?P<fence>`{3,})python[ \t]*\n(?P<code>.*?)^(?P=fence)[ \t]*$",
                 re.S | re.M)

OUTPUT_CLASS = "tutorial-output"
FIGURE_CLASS = "tutorial-figure"


@dataclass
class Block:
    """One executed block: where it ends in the page, what it printed and drew."""

    index: int  # 1-based
    line: int  # line of the opening fence, 1-based
    end: int  # offset just after the closing fence
    output: str = ""
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Run:
    """The outcome of a page: its blocks, and the problems to report as warnings."""

    blocks: list[Block] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)

    @property
    def seconds(self) -> float:
        return sum(b.seconds for b in self.blocks)


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or ``None`` without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figures(plt: Any, figdir: Path, stem: str) -> list[Path]:
    """Save (PNG) and close every open figure that has axes; close the others."""
    out = []
    for k, num in enumerate(plt.get_fignums(), start=1):
        fig = plt.figure(num)
        if fig.axes:
            figdir.mkdir(parents=True, exist_ok=True)
            path = figdir / f"{stem}-{k}.png"
            fig.savefig(path, dpi=100)
            out.append(path)
        plt.close(fig)
    return out


def _warning_text(w: warnings.WarningMessage) -> str:
    return f"{w.category.__name__}: {w.message} (at {w.filename}:{w.lineno})"


@contextlib.contextmanager
def _figures_kept(plt: Any) -> Iterator[None]:
    """``plt.show()`` a no-op: the figures stay open, to be saved after the block."""
    if plt is None:
        yield
        return
    show = plt.show
    plt.show = lambda *args, **kwargs: None
    try:
        yield
    finally:
        plt.show = show


def _run_block(code: str, where: str, namespace: dict[str, Any], plt: Any
               ) -> tuple[str, list[warnings.WarningMessage], str | None]:
    """Execute one block: (what it printed, the warnings it raised, its traceback or
    ``None``)."""
    buffer = io.StringIO()
    failed = None
    with _figures_kept(plt), warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(buffer):
        warnings.simplefilter("always")  # every warning, even one already shown once
        try:
            exec(compile(code, where, "exec"), namespace)
        except (Exception, SystemExit):
            failed = traceback.format_exc()
    return buffer.getvalue(), list(caught), failed


def execute(docname: str, text: str, figdir: Path) -> Run:
    """Run the Python blocks of ``text`` in order, in one namespace.

    Returns each block's captured output and saved figures, and the problems: every
    warning raised (the block goes on), and an exception (the page stops there).
    """
    run = Run()
    namespace: dict[str, Any] = {"__name__": f"tutorial_{docname.replace('/', '_')}"}
    plt = _pyplot()
    if plt is not None:
        plt.close("all")
    stem = docname.replace("/", "-")
    for i, m in enumerate(_PY.finditer(text), start=1):
        block = Block(index=i, line=text.count("\n", 0, m.start()) + 1, end=m.end())
        run.blocks.append(block)
        where = f"{docname}[block {i}]"
        t0 = time.perf_counter()
        block.output, caught, failed = _run_block(m.group("code"), where, namespace, plt)
        block.seconds = time.perf_counter() - t0
        for w in caught:
            run.problems.append((block.line, f"tutorial {where} warned: {_warning_text(w)}"))
        if plt is not None:
            block.figures = _save_figures(plt, figdir, f"{stem}-{i}")
        if failed is not None:
            run.problems.append((block.line, f"tutorial {where} failed:\n{failed}"))
            break
    return run


def _fence(content: str) -> str:
    """A backtick fence longer than any backtick run in ``content``."""
    longest = max((len(r) for r in re.findall(r"`+", content)), default=0)
    return "`" * max(3, longest + 1)


def render(text: str, run: Run, docdir: Path) -> str:
    """``text`` with each block's output and figures inserted after it; figure paths are
    written relative to ``docdir``, the directory of the page's source."""
    parts, last = [], 0
    for b in run.blocks:
        parts.append(text[last:b.end])
        last = b.end
        extra = []
        if b.output:
            body = b.output if b.output.endswith("\n") else b.output + "\n"
            fence = _fence(body)
            extra.append(f"{fence}{{code-block}} text\n---\nclass: {OUTPUT_CLASS}\n---\n"
                         f"{body}{fence}")
        for fig in b.figures:
            rel = Path(os.path.relpath(fig, docdir)).as_posix()
            extra.append(f"```{{image}} {rel}\n:alt: figure of block {b.index}\n"
                         f":class: {FIGURE_CLASS}\n```")
        if extra:
            parts.append("\n\n" + "\n\n".join(extra) + "\n")
    parts.append(text[last:])
    return "".join(parts)


def run_tutorial(app: Any, docname: str, source: list[str]) -> None:
    """``source-read`` handler: run a tutorial page and show its output."""
    if not docname.startswith("tutorials/"):
        return
    figdir = Path(app.doctreedir) / "tutorial_figures"
    run = execute(docname, source[0], figdir)
    for line, message in run.problems:  # build warnings: errors under -W
        LOGGER.warning("%s", message, location=(docname, line))
    docdir = (Path(app.srcdir) / docname).parent
    source[0] = render(source[0], run, docdir)
    if run.blocks:
        LOGGER.info("tutorial %s: %d blocks in %.1f s", docname, len(run.blocks),
                    run.seconds)


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", run_tutorial)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
