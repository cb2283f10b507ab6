"""Uplift on a real campaign (Kevin Hillstrom's MineThatData e-mail test, tests/data/README.md):
plain data in, text covariates as categories, learners against scikit-uplift's and causalml's
on the same split, revenue metrics, and plans whose stated interval holds on a held-out half."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.evaluation import uplift_metrics as m
from targeting.evaluation.uplift import splits

DATA = Path(__file__).parent / "data" / "hillstrom.csv.gz"
COVARIATES = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]


@pytest.fixture(scope="module")
def hillstrom():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return tg.from_campaign(pd.read_csv(DATA), treatment="segment",
                                outcome=["conversion", "visit"], revenue="spend",
                                covariates=COVARIATES, control="No E-Mail")


@pytest.fixture(scope="module")
def numeric(hillstrom):
    """The covariates as plain numbers (category codes), visits, arms, and one half split."""
    X = hillstrom.covariates.apply(lambda s: s.cat.codes if s.dtype == "category" else s)
    arm = hillstrom.campaign.arm.astype(str).to_numpy(dtype=object)
    (fit_rows, test_rows), = splits(arm, holdout=0.5, random_state=0)
    return (X.to_numpy(float), hillstrom.campaign.visit.to_numpy(float), arm, fit_rows,
            test_rows)


# -- against the peers, on the same split --------------------------------------------------------
def test_t_learner_equals_causalml_and_scikit_uplift(numeric):
    from causalml.inference.meta import BaseTClassifier
    from sklift.models import TwoModels

    X, y, arm, a, b = numeric
    ours = tg.UpliftModel("t", n_estimators=50).fit(X[a], y[a], arm[a])
    predicted = ours.predict_uplift(X[b])
    params = ours.lightgbm_params
    causal = BaseTClassifier(learner=lgb.LGBMClassifier(**params), control_name="control")
    causal.fit(X[a], arm[a], y[a])
    np.testing.assert_allclose(causal.predict(X[b]), predicted.to_numpy(), atol=1e-12)
    for name in ours.arms_:
        rows = a[np.isin(arm[a], [name, "control"])]
        peer = TwoModels(lgb.LGBMClassifier(**params), lgb.LGBMClassifier(**params),
                         method="vanilla")
        peer.fit(X[rows], y[rows], (arm[rows] == name).astype(int))
        np.testing.assert_allclose(peer.predict(X[b]), predicted[name], atol=1e-12)


def test_s_learner_equals_scikit_uplift(numeric):
    from sklift.models import SoloModel

    X, y, arm, a, b = numeric
    name = "Womens E-Mail"
    rows = a[np.isin(arm[a], [name, "control"])]
    ours = tg.UpliftModel("s", n_estimators=50).fit(X[rows], y[rows], arm[rows])
    peer = SoloModel(lgb.LGBMClassifier(**ours.lightgbm_params), method="dummy")
    peer.fit(X[rows], y[rows], (arm[rows] == name).astype(int))
    np.testing.assert_allclose(peer.predict(X[b]), ours.predict_uplift(X[b])[name], atol=1e-12)


def test_held_out_metrics_equal_the_peers_metrics(numeric):
    from causalml.metrics import auuc_score, qini_score
    from sklift.metrics import qini_auc_score, uplift_auc_score

    X, y, arm, a, b = numeric
    model = tg.UpliftModel("x", n_estimators=50).fit(X[a], y[a], arm[a])
    held = b[np.isin(arm[b], ["Womens E-Mail", "control"])]
    score = model.predict_uplift(X[held])["Womens E-Mail"].to_numpy()
    t = (arm[held] == "Womens E-Mail").astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert m.qini_coefficient(y[held], score, t) == pytest.approx(
            qini_auc_score(y[held], score, t), rel=1e-10)
        assert m.auuc(y[held], score, t) == pytest.approx(
            uplift_auc_score(y[held], score, t), rel=1e-10)
    # causalml breaks tied scores in no set order (trees tie many): untie them for both.
    score = score + np.random.default_rng(0).normal(scale=1e-9, size=score.size)
    frame = pd.DataFrame({"y": y[held], "w": t, "x": score})
    assert m.qini_coefficient(y[held], score, t, "mean_gain") == pytest.approx(
        qini_score(frame)["x"], rel=1e-9)
    assert m.auuc(y[held], score, t, "mean_gain") == pytest.approx(auuc_score(frame)["x"],
                                                                   rel=1e-9)


# -- plain data in -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def visits(hillstrom):
    return tg.compare_uplift(hillstrom, ("t", "x"), outcome="visit", holdout=0.5,
                             n_bootstrap=30, progress=False)


def test_compare_uplift_takes_plain_data_with_text_columns(hillstrom, visits):
    c = hillstrom
    assert visits.split == "holdout of 50% (32,000 users)" and len(visits.evaluated) == 32_000
    assert set(visits.table.index) == {"t", "x", "propensity", "random"}
    # The holdout models never saw the evaluated users.
    for model in visits.models.values():
        assert model.categorical_features_ == ["zip_code", "channel"]
    # The same comparison from the three plain arrays.
    plain = tg.compare_uplift(c.covariates, c.campaign.visit, c.campaign.arm, ("t",),
                              holdout=0.5, n_bootstrap=0, progress=False)
    assert plain.table.loc["t", "policy_qini"] == visits.table.loc["t", "policy_qini"]
    # The women's e-mail drives visits most among past women's-wear buyers: every learner
    # finds it. Seeds 0-2 of the split: learners 0.048 to 0.078, random 0.010 to 0.03.
    for learner in ("t", "x"):
        assert visits.table.loc[learner, "qini_Womens E-Mail"] > 0.04
        low = visits.evaluations[learner].table.loc["Womens E-Mail", "qini_low"]
        assert low > 0
    assert "holdout" in visits._repr_html_() and visits.plot().axes


def test_a_comparison_on_plain_data_is_logged_without_a_model(hillstrom, visits, mlflow_store):
    from mlflow import MlflowClient

    from targeting.tracking import log_uplift

    c = hillstrom
    logged = log_uplift(visits, (c.covariates, c.campaign.visit, c.campaign.arm),
                        experiment="hillstrom")
    client = MlflowClient()
    parent = client.get_run(logged.run_id)
    assert parent.data.params["best_learner"] == visits.best
    assert parent.data.params["users"] == str(len(c.campaign))
    assert parent.data.metrics["policy_qini_t"] == pytest.approx(visits.table.loc["t",
                                                                                  "policy_qini"])
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{logged.run_id}'")
    assert sorted(r.info.run_name for r in children) == ["t", "x"]
    assert logged.version is None and "no model registered" in logged.reason
    assert not client.search_registered_models()


def test_cross_fitting_and_bad_input(hillstrom):
    c = hillstrom
    head = c.covariates.iloc[:6_000]
    folds = tg.compare_uplift(head, c.campaign.visit[:6_000], c.campaign.arm[:6_000], ("s",),
                              n_folds=3, n_bootstrap=0, progress=False, n_estimators=20)
    assert folds.split == "3-fold cross-fitting" and len(folds.evaluated) == 6_000
    # A CampaignData without a feature pipeline (external data) works too.
    data = tg.CampaignData(X=head, y=c.campaign.visit[:6_000].to_numpy(float),
                           treatment=c.campaign.arm[:6_000].astype(str).to_numpy(dtype=object),
                           pipeline=None, campaign_id="hillstrom", as_of=pd.Timestamp(0),
                           outcome="visit")
    same = tg.compare_uplift(data, ("s",), n_folds=3, n_bootstrap=0, progress=False,
                             n_estimators=20)
    assert same.table.loc["s", "policy_qini"] == folds.table.loc["s", "policy_qini"]
    with pytest.raises(ValueError, match="not both"):
        tg.compare_uplift(head, c.campaign.visit[:6_000], c.campaign.arm[:6_000], ("s",),
                          n_folds=3, holdout=0.5, progress=False)
    with pytest.raises(tg.SchemaError, match="needs X, y and treatment"):
        tg.compare_uplift(head, progress=False)
    with pytest.raises(tg.SchemaError, match="differ in length"):
        tg.compare_uplift(head, c.campaign.visit, c.campaign.arm, ("s",), progress=False)
    with pytest.raises(tg.SchemaError, match="pass a DataFrame, whose text columns"):
        tg.UpliftModel("t").fit(head.to_numpy(), c.campaign.visit[:6_000],
                                c.campaign.arm[:6_000])
    model = tg.UpliftModel("t", n_estimators=20).fit(head, c.campaign.visit[:6_000],
                                                     c.campaign.arm[:6_000])
    unseen = head.head(3).astype({"channel": object}).assign(channel=["Fax", "Web", None])
    assert model.predict_uplift(unseen).notna().all().all()  # unseen level: missing
    with pytest.raises(tg.SchemaError, match="hold dates"):
        model.fit(head.assign(recency=pd.Timestamp("2008-01-01")), c.campaign.visit[:6_000],
                  c.campaign.arm[:6_000])


def test_revenue_metrics_are_bounded_on_the_real_campaign(hillstrom):
    spend = tg.compare_uplift(hillstrom, ("t", "dr"), outcome="revenue", holdout=0.5,
                              n_bootstrap=30, progress=False, n_estimators=50)
    t = spend.table
    for column in ("policy_qini", "policy_auuc", "qini_Mens E-Mail", "qini_Womens E-Mail"):
        assert t[column].between(-1, 1).all(), t[column]
    # Random scores near 0 (policy Qini sd 0.04 over seeds, AUUC sd 0.0015: within 3.5 sd).
    assert abs(t.loc["random", "policy_qini"]) < 0.15
    assert abs(t.loc["random", "policy_auuc"]) < 0.006
    for name in t.index:
        low, high = t.loc[name, ["policy_auuc_low", "policy_auuc_high"]]
        assert low <= t.loc[name, "policy_auuc"] <= high


# -- honest plans ---------------------------------------------------------------------------------
def test_measured_increment_is_a_difference_of_means(hillstrom):
    from targeting.evaluation.planning import measured_increment

    c = hillstrom.campaign
    y, arm = c.revenue.to_numpy(), c.arm.astype(str).to_numpy(dtype=object)
    picked = (hillstrom.covariates.womens == 1).to_numpy()
    recommended = np.full(len(y), "Womens E-Mail", dtype=object)
    per, se, used = measured_increment(y, arm, picked, recommended, "control")
    treated, control = y[picked & (arm == "Womens E-Mail")], y[picked & (arm == "control")]
    assert per == treated.mean() - control.mean()
    assert se == pytest.approx(np.sqrt(treated.var(ddof=1) / treated.size
                                       + control.var(ddof=1) / control.size), rel=1e-12)
    assert used == treated.size + control.size


def _plan_on_halves(hillstrom, seeds) -> pd.DataFrame:
    """Fit on one half, plan 30 % of the other half's customers by spend uplift, then measure
    what each policy's contacts really added there (the arms were randomised)."""
    c = hillstrom
    X, y = c.covariates, c.campaign.revenue.to_numpy()
    arm = c.campaign.arm.astype(str).to_numpy(dtype=object)
    rows = []
    for seed in seeds:
        (a, b), = splits(arm, holdout=0.5, random_state=seed)
        model = tg.UpliftModel("t").fit(X.iloc[a], y[a], arm[a])
        plan = tg.plan_campaign(model, X.iloc[b], budget=0.3 * len(b) * 0.01,
                                cost_per_contact=0.01, calibration=(X.iloc[a], y[a], arm[a]),
                                random_state=seed)
        realised = plan.measure(y[b], arm[b])
        rows.append(plan.table.join(realised).assign(seed=seed))
    assert plan.calibrated and "out of fold" in plan._repr_html_() and plan.plot().axes
    return pd.concat(rows).rename_axis("policy").reset_index()


def test_plan_interval_holds_on_a_held_out_half(hillstrom):
    """Over seeds 0-19 (the slow test below) the stated 95 % interval held 78 times in 80
    (uplift 19/20, propensity 19/20, random and everyone 20/20); the model's own summed
    predictions promised $25,345 on average for the uplift policy's 9,599 contacts, which
    realised $5,313 (calibrated expectation: $6,129)."""
    plans = _plan_on_halves(hillstrom, range(5))
    assert plans.within_stated_interval.mean() >= 0.9  # 20 of 20 for these seeds
    uplift = plans[plans.policy == "uplift"]
    assert (uplift.contacts == 9_599).all()
    assert (uplift.expected_low < uplift.expected_incremental).all()
    assert (uplift.expected_incremental < uplift.expected_high).all()
    # The calibrated expectation is far closer to what happened than the model's own sum.
    truth = uplift.realised_incremental
    assert (uplift.expected_incremental - truth).abs().mean() < 0.5 * (
        uplift.predicted_incremental - truth).abs().mean()


@pytest.mark.slow
def test_plan_interval_coverage_over_twenty_halves(hillstrom):
    plans = _plan_on_halves(hillstrom, range(20))
    coverage = plans.groupby("policy").within_stated_interval.sum()
    assert coverage.to_dict() == {"everyone": 20, "propensity": 19, "random": 20, "uplift": 19}
    uplift = plans[plans.policy == "uplift"]
    assert uplift.predicted_incremental.mean() == pytest.approx(25_345, abs=1)
    assert uplift.expected_incremental.mean() == pytest.approx(6_129, abs=1)
    assert uplift.realised_incremental.mean() == pytest.approx(5_313, abs=1)


# -- plans in money: a price per e-mail -----------------------------------------------------
# Stated before looking: a men's e-mail costs 0.10 per customer, a women's 0.15 (another creative
# and list). The value is the spend itself (the model's outcome is revenue), so no value is given.
PRICES = {"Mens E-Mail": 0.10, "Womens E-Mail": 0.15}


def _priced_plans_on_halves(hillstrom, seeds) -> pd.DataFrame:
    """Fit on one half, plan the other with 30 % of its customers' worth of money at the mean
    price (0.125), calibrated on the fitted half; then measure each policy's realised profit on
    the held-out half: the per-contact increment of spend among its users (a difference of
    means per arm it sends) times its contacts, minus their prices."""
    c = hillstrom
    X, y = c.covariates, c.campaign.revenue.to_numpy()
    arm = c.campaign.arm.astype(str).to_numpy(dtype=object)
    rows = []
    for seed in seeds:
        (a, b), = splits(arm, holdout=0.5, random_state=seed)
        model = tg.UpliftModel("t", progress=False).fit(X.iloc[a], y[a], arm[a])
        plan = tg.plan_campaign(model, X.iloc[b], budget=0.3 * len(b) * 0.125,
                                cost_per_contact=PRICES, calibration=(X.iloc[a], y[a], arm[a]),
                                random_state=seed)
        rows.append(plan.table.join(plan.measure(y[b], arm[b])).assign(
            seed=seed, budget=plan.budget, arms=plan.audience.arm.nunique()))
    return pd.concat(rows).rename_axis("policy").reset_index()


def test_priced_plan_profit_interval_holds_on_a_held_out_half(hillstrom):
    """Over seeds 0-19 (the slow test below) the stated 95 % profit interval held 79 times in
    80 (uplift 19/20: seed 18 realised $867 below its $1,432 lower bound; propensity, random and
    everyone 20/20); for the uplift plan the model's own predictions promised $25,457 of profit
    on average, the calibrated expectation $7,330, the held-out half realised $5,690."""
    plans = _priced_plans_on_halves(hillstrom, range(5))
    assert plans.profit_within_interval.all()  # 20 of 20 for these seeds
    uplift = plans[plans.policy == "uplift"]
    assert (uplift.cost <= uplift.budget + 1e-9).all() and (uplift.arms == 2).all()
    assert (uplift.profit_low < uplift.expected_profit).all()
    assert (uplift.expected_profit < uplift.profit_high).all()
    # The value is the outcome: realised profit is the realised increment less the prices.
    np.testing.assert_allclose(plans.realised_profit, plans.realised_incremental - plans.cost)
    # The calibrated expectation is far closer to what happened than the model's own sum.
    truth = uplift.realised_profit
    assert (uplift.expected_profit - truth).abs().mean() < 0.5 * (
        uplift.predicted_profit - truth).abs().mean()


@pytest.mark.slow
def test_priced_plan_profit_coverage_over_twenty_halves(hillstrom):
    plans = _priced_plans_on_halves(hillstrom, range(20))
    coverage = plans.groupby("policy").profit_within_interval.sum()
    assert coverage.sum() >= 76 and coverage.min() >= 18  # 79 of 80 measured, 76 nominal
