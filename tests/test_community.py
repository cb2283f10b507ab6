"""Community commerce: owner value, owner plan and owner potential against the demo's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.models.owner_potential import OwnerPotentialModel


@pytest.fixture(scope="module")
def world():
    return tg.demo_world(n_users=8_000, random_state=3)


@pytest.fixture(scope="module")
def value(world):
    return tg.rank_owners(world.tables, world.as_of, n_folds=3, n_estimators=80)


def test_demo_plants_owner_truth(world):
    owners = world.truth["owners"]
    groups = world.tables["groups"]
    assert set(owners.index) == set(groups.group_id)
    # Non-influential owners cause nothing; influential ones cause some orders.
    assert (owners.loc[~owners.influential, "incremental_orders"] == 0).all()
    assert (owners.loc[owners.influential, "incremental_orders"] > 0).all()
    potential = world.truth["owner_potential"]
    assert potential.between(0, 1).all()
    # Owners were dealt their potential consistent with their influence.
    owner_potential = potential.reindex(owners.owner_user_id).to_numpy()
    assert owner_potential[owners.influential.to_numpy()].mean() > \
        owner_potential[~owners.influential.to_numpy()].mean() + 0.1
    tg.validate(world.tables)  # the invite log keeps its contract


def test_community_stage_leaves_other_tables_alone():
    """The community stage draws from its own stream: same seed, same other tables."""
    a = tg.demo_world(n_users=1_000, random_state=5)
    b = tg.demo_world(n_users=1_000, random_state=5)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    # The stage list only grew at its end, so every earlier stage keeps its stream index.
    from targeting.data.demo.common import _STAGES
    assert _STAGES[-1] == "community" and _STAGES.index("journeys") == 10


def test_rank_owners_result(world, value):
    o = value.table
    groups = world.tables["groups"]
    owned = groups[(groups.role == "owner") & (groups.joined_at < world.as_of)]
    assert len(o) == owned.group_id.nunique()  # owners who joined later are not judged
    assert (o.incremental_low <= o.incremental_orders).all()
    assert (o.incremental_orders <= o.incremental_high).all()
    np.testing.assert_allclose(o.net_value, value.margin * o.incremental_revenue
                               - o.commission_cost)
    np.testing.assert_allclose(o.commission_cost, 0.10 * o.referral_revenue)
    assert o.lower_tier_share.between(0, 1).all()
    assert o.net_value.is_monotonic_decreasing
    assert "Owner value" in value._repr_html_()
    assert value.plot() is not None


def test_rank_owners_validates_input(world):
    tables = {k: v for k, v in world.tables.items() if k != "groups"}
    with pytest.raises(tg.SchemaError, match="groups"):
        tg.rank_owners(tables, world.as_of)
    with pytest.raises(tg.SchemaError, match="margin"):
        tg.rank_owners(world.tables, world.as_of, margin=0)
    with pytest.raises(tg.InsufficientDataError, match="no chat group with an owner"):
        tg.rank_owners(world.tables, "2020-01-01")


def test_causal_ranking_beats_group_size_on_a_small_world(world, value):
    ev = tg.evaluate_owners(value, truth=world.truth["owners"])
    t = ev.table
    causal = t.loc["causal (incremental orders)"]
    # ~70 owners here: a loose check; the margins are tested on larger worlds (slow tests).
    assert causal.spearman_incremental > t.loc["group size", "spearman_incremental"] + 0.2
    assert causal.precision_top > t.loc["random (expected)", "precision_top"]
    assert 0.6 <= ev.coverage <= 1.0
    assert "planted" in ev._repr_html_()
    assert ev.plot() is not None


def test_plan_owners_respects_the_budget(value):
    plan = tg.plan_owners(value, budget=300.0)  # the lower-bound rule: few owners qualify
    s = plan.totals
    assert s.cost <= 300.0
    assert (plan.table.net_value > 0).all()
    assert s.profit_low <= s.expected_profit <= s.profit_high
    assert s.expected_profit == pytest.approx(plan.table.net_value.sum())  # net value: money
    bigger = tg.plan_owners(value, budget=3_000.0)
    assert bigger.totals.owners >= s.owners
    assert "Owner plan" in plan._repr_html_()
    assert plan.plot() is not None
    with pytest.raises(tg.SchemaError, match="budget"):
        tg.plan_owners(value, budget=-1)
    with pytest.raises(tg.SchemaError, match="by must be"):
        tg.plan_owners(value, budget=300.0, by="members")
    expected = tg.plan_owners(value, budget=3_000.0, by="net_value")
    assert (expected.table.net_value > 0).all()
    assert expected.totals.owners >= bigger.totals.owners  # the estimate admits more owners


def test_owner_potential_model(world, value, monkeypatch):
    monkeypatch.setenv("TARGETING_MIN_SEED_SIZE", "10")  # a toy world has few owners
    model = OwnerPotentialModel(n_bags=2, n_estimators=40).fit(world.tables, value)
    assert not model.scores_.index.isin(value.table.owner_user_id).any()
    audience = model.expand(0.05)
    assert not np.isin(audience.user_ids, value.table.owner_user_id).any()
    reasons = model.reasons(audience.user_ids[:5])
    assert {"profile", "social", "social_why", "graph", "graph_why"} <= set(reasons.columns)
    ev = tg.evaluate_potential(model.scores_, truth=world.truth["owner_potential"])
    assert ev.table.loc["random", "lift_5%"] == pytest.approx(1.0, abs=0.35)
    assert "planted owner potential" in ev._repr_html_()
    with pytest.raises(tg.SchemaError, match="OwnerValue"):
        OwnerPotentialModel().fit(world.tables, value.table)


@pytest.fixture(scope="module", params=[0, 1, 2])
def world_20k(request):
    world = tg.demo_world(n_users=20_000, random_state=request.param)
    return world, tg.rank_owners(world.tables, world.as_of)


@pytest.mark.slow
def test_causal_ranking_beats_naive_rankings(world_20k):
    """Margins over the best naive ranking (referral revenue, every time), measured on 20k
    worlds, seeds 0-4 (benchmarks/community.py --users 20000 --seeds 0 1 2 3 4):
    precision in the top 20 %: +0.18, +0.04, +0.10, +0.27, +0.17; Spearman with the true
    increment: +0.18, +0.14, +0.10, +0.22, +0.17. Over group size: +0.3 to +0.5 in both."""
    world, value = world_20k
    t = tg.evaluate_owners(value, truth=world.truth["owners"]).table
    causal = t.loc["causal (incremental orders)"]
    naive = t.loc[["group size", "referral revenue"]]
    assert causal.precision_top >= naive.precision_top.max() + 0.03
    assert causal.spearman_incremental >= naive.spearman_incremental.max() + 0.08
    assert causal.spearman_incremental >= t.loc["group size", "spearman_incremental"] + 0.3


@pytest.mark.slow
def test_interval_coverage_and_lower_bound_plan(world_20k):
    """Coverage of the 90 % intervals measured 0.92-0.97 on 20k worlds, seeds 0-4."""
    world, value = world_20k
    truth = world.truth["owners"]
    assert 0.85 <= tg.evaluate_owners(value, truth=truth).coverage <= 0.99
    plan = tg.plan_owners(value, budget=20_000.0)
    true = truth.incremental_orders.reindex(plan.table.index).sum()
    assert true > 0.5 * plan.totals.incremental_orders  # not a winner's-curse fantasy


def test_owner_potential_needs_enough_effective_owners(monkeypatch):
    monkeypatch.setenv("TARGETING_MIN_SEED_SIZE", "5")
    world = tg.demo_world(n_users=2_000, random_state=0)
    value = tg.rank_owners(world.tables, world.as_of, n_folds=2, n_estimators=20)
    with pytest.raises(tg.InsufficientDataError, match="at least 10"):
        OwnerPotentialModel(seed_share=0.1).fit(world.tables, value)


@pytest.mark.slow
def test_owner_potential_on_the_default_world():
    """Needs the default world's ~110 seed owners: on 20,000 users (about 50 seeds) the
    audience had no lift (0.96x at 1 %, seed 0, per-category features in). Lift at 1 % / 5 %
    measured on 50,000 users:
    seed 0 1.37x / 1.32x, seed 1 1.59x / 1.59x, seed 2 1.57x / 1.54x; this checks seed 0
    against a floor below the lowest of them."""
    world = tg.demo_world(n_users=50_000, random_state=0)
    value = tg.rank_owners(world.tables, world.as_of)
    model = tg.OwnerPotentialModel().fit(world.tables, value)
    ev = tg.evaluate_potential(model.scores_, truth=world.truth["owner_potential"])
    mine, chance = ev.table.loc["owner potential"], ev.table.loc["random"]
    assert mine["lift_1%"] >= 1.15 and mine["lift_5%"] >= 1.15
    assert mine["precision_5%"] > chance["precision_5%"] + 0.05
