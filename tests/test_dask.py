"""Scale-out on Dask: same features, same model quality, same scores as one machine."""

from __future__ import annotations

import logging
import os
import signal
import time

import dask
import numpy as np
import pandas as pd
import pytest

import targeting as tg

distributed = pytest.importorskip("distributed")
from targeting.data.dask import (  # noqa: E402
    read_parquet_tables,
    read_user_partitions,
    shuffle_by_user,
    validate_dask,
    write_user_partitions,
)
from targeting.features.dask import DaskFeaturePipeline, transform  # noqa: E402
from targeting.models.dask import DaskPropensityModel  # noqa: E402


@pytest.fixture(scope="module")
def client():
    # Worker processes (not threads): LightGBM runs one process per Dask worker, and a killed
    # worker must be a real process that the nanny restarts.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def parts(small_world, tmp_path_factory, client):
    """The small world written as Parquet partitioned by user, read back lazily."""
    folder = tmp_path_factory.mktemp("world")
    write_user_partitions(small_world.tables, str(folder), npartitions=4)
    return read_user_partitions(str(folder))


def test_features_per_partition_equal_single_machine_features(small_world, parts):
    local = tg.build_features(small_world.tables, small_world.as_of)
    pipe = DaskFeaturePipeline()
    distributed_ = pipe.fit_transform(parts, small_world.as_of).compute()
    assert distributed_.index.is_unique and len(distributed_) == len(local)
    pd.testing.assert_frame_equal(distributed_.loc[local.index], local, check_exact=True)
    assert pipe.to_local().vocabularies_ == tg.FeaturePipeline().fit(
        small_world.tables, small_world.as_of).vocabularies_


def test_shuffle_of_unpartitioned_dask_tables_gives_the_same_features(small_world, client):
    import dask.dataframe as dd

    tables = {k: dd.from_pandas(v, npartitions=3) for k, v in small_world.tables.items()}
    parts = shuffle_by_user(tables, npartitions=5)
    local = tg.build_features(small_world.tables, small_world.as_of)
    got = DaskFeaturePipeline().fit_transform(parts, small_world.as_of).compute()
    pd.testing.assert_frame_equal(got.loc[local.index], local, check_exact=True)


def test_parquet_input_is_validated_with_the_pandas_messages(small_world, tmp_path):
    tables = dict(small_world.tables)
    tables["orders"] = tables["orders"].assign(amount=-tables["orders"]["amount"])
    tables["users"] = tables["users"].drop(columns="region")
    with pytest.raises(tg.SchemaError):  # refused on the way in...
        write_user_partitions(tables, f"file://{tmp_path}", npartitions=2)
    # ...and, written anyway, on the way out.
    write_user_partitions(tables, f"file://{tmp_path}", npartitions=2, validate=False)
    with pytest.raises(tg.SchemaError) as dask_err:
        read_parquet_tables(f"file://{tmp_path}")
    assert dask_err.value.problems == ["users: missing column 'region' (category or string dtype)"]
    frames = read_parquet_tables(str(tmp_path), tables=["orders"], validate=False)
    with pytest.raises(tg.SchemaError) as dask_err:
        validate_dask(frames)
    with pytest.raises(tg.SchemaError) as pandas_err:
        tg.validate({"orders": tables["orders"]})
    assert [p.split(" (e.g.")[0] for p in dask_err.value.problems] == \
        [p.split(" (e.g.")[0] for p in pandas_err.value.problems]


def test_missing_tables_and_folders_are_named(tmp_path):
    with pytest.raises(tg.SchemaError, match="no contract tables found"):
        read_parquet_tables(str(tmp_path))
    with pytest.raises(tg.SchemaError, match="missing table 'orders'"):
        read_parquet_tables(str(tmp_path), tables=["orders"])


@pytest.fixture(scope="module")
def dask_model(small_world, small_model, parts, client):
    # LightGBM's Dask estimators cannot stop early: take the rounds from the local
    # early-stopped run on the same data. (The default n_estimators="auto" early-stops on a
    # sample instead; on this 4,000-user world its round count, and so the AUC, moves with the
    # row order: 0.007 apart once, hence the fixed rounds for this comparison.)
    rounds = small_model.validation_["best_iteration"]
    return DaskPropensityModel("snacks", n_estimators=rounds, progress=False).fit(
        parts, small_world.as_of)


def test_dask_trained_model_matches_single_machine_auc(small_world, small_model, dask_model,
                                                       parts):
    # Data-parallel LightGBM finds each feature's bins on one worker's rows, so the model is not
    # bit-identical to the local one. Measured on this world (local 0.8232): with partitions
    # placed by the scheduler, 0.818-0.824 over seven fits; pinned (``_one_chunk_per_worker``),
    # 0.821-0.824 over ten fits (the rank LightGBM gives each worker still varies).
    local_auc = tg.evaluate(small_model, small_world).metrics["auc"]
    dask_eval = tg.evaluate(dask_model, parts, oracle=small_world.truth["purchase_proba"]["snacks"])
    assert abs(dask_eval.metrics["auc"] - local_auc) < 0.005
    # The converted model is a plain PropensityModel that scores identically.
    local = dask_model.to_local()
    assert type(local) is tg.PropensityModel
    assert tg.evaluate(local, small_world).metrics["auc"] == pytest.approx(dask_eval.metrics["auc"],
                                                                       abs=1e-12)


def test_to_local_carries_every_fitted_attribute_and_drift_works(small_world, small_model,
                                                                  dask_model):
    local = dask_model.to_local()
    fitted = {k for k in vars(small_model) if k.endswith("_") and not k.startswith("_")}
    missing = fitted - set(vars(local))
    assert not missing, f"to_local() lost {sorted(missing)}"
    # Drift against the Dask fit's reference: the same population scores with small PSI.
    out = tg.score(small_world.tables, local, small_world.as_of, drift=True)
    report = out.attrs["drift"]
    assert report.table.psi.max() < 0.1 and report.score_psi < 0.1


def test_training_partitions_meet_on_the_same_worker_every_fit(client):
    from targeting.models.dask import _one_chunk_per_worker

    rows = [3, 4, 5, 6]
    parts = [dask.delayed((np.full((r, 2), float(i)), np.zeros(r, np.int8)))
             for i, r in enumerate(rows)]
    workers = sorted(client.nthreads())
    for _ in range(3):
        chunks, sizes = _one_chunk_per_worker(client, parts, rows)
        assert sizes == [3 + 5, 4 + 6]
        assert [list(client.who_has(c).values())[0] for c in chunks] == \
            [(workers[0],), (workers[1],)]
        X0, _ = chunks[0].result()
        assert np.unique(X0).tolist() == [0.0, 2.0]


def test_dask_scores_equal_score(small_world, dask_model, parts):
    model = dask_model.to_local()
    expected = tg.score(small_world.tables, model, small_world.as_of)
    lazy = tg.score(parts, model, small_world.as_of)
    assert hasattr(lazy, "dask")  # lazy until computed
    # The lazy frame declares the dtypes the partitions have (pandas 3: ``note`` is str).
    assert dict(lazy.dtypes) == dict(expected.dtypes)
    got = lazy.compute().set_index("user_id").loc[expected.user_id]
    np.testing.assert_allclose(got.score.to_numpy(), expected.score.to_numpy(), rtol=0, atol=1e-12)
    assert (got.decile.to_numpy() == expected.decile.to_numpy()).all()
    assert (got.note.to_numpy() == expected.note.to_numpy()).all()
    # A Dask feature frame scores the same way.
    features = transform(model.pipeline_, parts, small_world.as_of)
    from_frame = tg.score(features, model).compute().set_index("user_id").loc[expected.user_id]
    np.testing.assert_array_equal(from_frame.score.to_numpy(), got.score.to_numpy())


def test_dask_model_logs_and_registers_like_a_local_one(small_world, dask_model, parts,
                                                        mlflow_store):
    from targeting.tracking import log_propensity

    model = dask_model.to_local()
    logged = log_propensity(model, tg.evaluate(model, parts), parts,
                            params={"engine": "dask"})
    assert logged.is_champion
    scored = tg.score(small_world.tables, "models:/propensity@champion", small_world.as_of)
    direct = tg.score(small_world.tables, model, small_world.as_of)
    np.testing.assert_array_equal(scored.score.to_numpy(), direct.score.to_numpy())


def test_a_worker_killed_mid_run_is_recovered_not_partial(small_world, parts, client):
    local = tg.build_features(small_world.tables, small_world.as_of)
    future = client.compute(DaskFeaturePipeline().fit(parts, small_world.as_of)
                            .transform(parts, small_world.as_of))
    deadline = time.time() + 30
    while not any(client.processing().values()) and time.time() < deadline:
        time.sleep(0.02)
    victim = next(w for w, tasks in client.processing().items() if tasks)
    os.kill(client.run(os.getpid)[victim], signal.SIGKILL)  # mid-task; the nanny restarts it
    got = future.result(timeout=120)
    assert victim not in client.scheduler_info()["workers"]  # it really died
    pd.testing.assert_frame_equal(got.loc[local.index], local, check_exact=True)
