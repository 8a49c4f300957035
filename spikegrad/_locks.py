"""A lock held across processes on one machine: what makes one build of a compiled
extension per machine (the other processes wait on it, then load what the builder
installed)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl  # POSIX
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["machine_lock"]


@contextlib.contextmanager
def machine_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (released by the OS if the process dies, so a
    crashed builder blocks nobody); a no-op where ``fcntl`` does not exist."""
    if fcntl is None:
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
