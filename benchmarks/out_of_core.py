"""Out of core: a demo world written block by block to Parquet, then the whole Dask path on it.

    .venv/bin/python benchmarks/out_of_core.py --users 1000000 --block-users 100000 --workers 2

No process ever holds the whole world. Stages, each timed (wall clock) with the peak resident
memory of every process of the run summed (this one: the client, LocalCluster's scheduler;
the nannies; the workers) and of the largest single process:

- **write**: :func:`targeting.data.demo.write_demo_world`, one block at a time in this process
  (before the cluster starts);
- **read + validate**: :func:`targeting.data.dask.read_user_partitions`, one partition per block,
  every contract checked partition by partition;
- **features**: ``DaskFeaturePipeline`` fitted over every partition (the vocabularies), then the
  features at ``as_of`` written to Parquet partition by partition (never collected);
- **fit**: ``DaskPropensityModel`` (seven feature windows: six training snapshots and the
  validation one; rounds from a local early-stopped sample; LightGBM's Dask training; the
  deciles from every user's score);
- **evaluate**: the fitted model on the evaluation window after ``as_of`` (never trained on),
  with the oracle's AUC on the same users from the planted truth;
- **score**: ``score()`` on the partitions, written to Parquet; then every user is checked to be
  scored exactly once.

Results go to ``benchmarks/results_out_of_core.json`` (one entry per size, the latest run of
each); ``--write-docs`` (after a run) or ``--docs-only`` renders them into
``docs/guides/scale-out.md`` between its markers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import time
from pathlib import Path

from _rss import GIB, TreeMonitor

RESULTS = Path(__file__).with_name("results_out_of_core.json")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "guides" / "scale-out.md"
DOCS_START, DOCS_END = "<!-- out-of-core:start -->", "<!-- out-of-core:end -->"
STAGES = ("write", "read_validate", "features", "fit", "evaluate", "score")


class Stages:
    """Times and memory peaks of consecutive stages, and of named steps inside them."""

    def __init__(self, monitor: TreeMonitor):
        self.monitor, self.out, self.steps = monitor, {}, {}

    def run(self, name: str, fn):
        load, start = os.getloadavg()[0], time.perf_counter()
        result = fn()
        self.out[name] = {**self._measure(start), "load_at_start": round(load, 1)}
        m = self.out[name]
        print(f"{name}: {m['seconds']:.0f} s, peak {m['peak_gib_all_processes']:.2f} GiB in all "
              f"processes (largest {m['peak_gib_largest_process']:.2f} GiB), load {load:.1f}",
              flush=True)
        return result

    def _measure(self, start: float) -> dict:
        seconds = time.perf_counter() - start
        total, largest = self.monitor.peaks(start)
        return {"seconds": round(seconds, 1), "peak_gib_all_processes": round(total / GIB, 2),
                "peak_gib_largest_process": round(largest / GIB, 2)}

    def timed_methods(self, stage: str, cls, names: tuple[str, ...]) -> None:
        """Record each call of ``cls.<name>`` as a step of ``stage`` (instrumentation only:
        the method runs unchanged)."""
        steps = self.steps.setdefault(stage, {})
        for name in names:
            original = getattr(cls, name)

            def wrapper(*args, __original=original, __name=name, **kwargs):
                start = time.perf_counter()
                try:
                    return __original(*args, **kwargs)
                finally:
                    steps[__name.strip("_")] = self._measure(start)

            setattr(cls, name, wrapper)


def _write(frame, path: Path) -> int:
    """One partition's features to its own file (nothing comes back but the row count)."""
    frame.to_parquet(path)
    return len(frame)


def run(args) -> dict:
    import dask
    import dask.dataframe as dd
    import pandas as pd
    from dask.delayed import delayed
    from distributed import Client, LocalCluster

    import targeting as tg
    from targeting.data.dask import read_user_partitions
    from targeting.data.demo import write_demo_world
    from targeting.features.dask import DaskFeaturePipeline
    from targeting.models.dask import DaskPropensityModel

    folder = Path(args.folder)
    shutil.rmtree(folder, ignore_errors=True)
    monitor = TreeMonitor()
    stages = Stages(monitor)
    stages.run("write", lambda: write_demo_world(str(folder), args.users, args.random_state,
                                                 block_users=args.block_users, progress=False))
    manifest = json.loads((folder / "demo_world.json").read_text())
    as_of = pd.Timestamp(manifest["as_of"])
    rows = {}
    for block in sorted((folder / "_blocks").glob("*.json")):
        for name, n in json.loads(block.read_text())["rows"].items():
            rows[name] = rows.get(name, 0) + n
    parquet = sum(p.stat().st_size for name in rows for p in (folder / name).glob("*.parquet"))
    parquet /= GIB  # the contract tables: what the Dask path reads
    out = {"users": args.users, "block_users": args.block_users, "blocks": manifest["blocks"],
           "workers": args.workers, "worker_memory_limit": args.worker_memory,
           "max_train_rows": args.max_train_rows, "category": args.category, "rows": rows,
           "parquet_gib": round(parquet, 2)}
    print(f"world: {args.users:,} users in {manifest['blocks']} blocks, "
          f"{rows['social_events']:,} social events, {rows['orders']:,} orders; Parquet "
          f"{parquet:.2f} GiB", flush=True)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None,
                      memory_limit=args.worker_memory, silence_logs=logging.ERROR,
                      local_directory=str(folder / "_dask")) as cluster, \
            Client(cluster) as client:
        parts = stages.run("read_validate", lambda: read_user_partitions(str(folder)))

        def features():
            pipeline = DaskFeaturePipeline().fit(parts, as_of)
            (folder / "_features").mkdir()
            dask.compute(*[delayed(_write)(p, folder / "_features" / f"part.{i:05d}.parquet")
                           for i, p in enumerate(pipeline.transform(parts, as_of)
                                                 .to_delayed())])
            return len(pipeline.feature_names_)

        out["features"] = stages.run("features", features)
        # The fit's steps: feature windows and matrices, rounds (a local early-stopped run),
        # LightGBM's Dask training, the deciles and drift reference (one more feature pass).
        stages.timed_methods("fit", DaskPropensityModel, (
            "_cluster_matrices", "_rounds", "_train_dask", "_fit_population"))
        model = stages.run("fit", lambda: DaskPropensityModel(
            args.category, max_train_rows=args.max_train_rows, progress=False,
            client=client).fit(parts, as_of).to_local())
        out["rounds"] = model.validation_["best_iteration"]
        out["train_rows"] = model.validation_["train_rows"]
        out["validation_rows"] = model.validation_["validation_rows"]
        oracle = pd.read_parquet(folder / "_truth" / "purchase_proba",
                                 columns=[args.category])[args.category]
        evaluation = stages.run("evaluate", lambda: tg.evaluate(model, parts, as_of,
                                                                oracle=oracle))
        out["auc"] = round(float(evaluation.metrics["auc"]), 4)
        out["oracle_auc"] = round(float(evaluation.metrics["oracle_auc"]), 4)
        out["evaluated_users"] = int(evaluation.metrics["users"])
        stages.run("score", lambda: tg.score(parts, model, as_of).to_parquet(
            str(folder / "_scores")))
        scored = dd.read_parquet(str(folder / "_scores"), columns=["user_id"])["user_id"]
        out["scored"] = int(len(scored))
        out["scored_unique"] = int(scored.nunique().compute())
    monitor.close()
    out["stages"] = stages.out
    out["fit_steps"] = stages.steps["fit"]
    out["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out["machine"] = f"{os.cpu_count()} cores, {platform.machine()}, " \
                     f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GIB:.0f} GiB"
    assert out["scored"] == out["scored_unique"] == args.users, "every user scored once"
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return out


# -- the docs' table ----------------------------------------------------------------------------
def markdown(results: dict) -> str:
    """The measured runs as a Markdown table: per stage, time and peak memory of all processes."""
    runs = sorted(results.values(), key=lambda r: r["users"])
    head = "| stage | " + " | ".join(f"{r['users']:,} users" for r in runs) + " |"
    lines = [head, "|---" * (len(runs) + 1) + "|"]
    for stage in STAGES:
        cells = [f"{r['stages'][stage]['seconds']:,.0f} s, "
                 f"{r['stages'][stage]['peak_gib_all_processes']:.1f} GiB" for r in runs]
        lines.append(f"| {stage.replace('_', ' + ')} | " + " | ".join(cells) + " |")
    total = [sum(r["stages"][s]["seconds"] for s in STAGES) for r in runs]
    lines.append("| all stages | " + " | ".join(f"{t:,.0f} s" for t in total) + " |")
    extra = {
        "blocks (Dask partitions) x users": lambda r: f"{r['blocks']} x {r['block_users']:,}",
        "social events / orders": lambda r: f"{r['rows']['social_events'] / 1e6:,.1f} M / "
                                            f"{r['rows']['orders'] / 1e6:,.2f} M",
        "Parquet on disk": lambda r: f"{r['parquet_gib']:.2f} GiB",
        "training rows (max_train_rows)": lambda r: f"{r['train_rows']:,} "
                                                    f"({r['max_train_rows']:,})",
        "AUC (oracle)": lambda r: f"{r['auc']:.3f} ({r['oracle_auc']:.3f})",
        "users scored once": lambda r: f"{r['scored_unique']:,} of {r['users']:,}",
        "largest process, any stage": lambda r: f"{max(s['peak_gib_largest_process'] for s in r['stages'].values()):.1f} GiB",  # noqa: E501
        "measured (load at the fit's start)": lambda r: f"{r['measured']} "
                                                        f"({r['stages']['fit']['load_at_start']})",
    }
    for label, cell in extra.items():
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in runs) + " |")
    first = runs[0]
    note = (f"`benchmarks/out_of_core.py`, one run per size, {first['workers']} single-threaded "
            f"workers with {first['worker_memory_limit']} each, on {first['machine']} shared with "
            "other jobs (wall clock; memory: the peak of the sum of every process's resident "
            "size, client and scheduler included).")
    return note + "\n\n" + "\n".join(lines) + "\n"


def write_docs(results: dict, page: Path = DOCS) -> None:
    """Replace the table between the markers of ``docs/guides/scale-out.md``."""
    text = page.read_text()
    if DOCS_START not in text or DOCS_END not in text:
        raise SystemExit(f"{page} has no {DOCS_START} ... {DOCS_END} markers")
    head, rest = text.split(DOCS_START, 1)
    _, tail = rest.split(DOCS_END, 1)
    page.write_text(f"{head}{DOCS_START}\n{markdown(results)}{DOCS_END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--block-users", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="8GiB",
                        help="each worker's limit (Dask spills to disk from 60 %% of it)")
    parser.add_argument("--max-train-rows", type=int, default=1_000_000)
    parser.add_argument("--category", default="beauty")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--folder", default="/tmp/targeting-out-of-core")
    parser.add_argument("--keep", action="store_true", help="keep the Parquet world")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file")
    parser.add_argument("--write-docs", action="store_true",
                        help="render the results file into docs/guides/scale-out.md")
    parser.add_argument("--docs-only", action="store_true",
                        help="no run: only render the results file into docs/guides/scale-out.md")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    if not args.docs_only:
        results[str(args.users)] = run(args)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.out}")
    if args.write_docs or args.docs_only:
        write_docs(results)
        print(f"rendered {DOCS}")


if __name__ == "__main__":
    main()
