"""``python -m spikegrad.conformance ADAPTER...``: certify adapters (see ``--help``)."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._registry import entry as lookup
from .._registry import get, multistep_names
from .._registry import names as registered
from .._spec import Bound, Entry
from .._usage import UsageError, did_you_mean, surrogate_entry
from .accuracy import _floor
from .checks import Result, apply_xfails, flushable_inputs, load_xfails, run, to_json
from .definitions import run_definition
from .goldens import cases
from .goldens import names as golden_names
from .harness import available_adapters, flushes, load_harness
from .report import compare_adapters, matrix, summary
from .stochastic import stochastic_names

__all__ = ["build_parser", "main"]

def build_parser(prog: str = "python -m spikegrad.conformance") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=(
        "Certify surrogate-gradient adapters against the reference engine and the golden "
        "vectors.  With no ADAPTER, every adapter whose framework is installed."))
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("adapters", nargs="*", metavar="ADAPTER",
                   help="registered name (numpy, torch, jax, cupy, or an entry point of "
                        "spikegrad.adapters) or module:object")
    p.add_argument("--json", metavar="PATH", help="write every result as JSON")
    p.add_argument("--xfails", metavar="FILE",
                   help="known failures, one 'surrogate dtype check' per line")
    p.add_argument("--only", metavar="SURROGATE", help="check one surrogate")
    p.add_argument("--dtype", choices=["float16", "float32", "float64"])
    p.add_argument("--param-set", type=int, help="check one parameter set (0 = defaults)")
    p.add_argument("--thorough", action="store_true",
                   help="check transforms on every parameter set, not only the defaults")
    p.add_argument("--no-compare", action="store_true",
                   help="skip the cross-adapter agreement report")
    p.add_argument("--surrogate", action="append", default=[], metavar="MODULE:OBJECT",
                   help="also check a definition (a spikegrad.define(...) value or a bound "
                        "surrogate) importable as MODULE:OBJECT; repeatable")


def _gprime(adapter, only, dtype) -> dict:  # g' of every case, for cross-comparison
    out = {}
    for case in cases(only, dtype):
        if case.dtype not in adapter.dtypes:
            continue
        s = get(case.name, **case.params)
        x = adapter.from_numpy(case.inputs())
        g = adapter.from_numpy(np.ones_like(case.inputs()))
        out[(case.name, case.index, case.dtype)] = np.asarray(
            adapter.to_numpy(adapter.vjp(s, x, g)), dtype=np.float64)
    return out


def _definitions(args: argparse.Namespace) -> list:
    """Definitions without goldens to check: ``--surrogate`` objects, ``--only`` naming a
    registered definition that has none, and (in a full run) every user registration."""
    out = []
    for spec in args.surrogate:
        module, _, attr = spec.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, Entry):
            obj = obj.bind()
        if not isinstance(obj, Bound):
            raise TypeError(f"{spec} is a {type(obj).__name__}, not a definition "
                            "(spikegrad.define(...)) or a bound surrogate")
        out.append(obj)
    with_goldens = set(golden_names())
    if args.only:
        surrogate_entry(args.only)  # an unknown name: UsageError, with the closest names
        if args.only not in {*with_goldens, *multistep_names(), *stochastic_names()}:
            out.append(lookup(args.only).bind())
    elif not args.surrogate:
        out += [lookup(n).bind() for n in registered() if lookup(n).user]
    return out


def _reason(exc: Exception) -> str:
    """``exc``'s message as a sentence (a ``KeyError``'s without the quotes of its repr)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    return str(exc)


def _load(spec: str) -> Any:
    """The loaded adapter ``spec`` (a registered name or ``MODULE:OBJECT``).

    Raises
    ------
    UsageError
        For an unknown name, with the closest adapter names.
    ImportError, AttributeError
        When ``MODULE:OBJECT`` or the adapter's framework cannot be imported.
    """
    known = available_adapters()
    if spec not in known and ":" not in spec:
        raise UsageError(f"no such adapter{did_you_mean(spec, known)} (adapters: "
                         f"{', '.join(known)}, or MODULE:OBJECT)")
    return load_harness(spec)


def execute(args: argparse.Namespace) -> int:
    requested = list(args.adapters)
    explicit = bool(requested)
    if not requested:
        requested = available_adapters()
    loaded = []
    for spec in requested:
        try:
            loaded.append(_load(spec))
        except (ImportError, AttributeError, KeyError, UsageError) as exc:
            if explicit:  # a requested adapter that cannot load is an error, never a skip
                print(f"spikegrad conformance: cannot load adapter {spec!r}: "
                      f"{_reason(exc)}", file=sys.stderr)
                return 2
            print(f"# {spec}: not installed here ({_reason(exc)})")
    if not loaded:
        print("spikegrad conformance: no adapter could be loaded", file=sys.stderr)
        return 2
    xfails = load_xfails(args.xfails) if args.xfails else set()
    everything: list[Result] = []
    failed = False
    try:
        extra = _definitions(args)
    except (ImportError, AttributeError, KeyError, TypeError, UsageError) as exc:
        print(f"spikegrad conformance: {_reason(exc)}", file=sys.stderr)
        return 2
    goldens_wanted = not args.surrogate and (args.only is None or not extra)
    for adapter in loaded:
        t0 = time.perf_counter()
        results = list(run(adapter, args.only, args.dtype, args.param_set, args.thorough)) \
            if goldens_wanted else []
        dtypes = (args.dtype,) if args.dtype else None
        for bound in extra:
            results += list(run_definition(adapter, bound, dtypes))
        apply_xfails(results, xfails)
        everything += results
        print(matrix(results))
        print(summary(results) + f"  [{time.perf_counter() - t0:.1f} s]\n")
        failed |= any(r.status == "fail" for r in results)
    if len(loaded) > 1 and not args.no_compare and goldens_wanted:
        values = {a.name: _gprime(a, args.only, args.dtype) for a in loaded}
        masks = None
        if any(a.flushes_subnormals for a in loaded):  # compare where all agree to compute
            masks = {}
            for case in cases(args.only, args.dtype):
                if not any(flushes(a, case.dtype) for a in loaded):
                    continue
                masks[(case.name, case.index, case.dtype)] = ~flushable_inputs(case)[0]
        core, floors = {}, {}
        for case in cases(args.only, args.dtype):
            floors[(case.name, case.index, case.dtype)] = _floor(case)
            b = get(case.name, **case.params)
            with np.errstate(over="ignore", invalid="ignore"):  # ±inf inputs
                core[(case.name, case.index, case.dtype)] = np.abs(
                    case.x * float(b.entry.x_scale(b.params))) <= 10
        tolerances = {a.name: a.tolerance_ulp for a in loaded}
        print(compare_adapters(values, masks, core, tolerances, floors))
    if args.json:
        to_json(everything, args.json)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return execute(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
