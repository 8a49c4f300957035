"""Conformance cases as pytest tests (collected with the plugin, see ``plugin.py``)."""

from __future__ import annotations

import pytest


def test_case(conformance_result) -> None:
    r = conformance_result
    if r.status == "not claimed":
        pytest.skip(f"{r.adapter} does not claim {r.check}")
    if r.status in ("n/a", "xfail"):
        pytest.skip(r.detail or r.status)
    assert r.status == "pass", f"{r.detail}\nrepro: {r.repro}"
