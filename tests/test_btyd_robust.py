"""The BG/NBD baseline never breaks silently: finite predictions on any history, the paper's
equation to high precision, and on data where its fit degenerates, a recency fallback that
says so (in the evaluation's notes, its table, its HTML and the CLI), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

import targeting as tg
from targeting.data.schema import TargetingError
from targeting.evaluation.baselines import BASELINES, baseline_scores
from targeting.evaluation.metrics import PropensityEvaluation, classification_metrics
from targeting.models.btyd import BetaGeoModel

SETTINGS = settings(deadline=None, derandomize=True, database=None, max_examples=25,
                    suppress_health_check=[HealthCheck.too_slow])
START = pd.Timestamp("2025-01-01")


def steady_log(random_state: int, n: int = 300, days: int = 400) -> pd.DataFrame:
    """The reported case: ``n`` customers, each buying at the same steady Poisson rate (about 5
    orders in ``days``), nobody churns."""
    rng = np.random.default_rng(random_state)
    counts = rng.poisson(5.0, n)
    minutes = np.round(rng.uniform(0, days, counts.sum()) * 1440)
    return pd.DataFrame({
        "customer": np.repeat([f"c{i:03d}" for i in range(n)], counts),
        "ts": (START + pd.to_timedelta(minutes, unit="min")).strftime("%Y-%m-%d %H:%M"),
        "amount": rng.gamma(2.0, 20.0, counts.sum()).round(2)})


# -- the model alone ------------------------------------------------------------------------
def _paper_equation_10(params: dict, t, x, t_x, T):
    """Expected purchases by the paper's closed form, at 50 significant digits."""
    import mpmath as mp

    with mp.workdps(50):
        r, alpha, a, b = (mp.mpf(params[k]) for k in ("r", "alpha", "a", "b"))
        x, t_x, T, t = (mp.mpf(v) for v in (x, t_x, T, t))
        tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * mp.hyp2f1(
            r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0
        return float((a + b + x - 1) / (a - 1) * tail / (1 + odds))


def test_expected_purchases_match_the_papers_equation_at_high_precision():
    pytest.importorskip("mpmath")  # the dev extra installs it
    rng = np.random.default_rng(5)
    worst = 0.0
    for _ in range(60):
        model = BetaGeoModel()
        model.params_ = dict(zip(("r", "alpha", "a", "b"), 10 ** rng.uniform(-3, 3, 4),
                                 strict=True))
        T, t = rng.uniform(1, 1000), rng.uniform(1, 500)
        x = float(rng.integers(0, 300)) * (rng.random() < 0.8)
        t_x = rng.uniform(0, T) if x else 0.0
        got = model.expected_purchases(t, [x], [t_x], [T])[0]
        reference = _paper_equation_10(model.params_, t, x, t_x, T)  # may underflow to 0
        worst = max(worst, abs(got - reference) / max(reference, 1e-300))
    # Measured on 300 such draws: 6e-4 at worst (r 801, (r+x) * t / (alpha+T) about 4,500,
    # where the quadrature over p is hardest), 1e-6 for every other draw.
    assert worst < 1e-3


summaries = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 2_000), min_size=n, max_size=n),     # repeat purchases
    st.lists(st.floats(0, 1), min_size=n, max_size=n),           # recency as a share of T
    st.lists(st.floats(0.01, 5_000), min_size=n, max_size=n)))   # T


@SETTINGS
@given(summaries, st.floats(0.01, 1_000))
@example(([0] * 30, [0.0] * 30, [10.0] * 30), 30.0)           # nobody came back
@example(([5] * 30, [1.0] * 30, [400.0] * 30), 30.0)          # all alike
@example(([2_000, 0, 1], [1.0, 0.0, 0.5], [2_000.0, 1.0, 3.0]), 1_000.0)  # huge frequency
def test_any_summary_gives_finite_predictions(summary, horizon):
    x, share, T = (np.asarray(v, dtype=float) for v in summary)
    t_x = np.where(x > 0, share * T, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BetaGeoModel().fit(x, t_x, T)
    expected = model.expected_purchases(horizon, x, t_x, T)
    alive = model.probability_alive(x, t_x, T)
    assert np.isfinite(expected).all() and (expected >= 0).all()
    assert np.isfinite(alive).all() and ((alive >= 0) & (alive <= 1)).all()
    assert model.converged_ == (not model.problems_)


def test_a_degenerate_fit_says_so():
    x = np.full(50, 5.0)
    with pytest.warns(ConvergenceWarning, match="one purchase rate fits every buyer"):
        model = BetaGeoModel().fit(x, np.full(50, 399.0), np.full(50, 400.0))
    assert not model.converged_ and model.problems_


# -- the baseline in an evaluation ----------------------------------------------------------
def _tables(customers: list[list[int]]) -> dict:
    rows = [(f"u{i}", START + pd.Timedelta(days=d)) for i, days in enumerate(customers)
            for d in days]
    log = pd.DataFrame(rows, columns=["customer", "ts"]).assign(amount=10.0)
    return tg.from_transactions(log, user="customer", ts="ts", amount="amount", verbose=False)


def _check_baselines(customers: list[list[int]], as_of_day: int, horizon: int = 30):
    tables = _tables(customers)
    as_of = START + pd.Timedelta(days=as_of_day)
    users = pd.Index(sorted({f"u{i}" for i in range(len(customers))}), name="user_id")
    scores = baseline_scores(tables, as_of, users, None, horizon)
    assert list(scores.columns) == list(BASELINES)
    assert np.isfinite(scores.to_numpy()).all(), scores
    y = np.arange(len(users)) % 2  # any outcome with both classes: the evaluation must not raise
    evaluation = PropensityEvaluation.from_scores(y, np.linspace(0, 1, len(users)))
    evaluation.add_baselines(scores, y)
    assert set(evaluation.baselines.index) == set(BASELINES)
    for note in scores.attrs["notes"]:
        assert note.startswith("bgnbd: ") and note.endswith("scored by recency instead")
        np.testing.assert_array_equal(scores["bgnbd"], scores["recency"])
    return scores


logs = st.lists(st.one_of(
    st.lists(st.integers(0, 399), min_size=1, max_size=12),     # an ordinary customer
    st.just([0]),                                                # bought once, on day 0
    st.integers(1, 400).map(lambda n: list(range(400 - n, 400))),  # buys every day
), min_size=2, max_size=25)


@SETTINGS
@given(logs, st.integers(1, 400))
def test_baseline_scores_are_finite_on_any_log(customers, as_of_day):
    _check_baselines(customers, as_of_day)


@pytest.mark.parametrize("case, customers", [
    ("everyone buys once", [[d] for d in range(0, 300, 10)]),
    ("all buyers on one day", [[100]] * 30),
    ("a handful of customers", [[1, 50], [3], [10, 20, 30]]),
    ("huge frequencies", [list(range(400))] * 3 + [[d, d + 7] for d in range(0, 300, 20)]),
])
def test_pathological_logs(case, customers):
    scores = _check_baselines(customers, 370)
    if case != "huge frequencies":  # no repeat buyers or too few buyers: nothing to fit
        assert scores.attrs["notes"] and "too few buyers" in scores.attrs["notes"][0]


def test_a_homogeneous_population_falls_back_to_recency_with_a_note():
    # Measured: at this as_of BG/NBD's rate heterogeneity collapses (r to its bound) for 7 of
    # the first 8 seeds, seed 3 being the exception; each outcome must be honest.
    fell_back = []
    for seed in range(4):
        tables = tg.from_transactions(steady_log(seed), user="customer", ts="ts",
                                      amount="amount", verbose=False)
        orders = tables["orders"]
        as_of = START + pd.Timedelta(days=370)
        users = pd.Index(orders.shop_id[orders.ts < as_of].unique(), name="user_id")
        scores = baseline_scores(tables, as_of, users, None, 30)
        assert np.isfinite(scores.to_numpy()).all()
        if scores.attrs["notes"]:
            (note,) = scores.attrs["notes"]
            assert note.startswith(f"bgnbd: fit did not converge on {len(users)} buyers (")
            assert "r=1e+04 ran to its upper bound" in note
            np.testing.assert_array_equal(scores["bgnbd"], scores["recency"])
            fell_back.append(seed)
    assert 0 in fell_back


def test_the_note_reaches_the_evaluation():
    log = steady_log(0)
    tables = tg.from_transactions(log, user="customer", ts="ts", amount="amount",
                                  verbose=False)
    as_of = START + pd.Timedelta(days=370)
    model = tg.PropensityModel(None, horizon_days=30, progress=False,
                               num_threads=1).fit(tables, as_of)
    evaluation = tg.evaluate(model, tables, as_of)
    (note,) = evaluation.notes
    assert note.startswith("bgnbd: fit did not converge") and "recency instead" in note
    assert evaluation.table.loc["baseline: bgnbd", "note"] == note.removeprefix("bgnbd: ")
    assert evaluation.table.loc["baseline: recency", "note"] == ""
    assert "scored by recency instead" in evaluation._repr_html_()


def test_the_cli_prints_the_note_not_a_traceback(tmp_path):
    path = tmp_path / "orders.csv"
    steady_log(0).to_csv(path, index=False)
    (tmp_path / "mapping.toml").write_text(
        '[transactions]\nuser = "customer"\nts = "ts"\namount = "amount"\n')
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store}
    done = subprocess.run(
        [sys.executable, "-m", "targeting.cli", "train", "--data", str(path), "--mapping",
         str(tmp_path / "mapping.toml"), "--category", "any", "--horizon-days", "30"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "note: bgnbd: fit did not converge on" in done.stdout
    assert "scored by recency instead" in done.stdout


# -- the metrics' last guard ----------------------------------------------------------------
def test_metrics_refuse_non_finite_scores_naming_the_scorer():
    y = np.array([0, 1, 0, 1])
    with pytest.raises(TargetingError, match="'propensity' gave 1 non-finite score"):
        classification_metrics(y, [0.1, np.nan, 0.3, 0.4], scorer="'propensity'")
    evaluation = PropensityEvaluation.from_scores(y, [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(TargetingError, match="baseline 'bgnbd' gave 2 non-finite scores"):
        evaluation.add_baselines(pd.DataFrame({"recency": [1.0, 2, 3, 4],
                                               "bgnbd": [np.nan, 1, np.inf, 2]}), y)
