"""The outcome of one conformance check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Result"]


@dataclass
class Result:
    """Outcome of one check of one case."""

    adapter: str
    surrogate: str
    params: dict[str, Any]
    dtype: str
    check: str
    status: str  # "pass", "fail", "xfail", "not claimed", "n/a"
    max_ulp: float | None = None
    detail: str = ""
    repro: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.surrogate, self.dtype, self.check)
