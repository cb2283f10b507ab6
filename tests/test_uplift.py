"""Uplift: campaign readout, meta-learners, policy, scorers and MLflow, against the truth."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import sklearn
from mlflow import MlflowClient
from sklearn.model_selection import GridSearchCV

import targeting as tg
from targeting.evaluation import uplift_metrics as m
from targeting.models.uplift import LEARNERS
from targeting.tracking import log_uplift


@pytest.fixture(scope="module")
def world():
    return tg.demo_world()  # the default world: 50,000 users, 30,170 in the campaign


@pytest.fixture(scope="module")
def data(world):
    return tg.campaign_dataset(world.tables, world.campaign_id)


@pytest.fixture(scope="module")
def comparison(world, data):
    return tg.compare_uplift(data, ("t", "x"), truth=world.truth["uplift"], n_bootstrap=30,
                             progress=False)


@pytest.fixture(scope="module")
def small_data(small_world):
    return tg.campaign_dataset(small_world.tables, small_world.campaign_id)


# -- campaign readout ----------------------------------------------------------------------------
def test_readout_intervals_cover_the_true_average_effect(world):
    report = tg.campaign_report(world.tables, world.campaign_id,
                                allocation=world.campaign_allocation)
    assert not report.srm["mismatch"] and report.trustworthy
    truth = world.truth["uplift"]
    for arm in ("coupon", "group_invite", "push"):
        true_effect = truth[f"uplift_{arm}"].mean()  # the average over everyone sent to
        row = report.table.loc[arm]
        assert row.low < true_effect < row.high, (arm, true_effect, row.low, row.high)
    assert report.arms.users.sum() == len(truth)
    tiers = report.breakdown.query("dimension == 'city_tier' and arm == 'any treatment' "
                                   "and outcome == 'converted'")
    assert sorted(tiers.group) == ["1", "2", "3", "4", "5"]
    # The planted persuadables live in lower-tier cities: the readout must show it.
    low = tiers[tiers.group.isin(["4", "5"])].effect.mean()
    high = tiers[tiers.group.isin(["1", "2"])].effect.mean()
    assert low > high
    assert "Sample ratio" in report._repr_html_()
    assert len(report.plot().axes) == 2


def test_readout_flags_a_sample_ratio_mismatch(world):
    tables = dict(world.tables)
    campaign = tables["campaign"]
    lost = campaign.index[(campaign.arm == "coupon").to_numpy()][::4]  # a logging bug
    tables["campaign"] = campaign.drop(lost)
    report = tg.campaign_report(tables, world.campaign_id, allocation=world.campaign_allocation)
    assert report.srm["mismatch"] and not report.trustworthy


def test_readout_uses_only_what_the_tables_hold(small_world):
    tables = {k: small_world.tables[k] for k in ("campaign", "users")}  # no store orders
    report = tg.campaign_report(tables, small_world.campaign_id)
    assert set(report.breakdown.dimension) == {"city_tier"}  # no made-up channel or segment
    assert not {"orders_90d", "spend_90d"} & set(report.balance.index)
    assert "gender_f" in report.balance.index  # the profile the users table holds
    bare = tg.campaign_report({"campaign": small_world.tables["campaign"]},
                              small_world.campaign_id)
    assert bare.breakdown.empty and bare.checks["balance"].startswith("not run")


def test_readout_bad_input_is_named(small_world):
    tables = small_world.tables
    with pytest.raises(ValueError, match="'autumn_push_2027' not found.*autumn_push_2026"):
        tg.campaign_report(tables, "autumn_push_2027")
    campaign = tables["campaign"].copy()
    campaign["converted"] = campaign["converted"].astype("boolean")
    campaign.loc[campaign.index[:3], "converted"] = pd.NA
    with pytest.raises(tg.SchemaError, match="3 missing value"):
        tg.campaign_report({**tables, "campaign": campaign}, small_world.campaign_id)
    treated_only = tables["campaign"][tables["campaign"].arm != "control"]
    with pytest.raises(tg.SchemaError, match="no 'control' arm"):
        tg.campaign_report({**tables, "campaign": treated_only}, small_world.campaign_id)
    with pytest.raises(ValueError, match="no share for arm"):
        tg.campaign_report(tables, small_world.campaign_id, allocation={"control": 0.5})


# -- learners against the oracle -----------------------------------------------------------------
def test_best_learner_reaches_half_the_oracle(comparison):
    table = comparison.table
    oracle = table.loc["oracle", "policy_qini"]
    best = table.loc[comparison.best, "policy_qini"]
    # Measured on the life-cycle world: T 0.131 of the oracle's 0.222 (59 %); the best
    # learner's 90 % bootstrap interval is about +-0.03 wide, hence 50 %, not 60 %.
    assert best >= 0.5 * oracle, table
    # Both learners beat a propensity ranking (the sure things) and random targeting.
    for learner in ("t", "x"):
        assert table.loc[learner, "policy_qini"] > table.loc["propensity", "policy_qini"]
        assert table.loc[learner, "policy_qini"] > table.loc["random", "policy_qini"]
    low, high = table.loc[comparison.best, ["policy_qini_low", "policy_qini_high"]]
    assert low < best < high
    assert comparison.best in comparison._repr_html_()
    assert comparison.plot().axes


def test_out_of_fold_uplift_tracks_the_truth(world, data, comparison):
    truth = world.truth["uplift"].set_index("user_id").loc[data.X.index]
    predicted = comparison.predictions[comparison.best]
    for arm in ("coupon", "group_invite"):
        corr = np.corrcoef(predicted[arm], truth[f"uplift_{arm}"])[0, 1]
        assert corr > 0.2, (arm, corr)


def test_uplift_targeting_keeps_up_with_propensity_at_the_same_budget(world, data):
    half = np.random.default_rng(1).random(len(data)) < 0.5
    model = tg.UpliftModel("x", categorical_feature=data.categorical_features).fit(
        data.X[half], data.y[half], data.treatment[half])
    plan = tg.plan_campaign(model, data.X[~half], budget=2_000, cost_per_contact=1.0,
                            value_per_conversion=60.0, truth=world.truth["uplift"])
    s = plan.table
    assert s.loc["uplift", "contacts"] == s.loc["propensity", "contacts"] == len(plan.audience)
    # On the life-cycle world the likeliest buyers are often persuadable too: the demo's plan
    # measured uplift 143 against propensity 145 and random 54 (1,431 contacts). The uplift
    # plan keeps up with the propensity plan and clearly beats random.
    assert s.loc["uplift", "true_incremental"] > 0.85 * s.loc["propensity", "true_incremental"]
    assert s.loc["uplift", "true_incremental"] > 2 * s.loc["random", "true_incremental"]
    # Everyone costs more than the budget, and each contact earns less.
    assert not s.loc["everyone", "within_budget"] and s.loc["uplift", "within_budget"]
    per_contact = s.true_profit / s.contacts
    assert per_contact["uplift"] > 2 * per_contact["everyone"]
    assert plan.audience.index.isin(data.X.index[~half]).all()
    assert set(plan.audience.arm) <= set(data.arms)
    assert plan.plot().axes and "contacts" in plan._repr_html_()


# -- the estimator itself ------------------------------------------------------------------------
@pytest.mark.parametrize("learner", LEARNERS)
def test_every_learner_fits_binary_and_revenue(small_data, learner):
    d = small_data
    for y in (d.y, np.where(d.y > 0, 150.0, 0.0)):  # conversion, then revenue
        model = tg.UpliftModel(learner, n_estimators=20).fit(d.X, y, d.treatment)
        uplift = model.predict_uplift(d.X)
        assert list(uplift.columns) == d.arms and uplift.notna().all().all()
        assert set(model.recommend(d.X)) <= {*d.arms, "control"}
    assert model.outcome_type_ == "continuous"


def test_estimated_propensity_agrees_with_the_known_one_when_randomised(data):
    rows = slice(0, 8_000)
    X, y, arm = data.X.iloc[rows], data.y[rows], data.treatment[rows]
    known = tg.UpliftModel("t").fit(X, y, arm).predict(X)
    estimated = tg.UpliftModel("x", propensity="estimated").fit(X, y, arm)
    rates = [estimated.propensity_models_[a].predict_proba(X)[:, 1].mean() for a in data.arms]
    assert np.allclose(rates, [estimated.treatment_rate_[a] for a in data.arms], atol=0.05)
    assert np.corrcoef(known, estimated.predict(X))[0, 1] > 0.5


def test_bad_treatment_and_outcomes_are_refused(small_data):
    d = small_data
    with pytest.raises(tg.SchemaError, match="0 \\(control\\) or 1"):
        tg.UpliftModel(control=0).fit(d.X, d.y, np.where(d.treatment == "control", 0.0, 2.0))
    with pytest.raises(tg.SchemaError, match="no control users"):
        tg.UpliftModel().fit(d.X, d.y, np.where(d.treatment == "control", "coupon", d.treatment))
    with pytest.raises(tg.SchemaError, match="pass control=0"):
        tg.UpliftModel().fit(d.X, d.y, (d.treatment != "control").astype(int))
    y = d.y.copy()
    y[:2] = np.nan
    with pytest.raises(tg.SchemaError, match="2 missing outcome"):
        tg.UpliftModel().fit(d.X, y, d.treatment)
    with pytest.raises(tg.SchemaError, match="y must be numeric"):
        tg.UpliftModel().fit(d.X, np.where(d.y > 0, "yes", "no"), d.treatment)
    arm = d.treatment.copy()
    arm[:3] = None
    with pytest.raises(tg.SchemaError, match="3 user\\(s\\) without an arm"):
        tg.UpliftModel().fit(d.X, d.y, arm)
    with pytest.raises(ValueError, match="learner must be one of"):
        tg.UpliftModel("z").fit(d.X, d.y, d.treatment)
    model = tg.UpliftModel("s", n_estimators=10).fit(d.X, d.y, d.treatment)
    with pytest.raises(ValueError, match="lacks 1 feature"):
        model.predict(d.X.drop(columns=d.X.columns[0]))


def test_grid_search_tunes_with_the_uplift_scorer(small_data):
    d = small_data
    treated = (d.treatment != "control").astype(int)
    search = GridSearchCV(tg.UpliftModel("t", control=0, n_estimators=20),
                          {"num_leaves": [3, 7], "min_child_samples": [50, 200]},
                          scoring=tg.uplift_scorer("qini", control=0), cv=2)
    with sklearn.config_context(enable_metadata_routing=True):
        search.fit(d.X, d.y, treatment=treated)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all() and len(set(scores)) > 1
    # The scorer is the Qini coefficient of the model's predictions, nothing else.
    with sklearn.config_context(enable_metadata_routing=True):
        scored = tg.uplift_scorer("qini", control=0)(search.best_estimator_, d.X, d.y,
                                                     treatment=treated)
    assert scored == m.qini_coefficient(d.y, search.best_estimator_.predict(d.X), treated)


# -- MLflow --------------------------------------------------------------------------------------
def test_comparison_is_logged_with_nested_runs_and_a_champion(mlflow_store, small_world,
                                                               small_data):
    comparison = tg.compare_uplift(small_data, ("s", "t"), truth=small_world.truth["uplift"],
                                   n_bootstrap=0, progress=False, n_estimators=20)
    logged = log_uplift(comparison, small_data)
    client = MlflowClient()
    parent = client.get_run(logged.run_id)
    assert parent.data.params["best_learner"] == comparison.best
    assert "policy_qini_oracle" in parent.data.metrics
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{logged.run_id}'")
    assert sorted(r.info.run_name for r in children) == ["s", "t"]
    assert all("policy_qini" in r.data.metrics for r in children)
    artifacts = {a.path for a in client.list_artifacts(logged.run_id)}
    assert {"uplift_comparison.csv", "qini_policy.png"} <= artifacts
    assert logged.is_champion and logged.version == "1"
    # The registered pyfunc recommends arms for a feature frame, as the model does.
    features = small_data.pipeline.transform(small_world.tables, small_data.as_of,
                                             users=small_data.X.index[:50])
    served = mlflow.pyfunc.load_model("models:/uplift@champion").predict(
        features.reset_index())
    best = comparison.models[comparison.best]
    np.testing.assert_allclose(served.score, best.predict(small_data.X.iloc[:50]))
    assert (served.user_id.to_numpy() == small_data.X.index[:50]).all()
    assert (served.arm.to_numpy() == best.recommend(small_data.X.iloc[:50])).all()
    # score() on the same model returns the same frame (one scoring contract).
    scored = tg.score(features.reset_index(), "models:/uplift@champion")
    pd.testing.assert_frame_equal(scored, served, check_like=False)
    assert [c for c in scored.columns if c.startswith("uplift_")] == \
        [f"uplift_{arm}" for arm in best.arms_]
    assert scored.attrs["model_version"] == "uplift/1" and scored.decile.between(1, 10).all()
    # A weaker candidate on the same data does not take the alias.
    weaker = tg.compare_uplift(small_data, ("s",), truth=small_world.truth["uplift"],
                               n_bootstrap=0, progress=False, n_estimators=1, num_leaves=2)
    again = log_uplift(weaker, small_data)
    beats = weaker.table.loc["s", "policy_qini"] > comparison.table.loc[comparison.best,
                                                                        "policy_qini"]
    assert again.is_champion == beats and ("beats" if beats else "does not beat") in again.reason
    # No raw identifier in the logged input example.
    example = mlflow.models.Model.load(logged.model_uri).load_input_example(
        mlflow.artifacts.download_artifacts(logged.model_uri))
    assert not set(example.user_id) & set(small_data.X.index)


# -- explanations --------------------------------------------------------------------------------
@pytest.mark.parametrize("learner", ["x", "dr"])
def test_shap_values_add_up_to_the_predicted_uplift(small_data, learner):
    from targeting.evaluation.explain import contributions

    d = small_data
    model = tg.UpliftModel(learner, n_estimators=30).fit(d.X, d.y, d.treatment)
    X = d.X.to_numpy()
    for arm in d.arms:
        phi = contributions(model.explainer(d.pipeline, arm), X)
        np.testing.assert_allclose(phi.sum(axis=1), model.predict_uplift(d.X)[arm], atol=1e-9)
    explanation = tg.explain(model.explainer(d.pipeline, "group_invite"),
                             d.pipeline.decode(d.X), sample=300)
    assert explanation.values.shape == (300, d.X.shape[1])
    assert explanation.silo_importance().sum() == pytest.approx(1.0)


def test_learners_that_cannot_be_summed_say_so(small_data):
    d = small_data
    model = tg.UpliftModel("t", n_estimators=10).fit(d.X, d.y, d.treatment)
    with pytest.raises(ValueError, match="difference of probabilities"):
        model.explain_boosters("coupon")
    with pytest.raises(ValueError, match="unknown arm"):
        tg.UpliftModel("dr", n_estimators=10).fit(d.X, d.y, d.treatment).explain_boosters("sms")
