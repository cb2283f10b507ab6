"""Drift: PSI against the training reference stored in the model, at scoring time."""

from __future__ import annotations

import pickle

import mlflow
import numpy as np
import pandas as pd

import targeting as tg
from targeting.evaluation.drift import psi


def test_scoring_the_training_population_shows_no_drift(small_world, small_model):
    # The reference is the population at the model's as_of (users with some record then).
    out = tg.score(small_world.tables, small_model, small_model.as_of_, drift=True)
    report = out.attrs["drift"]
    assert report.score_psi == 0 and (report.table.psi == 0).all()
    existing = int((out.note == "").sum())
    assert report.n_rows == report.reference_rows == existing < len(out)


def test_a_planted_shift_in_one_silo_is_found_there_only(small_world, small_model):
    tables = dict(small_world.tables)
    tables["orders"] = tables["orders"].assign(amount=tables["orders"].amount * 3)
    report = tg.score(tables, small_model, small_model.as_of_, drift=True).attrs["drift"]
    table = report.table
    assert table.loc["pur_amount", "level"] == "major"
    assert table.loc["pur_avg_amount", "level"] == "major"
    assert (table.loc[table.silo == "social", "psi"] == 0).all()
    assert set(table.index[table.level != "stable"]) <= {
        f for f in table.index if table.loc[f, "silo"] in ("purchase", "graph")}
    assert "score PSI" in report._repr_html_() and report.plot().axes


def test_time_moves_the_population_a_little(small_world, small_model):
    later = small_world.as_of + pd.Timedelta(days=small_world.horizon_days)
    report = tg.score(small_world.tables, small_model, later, drift=True).attrs["drift"]
    assert 0 < report.score_psi < 0.1  # a month later, same world: stable score
    assert report.metrics["psi_max_feature"] == report.table.psi.max()


def test_the_reference_keeps_binned_shares_only(small_world, small_model):
    ref = small_model.reference_
    for shares in [*ref.shares, ref.score_shares]:
        assert abs(shares.sum() - 1) < 1e-9
    for edges in ref.edges:
        assert edges is None or len(edges) <= 9
    blob = pickle.dumps(ref)
    assert len(blob) < 60_000
    ids = small_world.tables["identity"]
    for column in ("user_id", "social_id", "shop_id", "member_id"):
        sample = ids[column].dropna().astype(str).head(200)
        assert not any(value.encode() in blob for value in sample if len(value) > 5)


def test_psi_definition():
    expected = np.array([0.25, 0.25, 0.5])
    actual = np.array([0.5, 0.25, 0.25])
    by_hand = (0.25 * np.log(2)) + (-0.25 * np.log(0.5))
    assert np.isclose(psi(expected, actual), by_hand)
    assert psi(expected, expected) == 0


def test_registered_model_carries_its_reference_and_drift_is_logged(experiment_store):
    world = tg.demo_world(n_users=3_000, random_state=0)
    out = tg.score(world.tables, "models:/propensity@champion", world.as_of, drift=True,
                   reasons=2)
    assert out.attrs["model_version"].startswith("propensity/")
    assert {"reason_1", "reason_2_effect", "silo_social"} <= set(out.columns)
    from targeting.review import log_drift

    run_id = log_drift(out.attrs["drift"], model_version=out.attrs["model_version"]).run_id
    run = mlflow.MlflowClient().get_run(run_id)
    assert run.data.metrics["psi_score"] == out.attrs["drift"].score_psi
    assert run.data.tags["model_version"] == out.attrs["model_version"]
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
    assert names == {"drift.csv", "drift.png"}


def test_an_in_memory_model_is_named_too(small_world, small_model):
    out = tg.score(small_world.tables, small_model, small_world.as_of)
    assert "unlogged PropensityModel" in out.attrs["model_version"]
