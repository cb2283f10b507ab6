"""People, their silos, chat groups, latent interests and life cycles: the latent state
every table is drawn from."""

from __future__ import annotations

import numpy as np

from targeting.data.demo.common import (
    _SEGMENT_TASTE,
    _sigmoid,
)
from targeting.data.vocab import (
    AGE_BANDS,
    REGIONS,
)


class _Population:
    """The latent state: who people are, which silos know them, their groups, interests and
    life cycles."""

    # -- people and silos ----------------------------------------------------------------
    def _people(self) -> None:
        n, rng = self.n, self.rng
        self.user_id = np.arange(1, n + 1, dtype=np.int64) + 100_000_000
        # Most users live outside tier-1/2 cities.
        self.tier = rng.choice(5, n, p=[0.10, 0.18, 0.27, 0.25, 0.20]) + 1
        self.region = rng.integers(0, len(REGIONS), n)
        self.age = rng.choice(len(AGE_BANDS), n, p=[0.18, 0.30, 0.25, 0.15, 0.12])
        self.female = rng.random(n) < 0.55
        # The planted lookalike segment: young mothers in lower-tier cities, mostly.
        seg_logit = -4.7 + 1.6 * (self.age == 1) + 1.0 * self.female + 0.6 * (self.tier >= 3)
        self.segment = rng.random(n) < _sigmoid(seg_logit)
        self.activity = rng.lognormal(-self.sd_activity**2 / 2, self.sd_activity, n)  # mean 1
        self.spend = rng.normal(0.0, self.sd_spend, n)  # spending propensity: the store sees it
        self.promo_sensitive = rng.random(n) < 0.3

    def _silos(self) -> None:
        rng, n = self.rng, self.n
        self.has_shop = rng.random(n) < 0.85
        # 60-70 % of store users are matched to a social id; non-store users are social-only.
        self.has_social = np.where(self.has_shop, rng.random(n) < 0.65, True)
        self.is_member = self.has_shop & (rng.random(n) < 0.25)
        self.consent = self.is_member & (rng.random(n) < 0.6)
        perm = rng.permutation
        self.social_id = np.where(self.has_social, 10_000_000 + perm(n), -1)
        self.shop_id = 20_000_000 + perm(n)  # assigned to all; only used ones are published
        self.member_id = np.where(self.is_member, 30_000_000 + perm(n), -1)

    def _groups(self) -> None:
        """Chat groups of tens to a few hundred people with similar profiles, one owner each."""
        rng = self.rng
        social = np.flatnonzero(self.has_social)
        joins = social[rng.random(social.size) < np.where(self.tier[social] >= 3, 0.75, 0.4)]
        # Homophily: people meet in groups of their region, tier band and life stage, and
        # within those around what they care about most. Never on the segment label itself:
        # the segment shows only through the interests it shapes, as in real groups.
        order = np.lexsort((rng.random(joins.size), self._main_interest(joins),
                            self.age[joins], self.tier[joins] >= 3, self.region[joins]))
        joins = joins[order]
        sizes = np.clip(rng.lognormal(np.log(45), 0.7, joins.size // 10 + 1), 12, 300).astype(int)
        bounds = np.cumsum(sizes)
        bounds = bounds[bounds < joins.size]
        gid = np.searchsorted(bounds, np.arange(joins.size), side="right")
        self.n_groups = int(gid.max()) + 1
        self.primary_group = np.full(self.n, -1)
        self.primary_group[joins] = gid
        # One owner per group: a random member (the KOC).
        first = np.r_[0, bounds]
        counts = np.diff(np.r_[first, joins.size])
        owner_pos = first + (rng.random(self.n_groups) * counts).astype(int)
        self.group_owner = joins[owner_pos]
        self.owner_influence = np.where(rng.random(self.n_groups) < 0.45,
                                        rng.uniform(0.5, 1.3, self.n_groups), 0.0)
        # A quarter of members also sit in a second, random group.
        extra = joins[rng.random(joins.size) < 0.25]
        self.second_group = (extra, rng.integers(0, self.n_groups, extra.size))
        # Most joined early; some join during the evaluation window (features must not see them).
        span = (self.n_history_periods + 1) * self.horizon * 86400
        self.joined_at = self.start + (rng.random(self.n) ** 2 * span).astype("timedelta64[s]")

    def _main_interest(self, users: np.ndarray) -> np.ndarray:
        """Each user's favourite category before any group shapes it: the market's taste for
        their demographics and place, the segment's tastes, and a personal part, drawn from a
        stream of its own so the world's other draws stay as they were."""
        market = np.random.default_rng(2026)  # the same market as in _interests
        demo = market.normal(0, self.sd_demographic, (len(AGE_BANDS), 2, self.C))
        tier = market.normal(0, self.sd_tier, (5, self.C))
        region = market.normal(0, self.sd_region, (len(REGIONS), self.C))
        own = np.random.default_rng(self._seed(18)).normal(0, self.sd_group_interest,
                                                          (self.n, self.C))[users]
        taste = (demo[self.age[users], self.female[users].astype(int)] + tier[self.tier[users] - 1]
                 + region[self.region[users]] + _SEGMENT_TASTE * self.segment[users, None] + own)
        return np.argmax(taste, axis=1)

    def _interests(self) -> None:
        rng, n, C = self.rng, self.n, self.C
        # The market's structure (who likes what) is the same in every world; the seed draws
        # the people. That keeps each category's difficulty stable from seed to seed.
        market = np.random.default_rng(2026)
        demo_effect = market.normal(0, self.sd_demographic, (len(AGE_BANDS), 2, C))
        tier_effect = market.normal(0, self.sd_tier, (5, C))
        region_effect = market.normal(0, self.sd_region, (len(REGIONS), C))
        group_taste = rng.normal(0, self.sd_group_taste, (self.n_groups, C))
        seg_effect = np.array([0.8, 1.8, 0.2, 0.0, -0.3, -0.6, 0.1, 0.3])
        static = (demo_effect[self.age, self.female.astype(int)] + tier_effect[self.tier - 1]
                  + region_effect[self.region] + seg_effect * self.segment[:, None]
                  + rng.normal(0, self.sd_individual, (n, C)))
        in_group = self.primary_group >= 0
        static[in_group] += group_taste[self.primary_group[in_group]]
        self.static_interest = static
        # Owners promote the category they like most; members feel it if the owner is influential.
        promoted = np.argmax(static[self.group_owner], axis=1)
        self.influence = np.zeros((n, C))
        members = np.flatnonzero(in_group)
        g = self.primary_group[members]
        self.influence[members, promoted[g]] = self.owner_influence[g]
        self.promoted_category = promoted
        # Interest drifts slowly (AR(1)); periods 0..7, the evaluation window is period 6.
        n_periods = self.n_history_periods + 2
        drift = np.empty((n_periods, n, C), dtype=np.float32)
        drift[0] = rng.normal(0, self.sd_drift, (n, C))
        step = self.sd_drift * np.sqrt(1 - 0.85**2)
        for p in range(1, n_periods):
            drift[p] = 0.85 * drift[p - 1] + rng.normal(0, step, (n, C))
        self.drift = drift

    def interest(self, period: int) -> np.ndarray:
        return self.static_interest + self.drift[period]

    # -- life cycle ------------------------------------------------------------------------
    def _lifecycle(self) -> None:
        """Join dates, monthly dropout (buy till you die) and the seasons."""
        rng, n, P = self.rng, self.n, self.n_history_periods + 1
        existing = rng.random(n) < self.scenario["existing"]
        span = P if self.scenario["cohort_periods"] is None else self.scenario["cohort_periods"]
        # Cohort scenario: 85 % join in the first months, the rest over the whole span.
        late = rng.random(n) < (0.15 if self.scenario["cohort_periods"] else 1.0)
        offset_periods = np.where(late, rng.random(n) * P, rng.random(n) * span)
        join = self.start + (offset_periods * self.horizon * 86400).astype("timedelta64[s]")
        before = self.start - (rng.random(n) * 720 * 86400).astype("timedelta64[s]")
        self.join_ts = np.where(existing, before, join)
        self.dropout = rng.beta(self.dropout_a, self.dropout_b, n)
        # Alive at the start of each period; some of the old base is already dormant.
        alive = np.empty((P + 1, n), dtype=bool)
        alive[0] = ~(existing & (rng.random(n) < self.dormant_share))
        for p in range(1, P + 1):
            joined_before = self.join_ts < self.start + p * self.period
            leaves = joined_before & (rng.random(n) < self.dropout)
            alive[p] = alive[p - 1] & ~leaves
        self.alive = alive
        mid = self.start + (np.arange(P + 1) + 0.5) * self.period
        month = mid.astype("datetime64[M]").astype(int) % 12 + 1
        # Summer low, winter high; the 618 (June) and Double 11 (November) shopping festivals.
        log_season = 0.15 * np.cos(2 * np.pi * (month - 12) / 12)
        log_season += 0.25 * (month == 6) + 0.35 * (month == 11)
        self.season = np.exp(log_season)

    def _exposure(self, period: int) -> np.ndarray:
        """Share of the period each user was a customer, alive (0 before joining)."""
        return self._joined_share(period) * np.where(self.alive[period], 1.0, self.dormant_rate)

    def _joined_share(self, period: int) -> np.ndarray:
        """Share of the period after each user joined (0 before, 1 for the whole period)."""
        begin = self.start + period * self.period
        after = (begin + self.period - self.join_ts).astype("timedelta64[s]").astype(float)
        return np.clip(after / (self.horizon * 86400), 0.0, 1.0)

    def _months_since_join(self, period: int) -> np.ndarray:
        begin = self.start + period * self.period
        return np.maximum((begin - self.join_ts).astype("timedelta64[D]").astype(float), 0) / 30
