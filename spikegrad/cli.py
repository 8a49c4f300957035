"""The ``spikegrad`` command line: ``list``, ``show NAME``, ``cite NAME``, ``accuracy``."""

from __future__ import annotations

import argparse
import ast
import math
import sys
from collections.abc import Sequence

from . import __version__
from ._convert import convert, libraries
from ._multistep import MultiStepEntry
from ._plot import figure
from ._registry import aliases, entry, get, multistep_names, names
from ._spec import Entry, UnknownSurrogateError
from .conformance.__main__ import add_arguments, execute
from .conformance.accuracy import LIMITS_CORE_ULP, accuracy_table, format_table

__all__ = ["main"]


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.6g}"
    return "—" if v is None else str(v)


def _params(e: Entry) -> str:
    return ", ".join(f"{p.name}={_fmt(p.default)}" for p in e.params) or "—"


def _parse_params(items: Sequence[str]) -> dict[str, object]:
    """``NAME=VALUE`` pairs; values are Python literals (numbers, True, None, tuples)."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"spikegrad: parameters are NAME=VALUE, got {item!r}")
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key] = text
    return out


def cmd_list_library(library: str) -> int:
    if library not in libraries():
        print(f"spikegrad: unknown library {library!r}; libraries: "
              f"{', '.join(libraries())}", file=sys.stderr)
        return 2
    rows = []
    for name in aliases():
        if name.startswith(library + ":"):
            e = entry(name)
            rows.append((name, _params(e), e.mapping_doc))
    head = ("name", "parameters (defaults)", "computes (spikegrad)")
    widths = [max(len(r[i]) for r in [*rows, head]) for i in range(3)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("-" * (sum(widths) + 4))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"\n{len(rows)} {library} names (`spikegrad show {library}:NAME` for one)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.library:
        return cmd_list_library(args.library)
    rows = []
    for name in names():
        e = entry(name)
        b = e.bind()
        rows.append((name, _params(e), _fmt(b.peak), _fmt(b.area), str(len(aliases(name)))))
    head = ("name", "parameters (defaults)", "peak g'", "area", "aliases")
    widths = [max(len(r[i]) for r in [*rows, head]) for i in range(5)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"\n{len(rows)} surrogates, {len(aliases())} aliases "
          "(`spikegrad show NAME` for one of them)")
    multi = multistep_names()
    if multi:
        print("\nmulti-step surrogates (on [T, ...] sequences): "
              + ", ".join(f"{n}({_params(entry(n))})" for n in multi))
    return 0


def _show_multistep(e: MultiStepEntry) -> int:
    b = e.bind()
    out = [e.name + "  (multi-step: acts on a [T, ...] sequence, time first)",
           f"  {e.summary}", ""]
    out += [f"  {label + ':':9s}{e.latex[key]}" for key, label in
            (("forward", "forward"), ("rate", "rate"), ("grad_x", "dL/dx_t"),
             ("grad_v", "dL/dV")) if key in e.latex]
    out += ["", "  parameters:"]
    out += [f"    {p.name} = {_fmt(p.default)}  ({p.domain.text}) {p.doc}" for p in e.params]
    if e.notes:
        out += ["", f"  notes: {e.notes}"]
    out += ["", "  references:"] + ([f"    {r}" for r in b.references] or ["    (none)"])
    print("\n".join(out))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    e = entry(args.name)
    if isinstance(e, MultiStepEntry):
        return _show_multistep(e)
    base = entry(e.canonical)
    b = e.bind()
    out = [f"{e.name}" + (f"  (alias of {e.canonical})" if e.is_alias else ""),
           f"  {e.summary}"]
    if e.is_alias:
        out.append(f"  maps to: {e.mapping_doc}")
        out.append(f"  forward: spike where x {'>' if e.forward == 'gt' else '>='} 0"
                   if e.forward in ("ge", "gt") else f"  forward: {e.forward}")
    own = bool(e.latex_derivative)
    src = e if own else base
    where = "" if own or not e.is_alias else f"   [{e.canonical}; see 'maps to']"
    out += ["", "  g(x):  " + (src.latex_primitive or "(no primitive)") + where,
            "  g'(x): " + src.latex_derivative + where]
    out += ["", "  parameters:"]
    out += [f"    {p.name} = {_fmt(p.default)}  ({p.domain.text}) {p.doc}" for p in e.params]
    if not e.params:
        out.append("    (none)")
    out += ["", f"  peak g' = {_fmt(b.peak)}, area = {_fmt(b.area)}"]
    for label, text in (("boundary", e.boundary or base.boundary),
                        ("limits", e.limits), ("notes", e.notes)):
        if text:
            out.append(f"  {label}: {text}")
    if not e.is_alias:
        als = aliases(e.name)
        out += ["", f"  aliases ({len(als)}):"]
        for a in als:
            ae = entry(a)
            out.append(f"    {a}({_params(ae)}) -> {ae.mapping_doc}")
    refs = b.references
    out += ["", "  references:"] + ([f"    {r}" for r in refs] or ["    (none published)"])
    print("\n".join(out))
    return 0


def cmd_cite(args: argparse.Namespace) -> int:
    bib = get(args.name).cite()
    if not bib:
        print(f"{args.name}: no published reference is known for this surrogate",
              file=sys.stderr)
        return 0
    print(bib)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    bounds = [get(args.name, **_parse_params(args.params))]
    labels = [args.name + (f"({', '.join(args.params)})" if args.params else "")]
    for other in args.compare or []:
        name, _, rest = other.partition("(")
        params = _parse_params([p.strip() for p in rest.rstrip(")").split(",") if p.strip()])
        bounds.append(get(name, **params))
        labels.append(other)
    try:
        fig = figure(bounds, labels)
    except ImportError as exc:
        print(f"spikegrad: {exc}", file=sys.stderr)
        return 2
    out = args.output or f"{args.name.replace(':', '_')}.png"
    fig.savefig(out, dpi=150)
    print(f"wrote {out}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    params = _parse_params(args.params)
    source = get(args.source, **params)
    shown = f"{args.source}({', '.join(args.params)})" if args.params else args.source
    try:
        found = convert(args.source, params, args.to)
    except ValueError as exc:
        print(f"spikegrad: {exc}", file=sys.stderr)
        return 2
    if not found:
        print(f"{shown}: no {args.to} surrogate computes {source.canonical} "
              f"(`spikegrad list --library {args.to}` lists its names)")
        return 1
    for c in found:
        if c.exact:
            print(f"{shown} = {c.call()}")
        else:
            print(f"{shown}: no exact {args.to} equivalent; nearest: {c.call()} "
                  f"(the same shape, g' is {c.factor:.6g} times as large)")
        if c.forward_note:
            print(f"  note: {c.forward_note}")
    return 0 if any(c.exact for c in found) else 1


def cmd_accuracy(args: argparse.Namespace) -> int:
    rows = accuracy_table(native=args.native)
    print(format_table(rows))
    if args.native:
        return 0
    failed = [r.name for r in rows if r.problems
              or any(r.d.get(d, 0) > lim for d, lim in LIMITS_CORE_ULP.items())]
    limits = ", ".join(f"{d} <= {v:g}" for d, v in LIMITS_CORE_ULP.items())
    print(f"limits for g' in the core range: {limits}; "
          + ("all within" if not failed else f"FAILED: {', '.join(failed)}"))
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikegrad",
        description="Surrogate gradients for spiking neural networks, defined once.")
    parser.add_argument("--version", action="version", version=f"spikegrad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="table of canonical surrogates (or one library's names)")
    p.add_argument("--library", help="list this library's names (e.g. snntorch)")
    p.set_defaults(fn=cmd_list)
    p = sub.add_parser("show", help="formula, parameters, aliases and references")
    p.add_argument("name")
    p.set_defaults(fn=cmd_show)
    p = sub.add_parser("cite", help="BibTeX of a surrogate's papers")
    p.add_argument("name")
    p.set_defaults(fn=cmd_cite)
    p = sub.add_parser("plot", help="figure of g and g' (needs matplotlib)")
    p.add_argument("name")
    p.add_argument("params", nargs="*", metavar="PARAM=VALUE")
    p.add_argument("--compare", nargs="+", metavar="NAME[(P=V,...)]",
                   help="more surrogates on the same figure")
    p.add_argument("-o", "--output", help="PNG or SVG file (default NAME.png)")
    p.set_defaults(fn=cmd_plot)
    p = sub.add_parser("convert", help="the same surrogate in another library")
    p.add_argument("source", help="a name or alias, e.g. snntorch:fast_sigmoid")
    p.add_argument("params", nargs="*", metavar="PARAM=VALUE")
    p.add_argument("--to", required=True, metavar="LIBRARY")
    p.set_defaults(fn=cmd_convert)
    p = sub.add_parser("accuracy",
                       help="max ULP error of the reference engine against the golden vectors")
    p.add_argument("--native", action="store_true",
                   help="evaluate in the default compute dtype instead of float64")
    p.set_defaults(fn=cmd_accuracy)
    p = sub.add_parser("conformance", help="certify adapters against the reference and "
                       "the golden vectors (no ADAPTER: every installed one)")
    add_arguments(p)
    p.set_defaults(fn=execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except UnknownSurrogateError as exc:
        text = str(exc).replace("(spikegrad.names() lists canonical names, spikegrad.aliases"
                                "(name) their aliases; `spikegrad list` on the command line)",
                                "(`spikegrad list` lists the surrogates, `spikegrad list "
                                "--library NAME` one library's names)")
        print(f"spikegrad: {text}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as exc:
        print(f"spikegrad: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
