"""Peak resident memory of a piece of work, sampled from /proc (Linux) in a background thread.

``resource.getrusage`` only gives the peak of the whole process so far, which after building a
demo world is the world's own peak; this measures the peak while ``fn`` runs.
"""

from __future__ import annotations

import resource
import threading
import time

GIB = 1024**3


def rss_bytes() -> int:
    """Resident set size of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_during(fn, every: float = 0.005) -> tuple[object, int, int]:
    """Run ``fn``; return its result, the RSS before it and the peak RSS while it ran (bytes)."""
    before = rss_bytes()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        out = fn()
    finally:
        done.set()
        thread.join()
    return out, before, max(peak[0], rss_bytes())
