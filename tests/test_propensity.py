"""Propensity model: scikit-learn contract, out-of-time training, quality against the oracle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import targeting as tg


def test_estimator_contract(small_model):
    params = small_model.get_params()
    assert params["category"] == "snacks" and "builders" in params
    twin = clone(tg.PropensityModel("snacks", num_leaves=7))
    assert twin.get_params()["num_leaves"] == 7
    assert twin.lightgbm_params["num_leaves"] == 7
    assert not hasattr(twin, "booster_")
    assert twin.set_params(min_child_samples=50).lightgbm_params["min_child_samples"] == 50


def test_training_reads_nothing_at_or_after_as_of(small_world):
    """Future orders deleted: the fitted model is the same to the last bit."""
    tables = dict(small_world.tables)
    orders = tables["orders"]
    tables["orders"] = orders[orders.ts < small_world.as_of]
    a = tg.PropensityModel("snacks", progress=False).fit(small_world.tables, small_world.as_of)
    b = tg.PropensityModel("snacks", progress=False).fit(tables, small_world.as_of)
    assert a.booster_.model_to_string() == b.booster_.model_to_string()


def test_scores_are_calibrated_probabilities(small_model, small_world):
    ev = tg.evaluate(small_model, small_world)
    assert abs(ev.metrics["mean_score"] - ev.metrics["positive_rate"]) < 0.01
    X = small_model.features(small_world.tables, small_world.as_of)
    proba = small_model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    deciles = small_model.decile(proba[:, 1])
    assert set(np.unique(deciles)) <= set(range(1, 11))
    top = proba[:, 1] >= np.quantile(proba[:, 1], 0.9)
    assert (deciles[top] <= 2).mean() > 0.8


def test_evaluation_result_renders_and_plots(small_model, small_world):
    ev = tg.evaluate(small_model, small_world)
    for key in ("auc", "pr_auc", "log_loss", "brier", "lift_at_1pct", "capture_at_10pct",
                "oracle_auc"):
        assert key in ev.metrics
    assert "<table" in ev._repr_html_()
    fig = ev.plot()
    assert len(fig.axes) == 2


def test_too_few_buyers_is_a_clear_error(small_world):
    tables = dict(small_world.tables)
    tables["orders"] = tables["orders"][tables["orders"].category != "electronics"]
    with pytest.raises(ValueError, match="too few to learn from"):
        tg.PropensityModel("electronics", progress=False).fit(tables, small_world.as_of)


@pytest.fixture(scope="module")
def mid_world_metrics():
    """A 20,000-user world: the default model's metrics with the classic baselines."""
    world = tg.demo_world(n_users=20_000, random_state=0)
    model = tg.PropensityModel("beauty", progress=False).fit(world.tables, world.as_of)
    return tg.evaluate(model, world, baselines=True).metrics


def test_model_is_close_to_the_oracle_and_beats_every_baseline(mid_world_metrics):
    """The default suite's quality check; the 50,000-user claims are the slow tests below."""
    m = mid_world_metrics
    assert 0.75 <= m["oracle_auc"] <= 0.9
    # Measured at 20,000 users, seeds 0-4: gaps 0.042 0.044 0.053 0.048 0.064 (seeds 11-13:
    # 0.060 0.049 0.068; spread about 0.01), margins over the best baseline 0.102 0.076 0.093
    # 0.092 0.091. This world is seed 0 (gap 0.042): the bound leaves about one spread.
    assert m["auc_gap_to_oracle"] <= 0.055
    assert m["auc_margin_over_best_baseline"] >= 0.06


@pytest.fixture(scope="module")
def default_world_results():
    """The default world (50,000 users): fused, social-only and purchase-only models."""
    from targeting.features.pipeline import share_feature_builds

    world = tg.demo_world()
    # As the demo does: the silos' features built once per date for the three models (the
    # same models to the bit: test_shared_feature_builds_give_the_same_models_to_the_bit), the
    # classic baselines for the fused model only (the single-silo tests read AUCs alone), and
    # one LightGBM for each single silo (an ablation of inputs, not of learners).
    world = dataclasses.replace(world, tables=share_feature_builds(world.tables))
    out = {}
    for label, builders in (("fused", tg.FeaturePipeline().builders),
                            ("social", ("profile", "social", "graph")),
                            ("purchase", ("profile", "purchase", "crm"))):
        model = tg.PropensityModel("beauty", builders=builders, progress=False,
                                   capacity="auto" if label == "fused" else "lightgbm")
        out[label] = tg.evaluate(model.fit(world.tables, world.as_of), world,
                                 baselines=label == "fused").metrics
    return out


@pytest.mark.slow  # about 7 minutes on 2 cores; .ci/run runs it
def test_fused_model_is_close_to_the_oracle_and_beats_every_baseline(default_world_results):
    fused = default_world_results["fused"]
    assert 0.75 <= fused["oracle_auc"] <= 0.9
    # Measured on the life-cycle world (seed 0): gap 0.047 (oracle 0.872, model 0.825). The
    # oracle knows who has silently dropped out; 0.02 held on the stationary world only.
    assert fused["auc_gap_to_oracle"] <= 0.055
    # Measured margin over the best baseline (BG/NBD 0.736): +0.090.
    assert fused["auc_margin_over_best_baseline"] >= 0.05


@pytest.mark.slow
def test_fused_silos_beat_each_silo_alone(default_world_results):
    r = default_world_results
    assert r["fused"]["auc"] - r["social"]["auc"] >= 0.01
    assert r["fused"]["auc"] - r["purchase"]["auc"] >= 0.01


def test_feature_importance_names_features(small_model):
    imp = small_model.feature_importance()
    assert isinstance(imp, pd.Series) and imp.index[0] in small_model.feature_names_


def test_unknown_category_is_a_clear_error(small_world):
    with pytest.raises(ValueError, match="unknown category 'beuaty'"):
        tg.PropensityModel("beuaty", progress=False).fit(small_world.tables, small_world.as_of)


def test_shared_feature_builds_give_the_same_models_to_the_bit(small_model, small_world):
    """Models fitted on tables from share_feature_builds (the demo's three) equal fresh fits,
    and the second model builds only what the first did not (its graph without purchases)."""
    from targeting.features.pipeline import share_feature_builds

    tables = share_feature_builds(small_world.tables)
    social = ("profile", "social", "graph")
    fused = tg.PropensityModel("snacks", progress=False).fit(tables, small_world.as_of)
    before = set(tables.kept("feature_builds"))
    assert {key[0] for key in before} == set(tg.FeaturePipeline().builders)
    social_only = tg.PropensityModel("snacks", builders=social, progress=False).fit(
        tables, small_world.as_of)
    assert {key[0] for key in set(tables.kept("feature_builds")) - before} == {"graph"}
    alone = tg.PropensityModel("snacks", builders=social, progress=False).fit(
        small_world.tables, small_world.as_of)
    for model, fresh in ((fused, small_model), (social_only, alone)):
        assert model.booster_.model_to_string() == fresh.booster_.model_to_string()
        assert model.pipeline_.feature_names_ == fresh.pipeline_.feature_names_
