"""Customer value on real purchase logs and the demo world, beside the analyst's baselines.

    .venv/bin/python benchmarks/value_real.py            # every log and date, and the demo
    .venv/bin/python benchmarks/value_real.py --only cdnow --threads 2
    .venv/bin/python benchmarks/value_real.py --markdown # the tables again from the JSON

For each real log with amounts (``targeting.datasets``: CDNOW, UCI Online Retail) and each
``as_of`` (chosen before any result was seen: two per log, 90-day horizons; 365 days do not
fit in either log), fits ``ValueModel(horizon_days=90)`` on the history before ``as_of`` and
evaluates it on the 90 days after, beside historic value, RFM's monetary and BG/NBD x
Gamma-Gamma: normalised Gini, Spearman, top-decile capture, decile error, predicted /
realised total, and the paired bootstrap interval of the Gini difference to the best
baseline. Both candidates (two-part and ZILN) are reported; the model keeps the one with the
higher Gini on its validation snapshot.
On the demo world (20,000 users, seeds 0-2, the world's 30-day window) the oracle's Gini, from
the world's true expected revenue, is reported beside them, and a diagnostic of how much of
the truth the features can tell: the Gini of LightGBM fitted to the true expected revenue
itself on the same features at ``as_of`` (two folds of users, each scored by the fit on the
other), a ceiling no model of the observed revenue can be expected to pass.

``--dev`` evaluates each fit one horizon earlier instead (``as_of - h``): the windows are the
validation snapshots of the reported fits, where the model's settings may be chosen.

Writes ``benchmarks/results_value.json`` (``results_value_dev.json`` with ``--dev``) and
``benchmarks/results_value.md`` generated from it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

import targeting as tg
from targeting.data.labels import revenue_labels
from targeting.datasets import load_cdnow, load_online_retail
from targeting.models._gini import normalised_gini

HERE = Path(__file__).resolve().parent
# Chosen before looking at any result: two dates per log, 90-day windows inside the data.
LOGS = {"cdnow": ("1997-10-01", "1998-01-01"), "online_retail": ("2011-06-01", "2011-09-01")}
HORIZON = 90
DEMO_SEEDS, DEMO_USERS = (0, 1, 2), 20_000
COLUMNS = ["gini", "spearman", "capture_at_10pct", "capture_at_20pct", "decile_error",
           "total_ratio"]


def cdnow() -> dict[str, pd.DataFrame]:
    """The CDNOW master log through the package's adapter."""
    return tg.from_transactions(load_cdnow(), user="customer_id", ts="date", amount="dollars",
                                quantity="cds", verbose=False)


def online_retail() -> dict[str, pd.DataFrame]:
    """UCI Online Retail (40 % of customers) as it comes, invoice lines through the package's
    intake: orders by invoice, amount = quantity x unit price, returns netted, anonymous lines
    dropped."""
    return tg.from_transactions(load_online_retail(), user="CustomerID", ts="InvoiceDate",
                                order="InvoiceNo", quantity="Quantity", unit_price="UnitPrice",
                                verbose=False)


def run_one(tables, as_of, horizon: int, threads: int, evaluate_at=None, world=None) -> dict:
    started = time.perf_counter()
    model = tg.ValueModel(horizon_days=horizon, progress=False, num_threads=threads)
    model.fit(tables, as_of)
    evaluation = tg.evaluate(model, world if world is not None else tables,
                             evaluate_at or as_of)
    table = evaluation.table
    m = evaluation.metrics
    return {
        "as_of": str(pd.Timestamp(as_of).date()), "evaluated_at": evaluation.extra["as_of"],
        "horizon_days": horizon, "users": evaluation.extra["users"],
        "kept": model.method_,
        "validation_gini": {k.removeprefix("validation_gini_"): v
                            for k, v in model.validation_.items()
                            if k.startswith("validation_gini_")},
        "scale": model.scale_,
        "rows": {name: {c: _finite(row[c]) for c in COLUMNS} for name, row in table.iterrows()},
        "best_baseline": evaluation.extra["best_baseline"],
        "gini_margin": m["gini_margin_over_best_baseline"],
        "gini_margin_low": m["gini_margin_low"], "gini_margin_high": m["gini_margin_high"],
        "predicted_total": m["predicted_total"], "realised_total": m["realised_total"],
        "oracle_gini": m.get("oracle_gini"), "notes": evaluation.notes,
        "seconds": round(time.perf_counter() - started, 1),
    }


def feature_ceiling(world, threads: int) -> float:
    """Normalised Gini, on the window's realised revenue, of LightGBM fitted to the world's
    true expected revenue on the features at ``as_of`` (two folds of users, out of fold)."""
    pipeline = tg.FeaturePipeline()
    X = pipeline.fit_transform(world.tables, world.as_of)
    X = X[pipeline.has_record(X)]
    matrix = pipeline.to_matrix(X)
    truth = world.truth["expected_revenue"].reindex(X.index).to_numpy()
    fold = np.random.default_rng(0).random(len(truth)) < 0.5
    predicted = np.empty(len(truth))
    params = {"objective": "gamma", "learning_rate": 0.05, "num_leaves": 15,
              "min_child_samples": 50, "verbose": -1, "num_threads": threads}
    for part in (fold, ~fold):
        booster = lgb.train(params, lgb.Dataset(matrix[~part], truth[~part]), 600)
        predicted[part] = booster.predict(matrix[part])
    y = revenue_labels(world.tables, world.as_of, world.horizon_days, None, X.index)
    return normalised_gini(y.to_numpy(), predicted)


def _finite(value) -> float | None:
    value = float(value)
    return value if value == value else None  # NaN -> null in JSON


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=[*LOGS, "demo"],
                        choices=[*LOGS, "demo"])
    parser.add_argument("--dev", action="store_true",
                        help="evaluate on the validation snapshots (as_of - horizon) instead")
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads")
    parser.add_argument("--markdown", action="store_true",
                        help="only write the markdown tables from the JSON")
    args = parser.parse_args()
    out = HERE / ("results_value_dev.json" if args.dev else "results_value.json")
    if args.markdown:
        write_markdown(json.loads(out.read_text()), HERE / "results_value.md")
        return
    results = json.loads(out.read_text()) if out.exists() else {}
    shift = pd.Timedelta(days=HORIZON if args.dev else 0)
    loaders = {"cdnow": cdnow, "online_retail": online_retail}
    for name in [n for n in args.only if n in LOGS]:
        tables = loaders[name]()
        for as_of in LOGS[name]:
            fit_at = pd.Timestamp(as_of) - shift
            try:
                row = run_one(tables, fit_at, HORIZON, args.threads)
            except tg.TargetingError as err:  # e.g. too little history for a --dev fit
                print(f"\n== {name} {as_of}: {err}")
                results.setdefault(name, {})[as_of] = {"error": str(err)}
                continue
            results.setdefault(name, {})[as_of] = row
            _print(f"{name} {as_of}", row)
            out.write_text(json.dumps(results, indent=1))
    if "demo" in args.only:
        for seed in DEMO_SEEDS:
            world = tg.demo_world(n_users=DEMO_USERS, random_state=seed)
            fit_at = world.as_of - pd.Timedelta(days=world.horizon_days if args.dev else 0)
            row = run_one(world.tables, fit_at, world.horizon_days, args.threads,
                          world=None if args.dev else world)
            if not args.dev:
                row["feature_ceiling_gini"] = feature_ceiling(world, args.threads)
            results.setdefault("demo", {})[f"seed {seed}"] = row
            _print(f"demo seed {seed}", row)
            out.write_text(json.dumps(results, indent=1))
    if not args.dev:
        write_markdown(results, HERE / "results_value.md")


def _print(title: str, row: dict) -> None:
    table = pd.DataFrame(row["rows"]).T[COLUMNS].round(4)
    print(f"\n== {title}: fitted at {row['as_of']}, evaluated {row['horizon_days']} days from "
          f"{row['evaluated_at']} ({row['users']:,} users, {row['seconds']} s); kept "
          f"{row['kept']} (validation Gini {row['validation_gini']})")
    print(table.to_string())
    print(f"Gini margin over {row['best_baseline']}: {row['gini_margin']:+.4f} "
          f"[{row['gini_margin_low']:+.4f}, {row['gini_margin_high']:+.4f}]", flush=True)
    for note in row["notes"]:
        print(f"note: {note}")


def write_markdown(results: dict, path: Path) -> None:
    """One table per log: each date's model, candidates, oracle and baselines."""
    parts = ["# Customer value: measured results",
             "",
             "Generated by `benchmarks/value_real.py` from `results_value.json`; do not edit.",
             ""]
    for name, runs in results.items():
        parts += [f"## {name}", ""]
        for key, row in runs.items():
            if "error" in row:
                parts += [f"### {key}", "", f"Not run: {row['error']}", ""]
                continue
            parts += [f"### {key}: fitted before {row['as_of']}, revenue of the "
                      f"{row['horizon_days']} days from {row['evaluated_at']} "
                      f"({row['users']:,} users)", "",
                      f"Kept `{row['kept']}` (validation Gini "
                      + ", ".join(f"{k} {v:.4f}" for k, v in row["validation_gini"].items())
                      + f"); Gini margin over `{row['best_baseline']}` "
                      f"{row['gini_margin']:+.4f} (95 % paired bootstrap interval "
                      f"{row['gini_margin_low']:+.4f} to {row['gini_margin_high']:+.4f}); "
                      f"predicted / realised total {row['predicted_total']:,.0f} / "
                      f"{row['realised_total']:,.0f}.", ""]
            if row.get("feature_ceiling_gini") is not None:
                parts += [f"Oracle Gini {row['oracle_gini']:.4f}; LightGBM fitted to the true "
                          "expected revenue on the same features (out of fold) "
                          f"{row['feature_ceiling_gini']:.4f}.", ""]
            parts += [*_markdown_table(pd.DataFrame(row["rows"]).T[COLUMNS]), ""]
            parts += [f"Note: {note}" for note in row.get("notes", [])]
            parts += [""] if row.get("notes") else []
    path.write_text("\n".join(parts))


def _markdown_table(table: pd.DataFrame) -> list[str]:
    """A pipe table, numbers to four places, missing ones as a dash."""
    lines = ["| scorer | " + " | ".join(table.columns) + " |",
             "|---|" + "---:|" * len(table.columns)]
    for name, row in table.iterrows():
        cells = ["-" if v is None or v != v else f"{v:.4f}" for v in row.tolist()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main()
