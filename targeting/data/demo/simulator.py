"""The simulation: one stage per silo, each drawing from its own random stream, and the
world's calibration statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.data import demo_community
from targeting.data.demo.campaigns import _Campaigns
from targeting.data.demo.commerce import _Commerce
from targeting.data.demo.common import (
    _STAGES,
    AS_OF,
    CAMPAIGN_CATEGORY,
    SCENARIOS,
)
from targeting.data.demo.population import _Population
from targeting.data.demo.social import _Social
from targeting.data.demo.world import DemoWorld, purchased_in_window  # noqa: F401
from targeting.data.vocab import (
    CATEGORIES,
)


class _Simulator(_Population, _Commerce, _Social, _Campaigns):
    """Generates one world; one method per silo, sharing the latent state."""

    n_history_periods = 12
    # Calibration knobs: standard deviations of the parts of the log purchase rate, and how
    # loudly interest shows in social engagement. Tuned so that the oracle AUC sits near 0.8
    # and each silo alone sees only part of it (see tests/test_demo_world.py).
    sd_demographic = 0.65
    sd_region = 0.35
    sd_tier = 0.3
    sd_group_taste = 0.7
    sd_individual = 0.25
    sd_drift = 0.1
    sd_group_interest = 1.0  # personal part of the interest people choose chat groups by
    sd_spend = 0.2
    sd_activity = 0.4
    price_gain = 1.5
    habit_consumable = 1.4
    habit_other = 1.2
    base_rates = np.array([0.040, 0.018, 0.035, 0.030, 0.025, 0.010, 0.018, 0.020])
    engaged_rate = 0.75
    interest_gain = 1.5

    # Life cycle: dropout per month ~ Beta(a, b) (mean a / (a + b)); first-months boost.
    dropout_a, dropout_b = 1.0, 19.0
    dormant_rate = 0.2  # customers who dropped out still buy now and then, at this share
    newcomer_boost, newcomer_months = 1.0, 2.0
    dormant_share = 0.25  # of the customers who joined before the history starts

    def __init__(self, n_users: int, random_state: int, horizon_days: int,
                 scenario: str = "default"):
        self.n, self.random_state, self.horizon = n_users, random_state, horizon_days
        self.scenario = SCENARIOS[scenario]
        self.rng = np.random.default_rng(random_state)
        self.C = len(CATEGORIES)
        self.period = np.timedelta64(horizon_days, "D")
        self.as_of = AS_OF
        self.start = self.as_of - self.n_history_periods * self.period

    def _stage(self, name: str) -> None:
        """Switch to the stage's own random stream."""
        self.rng = np.random.default_rng([self.random_state, _STAGES.index(name)])

    # -- orchestration -------------------------------------------------------------------
    def run(self) -> DemoWorld:
        for stage in ("people", "silos", "groups", "interests", "lifecycle"):
            self._stage(stage)
            getattr(self, f"_{stage}")()
        self._stage("orders")
        orders, proba = self._orders()
        self._stage("social")
        social_events = self._social_events()
        self._stage("users")
        tables = {
            "identity": self._identity(),
            "users": self._users_table(),
            "social_events": social_events,
            "groups": self._groups_table(),
            "orders": orders,
        }
        self._stage("crm")
        tables["crm"] = self._crm(orders)
        self._stage("campaign")
        campaign, uplift = self._campaign()
        self._stage("journeys")
        touchpoints, conversions, credit, holdout = self._journeys()
        campaign = pd.concat([campaign, holdout], ignore_index=True)
        campaign["arm"] = campaign["arm"].astype("category")
        campaign["campaign_id"] = campaign["campaign_id"].astype("category")
        tables.update(campaign=campaign, touchpoints=touchpoints, conversions=conversions)
        user_index = pd.Index(self.user_id, name="user_id")
        truth = {
            "purchase_proba": pd.DataFrame(proba, index=user_index, columns=list(CATEGORIES)),
            "expected_revenue": pd.Series(self.expected_revenue, index=user_index,
                                          name="expected_revenue"),
            "uplift": uplift,
            "channel_credit": credit,
            "segment": pd.Series(self.segment, index=user_index, name="segment"),
            "lifecycle": pd.DataFrame({
                "joined": self.join_ts.astype("datetime64[ns]"),
                "alive_at_as_of": self.alive[self.n_history_periods],
                "dropout_per_period": self.dropout}, index=user_index),
        }
        self._stage("community")  # owner truth, owner potential, the invite log
        tables["invites"], community_truth = demo_community.simulate(self)
        truth.update(community_truth)
        world = DemoWorld(tables, truth, pd.Timestamp(self.as_of), self.horizon, self.random_state)
        world.stats = self._stats(world)
        return world

    # -- calibration statistics ----------------------------------------------------------------
    def _stats(self, world: DemoWorld) -> dict[str, float]:
        t = world.tables
        identity = t["identity"]
        store = identity.shop_id.notna()
        lower = self.tier >= 3
        orders = t["orders"]
        hist = orders[orders.ts < world.as_of]
        ref_share = {}
        for name, mask in (("lower-tier", lower), ("tier 1-2", ~lower)):
            shops = self.shop_id[mask]
            sub = hist[hist.shop_id.isin(shops)]
            ref_share[name] = float((sub.channel == "group_referral").mean())
        p = world.truth["purchase_proba"]
        return {
            "store users matched to social": float(identity.social_id[store].notna().mean()),
            "users in CRM": float(identity.member_id.notna().mean()),
            "CRM members consenting": float(t["crm"].consent.mean()),
            "users in lower-tier cities": float(lower.mean()),
            "social events per order": len(t["social_events"]) / max(len(orders), 1),
            "mean 30-day purchase rate per category": float(p.to_numpy().mean()),
            "referral share of orders, lower-tier": ref_share["lower-tier"],
            "referral share of orders, tier 1-2": ref_share["tier 1-2"],
            f"oracle AUC, {CAMPAIGN_CATEGORY}": world.oracle_auc(CAMPAIGN_CATEGORY),
            "campaign average uplift (treated arms)": float(
                world.truth["uplift"].filter(like="uplift_").to_numpy().mean()),
            "planted segment share": float(self.segment.mean()),
        }
