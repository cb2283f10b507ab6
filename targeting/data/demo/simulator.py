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
    SCENARIOS,
)
from targeting.data.demo.population import _Population
from targeting.data.demo.social import _Social
from targeting.data.demo.world import (  # noqa: F401
    DemoWorld,
    calibration_stats,
    purchased_in_window,
)
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
                 scenario: str = "default", block: int | None = None):
        self.n, self.random_state, self.horizon = n_users, random_state, horizon_days
        self.block = block  # a block of a world written block by block: streams of its own
        self.scenario = SCENARIOS[scenario]
        self.rng = np.random.default_rng(random_state)
        self.C = len(CATEGORIES)
        self.period = np.timedelta64(horizon_days, "D")
        self.as_of = AS_OF
        self.start = self.as_of - self.n_history_periods * self.period

    def _stage(self, name: str) -> None:
        """Switch to the stage's own random stream."""
        self.rng = np.random.default_rng(self._seed(_STAGES.index(name)))

    def _seed(self, stream: int):
        """The seed of one random stream: ``[random_state, stream]`` for a whole world; for a
        block, the stream spawned under the block's key (never equal to a whole world's)."""
        if self.block is None:
            return [self.random_state, stream]
        return np.random.SeedSequence(self.random_state, spawn_key=(self.block, stream))

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
        world.stats = calibration_stats(world)
        return world
