"""The demo world: deterministic, calibrated to the design's targets, truth consistent."""

from __future__ import annotations

import numpy as np
import pytest

import targeting as tg
from targeting.data.demo import purchased_in_window
from targeting.data.identity import coverage
from targeting.tracking import data_fingerprint


@pytest.fixture(scope="module")
def world():
    return tg.demo_world(n_users=20_000, random_state=3)


def test_same_seed_same_world_other_seed_other_world():
    a, b = tg.demo_world(2_000, random_state=5), tg.demo_world(2_000, random_state=5)
    assert data_fingerprint(a.tables) == data_fingerprint(b.tables)
    assert a.truth["purchase_proba"].equals(b.truth["purchase_proba"])
    assert data_fingerprint(tg.demo_world(2_000,
                                          random_state=6).tables) != data_fingerprint(a.tables)


def test_silos_overlap_only_partly(world):
    ident = world.tables["identity"]
    store = ident.shop_id.notna()
    matched = ident.social_id[store].notna().mean()
    assert 0.6 <= matched <= 0.72
    cov = coverage(ident)
    assert 0.1 < cov["member_id"] < 0.35
    assert 0.5 < world.tables["crm"].consent.mean() < 0.7
    only_social = ident.social_id.notna() & ident.shop_id.isna()
    only_store = ident.social_id.isna() & ident.shop_id.notna()
    assert only_social.sum() > 0 and only_store.sum() > 0


def test_lower_tier_users_dominate_and_buy_through_group_owners(world):
    s = world.stats
    assert 0.65 <= s["users in lower-tier cities"] <= 0.8
    assert s["referral share of orders, lower-tier"] > 2 * s["referral share of orders, tier 1-2"]


def test_groups_have_one_owner_and_realistic_sizes(world):
    groups = world.tables["groups"]
    sizes = groups.groupby("group_id").size()
    owners = groups[groups.role == "owner"].groupby("group_id").size()
    assert (owners == 1).all() and len(owners) == len(sizes)
    assert sizes.min() >= 10 and sizes.max() <= 400 and 20 <= sizes.median() <= 150


def test_base_rates_event_volume_and_oracle_auc_are_honest(world):
    proba = world.truth["purchase_proba"]
    assert (0.005 < proba.mean()).all() and (proba.mean() < 0.08).all()
    assert 10 <= world.stats["social events per order"] <= 100
    for category in world.categories:
        assert 0.72 <= world.oracle_auc(category) <= 0.9, category


def test_window_purchases_are_drawn_from_the_true_probabilities(world):
    for category in ("beauty", "snacks"):
        bought = purchased_in_window(world, category)
        p = world.truth["purchase_proba"][category]
        # Mean of Bernoulli(p) draws: the observed rate sits within 4 standard errors.
        se = np.sqrt((p * (1 - p)).sum()) / len(p)
        assert abs(bought.mean() - p.mean()) < 4 * se
        top = p >= p.quantile(0.9)
        assert bought[top].mean() > 2 * bought[~top].mean()


def test_campaign_effect_is_small_and_heterogeneous(world):
    uplift = world.truth["uplift"]
    effects = uplift.filter(like="uplift_")
    assert 0.005 <= effects.to_numpy().mean() <= 0.03
    assert (effects.min(axis=1) < 0).mean() > 0.005  # a few users are put off
    assert 0.05 < uplift.persuadable.mean() < 0.35
    campaign = world.tables["campaign"]
    arms = campaign[campaign.campaign_id == world.campaign_id].arm.value_counts(normalize=True)
    assert abs(arms["control"] - 0.4) < 0.02


def test_channel_credit_is_a_distribution_that_differs_from_last_touch(world):
    credit = world.truth["channel_credit"].set_index("channel").share
    assert credit.sum() == pytest.approx(1.0)
    touch = world.tables["touchpoints"]
    last = touch.groupby("user_id").channel.last()
    converters = world.tables["conversions"].user_id.unique()
    last_share = last[last.index.isin(converters)].value_counts(normalize=True)
    # Navigational channels come last but add little: last touch over-credits them.
    assert last_share["search"] > 2 * credit["search"]
    assert credit["group_chat"] == credit.max()


def test_planted_segment_is_a_minority(world):
    assert 0.02 < world.truth["segment"].mean() < 0.1


def test_too_small_world_is_refused():
    with pytest.raises(ValueError, match="at least 500"):
        tg.demo_world(100)
