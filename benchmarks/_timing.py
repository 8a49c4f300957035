"""Timing shared by the benchmarks: the median of repeats of a calibrated inner loop."""

from __future__ import annotations

import gc
import statistics
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
    sync(fn())
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            out = fn()
        sync(out)
        if time.perf_counter() - t0 >= min_seconds:
            break
        number *= 2
    samples = []
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(number):
                out = fn()
            sync(out)
            samples.append((time.perf_counter() - t0) / number)
    finally:
        gc.enable()
    return statistics.median(samples)
