"""The lookalike's calibrated segment share on real public data (the Hillstrom e-mail campaign,
tests/data/README.md), beside Elkan & Noto's classic estimator.

The segment is the users who visited the site; 40 % of them are the seed; the features are the
pre-campaign columns (and the arm mailed). Elkan & Noto: a logistic regression of seed against
the rest, ``c`` = its mean probability on held-out seeds.

    .venv/bin/python benchmarks/lookalike_real.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import targeting as tg

COLUMNS = ["recency", "history", "mens", "womens", "newbie", "zip_code", "channel", "segment"]


def main() -> None:
    raw = pd.read_csv(Path(__file__).resolve().parents[1] / "tests/data/hillstrom.csv.gz")
    X = pd.get_dummies(raw[COLUMNS], dtype=float)
    X.index = pd.Index(np.arange(len(raw)), name="user_id")
    segment = raw["visit"].to_numpy().astype(bool)
    rng = np.random.default_rng(0)
    members = np.flatnonzero(segment)
    seeds = np.sort(rng.choice(members, int(0.4 * len(members)), replace=False))
    start = time.perf_counter()
    model = tg.LookalikeModel(progress=False).fit(X, seeds)
    true = segment[~model.is_seed_].mean()
    ours = model.seed_report_.estimated_share
    print(f"{len(seeds):,} seeds, fit {time.perf_counter() - start:.1f} s, weights "
          f"{model.weights_}: estimated share {ours:.4f}, true {true:.4f} ({ours / true:.2f}x)")
    labelled = np.zeros(len(raw), dtype=bool)
    labelled[seeds] = True
    held = rng.random(len(raw)) < 0.2
    g = LogisticRegression(max_iter=2000).fit(X[~held].to_numpy(), labelled[~held])
    p = g.predict_proba(X[held].to_numpy())[:, 1]
    c = p[labelled[held]].mean()
    q = p[~labelled[held]]
    share = np.clip(q * (1 - c) / (c * (1 - q)), 0, 1).mean()
    print(f"Elkan & Noto (logistic, c = {c:.3f}): estimated share {share:.4f} "
          f"({share / true:.2f}x)")


if __name__ == "__main__":
    main()
