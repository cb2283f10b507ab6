"""The streaming social builder and the unjoined pipeline give exactly the features of the
plain computations they replaced (issue 17: feature building at or below DuckDB's time)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import targeting as tg
from targeting.data.identity import resolve_identity
from targeting.data.tables import checked_tables
from targeting.features import graph, social
from targeting.features.common import DAY_NS, BuildContext
from targeting.features.pipeline import FeaturePipeline, _counts_before, _Unjoined


@pytest.fixture(scope="module")
def world():
    return tg.demo_world(n_users=1_500, random_state=5)


def _social(world, as_of, chunk_rows, lookback_days=None) -> pd.DataFrame:
    ctx = BuildContext(world.tables, world.tables["identity"], as_of, ["beauty", "baby"],
                       (7, 30, 90), lookback_days=lookback_days, chunk_rows=chunk_rows)
    return social.build(ctx).to_pandas().set_index("user_id").sort_index()


@pytest.mark.parametrize("lookback_days", [None, 60])
def test_chunks_of_any_size_give_the_same_social_features(world, lookback_days):
    as_of = world.as_of - pd.Timedelta(days=20)  # some events after as_of: filtered per chunk
    whole = _social(world, as_of, 10**9, lookback_days)
    for chunk_rows in (1_001, 65_536):
        pd.testing.assert_frame_equal(_social(world, as_of, chunk_rows, lookback_days), whole,
                                      check_exact=True)


def test_string_ids_give_the_features_of_integer_ids(world):
    """Integer ids in a compact range are looked up in a table, others hashed: same rows."""
    as_of = world.as_of - pd.Timedelta(days=20)
    tables = dict(world.tables)
    identity = tables["identity"].copy()
    identity["social_id"] = ("wx_" + identity["social_id"].astype(str)).where(
        identity["social_id"].notna(), None)
    events = tables["social_events"].copy()
    events["social_id"] = "wx_" + events["social_id"].astype(str)
    tables.update(identity=identity, social_events=events)
    as_strings = social.build(BuildContext(tables, identity, as_of, ["beauty", "baby"],
                                           (7, 30, 90)))
    pd.testing.assert_frame_equal(as_strings.to_pandas().set_index("user_id").sort_index(),
                                  _social(world, as_of, 65_536), check_exact=True)


def test_social_windows_scenes_and_recency_match_pandas(world):
    as_of = world.as_of - pd.Timedelta(days=20)
    got = _social(world, as_of, 1_001)
    ev = world.tables["social_events"]
    ev = ev[ev.ts < as_of].assign(age=(as_of - ev.ts).dt.total_seconds() * 1e9 / DAY_NS)
    ids = world.tables["identity"].dropna(subset=["social_id"])
    ev = ev.merge(ids[["user_id", "social_id"]].astype({"social_id": "int64"}), on="social_id")
    by_user = ev.groupby("user_id")
    assert got.index.tolist() == sorted(by_user.groups)
    for w in (7, 30, 90):
        expected = (ev.age < w).groupby(ev.user_id).sum()
        assert (got[f"soc_events_{w}d"] == expected.reindex(got.index)).all()
    expected = (ev.scene == "group_chat").groupby(ev.user_id).sum()
    assert (got["soc_scene_group_chat"] == expected.reindex(got.index)).all()
    beauty = ev[(ev.category == "beauty") & (ev.event != "impression")]
    since = beauty.groupby("user_id").age.min().reindex(got.index)
    # Ages computed two ways (pandas seconds vs integer nanoseconds) agree to float rounding.
    np.testing.assert_allclose(got["soc_days_since_beauty"], since, rtol=1e-12)
    assert got["soc_days_since_beauty"].isna().equals(since.isna())


def test_category_counts_by_codes_equal_counts_of_strings():
    frame = pd.DataFrame({
        "c": pd.Categorical(["a", "b", None, "a", "z", "b", "a"], categories=["z", "a", "b", "q"]),
        "ts": pd.to_datetime([f"2024-01-0{d}" for d in range(1, 8)])})
    as_of = pd.Timestamp("2024-01-05")
    strings = frame.loc[frame.ts < as_of, "c"].dropna().astype(str).value_counts()
    assert _counts_before(frame, "c", as_of) == {k: int(v) for k, v in strings.items()}
    assert _counts_before(frame.astype({"c": object}), "c", as_of) == \
        _counts_before(frame, "c", as_of)


@pytest.mark.parametrize("users", [None, "some"])
def test_unjoined_features_equal_the_joined_ones(world, users):
    pipe = FeaturePipeline().fit(world.tables, world.as_of)
    ids = world.tables["identity"]["user_id"].tolist()
    chosen = None if users is None else [ids[5], -1, ids[0], ids[900]]
    tables = checked_tables(world.tables)
    raw = pipe._build(tables, world.as_of, chosen)
    assert isinstance(raw, _Unjoined)
    identity = resolve_identity(tables)
    ctx = pipe._context(tables, identity, world.as_of)
    frames = pipe._per_user_frames(ctx)
    frames["graph"] = graph.build(ctx, frames.get("social"), frames.get("purchase"))
    joined = pipe._join_polars(identity, frames, chosen)
    assert isinstance(joined, pl.DataFrame)
    pd.testing.assert_frame_equal(pipe._finish(raw), pipe._finish(joined), check_exact=True)
    pd.testing.assert_frame_equal(pipe._finish(raw), pipe._finish(joined.to_pandas()
                                                                  .set_index("user_id")),
                                  check_exact=True)
