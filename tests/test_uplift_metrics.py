"""Uplift metrics agree with scikit-uplift (test-only peer) on the same data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from targeting.evaluation import metrics as m

sklift = pytest.importorskip("sklift.metrics")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 5_000
    t = rng.integers(0, 2, n)
    score = np.round(rng.normal(size=n), 2)  # rounding makes ties, which both handle together
    y = (rng.random(n) < 0.1 + 0.05 * t * (score > 0)).astype(int)
    return y, score, t


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():  # scikit-uplift uses a deprecated scikit-learn helper
        warnings.simplefilter("ignore", FutureWarning)
        yield


@pytest.mark.parametrize("ours, theirs", [(m.qini_curve, "qini_curve"),
                                          (m.uplift_curve, "uplift_curve")])
def test_curves_match(data, ours, theirs):
    x, v = ours(*data)
    px, pv = getattr(sklift, theirs)(*data)
    np.testing.assert_array_equal(x, px)
    np.testing.assert_allclose(v, pv, rtol=1e-12, atol=1e-9)


def test_normalised_areas_match(data):
    assert m.qini_coefficient(*data) == pytest.approx(sklift.qini_auc_score(*data), rel=1e-10)
    assert m.auuc(*data) == pytest.approx(sklift.uplift_auc_score(*data), rel=1e-10)


@pytest.mark.parametrize("k", [0.1, 0.3, 500])
@pytest.mark.parametrize("strategy", ["overall", "by_group"])
def test_uplift_at_k_matches(data, k, strategy):
    assert m.uplift_at_k(*data, k=k, strategy=strategy) == pytest.approx(
        sklift.uplift_at_k(*data, strategy=strategy, k=k), rel=1e-12)


def test_deciles_and_bootstrap_interval(data):
    table = m.uplift_by_decile(*data)
    assert len(table) == 10 and table.treated.sum() + table.control.sum() == len(data[0])
    assert table.uplift.iloc[:5].mean() > table.uplift.iloc[5:].mean()  # positive scores first
    low, high = m.bootstrap_interval(m.qini_coefficient, *data, n_bootstrap=50)
    assert low < m.qini_coefficient(*data) < high


def test_revenue_outcomes_follow_the_definition():
    """scikit-uplift refuses continuous outcomes; check the Qini definition directly instead."""
    rng = np.random.default_rng(5)
    n = 300
    t = rng.integers(0, 2, n)
    score = rng.normal(size=n)
    revenue = rng.gamma(2.0, 50.0, n) * (rng.random(n) < 0.2)
    x, q = m.qini_curve(revenue, score, t)
    order = np.argsort(-score, kind="stable")
    for top in (1, 10, 150, 300):
        pick = order[:top]
        y_t, y_c = revenue[pick][t[pick] == 1].sum(), revenue[pick][t[pick] == 0].sum()
        n_t, n_c = (t[pick] == 1).sum(), (t[pick] == 0).sum()
        expected = y_t - y_c * (n_t / n_c if n_c else 0.0)
        assert q[x == top][0] == pytest.approx(expected)
