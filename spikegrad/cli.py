"""The ``spikegrad`` command line: ``list``, ``show NAME``, ``cite NAME``, ``accuracy``."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from ._multistep import MultiStepEntry
from ._registry import aliases, entry, get, multistep_names, names
from ._spec import Entry, UnknownSurrogateError

__all__ = ["main"]


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.6g}"
    return "—" if v is None else str(v)


def _params(e: Entry) -> str:
    return ", ".join(f"{p.name}={_fmt(p.default)}" for p in e.params) or "—"


def cmd_list(args: argparse.Namespace) -> int:
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


def cmd_accuracy(args: argparse.Namespace) -> int:
    from .conformance.accuracy import LIMITS_CORE_ULP, accuracy_table, format_table

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
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="table of canonical surrogates").set_defaults(fn=cmd_list)
    p = sub.add_parser("show", help="formula, parameters, aliases and references")
    p.add_argument("name")
    p.set_defaults(fn=cmd_show)
    p = sub.add_parser("cite", help="BibTeX of a surrogate's papers")
    p.add_argument("name")
    p.set_defaults(fn=cmd_cite)
    p = sub.add_parser("accuracy",
                       help="max ULP error of the reference engine against the golden vectors")
    p.add_argument("--native", action="store_true",
                   help="evaluate in the default compute dtype instead of float64")
    p.set_defaults(fn=cmd_accuracy)
    from .conformance.__main__ import add_arguments, execute

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
        print(f"spikegrad: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
