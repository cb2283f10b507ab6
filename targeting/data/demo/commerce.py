"""The store (orders, with seasons, habits and chat-group referrals) and the CRM."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.data import demo_community
from targeting.data.demo.common import (
    _nullable_id,
)
from targeting.data.vocab import (
    CATEGORIES,
    CRM_TIERS,
)

# What an order costs: a list price per category (CATEGORIES order), scaled by the buyer's
# spending level, a lognormal basket noise, and a discount on promotion days, which
# promo-sensitive users pick more often. The draws and the expected revenue both read these.
PRICES = np.array([180, 150, 60, 80, 220, 900, 160, 120])
BASKET_SD = 0.3  # of log amount
PROMO_SHARE = (0.55, 0.1)  # of orders on promotion days: promo-sensitive users, the others
PROMO_PRICE = 0.8


class _Commerce:
    """Orders and CRM records drawn from the latent state."""

    # -- store -----------------------------------------------------------------------------
    def _orders(self) -> tuple[pd.DataFrame, np.ndarray]:
        rng, C = self.rng, self.C
        # Intercepts chosen so that the first period's rates match the base rates exactly.
        first = self.interest(0) + self.spend[:, None] + self.influence
        base = np.log(self.base_rates) - np.log(np.exp(first).mean(axis=0))
        # Repeat buying: a recent order in a category raises the next (more for consumables).
        habit = np.where(np.isin(CATEGORIES, ("baby", "snacks", "fresh", "health")),
                         self.habit_consumable, self.habit_other)
        bought_recently = np.zeros((self.n, C), dtype=bool)
        bought_last = np.zeros((self.n, C), dtype=bool)
        parts = []
        for p in range(self.n_history_periods + 1):
            eta = base + self.interest(p) + self.spend[:, None] + self.influence
            eta += habit * bought_recently
            newcomer = 1 + self.newcomer_boost * np.exp(-self._months_since_join(p)
                                                        / self.newcomer_months)
            rate = np.exp(eta) * (self.season[p] * newcomer * self._exposure(p))[:, None]
            demo_community.record_increment(self, p, rate)  # no draws
            if p == self.n_history_periods:
                proba = -np.expm1(-rate)  # P(at least one order in the window)
                self.expected_revenue = (rate * self._expected_amount()).sum(axis=1)
            counts = rng.poisson(rate)
            bought_recently = bought_last | (counts > 0)
            bought_last = counts > 0
            parts.append(self._order_rows(counts, p))
        orders = pd.concat(parts, ignore_index=True)
        orders = orders.sort_values(["ts", "shop_id"], kind="stable").reset_index(drop=True)
        orders.insert(0, "order_id", np.arange(1, len(orders) + 1, dtype=np.int64) + 5_000_000)
        self.buyers = np.isin(self.shop_id, orders.shop_id.to_numpy())
        return orders, proba

    def _expected_amount(self) -> np.ndarray:
        """Expected amount of one order per user and category (no draws): the list price
        times the spending level, the lognormal's mean and the expected promotion discount."""
        promo = np.where(self.promo_sensitive, *PROMO_SHARE)
        per_user = (np.exp(self.price_gain * self.spend) * np.exp(BASKET_SD**2 / 2)
                    * (1 - promo * (1 - PROMO_PRICE)))
        return per_user[:, None] * PRICES[None, :]

    def _order_rows(self, counts: np.ndarray, period: int) -> pd.DataFrame:
        rng = self.rng
        user, cat = np.nonzero(counts)
        reps = counts[user, cat]
        user, cat = np.repeat(user, reps), np.repeat(cat, reps)
        m = user.size
        ts = self._period_ts(period, user)
        # Promotion days: promo-sensitive users concentrate their orders on them.
        promo = rng.random(m) < np.where(self.promo_sensitive[user], *PROMO_SHARE)
        # Lower-tier users in groups buy mostly through the owners' referrals.
        group = self.primary_group[user]
        has_owner = group >= 0
        inf = self.influence[user, cat] > 0
        p_ref = np.where(has_owner, 0.15 + 0.15 * (self.tier[user] - 1) + 0.25 * inf, 0.0)
        referral = rng.random(m) < np.clip(p_ref, 0, 0.9)
        other = rng.choice(3, m, p=[0.6, 0.15, 0.25])
        channel = np.where(referral, 3, other)
        owner = self.group_owner[np.where(has_owner, group, 0)]
        referrer = np.where(referral, self.social_id[owner], -1)
        price = PRICES[cat]
        # Big spenders buy pricier items: basket value shows the spending propensity.
        level = np.exp(self.price_gain * self.spend[user])
        amount = np.round(price * level * rng.lognormal(0, BASKET_SD, m)
                          * np.where(promo, PROMO_PRICE, 1.0), 2)
        brand = rng.choice(3, m, p=[0.45, 0.35, 0.2])
        return pd.DataFrame({
            "shop_id": self.shop_id[user],
            "ts": ts,
            "category": pd.Categorical.from_codes(cat, CATEGORIES),
            "brand": pd.Categorical.from_codes(brand, ["acme", "rival_a", "rival_b"]),
            "amount": amount,
            "quantity": 1 + rng.poisson(0.4, m),
            "channel": pd.Categorical.from_codes(channel, ["app", "web", "mini_program",
                                                           "group_referral"]),
            "referrer_social_id": _nullable_id(referrer, referrer > 0),
            "promo": promo,
        })

    def _period_ts(self, period: int, user: np.ndarray) -> np.ndarray:
        """Times in the period, busier at weekends, never before the user joined."""
        begin = self.start + period * self.period
        days = begin.astype("datetime64[D]") + np.arange(self.horizon)
        weekday = (days.astype(int) + 3) % 7  # 0 = Monday
        weight = np.where(weekday >= 5, 1.35, 1.0)
        day = self.rng.choice(self.horizon, user.size, p=weight / weight.sum())
        seconds = (day + self.rng.random(user.size)) * 86400
        # Users who joined during the period act only after joining: squeeze their times in.
        joined = np.clip((self.join_ts[user] - begin).astype("timedelta64[s]").astype(float),
                         0, None)
        seconds = joined + seconds * (1 - joined / (self.horizon * 86400))
        return (begin + seconds.astype("timedelta64[s]")).astype("datetime64[ns]")

    def _crm(self, orders: pd.DataFrame) -> pd.DataFrame:
        rng = self.rng
        members = np.flatnonzero(self.is_member)
        level = self.spend[members] + rng.normal(0, 0.3, members.size)
        tier = np.digitize(level, [-0.2, 0.35, 0.8])
        joined = self.start - (rng.random(members.size) * 900 * 86400).astype("timedelta64[s]")
        # A few members joined recently; point-in-time features must not see them early.
        late = rng.random(members.size) < 0.05
        joined[late] = self.as_of - (rng.random(late.sum()) * 200 * 86400).astype("timedelta64[s]")
        joined = np.maximum(joined, self.join_ts[members])
        return pd.DataFrame({
            "member_id": self.member_id[members],
            "tier": pd.Categorical.from_codes(tier, CRM_TIERS),
            "points": np.round(rng.gamma(2.0, 400 * np.exp(self.spend[members]))).astype(np.int64),
            "store_visits": rng.poisson(2.5 * np.exp(1.2 * self.spend[members])),
            "consent": self.consent[members],
            "joined_at": joined.astype("datetime64[ns]"),
        })
