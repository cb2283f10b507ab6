"""Uplift metrics agree with scikit-uplift (test-only peer) on the same data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from targeting.evaluation import uplift_metrics as m

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


def test_revenue_coefficients_match_a_full_sort():
    """The perfect model's curve is counted without sorting binary outcomes and sorted for
    revenue; both paths must give the area a full sort of the perfect key gives."""
    rng = np.random.default_rng(8)
    n = 2_000
    t = rng.integers(0, 2, n)
    score = rng.normal(size=n)
    revenue = np.round(rng.gamma(2.0, 50.0, n) * (rng.random(n) < 0.2), 2)
    for y in (revenue, (revenue > 0).astype(float)):
        perfect_key = y * t - y * (1 - t)
        x, v = m.qini_curve(y, score, t)
        xp, vp = m.qini_curve(y, perfect_key, t)
        base = 0.5 * vp[-1] * xp[-1]
        expected = (np.trapezoid(v, x) - base) / (np.trapezoid(vp, xp) - base)
        assert m.qini_coefficient(y, score, t) == pytest.approx(expected, rel=1e-12)


# -- causalml's mean-gain convention -------------------------------------------------------------
@pytest.fixture(scope="module")
def untied():
    rng = np.random.default_rng(4)
    n = 4_000
    t = rng.integers(0, 2, n)
    score = rng.normal(size=n)  # no ties: causalml breaks them in an unspecified order
    y = (rng.random(n) < 0.1 + 0.06 * t * (score > 0)).astype(int)
    return y, score, t


def test_mean_gain_convention_matches_causalml(untied):
    causal = pytest.importorskip("causalml.metrics")
    pd = pytest.importorskip("pandas")
    y, score, t = untied
    frame = pd.DataFrame({"y": y, "w": t, "model": score})
    assert m.auuc(y, score, t, normalize="mean_gain") == pytest.approx(
        causal.auuc_score(frame)["model"], rel=1e-9)
    assert m.qini_coefficient(y, score, t, normalize="mean_gain") == pytest.approx(
        causal.qini_score(frame)["model"], rel=1e-9)


def test_conventions_rank_models_alike(untied):
    y, score, t = untied
    noisy = score + np.random.default_rng(0).normal(scale=3.0, size=score.size)
    for normalize in m.NORMALIZATIONS:
        assert m.qini_coefficient(y, score, t, normalize) > m.qini_coefficient(
            y, noisy, t, normalize)
    with pytest.raises(ValueError, match="normalize must be one of"):
        m.auuc(y, score, t, normalize="causal")


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("treatment, message", [
    ([0, 1, 2, 1], r"0 \(control\) or 1 \(treated\), found \[2\]"),
    (["control", "coupon", "control", "coupon"], "map the arm names to 0/1"),
    ([1, 1, 1, 1], "one arm is empty"),
    ([0, 0, 0, 0], "one arm is empty"),
])
def test_bad_treatment_is_named(treatment, message):
    with pytest.raises(ValueError, match=message):
        m.qini_coefficient([1, 0, 1, 0], [0.4, 0.3, 0.2, 0.1], treatment)


def test_missing_outcomes_are_refused():
    with pytest.raises(ValueError, match="1 missing values in outcome"):
        m.auuc([1, np.nan, 1, 0], [0.4, 0.3, 0.2, 0.1], [1, 0, 1, 0])
    with pytest.raises(ValueError, match="differ in length"):
        m.uplift_at_k([1, 0, 1], [0.4, 0.3, 0.2, 0.1], [1, 0, 1, 0])


def test_nothing_to_rank_is_undefined_without_a_warning():
    """No conversion at all (a bootstrap resample of a small stratum can have none): the
    perfect model's area is the random line's, so the normalised coefficients are NaN,
    silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(m.qini_coefficient([0, 0, 0, 0], [0.4, 0.3, 0.2, 0.1], [1, 0, 1, 0]))
        assert np.isnan(m.auuc([0, 0, 0, 0], [0.4, 0.3, 0.2, 0.1], [1, 0, 1, 0]))


# -- amounts (revenue): the perfect ranking generalised ------------------------------------------
@pytest.fixture(scope="module")
def revenue():
    rng = np.random.default_rng(6)
    n = 4_000
    t = rng.integers(0, 2, n)
    score = rng.normal(size=n)
    spend = np.round(rng.gamma(2.0, 40.0, n), 2) * (rng.random(n) < 0.05 + 0.03 * t * (score > 0))
    return spend, score, t


def test_revenue_perfect_ranking_scores_one_and_ties_zero(revenue):
    y, _, t = revenue
    assert m.qini_coefficient(y, y * t - y * (1 - t), t) == pytest.approx(1.0, abs=1e-12)
    assert m.auuc(y, m._perfect_uplift_key(y, t), t) == pytest.approx(1.0, abs=1e-12)
    tied = np.zeros(len(y))  # one point on the random line
    assert m.qini_coefficient(y, tied, t) == pytest.approx(0.0, abs=1e-12)
    assert m.auuc(y, tied, t) == pytest.approx(0.0, abs=1e-12)


def test_revenue_perfect_uplift_ranking_is_the_documented_order():
    """Eight users by hand: treated spenders (largest first), control non-spenders, then (as
    there are fewer control spenders than treated non-spenders) treated non-spenders, then
    control spenders, smallest first."""
    y = np.array([10.0, 0.0, 5.0, 0.0, 0.0, 8.0, 3.0, 0.0])
    t = np.array([1, 1, 0, 0, 1, 1, 0, 1])
    order = [0, 5, 3, 1, 4, 7, 6, 2]  # written out from the rule, not computed
    key = m._perfect_uplift_key(y, t)
    ranked = np.argsort(-key, kind="stable")
    assert list(ranked[:3]) == order[:3] and list(ranked[6:]) == order[6:]
    assert len(set(key[[1, 4, 7]])) == 1  # treated non-spenders tie, taken together
    rank = np.empty(len(y))
    rank[order] = np.arange(len(y), 0, -1)
    x, u = m.uplift_curve(y, rank, t)
    assert u.tolist() == pytest.approx(
        [0.0, 10.0, 18.0, 27.0, 18 / 3 * 4, 18 / 4 * 5, 18 / 5 * 6, (18 / 5 - 3 / 2) * 7,
         (18 / 5 - 8 / 3) * 8])
    # Breaking the perfect ranking's tie in one order falls short of it (ties count together).
    assert m.auuc(y, rank, t) < m.auuc(y, key, t) == pytest.approx(1.0, abs=1e-12)


def test_revenue_that_is_a_multiple_of_conversions_matches_scikit_uplift(data):
    y, score, t = data
    assert m.auuc(30.0 * y, score, t) == pytest.approx(sklift.uplift_auc_score(y, score, t),
                                                       rel=1e-10)
    assert m.qini_coefficient(30.0 * y, score, t) == pytest.approx(
        sklift.qini_auc_score(y, score, t), rel=1e-10)


def test_revenue_areas_on_the_real_campaign(hillstrom_arm):
    """Men's e-mail against no e-mail, spend: random rankings score near 0, the perfect one 1,
    its reverse near -1; every value within [-1, 1] (only the reversed AUUC, as scikit-uplift's
    own on conversions, dips below -1 by under 1 %)."""
    y, t = hillstrom_arm
    auuc, qini = [], []
    for seed in range(20):
        s = np.random.default_rng(seed).random(len(y))
        auuc.append(m.auuc(y, s, t))
        qini.append(m.qini_coefficient(y, s, t))
    # Spread over these 20 seeds: sd 0.0014 (AUUC) and 0.038 (Qini); means within 3 sd / sqrt(20).
    assert abs(np.mean(auuc)) < 0.001 and max(np.abs(auuc)) < 0.01
    assert abs(np.mean(qini)) < 0.03 and max(np.abs(qini)) < 0.2
    key = y * t - y * (1 - t)
    assert m.qini_coefficient(y, -key, t) == pytest.approx(-0.682, abs=0.001)
    assert m.auuc(y, -m._perfect_uplift_key(y, t), t) == pytest.approx(-1.0076, abs=1e-4)
    # Before the fix the uplift curve's perfect ranking was y == t, meaningless for amounts, and
    # random scores gave AUUC 0.2, 1.18, -1.65, 1.06, 1.11 (seeds 0-4).
    assert max(np.abs(auuc[:5])) < 0.01


@pytest.fixture(scope="module")
def hillstrom_arm():
    from pathlib import Path

    import pandas as pd

    raw = pd.read_csv(Path(__file__).parent / "data" / "hillstrom.csv.gz")
    raw = raw[raw.segment != "Womens E-Mail"]
    return raw.spend.to_numpy(float), (raw.segment == "Mens E-Mail").to_numpy().astype(int)


# -- the fused pass (0/1 outcomes) against the full per-point curves -------------------------------
@pytest.mark.parametrize("decimals", [None, 1, 3])
def test_fused_pass_matches_the_full_curves(decimals):
    # More users than three chunks of the fused pass; rounding puts tied runs inside chunks and
    # across their boundaries. The full curves are the curve functions' own path (an argsort).
    rng = np.random.default_rng(5)
    n = 3 * m._CHUNK + 17
    t = rng.integers(0, 2, n)
    u = rng.normal(size=n) if decimals is None else np.round(rng.normal(size=n), decimals)
    y = (rng.random(n) < 0.1 + 0.05 * t * (u > 0)).astype(int)
    code = m._code(y.astype(float), t.astype(np.int8))
    ranked, s = m._codes_by_score(u, code)
    np.testing.assert_array_equal(s, np.sort(u))
    for values_of in (m._qini_values, m._uplift_values):
        counts = m._cumulative_by_score(y, u, t)
        v = values_of(*counts)
        area, (n_end, v_end) = m._fused_area(values_of, ranked[::-1], m._run_ends(s[::-1]))
        assert (n_end, v_end) == (counts[0][-1], v[-1])  # the same points, to the last bit
        # Areas sum the same points in chunks: measured differences <= 1e-15 relative.
        assert area == pytest.approx(m._area(counts[0], v), rel=1e-12)


@pytest.mark.parametrize("late", [False, True])
def test_fused_mean_gain_matches_the_full_curve(late):
    # ``late``: every treated user outranks every control user, so both arms first appear
    # after several chunks (the interpolated head spans them).
    rng = np.random.default_rng(6)
    n = 3 * m._CHUNK + 5
    t = rng.integers(0, 2, n)
    u = rng.normal(size=n) + (10 * t if late else 0)
    y = (rng.random(n) < 0.1 + 0.05 * t * (u > 0)).astype(int)
    order = np.argsort(u)[::-1]
    for values_of, metric in ((m._qini_values, m.qini_coefficient), (m._uplift_values, m.auuc)):
        full = m._mean_gain_of(values_of, m._cumulative(y, t.astype(np.int8), order, None),
                               values_of is m._qini_values)
        # The curve is summed before it is divided by its end, not after: measured differences
        # up to 4e-13 relative over 6 seeds and 4 sizes (a Qini near 0, where the random
        # line's 0.5 cancels), about 1e-16 in absolute terms.
        assert metric(y, u, t, normalize="mean_gain") == pytest.approx(full, rel=1e-12,
                                                                        abs=1e-15)


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_interval_from_one_ranking_equals_resorting_every_draw(ties):
    """The Qini/AUUC bootstrap reuses one ranking (a draw is a count per user); the same draws
    recomputed from resampled arrays give the same interval (measured: within 5e-17)."""
    rng = np.random.default_rng(1)
    n = 3_000
    t, u = rng.integers(0, 2, n), rng.normal(size=n)
    u = np.round(u, 1) if ties else u
    y = (rng.random(n) < 0.1 + 0.05 * t * (u > 0)).astype(int)
    both = m.bootstrap_interval((m.qini_coefficient, m.auuc), y, u, t, n_bootstrap=40,
                                random_state=3)
    for metric, interval in zip((m.qini_coefficient, m.auuc), both, strict=True):
        draws, r = [], np.random.default_rng(3)
        arms = [np.flatnonzero(t == a) for a in (0, 1)]
        for _ in range(40):
            pick = np.concatenate([r.choice(a, a.size) for a in arms])
            draws.append(metric(y[pick], u[pick], t[pick]))
        expected = np.nanquantile(draws, [0.025, 0.975])
        np.testing.assert_allclose(interval, expected, rtol=0, atol=1e-12)
        assert m.bootstrap_interval(metric, y, u, t, n_bootstrap=40, random_state=3) == interval
