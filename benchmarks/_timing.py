"""Shared timing helper for the benchmark scripts (medians: the machine is shared and noisy)."""

from __future__ import annotations

import statistics
import time


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls of ``fn``, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out
