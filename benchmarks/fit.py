"""The paths a user waits on: the propensity fit, the demo and ``compare_uplift``, each
against the obvious hand-written alternative measured in the same run.

    .venv/bin/python benchmarks/fit.py [--users 50000] [--uplift-rows 300000] [--demo]

- Propensity fit: ``PropensityModel("beauty").fit`` (features per snapshot, classic scores,
  the candidates, calibration, population deciles) against one ``lightgbm.train`` on the
  same stacked snapshot matrix with the same parameters, early-stopped on the validation
  snapshot: what a practitioner writes once the matrix exists. Timed for the default
  ``capacity="auto"`` and for ``capacity="lightgbm"`` (one LightGBM).
- ``compare_uplift`` (S, T and X learners, two-fold cross-fitting, bootstrap intervals, the
  best refitted) on a synthetic four-arm randomised campaign against causalml's
  ``BaseSClassifier``/``BaseTClassifier``/``BaseXClassifier`` with the same LightGBM
  settings, cross-fitted on the same two folds (known assignment shares as propensity).
- ``targeting demo`` at ``--demo-users``: the README's first command, wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd

import targeting as tg
from targeting.data.tables import checked_tables
from targeting.models.classic import NAMES as CLASSIC_NAMES


def propensity_fit(users: int) -> dict:
    """Seconds of our fits and of the hand-written LightGBM on the same matrix."""
    world = tg.demo_world(n_users=users, random_state=0)
    out = {"users": users}
    for capacity in ("auto", "lightgbm"):
        model = tg.PropensityModel("beauty", capacity=capacity, progress=False)
        start = time.perf_counter()
        model.fit(world.tables, world.as_of)
        out[f"ours {capacity} (s)"] = time.perf_counter() - start
        out[f"candidate {capacity}"] = model.candidate_
    # The same stacked matrix the model trained on, then one LightGBM on it.
    tables = checked_tables(world.tables, require=("orders",))
    snapshots = model.snapshot_dates(tables, world.as_of)
    (X_val, y_val), (X_tr, y_tr) = model._snapshot_matrices(tables, snapshots)
    names = model.feature_names_
    params = dict(model.lightgbm_params)
    classic = len(CLASSIC_NAMES)  # as ours: the classic scores only raise the prediction
    params["monotone_constraints"] = [0] * (len(names) - classic) + [1] * classic
    start = time.perf_counter()
    train = lgb.Dataset(X_tr, y_tr, feature_name=names,
                        categorical_feature=model.pipeline_.categorical_indices_)
    booster = lgb.train(params, train, num_boost_round=model.n_estimators,
                        valid_sets=[lgb.Dataset(X_val, y_val, reference=train)],
                        callbacks=[lgb.early_stopping(model.early_stopping_rounds,
                                                      verbose=False)])
    out["hand-written (s)"] = time.perf_counter() - start
    out["rows"], out["trees"] = len(y_tr), booster.num_trees()
    return out


def four_arm_campaign(n: int, seed: int = 0):
    """Covariates, outcome and arm of a randomised four-arm campaign with planted uplift."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 12)), columns=[f"x{i}" for i in range(12)])
    arm = rng.choice(np.array(["control", "a", "b", "c"]), size=n)
    base = -3.0 + 0.6 * X.x0 - 0.4 * X.x1
    lift = {"control": 0.0, "a": 0.5 * (X.x2 > 0), "b": 0.4 * X.x3.clip(0, None),
            "c": 0.3 * (X.x4 > 0.5)}
    logit = base + sum(np.where(arm == k, v, 0.0) for k, v in lift.items())
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y, arm


def uplift_learners(rows: int) -> dict:
    """Seconds of ``compare_uplift`` and of causalml's learners, cross-fitted the same way."""
    from causalml.inference.meta import BaseSClassifier, BaseTClassifier, BaseXClassifier

    X, y, arm = four_arm_campaign(rows)
    learners = ("s", "t", "x")
    start = time.perf_counter()
    comparison = tg.compare_uplift(X, y, arm, learners=learners, n_folds=2, progress=False)
    ours = time.perf_counter() - start
    params = tg.UpliftModel("t").lightgbm_params
    folds = np.random.default_rng(0).permutation(rows) % 2
    share = {k: float((arm == k).mean()) for k in np.unique(arm)}
    peers = {"s": lambda: BaseSClassifier(lgb.LGBMClassifier(**params), control_name="control"),
             "t": lambda: BaseTClassifier(lgb.LGBMClassifier(**params), control_name="control"),
             "x": lambda: BaseXClassifier(lgb.LGBMClassifier(**params),
                                          lgb.LGBMRegressor(**params), control_name="control")}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for make in peers.values():
            for k in (0, 1):
                fit, held = folds != k, folds == k
                learner = make()
                p = {a: np.full(fit.sum(), share[a] / (share[a] + share["control"]))
                     for a in share if a != "control"}
                kwargs = {"p": p} if isinstance(learner, BaseXClassifier) else {}
                learner.fit(X[fit], arm[fit], y[fit], **kwargs)
                p_held = {a: np.full(held.sum(), v[0]) for a, v in p.items()}
                learner.predict(X[held], **({"p": p_held} if kwargs else {}), verbose=False)
    peer = time.perf_counter() - start
    return {"rows": rows, "ours (s)": ours, "causalml (s)": peer, "best": comparison.best}


def demo_wall(users: int) -> float:
    """Seconds of ``targeting demo --users N`` in a fresh process and a fresh store."""
    with tempfile.TemporaryDirectory() as folder:
        store = f"sqlite:///{folder}/mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "targeting.cli", "demo", "--no-progress",
                        "--users", str(users)], cwd=folder, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--uplift-rows", type=int, default=300_000)
    parser.add_argument("--demo-users", type=int, default=50_000)
    parser.add_argument("--demo", action="store_true", help="also time the demo")
    args = parser.parse_args()
    print(propensity_fit(args.users), flush=True)
    print(uplift_learners(args.uplift_rows), flush=True)
    if args.demo:
        print({"demo (s)": demo_wall(args.demo_users)})


if __name__ == "__main__":
    main()
