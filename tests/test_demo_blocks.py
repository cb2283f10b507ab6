"""The demo world written block by block: valid tables, every row with its own block's users,
blocks independent of each other, and the Dask path on it scoring every user once."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.data.demo import read_demo_world, write_demo_world

N_USERS, BLOCK_USERS = 20_000, 5_000


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blocks")
    write_demo_world(str(path), N_USERS, random_state=3, block_users=BLOCK_USERS, progress=False)
    return path


def _part(folder: Path, table: str, block: int) -> pd.DataFrame:
    return pd.read_parquet(folder / table / f"part.{block:05d}.parquet")


def test_block_world_validates_and_its_ids_are_unique(folder):
    world = read_demo_world(str(folder))
    tg.validate(world.tables)  # raises on any contract breach
    identity = world.tables["identity"]
    assert len(identity) == N_USERS and identity.user_id.is_unique
    for col in ("social_id", "shop_id", "member_id"):
        assert identity[col].dropna().is_unique, col
    assert world.tables["orders"].order_id.is_unique
    assert world.truth["purchase_proba"].index.equals(pd.Index(identity.user_id))
    assert world.truth["owners"].index.is_unique
    # the value truth reads back as the Series a one-piece world holds
    revenue = world.truth["expected_revenue"]
    assert isinstance(revenue, pd.Series) and revenue.index.equals(pd.Index(identity.user_id))
    assert sorted(p.name for p in (folder / "orders").iterdir()) == [
        f"part.{b:05d}.parquet" for b in range(N_USERS // BLOCK_USERS)]


def test_every_row_of_a_block_belongs_to_that_blocks_users(folder):
    for block in range(N_USERS // BLOCK_USERS):
        identity = _part(folder, "identity", block)
        social, shops = set(identity.social_id.dropna()), set(identity.shop_id.dropna())
        assert set(_part(folder, "social_events", block).social_id) <= social
        assert set(_part(folder, "invites", block).social_id) <= social
        orders = _part(folder, "orders", block)
        assert set(orders.shop_id) <= shops
        assert set(orders.referrer_social_id.dropna()) <= social  # owners of the block's groups
        assert set(_part(folder, "crm", block).member_id) <= set(identity.member_id.dropna())
        for table in ("users", "campaign", "touchpoints", "conversions"):
            assert set(_part(folder, table, block).user_id) <= set(identity.user_id), table
        # Chat groups never cross blocks: each group's members all sit in one block.
        groups = _part(folder, "groups", block)
        assert set(groups.social_id) <= social
        others = pd.concat([_part(folder, "groups", b) for b in range(N_USERS // BLOCK_USERS)
                            if b != block])
        assert not set(groups.group_id) & set(others.group_id)


def test_a_block_written_alone_is_the_same_block(folder, tmp_path):
    # Blocks draw from streams of their own: block 2 written by itself (as a separate process
    # would) equals block 2 of the whole world, so blocks can be written anywhere in any order.
    write_demo_world(str(tmp_path), N_USERS, random_state=3, block_users=BLOCK_USERS,
                     blocks=[2], progress=False)
    for table in ("identity", "orders", "social_events", "groups"):
        pd.testing.assert_frame_equal(_part(tmp_path, table, 2), _part(folder, table, 2))
    assert not (tmp_path / "orders" / "part.00001.parquet").exists()


def test_bad_arguments_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="at least 500"):
        write_demo_world(str(tmp_path), 10_000, block_users=100)
    with pytest.raises(ValueError, match="out of range"):
        write_demo_world(str(tmp_path), 10_000, block_users=5_000, blocks=[2])
    with pytest.raises(ValueError, match="unknown scenario"):
        write_demo_world(str(tmp_path), 10_000, scenario="boom")
    with pytest.raises(FileNotFoundError, match="write_demo_world"):
        read_demo_world(str(tmp_path / "nothing"))
    assert not any(tmp_path.iterdir())


def test_dask_fit_on_the_block_world_scores_every_user_once(folder):
    distributed = pytest.importorskip("distributed")
    from targeting.data.dask import read_user_partitions
    from targeting.models.dask import DaskPropensityModel

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        parts = read_user_partitions(str(folder))  # validated partition by partition
        assert parts.npartitions == N_USERS // BLOCK_USERS
        as_of = read_demo_world(str(folder)).as_of
        model = DaskPropensityModel("beauty", n_estimators=60, max_snapshots=2,
                                    max_train_rows=20_000, progress=False,
                                    client=client).fit(parts, as_of)
        assert model.validation_["train_rows"] <= 20_000  # sampled as on one machine
        scores = tg.score(parts, model.to_local(), as_of).compute()
    users = pd.read_parquet(folder / "identity", columns=["user_id"]).user_id
    assert len(scores) == N_USERS and scores.user_id.is_unique
    assert set(scores.user_id) == set(users)
    assert np.isfinite(scores.score).all() and scores.score.between(0, 1).all()


def test_dask_training_rows_are_sampled_at_one_rate_per_partition_and_window(small_world):
    from targeting.models.dask import _stack

    pipeline = tg.FeaturePipeline().fit(small_world.tables, small_world.as_of)
    X = pipeline.transform(small_world.tables, small_world.as_of)
    y = pd.Series(np.int8(1), index=X.index)
    everyone = _stack(pipeline, [X, X], [y, y])
    sampled = _stack(pipeline, [X, X], [y, y], 0.25, [0, 1])
    n = len(everyone[1])
    # Bernoulli(0.25) per user and window: within four standard deviations of a quarter.
    assert abs(len(sampled[1]) - n / 4) < 4 * np.sqrt(n * 0.25 * 0.75)
    np.testing.assert_array_equal(_stack(pipeline, [X, X], [y, y], 0.25, [0, 1])[0], sampled[0])
    other = _stack(pipeline, [X, X], [y, y], 0.25, [0, 2])[0]  # another partition's stream
    assert other.shape != sampled[0].shape or not np.array_equal(other, sampled[0])


def test_block_world_has_the_calibration_of_worlds_of_one_blocks_size(folder):
    # Four blocks of 5,000 users are four independent 5,000-user worlds: each calibration
    # statistic (identity, CRM, referral shares through the ids, oracle AUC, ...) within four
    # standard deviations of five 5,000-user worlds' mean. Measured over five block worlds
    # against these five worlds: at most 2.9 standard deviations from the mean, so a broken
    # id or group mapping (a referral share of 0, no CRM link) fails while seeds do not.
    blocks = read_demo_world(str(folder)).stats
    seeds = pd.DataFrame([tg.demo_world(BLOCK_USERS, random_state=s).stats for s in range(5)])
    z = (pd.Series(blocks) - seeds.mean()) / seeds.std()
    assert (z.abs() < 4).all(), z.round(2).to_dict()
