"""Propensity on the real CDNOW purchase log against the classic baselines (README table).

    .venv/bin/python benchmarks/real_data.py [--as-of 1998-01-01] [--horizons 30 90 180]

Fits ``PropensityModel(None, horizon_days=h)`` (any purchase) on the log before ``as_of`` and
evaluates it, beside recency, frequency, RFM and BG/NBD, on the customers' next ``h`` days.
Writes the AUCs to ``benchmarks/results_cdnow.json`` (the docs' results page and the README's
headline table are generated from it).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

import targeting as tg

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "cdnow_master.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--as-of", default="1998-01-01")
    parser.add_argument("--horizons", type=int, nargs="+", default=[30, 90, 180])
    args = parser.parse_args()
    log = pd.read_csv(DATA, dtype={"customer_id": str})
    tables = tg.from_transactions(log, user="customer_id", ts="date", amount="dollars",
                                  quantity="cds", verbose=False)
    rows = []
    for h in args.horizons:
        started = time.perf_counter()
        try:
            model = tg.PropensityModel(None, horizon_days=h, progress=False)
            model.fit(tables, args.as_of)
            evaluation = tg.evaluate(model, tables, args.as_of)
        except tg.TargetingError as err:
            print(f"{h} days: {err}")
            continue
        row = {"horizon": h, "model": evaluation.metrics["auc"],
               **evaluation.baselines["auc"].to_dict(),
               "margin": evaluation.metrics["auc_margin_over_best_baseline"],
               "seconds": time.perf_counter() - started}
        rows.append(row)
        print(pd.DataFrame([row]).round(4).to_string(index=False), flush=True)
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    out = Path(__file__).with_name("results_cdnow.json")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out.write_text(json.dumps({
        "command": "benchmarks/real_data.py", "as_of": args.as_of,
        "measured": f"{when}, load {os.getloadavg()[0]:.1f}, one run",
        "rows": {str(r["horizon"]): {k: round(v, 4) for k, v in r.items() if k != "horizon"}
                 for r in rows}}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
