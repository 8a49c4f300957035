"""Sphinx extension: the API reference, generated from the code.

On ``builder-inited`` it writes ``generated/api/<module>.md`` for every public module (the
module's docstring, a summary table of every name in its ``__all__`` and the full entry of
each) and ``generated/api_modules.md``, the table of modules that ``api.md`` includes.
The public names are the modules' own ``__all__``; only the list of public modules is
typed here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

#: The public modules, in the order the reference lists them, with a one-line heading.
PUBLIC_MODULES: dict[str, str] = {
    "spikegrad": "The core: the catalogue, bound surrogates, user definitions",
    "spikegrad.torch": "PyTorch: functions, modules and multi-step neurons",
    "spikegrad.jax": "JAX: functions, pytrees and multi-step neurons",
    "spikegrad.cupy": "CuPy: explicit forward and manual backward with fused kernels",
    "spikegrad.adapters.reference": "The reference engine (NumPy and any array-API namespace)",
    "spikegrad.special": "Functions outside the array API standard",
    "spikegrad.conformance.harness": "Certifying an adapter: the harness contract",
    "spikegrad.conformance.results": "Certifying an adapter: results",
    "spikegrad.codegen.trace": "Tracing a formula into a kernel",
    "spikegrad.compat.spikingjelly": "Drop-in: spikingjelly.activation_based.surrogate",
    "spikegrad.compat.snntorch": "Drop-in: snntorch.surrogate",
    "spikegrad.compat.braintools": "Drop-in: braintools.surrogate",
    "spikegrad.compat.brainstate": "Drop-in: brainstate.surrogate",
    "spikegrad.compat.norse": "Drop-in: norse.torch.functional.threshold",
    "spikegrad.compat.spyx": "Drop-in: spyx.axn",
    "spikegrad.compat.sinabs": "Drop-in: sinabs.activation surrogate gradients",
}


def public_names(module: str) -> list[str]:
    """The names ``module`` exports (its ``__all__``), in that order."""
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None)
    if names is None:
        raise RuntimeError(f"public module {module} has no __all__")
    return [n for n in names if not n.startswith("__")]


def _directive(module: str, name: str) -> str:
    obj = getattr(importlib.import_module(module), name)
    if isinstance(obj, type):
        return "autoclass"
    if callable(obj):
        return "autofunction"
    return "autodata"


def module_page(module: str, heading: str) -> str:
    """The MyST source of ``module``'s reference page."""
    names = public_names(module)
    lines = [f"# `{module}`", "", heading + ".", "", "```{eval-rst}",
             f".. automodule:: {module}", "   :no-members:", "", ".. currentmodule:: " + module,
             "", ".. autosummary::", "   :nosignatures:", ""]
    lines += [f"   {n}" for n in names]
    lines.append("")
    for n in names:
        lines.append(f".. {_directive(module, n)}:: {module}.{n}")
        if _directive(module, n) == "autodata":
            lines.append("   :no-value:")
        lines.append("")
    lines.append("```")
    return "\n".join(lines) + "\n"


def generate(app: Any) -> None:
    out = Path(app.srcdir) / "generated" / "api"
    out.mkdir(parents=True, exist_ok=True)
    table = ["| module | what it holds |", "|---|---|"]
    toctree = ["```{toctree}", ":hidden:", ""]
    for module, heading in PUBLIC_MODULES.items():
        text = module_page(module, heading)
        page = out / f"{module}.md"
        if not page.exists() or page.read_text() != text:  # unchanged pages stay cached
            page.write_text(text)
        table.append(f"| [`{module}`](generated/api/{module}.md) | {heading} |")
        toctree.append(f"generated/api/{module}")
    toctree += ["```", ""]
    # included by api.md (paths relative to it), never a page of its own
    (out.parent / "api_modules.md").write_text("\n".join([*table, "", *toctree]))


def setup(app: Any) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autosummary")
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
