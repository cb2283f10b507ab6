"""Transaction logs as they come: what ``from_transactions`` does to the three real logs in
tests/data, and how long it and ``init-mapping`` take.

    .venv/bin/python benchmarks/intake.py [--repeat 5]

For each log: ``write_mapping_template`` (init-mapping), then ``from_transactions`` with the
columns that mapping names (no hand edit), timed as the median of ``--repeat`` runs on the
frame already read (as the command line reads it: every column as text), and the summary's
counts.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tomllib
from pathlib import Path

import pandas as pd

import targeting as tg
from targeting.data.mapping import write_mapping_template

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
LOGS = ("online_retail_sample.csv.gz", "cdnow_master.csv.gz", "grocery_elog.csv.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for name in LOGS:
        started = time.perf_counter()
        mapping = tomllib.loads(write_mapping_template(DATA / name))["transactions"]
        guess = time.perf_counter() - started
        log = pd.read_csv(DATA / name, dtype=str)
        seconds = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            tables = tg.from_transactions(log, **mapping, verbose=False)
            seconds.append(time.perf_counter() - started)
        print(f"{name}: {tables.intake}", flush=True)
        rows.append({"log": name, "lines": len(log), "init-mapping s": guess,
                     "from_transactions s (median)": statistics.median(seconds),
                     **{k: tables.intake.counts[k] for k in (
                         "anonymous", "returns", "zero_price", "orders", "customers",
                         "netted_orders", "fully_returned")}})
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
