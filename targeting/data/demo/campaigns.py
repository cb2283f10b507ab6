"""The randomised campaign with planted heterogeneous uplift, and multi-touch journeys with
known channel effects (exact Shapley credit)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from targeting.data.demo.common import (
    ALLOCATION,
    ARMS,
    CAMPAIGN_CATEGORY,
    CAMPAIGN_ID,
    HOLDOUT_CHANNEL,
    HOLDOUT_ID,
    _sigmoid,
)
from targeting.data.vocab import (
    CATEGORIES,
    CONTROL_ARM,
    TOUCH_CHANNELS,
)


class _Campaigns:
    """The campaign and the journeys, with their truth."""

    # -- campaign with planted heterogeneous uplift ----------------------------------------
    def _campaign(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = self.rng
        cat = CATEGORIES.index(CAMPAIGN_CATEGORY)
        # Sent to existing users (joined before as_of), 60 % of them at random.
        users = np.flatnonzero((rng.random(self.n) < 0.6) & (self.join_ts < self.as_of))
        arm = rng.choice(len(ARMS), users.size, p=list(ALLOCATION))
        interest = self.interest(self.n_history_periods)[users, cat]
        p0 = _sigmoid(-3.4 + 0.6 * interest + 0.8 * self.spend[users])
        in_group = self.primary_group[users] >= 0
        # Persuadables are mostly recognisable from what the silos show (promotion buying,
        # lower-tier cities, chat groups, interest in the category), but not perfectly: the
        # oracle ranks by the coin flip too, which no model can see.
        persuadable = rng.random(users.size) < _sigmoid(
            -5.8 + 2.6 * self.promo_sensitive[users] + 2.0 * (self.tier[users] >= 3)
            + 3.0 * in_group + 1.5 * interest)
        put_off = (~persuadable) & (rng.random(users.size) < np.where(self.age[users] == 4, 0.25,
                                                                      0.03))
        lift = np.zeros((users.size, len(ARMS)))
        lift[:, 1] = persuadable * np.where(self.promo_sensitive[users], 0.16, 0.07)
        lift[:, 2] = persuadable * np.where(in_group, 0.15, 0.02)
        lift[:, 3] = persuadable * 0.05
        lift[:, 1:] -= (put_off * 0.04)[:, None]
        p_arm = np.clip(p0[:, None] + lift, 0.0, 1.0)
        p_assigned = p_arm[np.arange(users.size), arm]
        converted = rng.random(users.size) < p_assigned
        revenue = np.where(converted, np.round(rng.lognormal(np.log(160), 0.4, users.size), 2), 0.0)
        sent = self.as_of + (rng.random(users.size) * 6 * 3600).astype("timedelta64[s]")
        campaign = pd.DataFrame({
            "user_id": self.user_id[users],
            "campaign_id": CAMPAIGN_ID,
            "arm": pd.Categorical.from_codes(arm, ARMS),
            "sent_at": sent.astype("datetime64[ns]"),
            "converted": converted,
            "revenue": revenue,
        })
        uplift = pd.DataFrame({"user_id": self.user_id[users],
                               "arm": pd.Categorical.from_codes(arm, ARMS),
                               "p_control": p0})
        for k, name in enumerate(ARMS[1:], start=1):
            uplift[f"uplift_{name}"] = p_arm[:, k] - p0
        uplift["persuadable"] = persuadable
        uplift["do_not_disturb"] = put_off
        return campaign, uplift

    # -- multi-touch journeys with known channel effects -----------------------------------
    channel_effect = np.array([0.020, 0.030, 0.060, 0.040, 0.015, 0.010, 0.010])
    baseline_conversion = 0.005

    def _journeys(self) -> tuple[pd.DataFrame, ...]:
        rng, K = self.rng, len(TOUCH_CHANNELS)
        users = np.flatnonzero(rng.random(self.n) < 0.5)
        length = np.minimum(1 + rng.poisson(2.0, users.size), 8)
        pos = np.concatenate([np.arange(k) for k in length])
        who = np.repeat(np.arange(users.size), length)
        last = pos == np.repeat(length - 1, length)
        general = rng.choice(K, who.size, p=[0.25, 0.15, 0.2, 0.15, 0.2, 0.03, 0.02])
        # Navigational channels (search, the app) tend to come last, whatever the outcome:
        # that is what makes last-touch attribution over-credit them.
        nav = rng.choice([5, 6], who.size)
        channel = np.where(last & (rng.random(who.size) < 0.55), nav, general)
        # A randomised holdout: a fifth of the journeys never see the chat-group channel, so
        # its increment can be measured and set against what attribution credits it with.
        held_out = rng.random(users.size) < 0.2
        kept = ~(held_out[who] & (channel == TOUCH_CHANNELS.index(HOLDOUT_CHANNEL)))
        touches = np.zeros((users.size, K), dtype=np.int64)
        np.add.at(touches, (who[kept], channel[kept]), 1)
        survive = (1 - self.baseline_conversion) * np.prod(
            (1 - self.channel_effect) ** touches, axis=1)
        converted = rng.random(users.size) < 1 - survive
        # Timestamps: increasing within each journey, inside the evaluation window.
        gaps = rng.exponential(1.5 * 86400, who.size)
        start = rng.random(users.size) * (self.horizon - 14) * 86400
        offset = start[who] + _cumsum_by_group(gaps, length)
        ts = self.as_of + offset.astype("timedelta64[s]")
        touchpoints = pd.DataFrame({
            "user_id": self.user_id[users][who[kept]],
            "ts": ts[kept].astype("datetime64[ns]"),
            "channel": pd.Categorical.from_codes(channel[kept], TOUCH_CHANNELS),
            "campaign_id": pd.Series([None] * int(kept.sum()), dtype="string"),
        })
        ends = np.cumsum(length) - 1
        conv_ts = ts[ends][converted] + (rng.exponential(6 * 3600, converted.sum())).astype(
            "timedelta64[s]")
        value = np.round(rng.lognormal(np.log(150), 0.5, converted.sum()), 2)
        conversions = pd.DataFrame({
            "user_id": self.user_id[users][converted],
            "ts": conv_ts.astype("datetime64[ns]"),
            "value": value,
        })
        revenue = np.zeros(users.size)
        revenue[converted] = value
        holdout = pd.DataFrame({
            "user_id": self.user_id[users],
            "campaign_id": HOLDOUT_ID,
            "arm": pd.Categorical(np.where(held_out, CONTROL_ARM, HOLDOUT_CHANNEL)),
            "sent_at": np.full(users.size, self.as_of.astype("datetime64[ns]")),
            "converted": converted,
            "revenue": revenue,
        })
        credit = _true_channel_credit(touches, self.channel_effect, self.baseline_conversion)
        return touchpoints, conversions, credit, holdout


def _cumsum_by_group(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    before = np.where(starts > 0, total[starts - 1], 0.0)
    return total - np.repeat(before, lengths)


def _true_channel_credit(touches: np.ndarray, effect: np.ndarray, base: float) -> pd.DataFrame:
    """Exact Shapley credit of each channel in the expected conversions it adds.

    Each journey converts with ``1 - (1 - base) * prod_c (1 - effect_c) ** touches_c``; a
    channel's credit is its Shapley value in that function (the baseline is nobody's), summed
    over all journeys. Journeys are grouped by their touch-count vector, so this is exact.
    """
    K = effect.size
    unique, weight = np.unique(touches, axis=0, return_counts=True)
    credit = np.zeros(K)
    from math import factorial

    for row, w in zip(unique, weight, strict=True):
        players = np.flatnonzero(row)
        m = players.size
        factor = (1 - effect[players]) ** row[players]

        def value(subset, factor=factor):
            return (1 - base) * (1 - np.prod([factor[i] for i in subset]))

        for i in range(m):
            others = [j for j in range(m) if j != i]
            phi = 0.0
            for size in range(m):
                coef = factorial(size) * factorial(m - size - 1) / factorial(m)
                for subset in combinations(others, size):
                    phi += coef * (value(subset + (i,)) - value(subset))
            credit[players[i]] += w * phi
    frame = pd.DataFrame({"channel": list(TOUCH_CHANNELS), "conversions": credit})
    frame["share"] = frame.conversions / frame.conversions.sum()
    return frame
