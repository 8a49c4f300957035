"""The package's layers (DESIGN §2), read from the source: no import cycle, counting imports
inside functions and leaving out ``TYPE_CHECKING`` blocks, and every import walks down.

A module's row is declared here once; an import of a module in a higher row is a call from a
value (or the arithmetic) up to something built on it, which is how the cycles of earlier
versions began.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

import spikegrad

ROOT = Path(spikegrad.__file__).parent

#: Rows, bottom first: each module imports only modules of its own row or below.
ROWS: tuple[tuple[str, ...], ...] = (
    ("spikegrad.special", "spikegrad._numerics", "spikegrad._references",
     "spikegrad._arrays", "spikegrad._locks"),                              # 1 leaf helpers
    ("spikegrad._evaluate", "spikegrad._multistep_engine"),                 # 2 arithmetic
    ("spikegrad._dispatch",),                                               # 3 dispatch
    ("spikegrad._spec", "spikegrad._multistep", "spikegrad._user_definitions"),  # 4 values
    ("spikegrad._registry",),                                               # 5 the index
    ("spikegrad.surrogates", "spikegrad._aliases", "spikegrad.codegen"),    # 6 catalogue
    ("spikegrad.adapters",),                                                # 7 bindings
)
FRONT = len(ROWS)  # 8: front ends (spikegrad.torch, .jax, .cupy, compat, conformance, cli)


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, package)
    return out


MODULES = _modules()


class _Imports(ast.NodeVisitor):
    """Every import statement, at any depth, except under ``if TYPE_CHECKING:``."""

    def __init__(self) -> None:
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
        self._depth = 0

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _function(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self._depth > 0))

    visit_ImportFrom = visit_Import  # type: ignore[assignment]


def _targets(module: str, package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The spikegrad modules an import statement imports."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in MODULES]
    base = module.split(".") if package else module.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        if sub in MODULES:
            out.append(sub)
        elif source in MODULES:
            out.append(source)
    return out


@functools.lru_cache(maxsize=1)
def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, (path, package) in MODULES.items():
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text()))
        for node, _ in visitor.found:
            edges[module].update(t for t in _targets(module, package, node) if t != module)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def row(module: str) -> int:
    for i, members in enumerate(ROWS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return i
    return FRONT


def test_the_scan_sees_function_level_imports_and_cycles() -> None:
    """The scan itself can fail: a cycle closed only by an import inside a function, and
    one hidden behind TYPE_CHECKING (which does not count)."""
    src = ("def f():\n    from .b import g\n"
           "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import h\n")
    visitor = _Imports()
    visitor.visit(ast.parse(src))
    assert [(n.module, inside) for n, inside in visitor.found] == [("b", True),
                                                                  ("typing", False)]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_walk_down(module: str) -> None:
    """A module imports only its own row or the rows below it (values never reach a
    binding, the registry or a front end)."""
    up = sorted(t for t in graph()[module] if row(t) > row(module))
    assert not up, f"{module} (row {row(module) + 1}) imports up: {up}"


def test_a_value_reaches_its_binding_through_the_table_only() -> None:
    """``Bound.spike`` dispatches through the declared table of binding *names*; the
    values and the dispatcher import no binding."""
    from spikegrad import _dispatch

    assert _dispatch.BUILTIN_BINDINGS == {"torch": "spikegrad.adapters.torch",
                                          "jax": "spikegrad.adapters.jax",
                                          "cupy": "spikegrad.adapters.cupy"}
    edges = graph()
    for value in ("spikegrad._spec", "spikegrad._multistep", "spikegrad._dispatch"):
        assert not {t for t in edges[value] if t.startswith("spikegrad.adapters")}


#: What a function may import: optional frameworks, imported only when their arrays arrive
#: (importing spikegrad imports none of them).
OPTIONAL = {"torch", "jax", "jaxlib", "cupy", "cupyx", "matplotlib", "ml_dtypes",
            "array_api_strict"}


def _function_imports() -> list[tuple[str, int, str, str]]:
    out = []
    for module, (path, _) in MODULES.items():
        lines = path.read_text().splitlines()
        visitor = _Imports()
        visitor.visit(ast.parse("\n".join(lines)))
        for node, inside in visitor.found:
            if not inside:
                continue
            if isinstance(node, ast.Import):
                top = node.names[0].name.split(".")[0]
            else:
                top = "spikegrad" if node.level else (node.module or "").split(".")[0]
            line = lines[node.lineno - 1]
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            reason = "#" in line or above.startswith("#")
            out.append((module, node.lineno, top, "reason" if reason else ""))
    return out


def test_function_level_imports_are_optional_frameworks_with_a_reason() -> None:
    """The only imports inside functions are of optional frameworks, each with a one-line
    reason (a comment on the line or just above it); everything else is imported at the
    top of its module, where the layer rule sees it."""
    bad = [f"{m}:{line} imports {top}" for m, line, top, _ in _function_imports()
           if top not in OPTIONAL]
    assert not bad, "\n".join(bad)
    silent = [f"{m}:{line} ({top})" for m, line, top, why in _function_imports() if not why]
    assert not silent, "no reason given:\n" + "\n".join(silent)
