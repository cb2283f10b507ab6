"""score(): same users, same order, no drops, same numbers as the pyfunc; strict on bad input."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.scoring import NOTE_PROFILE_ONLY, NOTE_UNKNOWN
from targeting.tracking import log_propensity


@pytest.fixture()
def registered(mlflow_store, small_model, small_world):
    ev = tg.evaluate(small_model, small_world)
    return log_propensity(small_model, ev, small_world.tables, experiment="test")


@pytest.fixture(scope="module")
def features(small_model, small_world):
    return small_model.features(small_world.tables, small_world.as_of)


def test_scores_every_user_in_input_order(small_model, features):
    shuffled = features.sample(frac=1, random_state=0)
    out = tg.score(shuffled, small_model)
    assert out.user_id.tolist() == shuffled.index.tolist()
    assert list(out.columns) == ["user_id", "score", "decile", "note"]
    assert out.score.between(0, 1).all() and out.decile.between(1, 10).all()
    again = tg.score(features, small_model).set_index("user_id").loc[out.user_id]
    np.testing.assert_array_equal(again.score.to_numpy(), out.score.to_numpy())


def test_raw_tables_and_feature_frame_agree(small_model, small_world, features):
    from_tables = tg.score(small_world.tables, small_model, small_world.as_of)
    from_features = tg.score(features.reset_index(), small_model)
    pd.testing.assert_frame_equal(from_tables, from_features)


def test_one_user_scores_the_same_alone(small_model, features):
    batch = tg.score(features, small_model)
    alone = tg.score(features.iloc[[7]], small_model)
    assert alone.score.iloc[0] == batch.score.iloc[7]
    assert alone.decile.iloc[0] == batch.decile.iloc[7]


def test_users_unknown_to_every_silo_get_a_note_not_a_drop(small_model, small_world):
    tables = dict(small_world.tables)
    # A profile but no record before as_of (first seen later): a prospect, scored with a note.
    newcomer = small_world.tables["users"].iloc[[0]].assign(
        user_id=-7, first_seen=small_world.as_of + pd.Timedelta(days=3))
    tables["users"] = pd.concat([tables["users"], newcomer], ignore_index=True)
    tables["identity"] = pd.concat(
        [tables["identity"], pd.DataFrame({"user_id": [-7]})], ignore_index=True)
    ids = small_world.tables["identity"].user_id.tolist()[:3] + [-7, -42]
    out = tg.score(tables, small_model, small_world.as_of, users=ids)
    assert out.user_id.tolist() == ids
    assert out.note.tolist()[-2:] == [NOTE_PROFILE_ONLY, NOTE_UNKNOWN]
    assert np.isfinite(out.score).all()
    assert len(tg.score(tables, small_model, small_world.as_of)) == len(tables["identity"])


def test_bad_feature_frames_name_every_problem(small_model, features):
    bad = features.reset_index().drop(columns=["soc_events", "pur_orders"])
    bad["city_tier"] = bad["city_tier"].astype(str)
    bad["region"] = bad["region"].astype(object)
    bad.loc[0, "region"] = "atlantis"
    bad = pd.concat([bad, bad.iloc[:2]])
    with pytest.raises(tg.SchemaError) as info:
        tg.score(bad, small_model)
    text = "\n".join(info.value.problems)
    assert "duplicated id(s)" in text
    assert "missing column(s) ['soc_events', 'pur_orders']" in text
    with pytest.raises(tg.SchemaError) as info:
        tg.score(bad.drop_duplicates("user_id").assign(soc_events=0.0, pur_orders=0.0),
                 small_model)
    text = "\n".join(info.value.problems)
    assert "features.city_tier: expected a numeric dtype" in text
    assert "atlantis" in text


def test_empty_and_idless_input(small_model, features):
    with pytest.raises(tg.SchemaError, match="empty input"):
        tg.score(features.iloc[:0], small_model)
    with pytest.raises(tg.SchemaError, match="no 'user_id'"):
        tg.score(features.reset_index(drop=True), small_model)


def test_bad_raw_tables_raise_before_any_work(small_model, small_world):
    orders = small_world.tables["orders"].drop(columns=["amount"])
    with pytest.raises(tg.SchemaError, match="orders: missing column 'amount'"):
        tg.score({**small_world.tables, "orders": orders}, small_model, small_world.as_of)


def test_registered_model_scores_like_the_pyfunc(registered, small_world, features):
    out = tg.score(small_world.tables, "models:/propensity@champion", small_world.as_of)
    assert out.attrs["model_version"] == "propensity/1"
    pyfunc = mlflow.pyfunc.load_model("models:/propensity@champion")
    via_pyfunc = pyfunc.predict(features.reset_index())
    # One scoring contract: the pyfunc returns exactly score()'s frame (columns, dtypes, notes).
    pd.testing.assert_frame_equal(via_pyfunc, out)


def test_bad_input_writes_nothing_to_mlflow(registered, small_world):
    client = mlflow.MlflowClient()
    runs_before = len(client.search_runs([e.experiment_id
                                          for e in client.search_experiments()]))
    with pytest.raises(tg.SchemaError):
        tg.score({**small_world.tables, "orders": small_world.tables["orders"].iloc[:, :3]},
                 "models:/propensity@champion", small_world.as_of)
    runs_after = len(client.search_runs([e.experiment_id for e in client.search_experiments()]))
    assert runs_after == runs_before


def test_small_frames_score_exactly_as_the_batch(small_model, features):
    # Frames of up to 64 rows take the single-user path (prebuilt column index, LightGBM's
    # single-row API for one row): same frame as the batch's rows, to the last bit.
    scorer = tg.scoring.Scorer(small_model)
    assert scorer._fast_matrix(features.iloc[[0]]) is not None  # the path under test is taken
    # The batch path builds the strict path's matrix exactly (NaNs in the same places).
    ids, X = scorer._fast_matrix(features)
    np.testing.assert_array_equal(X, small_model.pipeline_.to_matrix(features))
    np.testing.assert_array_equal(ids, features.index.to_numpy())
    # The batch path copies the float block in the order pandas holds it (no transposing copy:
    # row-major for the pipeline's own frames, which share their block; column by column for
    # frames pandas built), and LightGBM reads either in place: raw predict's scores, bit for bit.
    numeric = [c for c in small_model.pipeline_.feature_names_
               if c not in small_model.pipeline_.vocabularies_]
    assert X.flags.c_contiguous and features[numeric].to_numpy().flags.c_contiguous
    by_column = pd.DataFrame({c: features[c].to_numpy() for c in features.columns},
                             index=features.index)  # built by pandas: column by column
    _, X_copied = scorer._fast_matrix(by_column)
    assert X_copied.flags.f_contiguous and not X_copied.flags.c_contiguous
    np.testing.assert_array_equal(X_copied, X)
    margin = small_model._margin(small_model.model_matrix(
        small_model.pipeline_.to_matrix(features)))  # the chosen candidate's raw margin
    np.testing.assert_array_equal(tg.score(features, scorer).score.to_numpy(),
                                  small_model._calibrated(margin))
    batch = tg.score(features, scorer)
    for rows in ([0], [7], [3, 1, 4], list(range(10, 74))):
        small = tg.score(features.iloc[rows], scorer)
        pd.testing.assert_frame_equal(small, batch.iloc[rows].reset_index(drop=True))
    as_column = tg.score(features.iloc[[5]].reset_index(), scorer)  # user_id as a column
    pd.testing.assert_frame_equal(as_column, batch.iloc[[5]].reset_index(drop=True))
    reordered = features.iloc[[2]][features.columns[::-1]]  # another column layout
    pd.testing.assert_frame_equal(tg.score(reordered, scorer),
                                  batch.iloc[[2]].reset_index(drop=True))


def test_small_frames_are_as_strict_as_large_ones(small_model, features):
    cat = small_model.pipeline_.feature_names_[-1]  # categorical features come last
    num = small_model.pipeline_.feature_names_[0]
    bad = [features.assign(**{cat: "no such level"}),
           features.assign(**{num: features[num].astype(str)}),
           features.drop(columns=[num]),
           features.rename(index={features.index[0]: None})]
    for frame in bad:
        assert tg.scoring.Scorer(small_model)._fast_matrix(frame) is None  # the strict path
        with pytest.raises(tg.SchemaError) as large:
            tg.score(frame.iloc[:100], small_model)
        with pytest.raises(tg.SchemaError) as small:
            tg.score(frame.iloc[:1], small_model)
        assert small.value.problems == large.value.problems
