"""Propensity on the real purchase logs against the classic baselines (never worse than them).

    .venv/bin/python benchmarks/real_data.py [--logs cdnow online_retail grocery]
        [--as-of 1998-01-01] [--horizons 30 90 180] [--no-before] [--threads 1]
        [--json benchmarks/results_real_data.json]

For every log in tests/data (CDNOW: one cohort, 18 months, amounts; UCI Online Retail sample:
invoice lines, 12 months; groceryElog: 24 months, no amounts), every as_of date and horizon,
fits ``PropensityModel(None, horizon_days=h)`` (any purchase) on the log before as_of and
evaluates it on the customers who exist at as_of, over the next h days, beside recency,
frequency, RFM and BG/NBD computed on the same users: the model's AUC, every baseline's, the
paired difference to the best baseline with its 95 % DeLong interval, the candidate the model
chose on its own validation snapshot (before as_of) and each candidate's AUC there. With
``--before`` (the default) the model as it was before it read the classic scores and chose its
capacity (``capacity="lightgbm", classic_features=False``) is fitted too, for the AUC and the
fit time.

The dates, fixed by rule before any result was looked at, are the same for every log: the
first of the month on or before ``last day + 1 - 180 days`` (the latest month start that leaves
the longest horizon) and on or before ``last day + 1 - 90 days``. Horizons 30, 90 and 180 days
are tried at each; a window that runs past the data, or a history too short to train for it,
is reported as skipped with the reason. ``--as-of`` replaces the dates (as the earlier
CDNOW-only version of this script did: ``--logs cdnow --as-of 1998-01-01``).

The results go to ``--json`` (default ``benchmarks/results_real_data.json``), which
docs/guides/never-worse.md renders; the CDNOW rows at 1998-01-01 also go to
``benchmarks/results_cdnow.json``, the source of the README's headline table and the
propensity guide's figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import targeting as tg
from targeting import datasets

HERE = Path(__file__).resolve().parent
HORIZONS = (30, 90, 180)
LAGS = (180, 90)  # days before the day after the last order, floored to a month start
COLUMNS = {
    "cdnow": dict(user="customer_id", ts="date", amount="dollars", quantity="cds"),
    "online_retail": dict(user="CustomerID", ts="InvoiceDate", order="InvoiceNo",
                          quantity="Quantity", unit_price="UnitPrice", region="Country"),
    "grocery": dict(user="cust", ts="date"),
}
LOADERS = {"cdnow": datasets.load_cdnow, "online_retail": datasets.load_online_retail,
           "grocery": datasets.load_grocery}


def load(name: str):
    """The log as contract tables (``from_transactions`` with its columns)."""
    return tg.from_transactions(LOADERS[name](), **COLUMNS[name], verbose=False)


def as_of_dates(tables) -> list[pd.Timestamp]:
    """The rule: month starts on or before ``last day + 1 - lag`` for each lag in LAGS."""
    after = tables["orders"]["ts"].max().normalize() + pd.Timedelta(days=1)
    return [(after - pd.Timedelta(days=lag)).to_period("M").to_timestamp() for lag in LAGS]


def run_window(name: str, tables, as_of, horizon: int, *, before: bool = True,
               lightgbm_params: dict | None = None) -> dict:
    """One log, date and horizon: the model, every baseline, the paired difference."""
    row = {"log": name, "as_of": str(pd.Timestamp(as_of).date()), "horizon": horizon}
    params = dict(progress=False, **(lightgbm_params or {}))
    try:
        started = time.perf_counter()
        model = tg.PropensityModel(None, horizon_days=horizon, **params).fit(tables, as_of)
        row["fit_seconds"] = time.perf_counter() - started
        evaluation = tg.evaluate(model, tables, as_of)
    except tg.TargetingError as err:
        return {**row, "skipped": str(err)}
    c = evaluation.comparison
    row.update(users=int(evaluation.metrics["users"]),
               positive_rate=evaluation.metrics["positive_rate"],
               model=evaluation.metrics["auc"],
               baselines=evaluation.baselines["auc"].to_dict(),
               best_baseline=evaluation.extra["best_baseline"],
               margin=c.difference, low=c.low, high=c.high,
               candidate=model.candidate_,
               validation_auc={k: v["auc"] for k, v in model.selection_["candidates"].items()},
               notes=list(evaluation.notes))
    if before:
        started = time.perf_counter()
        old = tg.PropensityModel(None, horizon_days=horizon, capacity="lightgbm",
                                 classic_features=False, **params).fit(tables, as_of)
        row["before_fit_seconds"] = time.perf_counter() - started
        row["before_model"] = tg.evaluate(old, tables, as_of, baselines=False).metrics["auc"]
    return row


def summary(rows: list[dict]) -> dict:
    """Mean margin overall and per log, and whether the model is within noise everywhere."""
    done = [r for r in rows if "skipped" not in r]
    if not done:
        return {}
    per_log = {log: float(np.mean([r["margin"] for r in done if r["log"] == log]))
               for log in dict.fromkeys(r["log"] for r in done)}
    return {"windows": len(done), "skipped": len(rows) - len(done),
            "mean_margin": float(np.mean([r["margin"] for r in done])),
            "mean_margin_per_log": per_log,
            "within_noise_everywhere": bool(all(r["high"] >= 0 for r in done)),
            "beyond_noise": int(sum(r["low"] > 0 for r in done)),
            "behind_beyond_noise": int(sum(r["high"] < 0 for r in done))}


def table(rows: list[dict]) -> pd.DataFrame:
    """The rows flattened for printing: one column per baseline."""
    flat = []
    for r in rows:
        if "skipped" in r:
            flat.append({k: r[k] for k in ("log", "as_of", "horizon")} | {"skipped": "yes"})
            continue
        flat.append({k: r.get(k) for k in ("log", "as_of", "horizon", "users", "model",
                                           "before_model")}
                    | r["baselines"] | {k: r.get(k) for k in (
                        "margin", "low", "high", "candidate", "fit_seconds",
                        "before_fit_seconds")})
    return pd.DataFrame(flat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logs", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    parser.add_argument("--as-of", nargs="+", default=None,
                        help="replace the dates of the rule (same dates for every log)")
    parser.add_argument("--horizons", type=int, nargs="+", default=list(HORIZONS))
    parser.add_argument("--no-before", dest="before", action="store_false",
                        help="skip the model as it was before (no classic features, one capacity)")
    parser.add_argument("--threads", type=int, default=None, help="LightGBM num_threads")
    parser.add_argument("--json", type=Path, default=HERE / "results_real_data.json")
    args = parser.parse_args()
    extra = {} if args.threads is None else {"num_threads": args.threads}
    rows = []
    for name in args.logs:
        tables = load(name)
        dates = args.as_of or as_of_dates(tables)
        for as_of in dates:
            for h in args.horizons:
                row = run_window(name, tables, pd.Timestamp(as_of), h, before=args.before,
                                 lightgbm_params=extra)
                rows.append(row)
                print(table([row]).round(4).to_string(index=False), flush=True)
    print(table(rows).round(4).to_string(index=False))
    result = {"rule": "as_of: month start on or before last day + 1 - 180 days, and - 90 days; "
                      "horizons 30/90/180 where the window and the history fit",
              "machine": f"{platform.machine()}, {platform.python_version()}",
              "lightgbm_params": extra, "summary": summary(rows), "rows": rows}
    args.json.write_text(json.dumps(result, indent=1, default=float) + "\n")
    write_cdnow_summary(rows, result["machine"])
    print(json.dumps(result["summary"], indent=1))


def write_cdnow_summary(rows: list[dict], machine: str,
                        path: Path = HERE / "results_cdnow.json") -> None:
    """CDNOW at 1998-01-01, one entry per horizon, in the shape the docs' figures read."""
    chosen = [r for r in rows if r["log"] == "cdnow" and r["as_of"] == "1998-01-01"
              and "skipped" not in r]
    if not chosen:
        return
    path.write_text(json.dumps({
        "command": "benchmarks/real_data.py", "as_of": "1998-01-01",
        "measured": f"one run ({machine}), with every log in benchmarks/results_real_data.json",
        "rows": {str(r["horizon"]): {"model": round(r["model"], 4),
                                     **{k: round(v, 4) for k, v in r["baselines"].items()},
                                     "margin": round(r["margin"], 4),
                                     "seconds": round(r["fit_seconds"], 1)}
                 for r in chosen}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
