"""score(..., engine="compiled"): the booster's trees compiled by tl2cgen score exactly as
LightGBM does, are compiled once per model, and a library that does not match is refused."""

from __future__ import annotations

import pickle
import shutil

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.compiled import CompiledBooster, library_path
from targeting.data.schema import TargetingError
from targeting.tracking import log_propensity

tl2cgen = pytest.importorskip("tl2cgen")
pytestmark = pytest.mark.skipif(not (shutil.which("gcc") or shutil.which("clang")),
                                reason="the compiled engine needs a C compiler")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache for the module: the small model is compiled once (about 10 s)."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TARGETING_CACHE_DIR", str(root))
        yield root / "compiled"


@pytest.fixture(scope="module")
def features(small_model, small_world):
    return small_model.features(small_world.tables, small_world.as_of)


def test_compiled_scores_equal_lightgbm_exactly(cache, small_model, features):
    plain = tg.score(features, tg.scoring.Scorer(small_model, engine="lightgbm"))
    scorer = tg.scoring.Scorer(small_model, engine="compiled")
    compiled = tg.score(features, scorer)
    assert isinstance(scorer._compiled, CompiledBooster)  # the compiled path ran
    pd.testing.assert_frame_equal(compiled, plain, check_exact=True)
    one = tg.score(features.iloc[[3]], small_model, engine="compiled")
    assert one.score.iloc[0] == plain.score.iloc[3]
    # Shuffled rows and a copy through pickle (as Dask ships it; it loads the cached library).
    again = pickle.loads(pickle.dumps(scorer))
    shuffled = features.sample(frac=1, random_state=1)
    pd.testing.assert_frame_equal(tg.score(shuffled, again),
                                  plain.set_index("user_id").loc[shuffled.index].reset_index(),
                                  check_exact=True)
    # Below _COMPILE_ROWS the default ("auto") keeps LightGBM (no compile for small batches).
    default = tg.scoring.Scorer(small_model)
    tg.score(features, default)
    assert default._compiled is None


def test_a_model_is_compiled_once_and_reused(cache, small_model):
    first = CompiledBooster(small_model.booster_)
    built = first.path.stat().st_mtime_ns
    again = CompiledBooster(small_model.booster_)
    assert again.path == first.path and again.path.stat().st_mtime_ns == built
    assert [p.name for p in cache.iterdir()] == [first.path.name]  # no temporary left
    assert first.path.parent == cache


def test_a_library_of_other_trees_is_refused(tmp_path, small_model):
    X = np.random.default_rng(1).normal(size=(300, small_model.booster_.num_feature()))
    other = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
                      lgb.Dataset(X, (X[:, 0] > 0).astype(int)), num_boost_round=3)
    stale = CompiledBooster(other, tmp_path).path
    shutil.copy(stale, library_path(small_model.booster_, tmp_path))  # under the model's name
    with pytest.raises(TargetingError, match="differ from LightGBM"):
        CompiledBooster(small_model.booster_, tmp_path)


def test_values_tl2cgen_would_read_as_missing_are_scored_by_lightgbm(tmp_path):
    """1.6946105957031248's low 32 bits are all ones: tl2cgen's union reads it as missing."""
    rng = np.random.default_rng(2)
    X = rng.uniform(0, 3, size=(2_000, 2))
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
                        lgb.Dataset(X, (X[:, 0] > 1.5).astype(int)), num_boost_round=5)
    rows = np.array([[1.6946105957031248, 1.0], [1.7, 1.0], [0.2, 1.6946105957031248]])
    compiled = CompiledBooster(booster, tmp_path)
    raw = compiled._predictor.predict(tl2cgen.DMatrix(rows, dtype="float64"), pred_margin=True)
    expected = booster.predict(rows, raw_score=True)
    assert np.ravel(raw)[0] != expected[0]  # the misreading this guards against
    np.testing.assert_array_equal(compiled.margin(rows), expected)


def test_registered_model_loads_with_the_compiled_engine(cache, mlflow_store, small_model,
                                                         small_world, features):
    ev = tg.evaluate(small_model, small_world)
    log_propensity(small_model, ev, small_world.tables, experiment="test")
    scorer = tg.scoring.load_model("models:/propensity@champion", refresh=True,
                                   engine="compiled")
    assert scorer.engine == "compiled"
    np.testing.assert_array_equal(tg.score(features, scorer).score.to_numpy(),
                                  tg.score(features, small_model).score.to_numpy())


def test_unknown_engine_and_unsupported_models_are_named(small_model, features):
    with pytest.raises(TargetingError, match="engine must be one of"):
        tg.score(features, small_model, engine="onnx")
    with pytest.raises(TargetingError, match="propensity models"):
        tg.scoring.Scorer(object.__new__(_NotPropensity), engine="compiled")


class _NotPropensity:
    pipeline_ = None
