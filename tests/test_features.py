"""Feature builders: one row per user, point-in-time, silos optional, consent respected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import targeting as tg
from targeting.features.pipeline import FeaturePipeline


@pytest.fixture(scope="module")
def world():
    return tg.demo_world(n_users=1_500, random_state=21)


@pytest.fixture(scope="module")
def fitted(world):
    pipe = FeaturePipeline()
    return pipe, pipe.fit_transform(world.tables, world.as_of)


def test_one_row_per_user_in_identity_order(world, fitted):
    _, X = fitted
    assert X.index.tolist() == world.tables["identity"].user_id.tolist()
    assert X.index.is_unique


def test_social_counts_match_a_plain_pandas_computation(world, fitted):
    _, X = fitted
    t = world.tables
    ev = t["social_events"]
    assert FeaturePipeline().lookback_days is None  # the whole history by default
    ev = ev[(ev.ts < world.as_of) & (ev.event != "impression")
            & (ev.category == "beauty")]
    per_social = ev.groupby("social_id").size()
    ident = t["identity"].dropna(subset=["social_id"])
    expected = ident.set_index("user_id").social_id.map(per_social).fillna(0)
    got = X.loc[expected.index, "soc_eng_beauty"].fillna(0)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())


def test_purchase_recency_matches_pandas(world, fitted):
    _, X = fitted
    t = world.tables
    orders = t["orders"][t["orders"].ts < world.as_of]
    last = orders.groupby("shop_id").ts.max()
    ident = t["identity"].dropna(subset=["shop_id"]).set_index("user_id")
    days = (world.as_of - ident.shop_id.map(last)).dt.total_seconds() / 86_400
    np.testing.assert_allclose(X.loc[days.index, "pur_days_since_last"], days, equal_nan=True)


def test_crm_features_only_for_consenting_members(world, fitted):
    _, X = fitted
    crm = world.tables["crm"]
    ident = world.tables["identity"].dropna(subset=["member_id"]).set_index("member_id")
    refused = ident.loc[crm.member_id[~crm.consent], "user_id"]
    assert X.loc[refused, "crm_points"].isna().all()
    consenting = crm[crm.consent & (crm.joined_at < world.as_of)]
    assert X.loc[ident.loc[consenting.member_id, "user_id"], "crm_points"].notna().all()


def test_missing_silos_still_give_every_user_a_row(world, fitted):
    pipe, X = fitted
    only_orders = {k: world.tables[k] for k in ("identity", "users", "orders")}
    Y = pipe.transform(only_orders, world.as_of)
    assert Y.shape == X.shape
    assert Y.filter(like="soc_").isna().all().all()
    pd.testing.assert_series_equal(Y["pur_orders"], X["pur_orders"])


def test_a_brand_with_store_data_only_needs_no_identity_table(world):
    orders = world.tables["orders"]
    X = tg.build_features({"orders": orders}, world.as_of)
    assert set(X.index) == set(orders.loc[orders.ts < world.as_of, "shop_id"]) | set(
        orders.shop_id)
    assert (X["pur_orders"].dropna() > 0).all()


def test_linking_two_silos_without_identity_is_an_error(world):
    with pytest.raises(tg.SchemaError, match="missing table 'identity'"):
        tg.build_features({k: world.tables[k] for k in ("orders", "social_events")},
                          world.as_of)


def test_unseen_categorical_level_is_refused(world, fitted):
    pipe, _ = fitted
    users = world.tables["users"].copy()
    users["region"] = users["region"].astype(str)
    users.loc[users.index[0], "region"] = "atlantis"
    with pytest.raises(tg.SchemaError, match="atlantis"):
        pipe.transform({**world.tables, "users": users}, world.as_of)


def test_bad_builder_name():
    with pytest.raises(ValueError, match="unknown builder"):
        FeaturePipeline(builders=("social", "telepathy")).fit({}, "2026-01-01")


# -- point in time ----------------------------------------------------------------------------
TIMED = {"social_events": "ts", "orders": "ts", "groups": "joined_at", "crm": "joined_at"}


def _perturb(world, table, action, seed):
    """Add, change or delete rows at or after as_of in one table."""
    rng = np.random.default_rng(seed)
    tables = dict(world.tables)
    frame = tables[table].copy()
    col = TIMED[table]
    late = frame.index[frame[col] >= world.as_of]
    if len(late) == 0 and action != "add":
        action = "add"
    if action == "delete":
        frame = frame.drop(rng.choice(late, size=min(len(late), 1 + len(late) // 3),
                                      replace=False))
    else:
        source = frame.sample(n=min(40, len(frame)), random_state=seed)
        shift = pd.to_timedelta(rng.integers(0, 30 * 86_400, len(source)), unit="s")
        source[col] = world.as_of + shift
        # Late rows may describe anyone: swap ids and values around.
        for c in source.columns:
            if c != col:
                source[c] = source[c].sample(frac=1, random_state=seed).set_axis(source.index)
        if action == "add":
            for key in ("order_id", "member_id"):
                if key in source:
                    source[key] = source[key] + 10**9
            frame = pd.concat([frame, source], ignore_index=True)
            if table == "groups":  # one membership per (group, person)
                frame = frame.drop_duplicates(["group_id", "social_id"])
        else:  # change the late rows in place
            chosen = rng.choice(late, size=min(len(late), len(source)), replace=False)
            for c in source.columns:
                if c not in ("order_id", "member_id") and not (table == "groups" and c in (
                        "group_id", "social_id")):
                    frame.loc[chosen, c] = source[c].array[: len(chosen)]
    tables[table] = frame
    return tables


@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=st.sampled_from(sorted(TIMED)), action=st.sampled_from(["add", "change", "delete"]),
       seed=st.integers(0, 10_000))
def test_events_at_or_after_as_of_change_no_feature(world, fitted, table, action, seed):
    pipe, X = fitted
    tables = _perturb(world, table, action, seed)
    tg.validate(tables)
    pd.testing.assert_frame_equal(pipe.transform(tables, world.as_of), X)


def test_the_perturbation_would_be_seen_before_as_of(world, fitted):
    """Guards the property test: the same edit one day earlier does change features."""
    pipe, X = fitted
    orders = world.tables["orders"].copy()
    first = orders.index[orders.ts >= world.as_of][0]
    orders.loc[first, "ts"] = world.as_of - pd.Timedelta(days=1)
    changed = pipe.transform({**world.tables, "orders": orders}, world.as_of)
    assert not changed.equals(X)


# -- users from the future ----------------------------------------------------------------------
def _add_future_users(world, n: int, seed: int, as_of) -> dict:
    """``n`` new users whose every record (orders, social events, groups, CRM, first_seen)
    is at or after ``as_of``."""
    rng = np.random.default_rng(seed)
    t = {k: v.copy() for k, v in world.tables.items()}
    new = np.arange(n, dtype=np.int64) + 900_000_000
    shift = lambda m: as_of + pd.to_timedelta(rng.integers(0, 60 * 86_400, m), unit="s")  # noqa: E731
    t["identity"] = pd.concat([t["identity"], pd.DataFrame({
        "user_id": new, "social_id": pd.array(new + 1, dtype="Int64"),
        "shop_id": pd.array(new + 2, dtype="Int64"), "member_id": pd.array(new + 3, dtype="Int64")
    })], ignore_index=True)
    users = t["users"].sample(n, random_state=seed).reset_index(drop=True)
    users["user_id"], users["first_seen"] = new, shift(n)
    t["users"] = pd.concat([t["users"], users], ignore_index=True)
    for table, id_col, time_col, offset in (("orders", "shop_id", "ts", 2),
                                            ("social_events", "social_id", "ts", 1)):
        rows = t[table].sample(3 * n, random_state=seed, replace=True).reset_index(drop=True)
        rows[id_col] = np.repeat(new + offset, 3)
        rows[time_col] = shift(3 * n)
        if table == "orders":
            rows["order_id"] = np.arange(3 * n) + 10**10
        t[table] = pd.concat([t[table], rows], ignore_index=True)
    crm = t["crm"].sample(n, random_state=seed).reset_index(drop=True)
    crm["member_id"], crm["joined_at"], crm["consent"] = new + 3, shift(n), True
    t["crm"] = pd.concat([t["crm"], crm], ignore_index=True)
    groups = t["groups"].drop_duplicates("group_id").head(n).reset_index(drop=True)
    groups["social_id"] = new[: len(groups)] + 1
    groups["joined_at"], groups["role"] = shift(len(groups)), "member"
    t["groups"] = pd.concat([t["groups"], groups], ignore_index=True)
    for name, frame in t.items():  # keep the demo's categorical dtypes where they were
        for col in frame.columns:
            if isinstance(world.tables[name][col].dtype, pd.CategoricalDtype):
                frame[col] = frame[col].astype(str).astype("category")
    return t


def test_users_from_the_future_change_nothing_for_anyone_else(world, fitted):
    pipe, X = fitted
    tables = _add_future_users(world, 60, seed=5, as_of=world.as_of)
    tg.validate(tables)
    Y = pipe.transform(tables, world.as_of)
    pd.testing.assert_frame_equal(Y.loc[X.index], X)  # nobody else moved
    future = Y.index.difference(X.index)
    assert len(future) == 60
    assert not pipe.has_record(Y.loc[future]).any()  # they do not exist yet
    assert pipe.has_record(X).mean() == pytest.approx(
        pipe.has_record(Y).sum() / len(X))  # and nobody else changed existence


def test_a_single_silo_log_does_not_let_future_customers_in(world):
    """With one silo the identity comes from every order, future ones included: the
    customers whose first order is after as_of exist in the table but not at as_of."""
    orders = world.tables["orders"]
    pipe = FeaturePipeline()
    X = pipe.fit_transform({"orders": orders}, world.as_of)
    first = orders.groupby("shop_id").ts.min()
    future = first.index[first >= world.as_of]
    assert len(future) > 0
    exists = pd.Series(pipe.has_record(X), index=X.index)
    assert not exists[future].any()
    assert exists[first.index[first < world.as_of]].all()
