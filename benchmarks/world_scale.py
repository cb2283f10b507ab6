"""Time and peak memory of the demo world and of feature building at a given size.

    .venv/bin/python benchmarks/world_scale.py --users 1000000

Peak memory is reported twice: the process peak so far (``getrusage``, which after the demo
world is the world's own peak) and the peak while ``build_features`` runs, sampled from /proc,
next to the resident size before it (the tables and the interpreter).
"""

from __future__ import annotations

import argparse
import gc
import resource
import time

from _rss import GIB, peak_during, rss_bytes

import targeting as tg


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    args = parser.parse_args()
    start = time.perf_counter()
    world = tg.demo_world(n_users=args.users, random_state=0)
    t_world = time.perf_counter() - start
    tables, as_of = dict(world.tables), world.as_of
    del world
    gc.collect()
    rows = {name: len(frame) for name, frame in tables.items()}
    size = sum(int(frame.memory_usage(deep=True).sum()) for frame in tables.values())
    print(f"demo_world({args.users:,}): {t_world:.1f} s, peak {peak_gib():.1f} GiB; "
          f"tables {size / GIB:.2f} GiB, resident now {rss_bytes() / GIB:.2f} GiB")
    print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    start, cpu = time.perf_counter(), time.process_time()
    features, before, peak = peak_during(lambda: tg.build_features(tables, as_of))
    t_features, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"build_features: {t_features:.1f} s ({cpu:.1f} s of CPU, all threads) for "
          f"{features.shape[0]:,} users x "
          f"{features.shape[1]} features; resident {before / GIB:.2f} GiB before, peak "
          f"{peak / GIB:.2f} GiB while building (+{(peak - before) / GIB:.2f} GiB; the result "
          f"itself {features.memory_usage().sum() / GIB:.2f} GiB)")


if __name__ == "__main__":
    main()
