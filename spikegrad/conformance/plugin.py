"""pytest plugin: every conformance case as its own test.

Run ``pytest -p spikegrad.conformance.plugin --pyargs spikegrad.conformance
--adapter torch`` (``--adapter`` may repeat; default: numpy).  Each case's test id names
adapter, surrogate, parameters, dtype and check.
"""

from __future__ import annotations

from typing import Any

import pytest

from .checks import run
from .harness import load_harness

__all__ = ["pytest_addoption", "pytest_generate_tests"]


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("spikegrad conformance")
    group.addoption("--adapter", action="append", default=[],
                    help="adapter to certify (name or module:object); repeatable")
    group.addoption("--only", default=None, help="one surrogate")
    group.addoption("--conformance-dtype", default=None, help="one dtype")


def pytest_generate_tests(metafunc: Any) -> None:
    if "conformance_result" not in metafunc.fixturenames:
        return
    cfg = metafunc.config
    results = []
    for spec in cfg.getoption("--adapter") or ["numpy"]:
        adapter = load_harness(spec)  # an adapter that cannot load is an error
        results += list(run(adapter, cfg.getoption("--only"),
                            cfg.getoption("--conformance-dtype")))
    ids = [f"{r.adapter}-{r.surrogate}[{','.join(f'{k}={v}' for k, v in r.params.items())}]"
           f"-{r.dtype}-{r.check}" for r in results]
    metafunc.parametrize("conformance_result", results, ids=ids)


@pytest.fixture
def conformance_result(request: Any) -> Any:  # pragma: no cover - replaced by parametrize
    return request.param
