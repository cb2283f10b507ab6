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


def setup(world_users: int, users: int):
    """The demo world's beauty model and its scoring matrix tiled up to ``users`` rows."""
    world = tg.demo_world(n_users=world_users, random_state=0)
    model = tg.PropensityModel("beauty", progress=False).fit(world.tables, world.as_of)
    X = model.pipeline_.to_matrix(model.features(world.tables, world.as_of))
    return model, np.resize(X, (users, X.shape[1]))  # tile the world's users up to the count


def measure(model, X, repeat: int = 3) -> dict:
    """Times of a plain prediction, our reasons and shap's, and how far the values differ."""
    booster, names = model.booster_, model.pipeline_.feature_names_
    t_pred, _ = timed(lambda: booster.predict(X, raw_score=True), repeat)
    t_ours, ours = timed(lambda: reason_columns(model, X, 3), repeat)
    t_shap, theirs = timed(lambda: shap_reasons(booster, X, names), repeat)
    sample = X[:5_000]
    diff = np.abs(shap.TreeExplainer(booster)(sample, check_additivity=False).values
                  - booster.predict(sample, pred_contrib=True)[:, :-1]).max()
    same = (ours.reason_1_effect.to_numpy() == theirs.reason_1_effect.to_numpy()).mean()
    return {"predict": t_pred, "ours": t_ours, "shap": t_shap, "max_diff": float(diff),
            "same_top": float(same), "trees": booster.best_iteration or booster.num_trees()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--world-users", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model, X = setup(args.world_users, args.users)
    r = measure(model, X, args.repeat)
    print(f"{args.users:,} users x {X.shape[1]} features, {r['trees']} trees of "
          f"{model.booster_.params.get('num_leaves', 15)} leaves; medians of {args.repeat}")
    print(f"plain Booster.predict (margin):                 {r['predict']:8.2f} s")
    print(f"targeting reasons (pred_contrib, top-3, silos): {r['ours']:8.2f} s  "
          f"({r['ours'] / args.users * 1e6:.0f} us per user)")
    print(f"shap TreeExplainer + argsort top-3:             {r['shap']:8.2f} s  "
          f"ratio {r['ours'] / r['shap']:.2f}x shap's time")
    print(f"reasons cost {r['ours'] / r['predict']:.0f}x a plain prediction")
    print(f"max |SHAP difference| {r['max_diff']:.1e}; same top reason effect for "
          f"{r['same_top']:.1%} of users")
    print(f"projected for 1,000,000 users: {r['ours'] / args.users * 1e6 / 60:.1f} min")


if __name__ == "__main__":
    main()
