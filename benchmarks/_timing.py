"""Timing shared by the benchmarks: medians of repeats of a calibrated inner loop, the
repeats of the contenders of one comparison interleaved."""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def calibrated_median(fn: Callable[[], Any], repeats: int,
                      sync: Callable[[Any], Any] = lambda out: out,
                      min_seconds: float = 0.02) -> float:
    """Median seconds per call of ``fn``; ``sync(out)`` waits for asynchronous work.

    The inner loop is doubled until one repeat lasts ``min_seconds``; garbage collection
    is off while timing.
    """
    return interleaved_medians({None: fn}, repeats, sync, min_seconds)[None]


def _calibrate(fn: Callable[[], Any], sync: Callable[[Any], Any], min_seconds: float) -> int:
    """Calls per repeat so that one repeat lasts at least ``min_seconds``."""
    sync(fn())
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            out = fn()
        sync(out)
        if time.perf_counter() - t0 >= min_seconds:
            return number
        number *= 2


def interleaved_medians(fns: dict[Any, Callable[[], Any]], repeats: int,
                        sync: Callable[[Any], Any] = lambda out: out,
                        min_seconds: float = 0.02) -> dict[Any, float]:
    """Median seconds per call of each of ``fns``, their repeats interleaved.

    Each round times every function once (a calibrated inner loop), in an order rotated
    from round to round, so a slow spell of a shared machine lands on every contender
    alike instead of deciding a ratio; garbage collection is off while timing.
    """
    keys = list(fns)
    numbers = {k: _calibrate(fns[k], sync, min_seconds) for k in keys}
    samples: dict[Any, list[float]] = {k: [] for k in keys}
    gc.disable()
    try:
        for r in range(repeats):
            for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                fn, number = fns[k], numbers[k]
                t0 = time.perf_counter()
                for _ in range(number):
                    out = fn()
                sync(out)
                samples[k].append((time.perf_counter() - t0) / number)
    finally:
        gc.enable()
    return {k: statistics.median(v) for k, v in samples.items()}


#: glibc's allocator, held steady: a freed 1 MiB block at the top of the heap is returned
#: to the system once the free top exceeds the (dynamic) trim threshold, and the next
#: allocation then page-faults every 4 KiB page (measured at 2^18 float32: 0 or 12-19
#: faults per call for spikegrad, 0 or 330-460 for snntorch, depending on the order the
#: contenders ran in; jax at 2^22: 0.57-2.1 ms a call instead of 0.67 ms).  Every
#: contender runs under the same policy.
STEADY_MALLOC = {"MALLOC_TRIM_THRESHOLD_": str(256 << 20),
                  "MALLOC_MMAP_THRESHOLD_": str(256 << 20)}


def steady_allocator(policy: str) -> None:
    """Re-run this script with glibc's trim and mmap thresholds raised (Linux), unless
    ``policy`` is ``"default"`` or they are set already."""
    if policy == "default" or not sys.platform.startswith("linux"):
        return
    if all(os.environ.get(k) == v for k, v in STEADY_MALLOC.items()):
        return
    env = {**os.environ, **STEADY_MALLOC}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


#: the ``--malloc`` option of every benchmark
MALLOC_CHOICES: dict[str, Any] = dict(
    choices=("steady", "default"), default="steady",
    help="glibc allocator policy for every contender (steady: no heap trimming, so no "
    "contender pays fresh page faults by lot)")
