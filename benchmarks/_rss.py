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


class TreeMonitor:
    """Resident memory of this process and all its descendants (a ``LocalCluster``'s scheduler,
    nannies and workers), sampled in a background thread every ``every`` seconds.

    ``peaks(since)`` returns the peak, since the ``time.perf_counter()`` value ``since``, of
    the sum over all processes and of the largest single process (bytes). A sum of RSS counts
    pages shared between processes once per process, so it is an upper bound of the memory
    used.
    """

    def __init__(self, every: float = 0.2):
        import psutil

        self._root = psutil.Process()
        self._every = every
        self._samples: list[tuple[float, int, int]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> tuple[float, int, int]:
        import psutil

        sizes = []
        for proc in [self._root, *self._root.children(recursive=True)]:
            try:
                sizes.append(proc.memory_info().rss)
            except psutil.Error:  # a process that ended between listing and reading
                pass
        return time.perf_counter(), sum(sizes), max(sizes, default=0)

    def _run(self) -> None:
        while not self._done.is_set():
            self._samples.append(self._sample())  # appends are atomic: no lock needed
            time.sleep(self._every)

    def peaks(self, since: float) -> tuple[int, int]:
        now = self._sample()
        chosen = [s for s in list(self._samples) if s[0] >= since] + [now]
        return max(s[1] for s in chosen), max(s[2] for s in chosen)

    def close(self) -> None:
        self._done.set()
        self._thread.join()
