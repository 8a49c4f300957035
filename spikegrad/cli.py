"""The ``spikegrad`` command line: ``list``, ``show NAME``, ``cite NAME``, ``plot NAME``,
``convert NAME``, ``accuracy [NAME...]`` and ``conformance [ADAPTER...]``.

A wrong value (an unknown library, surrogate or parameter, a parameter that is not a number
or lies outside its domain) is answered with one line on stderr, naming the closest valid
choices, and exit status 2, as argparse answers its own usage errors.
"""

from __future__ import annotations

import argparse
import ast
import math
import re
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from ._convert import convert, libraries
from ._multistep import MultiStepEntry
from ._plot import figure
from ._registry import aliases, entry, get, multistep_names, names
from ._spec import Entry, Param, UnknownSurrogateError
from ._usage import UsageError, surrogate_entry, unknown
from .conformance.__main__ import add_arguments, execute
from .conformance.accuracy import LIMITS_CORE_ULP, accuracy_table, format_table
from .conformance.goldens import names as golden_names

__all__ = ["main"]


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.6g}"
    return "—" if v is None else str(v)


def _params(e: Entry) -> str:
    return ", ".join(f"{p.name}={_fmt(p.default)}" for p in e.params) or "—"


#: What a value of each parameter kind must look like, in error messages.
_EXPECTED = {"real": "a number", "int": "an integer", "bool": "True or False",
             "window": "None or a pair (low, high)"}


def _example(p: Param) -> str:
    """``NAME=VALUE`` as the command line takes it for ``p``, e.g. ``alpha=2.0``."""
    kind = p.domain.kind
    if kind == "window":
        return f"{p.name}=(-1.0, 1.0)"
    if kind == "real" and isinstance(p.default, (int, float)):
        return f"{p.name}={float(p.default)!r}"
    return f"{p.name}={p.default}"


def _literal(text: str) -> Any:
    """``text`` as a Python literal (number, True, None, tuple), or ``text`` itself."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _of_kind(kind: str, value: Any) -> bool:
    """Whether ``value`` is of a parameter kind's type (its domain is checked on binding)."""
    if kind in ("real", "int"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "window":
        return value is None or isinstance(value, (tuple, list))
    return True  # a choice: the library's message names the options


def _value(p: Param, item: str, text: str) -> Any:
    """The value of ``item`` (``NAME=TEXT``) for parameter ``p``; the library checks its
    domain when it binds.

    Raises
    ------
    UsageError
        When ``text`` is not of the parameter's kind (not a number, not True or False...).
    """
    kind = p.domain.kind
    value = _literal(text)
    if kind == "real" and isinstance(value, str):
        try:  # inf, nan: not literals, but numbers (the domain check rejects them)
            value = float(text)
        except ValueError:
            pass
    if kind == "bool" and text.strip().lower() in ("true", "false"):
        value = text.strip().lower() == "true"
    if not _of_kind(kind, value):
        what = _EXPECTED.get(kind, "a valid value")
        raise UsageError(f"{item}: not {what} (expected PARAM=VALUE with {what}, "
                         f"e.g. {_example(p)})")
    return value


def _parse_params(e: Entry | MultiStepEntry, items: Sequence[str]) -> dict[str, Any]:
    """The ``NAME=VALUE`` items of the command line as parameters of ``e``.

    Raises
    ------
    UsageError
        For an item that is not ``NAME=VALUE``, an unknown parameter name (with the closest
        of ``e``'s parameters) or a value of the wrong kind.
    """
    params = {p.name: p for p in e.params}
    out: dict[str, Any] = {}
    for item in items:
        if not params:
            raise UsageError(f"{e.name} takes no parameters, got {item}")
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{item}: expected PARAM=VALUE, e.g. "
                             f"{_example(e.params[0])}")
        if key not in params:
            raise unknown("parameter", key, list(params), of=e.name)
        out[key] = _value(params[key], item, text)
    return out


def _single_step(name: str, why: str) -> Entry:
    """The entry of surrogate ``name``, which must act on one time step.

    Raises
    ------
    UsageError
        For an unknown name (with the closest) or a multi-step surrogate (``why`` says
        what the command cannot do with it).
    """
    e = surrogate_entry(name)
    if isinstance(e, MultiStepEntry):
        raise UsageError(f"{e.name} is a multi-step surrogate (it acts on a [T, ...] "
                         f"sequence): {why}")
    return e


def _bind(name: str, items: Sequence[str]) -> Any:
    """``get(name, **params)`` of the command line's ``name`` and ``NAME=VALUE`` items, to
    plot (a value outside its domain: the library's own ``ValueError``)."""
    e = _single_step(name, "there is no curve g'(x) to plot")
    return get(name, **_parse_params(e, items))


def _compared(spec: str) -> Any:
    """The bound surrogate of a ``--compare`` value ``NAME`` or ``NAME(P=V, ...)``."""
    name, _, rest = spec.partition("(")
    rest = rest.strip().removesuffix(")")
    items = [p.strip() for p in re.split(r",(?=\s*\w+\s*=)", rest) if p.strip()]
    return _bind(name.strip(), items)


def _library(name: str) -> str:
    """``name`` if it is a library with aliases (``UsageError`` with the closest if not)."""
    known = libraries()
    if name not in known:
        raise unknown("library", name, known, hint=f"libraries: {', '.join(known)}")
    return name


def cmd_list_library(library: str) -> int:
    _library(library)
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
    e = surrogate_entry(args.name)
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
    surrogate_entry(args.name)
    bib = get(args.name).cite()
    if not bib:
        print(f"{args.name}: no published reference is known for this surrogate",
              file=sys.stderr)
        return 0
    print(bib)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    bounds = [_bind(args.name, args.params)]
    bounds += [_compared(other) for other in args.compare or []]
    try:
        fig = figure(bounds)
    except ImportError as exc:
        print(f"spikegrad plot: {exc}", file=sys.stderr)
        return 2
    out = args.output or f"{args.name.replace(':', '_')}.png"
    fig.savefig(out, dpi=150)
    print(f"wrote {out}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    _library(args.to)
    e = _single_step(args.source, "convert maps single-step surrogates only")
    params = _parse_params(e, args.params)
    source = get(args.source, **params)
    shown = f"{args.source}({', '.join(args.params)})" if args.params else args.source
    found = convert(args.source, params, args.to)
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


def _measured(requested: Sequence[str]) -> list[str]:
    """The canonical names of ``requested`` surrogates (aliases included), each of which
    must have golden vectors."""
    have = golden_names()
    out = []
    for name in requested:
        canonical = getattr(surrogate_entry(name), "canonical", name)
        if canonical not in have:
            raise UsageError(f"{name} has no golden vectors to measure against "
                             f"(`spikegrad accuracy` with no NAME measures the {len(have)} "
                             "surrogates that have)")
        out.append(canonical)
    return out


def cmd_accuracy(args: argparse.Namespace) -> int:
    wanted = _measured(args.names)
    rows = [r for r in accuracy_table(native=args.native) if not wanted or r.name in wanted]
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
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="surrogates to measure (default: every one with golden vectors)")
    p.add_argument("--native", action="store_true",
                   help="evaluate in the default compute dtype instead of float64")
    p.set_defaults(fn=cmd_accuracy)
    p = sub.add_parser("conformance", help="certify adapters against the reference and "
                       "the golden vectors (no ADAPTER: every installed one)")
    add_arguments(p)
    p.set_defaults(fn=execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``spikegrad`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 for a negative answer (a failed check, no exact
        equivalent), 2 for a wrong value on the command line (its one-line message on
        stderr).
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except (UsageError, UnknownSurrogateError, ValueError, TypeError) as exc:
        print(f"spikegrad {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
