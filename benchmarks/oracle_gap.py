"""The propensity model's gap to the oracle on the demo world, before and after it read the
classic scores and chose its capacity.

    .venv/bin/python benchmarks/oracle_gap.py [--users 20000] [--seeds 11 12 13]
        [--json benchmarks/results_oracle_gap.json] [--threads 1]

For each seed: ``demo_world(n_users, random_state=seed)``, propensity to buy ``beauty`` in the
30 days after ``as_of`` (as ``targeting demo``), evaluated on the users who exist at ``as_of``
against the oracle (the world's true probabilities) and the classic baselines. "before" is
``capacity="lightgbm", classic_features=False`` (one LightGBM on the pipeline's features);
"after" the default model. The results are appended to ``--json`` (one entry per world size
and seed, replaced when measured again).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import targeting as tg

HERE = Path(__file__).resolve().parent
VARIANTS = {"before": dict(capacity="lightgbm", classic_features=False), "after": {}}


def measure(n_users: int, seed: int, extra: dict, variants=tuple(VARIANTS)) -> dict:
    world = tg.demo_world(n_users=n_users, random_state=seed)
    row = {"users": n_users, "seed": seed}
    for name in variants:
        params = VARIANTS[name]
        started = time.perf_counter()
        model = tg.PropensityModel("beauty", progress=False, **params, **extra)
        model.fit(world.tables, world.as_of)
        seconds = time.perf_counter() - started
        m = tg.evaluate(model, world).metrics
        row[name] = {"auc": m["auc"], "oracle_auc": m["oracle_auc"],
                     "gap": m["auc_gap_to_oracle"],
                     "margin": m["auc_margin_over_best_baseline"],
                     "margin_low": m.get("auc_margin_low"), "fit_seconds": seconds,
                     "candidate": model.candidate_}
        print(n_users, seed, name, {k: round(v, 4) if isinstance(v, float) else v
                                    for k, v in row[name].items()}, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=None, help="LightGBM num_threads")
    parser.add_argument("--json", type=Path, default=HERE / "results_oracle_gap.json")
    args = parser.parse_args()
    extra = {} if args.threads is None else {"num_threads": args.threads}
    rows = json.loads(args.json.read_text())["rows"] if args.json.exists() else []
    for seed in args.seeds:
        new = measure(args.users, seed, extra, args.variants)
        rows = [r for r in rows if (r["users"], r["seed"]) != (args.users, seed)] + [new]
        args.json.write_text(json.dumps({"lightgbm_params": extra, "rows": rows}, indent=1)
                             + "\n")


if __name__ == "__main__":
    main()
