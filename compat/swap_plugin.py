"""pytest plugin: replace a peer's surrogate module by spikegrad's compat module before the
peer is imported, and record from inside the test process whether the tests really used
the replacement (``-p swap_plugin``; configured by ``run_peer_suites.py`` through the
environment, never read by spikegrad itself):

``SPIKEGRAD_COMPAT_SWAP="peer.module=spikegrad.compat.peer"``
    install the replacement (several pairs: comma-separated).
``SPIKEGRAD_COMPAT_WATCH="peer.module=spikegrad.compat.peer"``
    the same pairs for the unchanged run: record the bindings, swap nothing.
``SPIKEGRAD_COMPAT_RECORD=/path/record.json``
    where the record goes (JSON, written when the session ends).

The record names, for every collected test module, each of its globals that comes from the
peer's module or from the replacement — the module itself (``import peer.surrogate as
surrogate``), one of its objects (``from peer.module import threshold``) or the module
reached through a peer package (``snn.surrogate``) — with the module it resolves to
(``__name__``, ``__file__``) and whether that is the replacement; which module
``sys.modules`` holds under the peer's name when collection ends and when the session ends;
the test modules that failed to import; the peer package the run imported (its file and
version); and, in the swapped run, how many spikegrad
objects (``Bound``/``MultiStepBound`` instances, ``Entry.bind`` calls) the run built.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import traceback
from types import ModuleType
from typing import Any

import pytest

ENV_SWAP = "SPIKEGRAD_COMPAT_SWAP"
ENV_WATCH = "SPIKEGRAD_COMPAT_WATCH"
ENV_RECORD = "SPIKEGRAD_COMPAT_RECORD"

#: spikegrad's public classes whose instances are counted, and methods whose calls are
#: counted (looked up on the package, so internal moves do not break the count)
_COUNTED_CLASSES = ("Bound", "MultiStepBound")
_COUNTED_METHODS = (("Entry", "bind"), ("MultiStepEntry", "bind"))


def _pairs(spec: str) -> list[tuple[str, str]]:
    out = []
    for pair in filter(None, spec.split(",")):
        target, _, replacement = pair.partition("=")
        out.append((target.strip(), replacement.strip()))
    return out


_SWAP = _pairs(os.environ.get(ENV_SWAP, ""))
_PAIRS = _SWAP or _pairs(os.environ.get(ENV_WATCH, ""))
_RECORD_PATH = os.environ.get(ENV_RECORD, "")

_record: dict[str, Any] = {
    "mode": "swap" if _SWAP else "watch",
    "pid": os.getpid(),
    "pairs": [{"target": t, "replacement": r} for t, r in _PAIRS],
    "modules": [],
    "collection_errors": [],
    "sys_modules": {},
    "spikegrad_objects": None,
    "counter_errors": [],
    "errors": [],
}
_replacements: dict[str, ModuleType] = {}  # replacement name -> module (swap mode)
_counts: dict[str, int] = {}


def _write() -> None:
    if not _RECORD_PATH:
        return
    if _counts or _record["mode"] == "swap":
        _record["spikegrad_objects"] = dict(_counts)
    tmp = f"{_RECORD_PATH}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(_record, f, indent=1, default=str)
    os.replace(tmp, _RECORD_PATH)


# --- counting spikegrad objects (wrapping, nothing edited under spikegrad/) ----------------

#: ``torch.compiler.is_compiling`` once torch is imported.  While dynamo traces, the
#: count is skipped: dynamo would otherwise guard on the counter's value and recompile on
#: every call until its recompile limit sends the function back to eager (a graph traced
#: once builds nothing when it runs, and eager calls are counted).
_is_compiling: Any = None


def _watch_torch() -> None:
    global _is_compiling
    torch = sys.modules.get("torch")
    if _is_compiling is None and torch is not None:
        _is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)


def _count_calls(owner: type, attr: str, key: str) -> None:
    original = owner.__dict__[attr]

    @functools.wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        compiling = _is_compiling
        if compiling is None or not compiling():
            _counts[key] = _counts.get(key, 0) + 1
        return original(*args, **kwargs)

    setattr(owner, attr, counted)


def _install_counters() -> None:
    try:
        spikegrad = importlib.import_module("spikegrad")
    except Exception as exc:  # the replacement import reports it too
        _record["counter_errors"].append(f"cannot import spikegrad: {exc!r}")
        return
    done: set[int] = set()  # one wrapper per function, even where names alias one class
    for cls_name in _COUNTED_CLASSES:
        cls = getattr(spikegrad, cls_name, None)
        if not isinstance(cls, type) or "__init__" not in cls.__dict__:
            _record["counter_errors"].append(f"cannot count spikegrad.{cls_name}")
        elif id(cls.__dict__["__init__"]) not in done:
            done.add(id(cls.__dict__["__init__"]))
            _count_calls(cls, "__init__", cls_name)
            _counts.setdefault(cls_name, 0)
    for cls_name, method in _COUNTED_METHODS:
        cls = getattr(spikegrad, cls_name, None)
        owner = next((c for c in getattr(cls, "__mro__", ()) if method in c.__dict__), None)
        if owner is None or not callable(owner.__dict__[method]):
            _record["counter_errors"].append(f"cannot count spikegrad.{cls_name}.{method}")
        elif id(owner.__dict__[method]) not in done:  # where it is defined (a base class)
            done.add(id(owner.__dict__[method]))
            _count_calls(owner, method, f"{owner.__name__}.{method}")
            _counts.setdefault(f"{owner.__name__}.{method}", 0)


# --- the swap --------------------------------------------------------------------------------

def _install() -> None:
    if not _SWAP:
        return
    _install_counters()
    for target, replacement in _SWAP:
        try:
            module = importlib.import_module(replacement)
        except BaseException:
            _record["errors"].append(f"cannot import the replacement {replacement}: "
                                     + traceback.format_exc(limit=-1).strip())
            _write()
            raise
        _replacements[replacement] = module
        sys.modules[target] = module
        parent, _, child = target.rpartition(".")
        if parent:  # the peer's package sees the replacement as its attribute too
            setattr(importlib.import_module(parent), child, module)
    _watch_torch()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _watch_torch()  # torch imported by a test module, after the swap


# --- recording -------------------------------------------------------------------------------

def _describe(module: Any) -> dict[str, Any]:
    return {"bound_to": getattr(module, "__name__", repr(module)),
            "file": getattr(module, "__file__", None),
            "is_replacement": any(module is m for m in _replacements.values())
            or getattr(module, "__name__", None) in {r for _, r in _PAIRS}}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _classify(name: str, value: Any, test_module: ModuleType) -> dict[str, Any] | None:
    """A binding of ``value`` (global ``name`` of ``test_module``) to the peer's module or
    to the replacement, or ``None`` when it has nothing to do with either."""
    for target, replacement in _PAIRS:
        if isinstance(value, ModuleType):
            mod_name = getattr(value, "__name__", "") or ""
            if any(value is m for m in _replacements.values()) or mod_name == replacement:
                return {"name": name, "kind": "module", "target": target, **_describe(value)}
            if _under(mod_name, target):
                return {"name": name, "kind": "module", "target": target, **_describe(value)}
            if target.startswith(mod_name + ".") and mod_name:
                # a peer package (``import snntorch as snn``): follow it to the target
                obj: Any = value
                try:
                    for part in target[len(mod_name) + 1:].split("."):
                        obj = getattr(obj, part)
                except AttributeError:
                    continue
                if isinstance(obj, ModuleType):
                    return {"name": f"{name}.{target[len(mod_name) + 1:]}",
                            "kind": "module", "target": target, **_describe(obj)}
            continue
        try:
            home = getattr(value, "__module__", None)
        except Exception:  # an exotic object: not a binding we can judge
            continue
        if not isinstance(home, str) or home == test_module.__name__:
            continue  # defined in the test module itself
        rep = _replacements.get(replacement)
        attr_names = {name, getattr(value, "__name__", None)} - {None}
        from_rep = _under(home, replacement) or (
            rep is not None and any(getattr(rep, a, None) is value for a in attr_names))
        if from_rep or _under(home, target):
            home_mod = rep if from_rep and rep is not None else sys.modules.get(home)
            desc = _describe(home_mod) if home_mod is not None else {
                "bound_to": home, "file": None, "is_replacement": False}
            desc["is_replacement"] = bool(from_rep)
            return {"name": name, "kind": "object", "target": target,
                    "object_module": home, **desc}
    return None


def _sys_modules_state() -> list[dict[str, Any]]:
    out = []
    for target, _ in _PAIRS:
        mod = sys.modules.get(target)
        entry = {"target": target, **(_describe(mod) if mod is not None else
                                      {"bound_to": None, "file": None,
                                       "is_replacement": False})}
        parent, _, child = target.rpartition(".")
        if parent and parent in sys.modules:
            attr = getattr(sys.modules[parent], child, None)
            entry["parent_attribute_is_replacement"] = any(
                attr is m for m in _replacements.values())
        out.append(entry)
    return out


@pytest.hookimpl(trylast=True)
def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        text = str(report.longrepr or "")
        last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
        _record["collection_errors"].append({"nodeid": report.nodeid,
                                             "message": last.strip()[:300]})


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    seen: dict[int, ModuleType] = {}
    for item in session.items:
        node = item.getparent(pytest.Module)
        if node is None:
            continue
        try:
            mod = node.obj
        except Exception:
            continue
        seen.setdefault(id(mod), mod)
    for mod in seen.values():
        bindings = []
        for name, value in list(vars(mod).items()):
            if name.startswith("__"):
                continue
            found = _classify(name, value, mod)
            if found is not None:
                bindings.append(found)
        _record["modules"].append({"module": mod.__name__,
                                   "file": getattr(mod, "__file__", None),
                                   "bindings": bindings})
    _record["sys_modules"]["at_collection"] = _sys_modules_state()
    _write()


def _peer_packages() -> list[dict[str, Any]]:
    """The peer packages the run imported: their top-level module's file and version (an
    installed release, or a checkout on the path)."""
    import importlib.metadata as md

    out = []
    for top in sorted({target.partition(".")[0] for target, _ in _PAIRS}):
        mod = sys.modules.get(top)
        try:
            dist = md.version(top)
        except md.PackageNotFoundError:
            dist = None
        out.append({"package": top, "imported": mod is not None,
                    "file": getattr(mod, "__file__", None),
                    "version": getattr(mod, "__version__", None) or dist,
                    "installed_version": dist})
    return out


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _record["sys_modules"]["at_end"] = _sys_modules_state()
    _record["peer_packages"] = _peer_packages()
    _record["exitstatus"] = int(exitstatus)
    _write()


_install()
