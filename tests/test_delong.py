"""DeLong's paired AUC difference: the AUCs are scikit-learn's, and the interval agrees with a
paired bootstrap on the same users (synthetic scores and CDNOW's own baselines)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import targeting as tg
from targeting.data.schema import InsufficientDataError
from targeting.evaluation.baselines import baseline_scores
from targeting.evaluation.delong import delong_covariance, paired_auc_difference


def _bootstrap_se(y, a, b, n: int = 500, seed: int = 0) -> float:
    """Standard error of AUC(a) - AUC(b) over users resampled with replacement (paired)."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        diffs.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]))
    return float(np.std(diffs, ddof=1))


@pytest.mark.parametrize("seed", [0, 1])
def test_aucs_are_sklearns_and_the_se_agrees_with_a_paired_bootstrap(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(3_000) < 0.15
    a = y + rng.normal(size=3_000)
    b = np.round(0.8 * a + rng.normal(size=3_000), 1)  # correlated, with ties
    aucs, _ = delong_covariance(y, np.vstack([a, b]))
    assert np.allclose(aucs, [roc_auc_score(y, a), roc_auc_score(y, b)], atol=1e-12)
    d = paired_auc_difference(y, a, b)
    # The bootstrap SE of 500 resamples itself varies by about 3.2 % (1/sqrt(2 * 499));
    # 12 % leaves room for that and for the asymptotic approximation at this size.
    assert d.se == pytest.approx(_bootstrap_se(y, a, b), rel=0.12)
    assert d.low < d.difference < d.high


@pytest.mark.slow
def test_agrees_with_the_bootstrap_on_cdnow_baselines():
    tables = tg.from_transactions(tg.datasets.load_cdnow(), user="customer_id", ts="date",
                                  amount="dollars", quantity="cds", verbose=False)
    as_of, orders = pd.Timestamp("1998-01-01"), tables["orders"]
    users = pd.Index(orders.shop_id[orders.ts < as_of].unique(), name="user_id")
    window = orders[(orders.ts >= as_of) & (orders.ts < as_of + pd.Timedelta(days=90))]
    y = users.isin(window.shop_id).astype(int)
    scores = baseline_scores(tables, as_of, users, horizon_days=90)
    a, b = scores["rfm"].to_numpy(), scores["recency"].to_numpy()
    d = paired_auc_difference(y, a, b)
    assert d.difference == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    assert d.se == pytest.approx(_bootstrap_se(y, a, b, n=300), rel=0.15)  # 300: 4 % noise


def test_one_outcome_only_is_refused_with_the_fix():
    with pytest.raises(InsufficientDataError, match="longer horizon"):
        paired_auc_difference(np.zeros(10), np.arange(10), np.arange(10))
