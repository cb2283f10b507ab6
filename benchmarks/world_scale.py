"""Time and peak memory of the demo world and feature building at a given size.

    .venv/bin/python benchmarks/world_scale.py --users 1000000
"""

from __future__ import annotations

import argparse
import resource
import time

import targeting as tg


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    args = parser.parse_args()
    start = time.perf_counter()
    world = tg.demo_world(n_users=args.users, seed=0)
    t_world = time.perf_counter() - start
    rows = {name: len(frame) for name, frame in world.tables.items()}
    print(f"demo_world({args.users:,}): {t_world:.1f} s, peak {peak_gib():.1f} GiB")
    print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    start = time.perf_counter()
    features = tg.build_features(world.tables, world.as_of)
    t_features = time.perf_counter() - start
    print(f"build_features: {t_features:.1f} s for {features.shape[0]:,} users x "
          f"{features.shape[1]} features, peak {peak_gib():.1f} GiB")


if __name__ == "__main__":
    main()
