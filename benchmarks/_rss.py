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
    nannies and workers), sampled in a background thread.

    ``stage()`` starts a new stage; ``peaks()`` returns the stage's peak of the sum over all
    processes and the peak of the largest single process (bytes). A sum of RSS counts pages
    shared between processes once per process, so it is an upper bound of the memory used.
    """

    def __init__(self, every: float = 0.2):
        import psutil

        self._root = psutil.Process()
        self._every = every
        self._total = self._largest = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> tuple[int, int]:
        import psutil

        sizes = []
        for proc in [self._root, *self._root.children(recursive=True)]:
            try:
                sizes.append(proc.memory_info().rss)
            except psutil.Error:  # a process that ended between listing and reading
                pass
        return sum(sizes), max(sizes, default=0)

    def _run(self) -> None:
        while not self._done.is_set():
            total, largest = self._sample()
            with self._lock:
                self._total = max(self._total, total)
                self._largest = max(self._largest, largest)
            time.sleep(self._every)

    def stage(self) -> None:
        """Forget the peaks so far: the next ``peaks()`` covers what runs from now on."""
        total, largest = self._sample()
        with self._lock:
            self._total, self._largest = total, largest

    def peaks(self) -> tuple[int, int]:
        total, largest = self._sample()
        with self._lock:
            return max(self._total, total), max(self._largest, largest)

    def close(self) -> None:
        self._done.set()
        self._thread.join()
