"""Table contracts: one SchemaError that names every problem, before any work is done."""

from __future__ import annotations

import pandas as pd
import pytest

import targeting as tg


def test_demo_world_meets_every_contract(small_world):
    tg.validate(small_world.tables)


def test_every_problem_is_listed_at_once(small_world):
    orders = small_world.tables["orders"].copy().drop(columns=["promo"])
    orders["amount"] = orders["amount"].astype(object)
    users = small_world.tables["users"].copy()
    users["city_tier"] = users["city_tier"].astype(object)
    users.loc[users.index[:2], "city_tier"] = "tier one"  # text among numbers: broken
    users = pd.concat([users, users.iloc[:1]])
    events = small_world.tables["social_events"].copy()
    events["scene"] = events["scene"].astype(str)
    events.loc[events.index[0], "scene"] = None
    groups = small_world.tables["groups"].copy()
    groups.loc[groups.index[0], "group_id"] = None
    with pytest.raises(tg.SchemaError) as info:
        tg.validate({"orders": orders, "users": users, "social_events": events, "groups": groups})
    text = "\n".join(info.value.problems)
    assert "orders: missing column 'promo'" in text
    assert "orders.amount: expected a numeric dtype" in text
    assert "users.city_tier: expected a numeric dtype (an ordinal scale) or text" in text
    assert "users: 2 rows share a key" in text
    assert "social_events.scene: 1 missing value(s)" in text
    assert "groups.group_id" in text
    assert isinstance(info.value, ValueError)


def test_negative_amounts_and_mixed_time_zones(small_world):
    orders = small_world.tables["orders"].copy()
    orders.loc[orders.index[:3], "amount"] = -1.0
    events = small_world.tables["social_events"].head(50).copy()
    events["ts"] = events["ts"].dt.tz_localize("Asia/Shanghai")
    with pytest.raises(tg.SchemaError) as info:
        tg.validate({"orders": orders, "social_events": events})
    text = "\n".join(info.value.problems)
    assert "orders.amount: 3 value(s) below 0" in text
    assert "timestamps mix time zones" in text


def test_unknown_table_name_is_refused_and_missing_tables_are_fine(small_world):
    with pytest.raises(tg.SchemaError, match="unknown table 'order'"):
        tg.validate({"order": small_world.tables["orders"]})
    tg.validate({"orders": small_world.tables["orders"]})


def test_required_table_is_reported():
    with pytest.raises(tg.SchemaError, match="missing table 'orders'"):
        tg.validate({}, require=("orders",))


def test_not_a_dict():
    with pytest.raises(tg.SchemaError, match="expected a dict of DataFrames"):
        tg.validate([1, 2])


def test_a_brands_own_labels_pass(small_world):
    """Profile, CRM, channel, event and scene values are the brand's own; only their kind is
    checked (the closed group role stays closed: the features read it)."""
    users = small_world.tables["users"].assign(
        city_tier=lambda u: u.city_tier.map({1: "urban", 2: "urban"}).fillna("rural"),
        region="Scotland", age_band="65-74", gender="X")
    events = small_world.tables["social_events"].assign(event="swipe", scene="story")
    crm = small_world.tables["crm"].assign(tier="Gold+")
    tg.validate({"users": users, "social_events": events, "crm": crm})
    tg.validate({"users": users.assign(city_tier=7)})  # another numeric scale is fine too
    groups = small_world.tables["groups"].copy()
    groups["role"] = groups["role"].astype(str)
    groups.loc[groups.index[0], "role"] = "admin"
    with pytest.raises(tg.SchemaError, match=r"groups\.role: unknown value\(s\) \['admin'\]"):
        tg.validate({"groups": groups})
