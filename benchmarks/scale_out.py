"""Scale-out: build, train and score through Dask vs one process, on the same Parquet world.

    flock /tmp/targeting-heavy.lock .venv/bin/python benchmarks/scale_out.py \
        --chunks 4 --users-per-chunk 50000 --workers 2

The world is written in chunks, each an independent demo world (its own seed) with ids moved
into a disjoint range, so no process ever holds the whole world; chunk ``k`` of every table
is file ``part.k`` of a dataset partitioned by user (:func:`read_user_partitions` reads it
with no shuffle). Then, on the same files:

- Dask: a ``LocalCluster`` of ``--workers`` single-threaded processes reads, validates,
  builds features, trains (``DaskPropensityModel``, rounds from a local early-stopped sample),
  evaluates and scores; peak memory is each worker's own maximum resident size.
- one process (a subprocess, so its peak is its own): reads every table whole with pandas,
  ``PropensityModel.fit``, evaluate, ``score()``.

Each path runs once (minutes each on this machine); the times are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

OFFSET = 1_000_000_000  # per chunk, for every id column
GROUP_OFFSET = 10_000_000
ID_COLUMNS = ("user_id", "social_id", "shop_id", "member_id", "order_id",
              "referrer_social_id")


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def write_world(folder: Path, chunks: int, users: int) -> dict:
    """Write ``chunks`` demo worlds with disjoint ids as ``<table>/part.<k>.parquet``."""
    import targeting as tg

    as_of, rows, started = None, {}, time.perf_counter()
    for k in range(chunks):
        world = tg.demo_world(n_users=users, random_state=100 + k)
        as_of = as_of or world.as_of
        assert world.as_of == as_of, "chunks must share as_of"
        for name, frame in world.tables.items():
            frame = frame.copy()
            for col in ID_COLUMNS:
                if col in frame.columns:
                    frame[col] = frame[col] + k * OFFSET
            if "group_id" in frame.columns:
                frame["group_id"] = frame["group_id"] + k * GROUP_OFFSET
            (folder / name).mkdir(parents=True, exist_ok=True)
            frame.to_parquet(folder / name / f"part.{k:05d}.parquet", index=False)
            rows[name] = rows.get(name, 0) + len(frame)
        del world
    size = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    return {"as_of": str(as_of), "rows": rows, "parquet_gib": size / 1024**3,
            "write_s": time.perf_counter() - started}


def run_dask(folder: Path, as_of: str, category: str, workers: int) -> dict:
    import logging

    import pandas as pd
    from distributed import Client, LocalCluster

    import targeting as tg
    from targeting.data.dask import read_user_partitions
    from targeting.models.dask import DaskPropensityModel

    out = {}
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                      memory_limit="8GiB", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        t = time.perf_counter()
        parts = read_user_partitions(str(folder))
        out["read_validate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        model = DaskPropensityModel(category, progress=False, client=client).fit(
            parts, pd.Timestamp(as_of))
        out["fit_s"] = time.perf_counter() - t
        t = time.perf_counter()
        local = model.to_local()
        out["auc"] = tg.evaluate(local, parts, pd.Timestamp(as_of)).metrics["auc"]
        out["evaluate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        scores = tg.score(parts, local, pd.Timestamp(as_of))
        n = len(scores.compute())
        out["score_s"] = time.perf_counter() - t
        out["scored"] = n
        out["rounds"] = model.validation_["best_iteration"]
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        out["worker_peak_gib"] = max(peaks.values()) / 1024**2
    out["client_peak_gib"] = peak_gib()
    return out


def run_single(folder: Path, as_of: str, category: str) -> dict:
    import pandas as pd

    import targeting as tg

    t = time.perf_counter()
    tables = {p.name: pd.concat([pd.read_parquet(f) for f in sorted(p.glob("*.parquet"))],
                                ignore_index=True) for p in sorted(folder.iterdir())}
    for frame in tables.values():  # same dtypes as the demo world (categories per chunk)
        for col in frame.columns:
            if frame[col].dtype == object:
                frame[col] = frame[col].astype("category")
    out = {"read_s": time.perf_counter() - t,
           "tables_gib": sum(f.memory_usage(deep=True).sum() for f in tables.values()) / 1024**3}
    t = time.perf_counter()
    model = tg.PropensityModel(category, progress=False).fit(tables, pd.Timestamp(as_of))
    out["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    out["auc"] = tg.evaluate(model, tables, pd.Timestamp(as_of)).metrics["auc"]
    out["evaluate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    out["scored"] = len(tg.score(tables, model, pd.Timestamp(as_of)))
    out["score_s"] = time.perf_counter() - t
    out["rounds"] = model.validation_["best_iteration"]
    out["peak_gib"] = peak_gib()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--users-per-chunk", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--category", default="beauty")
    parser.add_argument("--folder", default="/tmp/targeting-scale-out")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--single-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = Path(args.folder)
    if args.single_only:
        print(json.dumps(run_single(folder, args.as_of, args.category)))
        return
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    world = write_world(folder, args.chunks, args.users_per_chunk)
    users = args.chunks * args.users_per_chunk
    print(f"world: {users:,} users in {args.chunks} chunks, {world['rows']['social_events']:,} "
          f"social events, {world['rows']['orders']:,} orders; Parquet {world['parquet_gib']:.2f}"
          f" GiB, written in {world['write_s']:.0f} s (peak {peak_gib():.1f} GiB)")
    dask_out = run_dask(folder, world["as_of"], args.category, args.workers)
    print("dask  :", json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                 for k, v in dask_out.items()}))
    if not args.skip_single:
        done = subprocess.run([sys.executable, __file__, "--single-only", "--folder",
                               str(folder), "--as-of", world["as_of"], "--category",
                               args.category], capture_output=True, text=True, check=True)
        single = json.loads(done.stdout.strip().splitlines()[-1])
        print("single:", json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                     for k, v in single.items()}))
        total_d = dask_out["fit_s"] + dask_out["evaluate_s"] + dask_out["score_s"]
        total_s = single["fit_s"] + single["evaluate_s"] + single["score_s"]
        print(f"\nfit+evaluate+score: Dask {total_d:.0f} s vs one process {total_s:.0f} s "
              f"({total_d / total_s:.2f}x); peak memory: largest Dask worker "
              f"{dask_out['worker_peak_gib']:.2f} GiB vs one process {single['peak_gib']:.2f} GiB"
              f" (tables in memory {single['tables_gib']:.2f} GiB); AUC Dask "
              f"{dask_out['auc']:.4f} vs one process {single['auc']:.4f}")


if __name__ == "__main__":
    main()
