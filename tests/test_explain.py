"""SHAP explanations: agreement with shap and LightGBM, additivity, reasons, silos, truth."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
import shap
from scipy.special import expit

import targeting as tg
from targeting.evaluation.explain import contributions, reason_columns, top_reasons

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def matrix(small_world, small_model):
    features = small_model.features(small_world.tables, small_world.as_of)
    return features, small_model.pipeline_.to_matrix(features)


def test_shap_tree_explainer_agrees_with_lightgbm_pred_contrib(small_model, matrix):
    _, X = matrix
    ours = contributions(small_model, X)
    explainer = shap.TreeExplainer(small_model.booster_)
    theirs = explainer(small_model.model_matrix(X))  # with the classic scores the model adds
    assert np.allclose(theirs.values, ours[:, :-1], rtol=0, atol=1e-12)
    assert np.allclose(theirs.base_values, ours[:, -1], rtol=0, atol=1e-12)
    assert np.allclose(contributions(small_model, X, method="shap"), ours, rtol=0, atol=1e-12)


def test_values_add_up_to_the_raw_margin_and_the_calibrated_score(small_world, small_model,
                                                                   matrix):
    features, X = matrix
    phi = contributions(small_model, X, chunk_size=999)  # chunking changes nothing
    margin = small_model.booster_.predict(small_model.model_matrix(X), raw_score=True)
    assert np.allclose(phi.sum(axis=1), margin, rtol=0, atol=1e-9)
    a, b = small_model.calibration_
    assert a > 0  # reasons' signs carry over to the calibrated score
    scored = tg.score(features, small_model, reasons=3)
    assert np.allclose(expit(a * phi.sum(axis=1) + b), scored.score, rtol=0, atol=1e-12)


def test_score_reasons_are_the_largest_effects_with_their_sign(small_model, matrix):
    features, X = matrix
    out = tg.score(features, small_model, reasons=3)
    assert out.user_id.tolist() == features.index.tolist()
    phi = contributions(small_model, X)[:, :-1]
    names = np.array(small_model.feature_names_)  # the pipeline's and the classic scores
    order = np.argsort(-np.abs(phi), axis=1, kind="stable")[:, :3]
    for i in range(3):
        effect = out[f"reason_{i + 1}_effect"].to_numpy()
        assert np.allclose(np.abs(effect), np.abs(np.take_along_axis(phi, order, 1)[:, i]))
        same = out[f"reason_{i + 1}"].to_numpy() == names[order[:, i]]
        assert same.mean() > 0.99  # ties may swap names, never effects
        picked = np.array([phi[r, list(names).index(f)] for r, f in
                           enumerate(out[f"reason_{i + 1}"])])
        assert np.array_equal(picked, effect)
    silos = out.filter(like="silo_")
    assert set(silos.columns) == {f"silo_{s}" for s in tg.FeaturePipeline().builders}
    margin = small_model.booster_.predict(small_model.model_matrix(X), raw_score=True)
    assert np.allclose(silos.sum(axis=1) + out.base_value, margin, atol=1e-9)
    small = reason_columns(small_model, X[:50], 3, chunk_size=7)
    # Chunk size changes nothing but the summation order of the silo totals (last bit).
    pd.testing.assert_frame_equal(
        small, out.drop(columns=["user_id", "score", "decile", "note"]).head(50),
        check_exact=False, rtol=1e-12, atol=1e-12)


def test_top_reasons_reads_ties_and_signs():
    values = np.array([[0.0, -2.0, 1.0, 0.5], [3.0, 0.0, 0.0, -3.5]])
    out = top_reasons(values, ["a", "b", "c", "d"], k=2)
    assert out.reason_1.tolist() == ["b", "d"] and out.reason_2.tolist() == ["c", "a"]
    assert out.reason_1_effect.tolist() == [-2.0, -3.5]
    with pytest.raises(ValueError, match="at least 1"):
        top_reasons(values, list("abcd"), k=0)


def test_explanations_point_at_the_planted_interest(small_world, small_model):
    """The world makes snack buyers out of snack interest: the target category's own features
    carry more of the explanation than any other category's."""
    ex = tg.explain(small_model, small_world.tables, small_world.as_of, sample=2_000)
    importance = ex.table["mean_abs_shap"]
    share = {c: importance[[f for f in importance.index if f.endswith(f"_{c}")
                            or f"_{c}_" in f]].sum()
             for c in small_model.pipeline_.categories_}
    assert max(share, key=share.get) == "snacks"
    # Measured 1.83x the next category on this world (customers now join, churn and follow
    # the seasons, so recency and tenure carry more of every explanation; 2.9x before).
    assert share["snacks"] > 1.5 * sorted(share.values())[-2]
    # Buyers in the label window have higher snack-related SHAP than non-buyers.
    truth = small_world.truth["purchase_proba"]["snacks"].reindex(ex.values.index)
    snack_cols = [f for f in ex.values.columns if "snacks" in f]
    top = truth >= truth.quantile(0.9)
    assert ex.values.loc[top, snack_cols].sum(axis=1).mean() > \
        ex.values.loc[~top, snack_cols].sum(axis=1).mean() + 0.3
    assert abs(ex.silo_importance().sum() - 1) < 1e-12


def test_explanation_object_plots_and_saves(small_world, small_model, tmp_path):
    ex = tg.explain(small_model, small_world.tables, small_world.as_of, sample=400)
    assert "silo" in ex._repr_html_()
    for kind in ("summary", "silo", "dependence"):
        assert ex.plot(kind=kind).axes
    written = ex.save(tmp_path, n_dependence=2)
    assert {"shap_summary.png", "shap_silos.png", "shap_importance.csv"} <= set(written)
    assert all((tmp_path / name).stat().st_size > 1000 for name in written)
    user = ex.values.index[0]
    portrait = ex.portrait(user, k=4)
    assert len(portrait) == 4 and set(portrait.direction) <= {"raises", "lowers"}
    with pytest.raises(KeyError, match="unknown feature"):
        ex.plot(kind="dependence", feature="nope")


def test_weighted_boosters_explain_their_weighted_margin(small_model, matrix):
    """The hook for two-model learners (a T-learner's uplift is treated minus control)."""
    _, X = matrix

    class Difference:
        pipeline_ = small_model.pipeline_

        def explain_boosters(self):
            return [(small_model.booster_, 2.0), (small_model.booster_, -0.5)]

    M = small_model.model_matrix(X[:200])  # Difference has no classic scores of its own
    phi = contributions(Difference(), M)
    margin = small_model.booster_.predict(M, raw_score=True)
    assert np.allclose(phi.sum(axis=1), 1.5 * margin, atol=1e-9)
    with pytest.raises(TypeError, match="cannot explain"):
        contributions(object(), X[:2])
