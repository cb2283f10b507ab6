"""Per-user reasons for 100,000 users: ``score(..., reasons=3)``'s engine against shap.

    .venv/bin/python benchmarks/explain.py [--world-users 50000] [--users 100000] [--repeat 3]

The demo-world beauty model (fused features) explains ``--users`` rows of its scoring matrix
(the world's users, tiled up to the count). Timed, same matrix, same run, medians of
``--repeat`` calls:

1. targeting: ``reason_columns`` (LightGBM ``pred_contrib`` in chunks of 20,000, top-3 reasons
   by absolute effect with argpartition, silo totals).
2. shap: ``shap.TreeExplainer(booster)(X)`` then the same top-3 by a full argsort, the way a
   notebook would do it.
3. A plain ``Booster.predict`` of the margin, for scale.

Also reported: the largest difference between the two sets of SHAP values.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import shap
from _timing import timed

import targeting as tg
from targeting.evaluation.explain import reason_columns


def shap_reasons(booster, X, names, k=3) -> pd.DataFrame:
    values = shap.TreeExplainer(booster)(X, check_additivity=False).values
    top = np.argsort(-np.abs(values), axis=1)[:, :k]
    effects = np.take_along_axis(values, top, axis=1)
    labels = np.asarray(names, dtype=object)
    return pd.DataFrame({**{f"reason_{i + 1}": labels[top[:, i]] for i in range(k)},
                         **{f"reason_{i + 1}_effect": effects[:, i] for i in range(k)}})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--world-users", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    world = tg.demo_world(n_users=args.world_users, seed=0)
    model = tg.PropensityModel("beauty", progress=False).fit(world.tables, world.as_of)
    X = model.pipeline_.to_matrix(model.features(world.tables, world.as_of))
    X = np.resize(X, (args.users, X.shape[1]))  # tile the world's users up to the count
    booster, names = model.booster_, model.pipeline_.feature_names_
    trees = booster.best_iteration or booster.num_trees()
    print(f"{args.users:,} users x {X.shape[1]} features, {trees} trees of "
          f"{booster.params.get('num_leaves', 15)} leaves; medians of {args.repeat}", flush=True)

    t_pred, _ = timed(lambda: booster.predict(X, raw_score=True), args.repeat)
    print(f"plain Booster.predict (margin):                 {t_pred:8.2f} s", flush=True)
    t_ours, ours = timed(lambda: reason_columns(model, X, 3), args.repeat)
    print(f"targeting reasons: {t_ours:.2f} s", flush=True)
    t_shap, theirs = timed(lambda: shap_reasons(booster, X, names), args.repeat)

    sample = X[:5_000]
    diff = np.abs(shap.TreeExplainer(booster)(sample, check_additivity=False).values
                  - booster.predict(sample, pred_contrib=True)[:, :-1]).max()
    same = (ours.reason_1_effect.to_numpy() == theirs.reason_1_effect.to_numpy()).mean()
    print(f"targeting reasons (pred_contrib, top-3, silos): {t_ours:8.2f} s  "
          f"({t_ours / args.users * 1e6:.0f} us per user)")
    print(f"shap TreeExplainer + argsort top-3:             {t_shap:8.2f} s  "
          f"ratio {t_ours / t_shap:.2f}x shap's time")
    print(f"reasons cost {t_ours / t_pred:.0f}x a plain prediction")
    print(f"max |SHAP difference| {diff:.1e}; same top reason effect for {same:.1%} of users")
    per_million = t_ours / args.users * 1e6
    print(f"projected for 1,000,000 users: {per_million / 60:.1f} min")


if __name__ == "__main__":
    main()
