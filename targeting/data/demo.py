"""The demo world: a simulated brand with three data silos and planted ground truth.

Every table follows the contracts in :mod:`targeting.data.schema`; the ground truth
(`DemoWorld.truth`) holds what no real brand can see: each user's true purchase probability
in the evaluation window (the purchases there were drawn from it), the campaign's true
per-user uplift, the true credit of each touch channel and the planted lookalike segment.

How the world works, in one paragraph. Each user has a latent interest per category made of
demographic, chat-group (homophily), segment and individual parts, drifting slowly over time.
Social events are a noisy view of the current interest and of where it is heading (people read
before they buy); orders are Poisson draws whose rate adds a general spending propensity that
only the store sees, a replenishment habit for consumables, and the influence of chat-group
owners (KOCs), which flows through referral orders. Users in lower-tier cities buy mostly
through group owners. Silos overlap only partly, as in real data.

Customers have a life cycle, as on real purchase logs. They join over the whole span
(acquisition cohorts; ``scenario="cohort"`` puts most of them in one early cohort, like a
brand's launch), buy more in their first months, and drop out for good as in a
buy-till-you-die process (after each month an alive customer leaves with a probability of their
own); demand follows the seasons (a summer low, the 618 and Double 11 peaks) and the week
(weekends busier). A user exists in the data only from their first record on: users who join
later are in the identity table (prospects) but have no history before ``as_of``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from targeting.data import demo_community
from targeting.data.vocab import (
    AGE_BANDS,
    CATEGORIES,
    CONTROL_ARM,
    CRM_TIERS,
    GENDERS,
    REGIONS,
    SCENES,
    SOCIAL_EVENTS,
    TOUCH_CHANNELS,
)

PERIOD_DAYS = 30
CAMPAIGN_ID = "autumn_push_2026"
CAMPAIGN_CATEGORY = "beauty"
HOLDOUT_ID = "group_chat_holdout_2026"
HOLDOUT_CHANNEL = "group_chat"
ARMS = (CONTROL_ARM, "coupon", "group_invite", "push")
ALLOCATION = (0.4, 0.2, 0.2, 0.2)  # the planned share of each arm
_SEGMENT_TASTE = np.array([0.8, 1.8, 0.2, 0.0, -0.3, -0.6, 0.1, 0.3])  # = seg_effect, _interests
_DAY = np.timedelta64(1, "D")
AS_OF = np.datetime64("2026-08-29T00:00:00", "s")
# Share of users who are customers before the history starts, and when the rest join.
SCENARIOS = {"default": {"existing": 0.4, "cohort_periods": None},
             "cohort": {"existing": 0.0, "cohort_periods": 3}}
# The stages of the simulation, each drawing from its own random stream: changing one stage
# leaves the others' draws as they were.
_STAGES = ("people", "silos", "groups", "interests", "lifecycle", "orders", "social", "users",
           "crm", "campaign", "journeys", "community")
_SEC = np.timedelta64(1, "s")


@dataclass
class DemoWorld:
    """A simulated brand world: contract tables plus the ground truth behind them.

    Attributes
    ----------
    tables : dict of str to DataFrame
        The silo tables (identity, users, social_events, groups, orders, crm, campaign,
        touchpoints, conversions, invites).
    truth : dict of str to DataFrame
        ``purchase_proba`` (user_id x category, the evaluation window), ``uplift``
        (per user and arm), ``channel_credit``, ``segment`` (the planted lookalike segment),
        ``owners`` (per chat group: planted influence and the incremental orders it caused) and
        ``owner_potential`` (per user; see :mod:`targeting.data.demo_community`).
    as_of : pandas.Timestamp
        Start of the evaluation window; history lies strictly before it.
    horizon_days : int
        Length of the evaluation window.
    campaign_allocation : dict of str to float
        The planned share of each arm of the randomised campaign ``campaign_id``.
    """

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    as_of: pd.Timestamp
    horizon_days: int
    seed: int
    categories: tuple[str, ...] = CATEGORIES
    campaign_id: str = CAMPAIGN_ID
    stats: dict[str, float] = field(default_factory=dict)
    campaign_allocation: dict[str, float] = field(
        default_factory=lambda: dict(zip(ARMS, ALLOCATION, strict=True)))

    def oracle_auc(self, category: str) -> float:
        """AUC of the true purchase probability against the window's actual purchases."""
        from sklearn.metrics import roc_auc_score

        labels = purchased_in_window(self, category)
        return float(roc_auc_score(labels, self.truth["purchase_proba"][category]))

    def summary(self) -> pd.DataFrame:
        """Row counts per table and the world's calibration statistics."""
        rows = [(f"rows: {name}", len(t)) for name, t in self.tables.items()]
        rows += list(self.stats.items())
        return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")

    def _repr_html_(self) -> str:
        head = (
            f"<b>DemoWorld</b> seed={self.seed}, as_of={self.as_of.date()}, "
            f"horizon={self.horizon_days} days"
        )
        return f"<div>{html.escape(head)}</div>" + self.summary().to_html()


def purchased_in_window(world: DemoWorld, category: str) -> pd.Series:
    """1 where a user ordered ``category`` in the evaluation window, aligned to the truth."""
    end = world.as_of + pd.Timedelta(days=world.horizon_days)
    orders = world.tables["orders"]
    hit = orders[(orders.ts >= world.as_of) & (orders.ts < end) & (orders.category == category)]
    identity = world.tables["identity"]
    buyers = identity.loc[identity.shop_id.isin(hit.shop_id), "user_id"]
    index = world.truth["purchase_proba"].index
    return pd.Series(index.isin(buyers).astype(int), index=index, name=category)


def demo_world(n_users: int = 50_000, seed: int = 0, *, horizon_days: int = 30,
               scenario: str = "default") -> DemoWorld:
    """Simulate a brand's world with planted ground truth.

    Parameters
    ----------
    n_users : int, default 50_000
        Size of the brand's universe.
    seed : int, default 0
        Same seed, same world, on any machine.
    horizon_days : int, default 30
        Length of the evaluation window after ``as_of`` (also the period of the simulation).
    scenario : {"default", "cohort"}
        ``"default"``: a base of existing customers and new ones joining every month;
        ``"cohort"``: most customers join in the first three months (one acquisition cohort
        that ages and churns, as in the CDNOW log).

    Returns
    -------
    DemoWorld

    Examples
    --------
    >>> world = demo_world(n_users=2_000, seed=1)
    >>> sorted(world.tables)[:3]
    ['campaign', 'conversions', 'crm']
    >>> 0.6 < world.oracle_auc("beauty") < 0.95
    True
    """
    if n_users < 500:
        raise ValueError(f"n_users must be at least 500 to form chat groups, got {n_users}")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {list(SCENARIOS)}")
    return _Simulator(n_users, seed, horizon_days, scenario).run()


def demo_journeys(n_users: int = 100_000, seed: int = 0, *, horizon_days: int = 30):
    """Only the multi-touch journeys of a demo world (half the users have one), fast at scale.

    Returns ``(touchpoints, conversions, channel_credit)``, the same generator as
    :func:`demo_world` uses, for attribution benchmarks with millions of journeys.

    Examples
    --------
    >>> touches, conversions, credit = demo_journeys(2_000, seed=1)
    >>> round(float(credit.share.sum()), 6)
    1.0
    """
    sim = _Simulator(n_users, seed, horizon_days)
    sim.user_id = np.arange(1, n_users + 1, dtype=np.int64) + 100_000_000
    sim._stage("journeys")
    return sim._journeys()[:3]


class _Simulator:
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

    def __init__(self, n_users: int, seed: int, horizon_days: int, scenario: str = "default"):
        self.n, self.seed, self.horizon = n_users, seed, horizon_days
        self.scenario = SCENARIOS[scenario]
        self.rng = np.random.default_rng(seed)
        self.C = len(CATEGORIES)
        self.period = np.timedelta64(horizon_days, "D")
        self.as_of = AS_OF
        self.start = self.as_of - self.n_history_periods * self.period

    def _stage(self, name: str) -> None:
        """Switch to the stage's own random stream."""
        self.rng = np.random.default_rng([self.seed, _STAGES.index(name)])

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
        world = DemoWorld(tables, truth, pd.Timestamp(self.as_of), self.horizon, self.seed)
        world.stats = self._stats(world)
        return world

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
        own = np.random.default_rng([self.seed, 18]).normal(0, self.sd_group_interest,
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
            counts = rng.poisson(rate)
            bought_recently = bought_last | (counts > 0)
            bought_last = counts > 0
            parts.append(self._order_rows(counts, p))
        orders = pd.concat(parts, ignore_index=True)
        orders = orders.sort_values(["ts", "shop_id"], kind="stable").reset_index(drop=True)
        orders.insert(0, "order_id", np.arange(1, len(orders) + 1, dtype=np.int64) + 5_000_000)
        self.buyers = np.isin(self.shop_id, orders.shop_id.to_numpy())
        return orders, proba

    def _order_rows(self, counts: np.ndarray, period: int) -> pd.DataFrame:
        rng = self.rng
        user, cat = np.nonzero(counts)
        reps = counts[user, cat]
        user, cat = np.repeat(user, reps), np.repeat(cat, reps)
        m = user.size
        ts = self._period_ts(period, user)
        # Promotion days: promo-sensitive users concentrate their orders on them.
        promo = rng.random(m) < np.where(self.promo_sensitive[user], 0.55, 0.1)
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
        price = np.array([180, 150, 60, 80, 220, 900, 160, 120])[cat]
        # Big spenders buy pricier items: basket value shows the spending propensity.
        level = np.exp(self.price_gain * self.spend[user])
        amount = np.round(price * level * rng.lognormal(0, 0.3, m) * np.where(promo, 0.8, 1.0), 2)
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

    # -- social platform -------------------------------------------------------------------
    def _social_events(self) -> pd.DataFrame:
        rng, C = self.rng, self.C
        social = np.flatnonzero(self.has_social)
        parts = []
        # Engaged events per category; weights give the event mix of engaged attention.
        engaged_events = np.array([SOCIAL_EVENTS.index(e) for e in (
            "read", "click", "like", "share", "comment", "mini_program_visit", "group_message")])
        engaged_p = np.array([0.34, 0.24, 0.14, 0.09, 0.07, 0.06, 0.06])
        for p in range(self.n_history_periods + 1):
            # People read about what they are about to want: the view mixes now and next period.
            view = 0.5 * (self.interest(p) + self.interest(p + 1))[social]
            # Present from joining on; those who dropped out as customers engage less.
            present = self._joined_share(p) * np.where(self.alive[p], 1.0, 0.4)
            activity = self.activity[social] * present[social]
            rate = activity[:, None] * self.engaged_rate * np.exp(
                self.interest_gain * view - 0.5)
            counts = rng.poisson(rate)
            user, cat = np.nonzero(counts)
            reps = counts[user, cat]
            user, cat = social[np.repeat(user, reps)], np.repeat(cat, reps)
            event = engaged_events[rng.choice(engaged_p.size, user.size, p=engaged_p)]
            # Untargeted impressions: plenty of rows, little information.
            n_imp = rng.poisson(activity * 4)
            imp_user = np.repeat(social, n_imp)
            imp_cat = rng.integers(0, C, imp_user.size)
            user = np.r_[user, imp_user]
            cat = np.r_[cat, imp_cat]
            event = np.r_[event, np.zeros(imp_user.size, dtype=int)]
            group_msg = event == SOCIAL_EVENTS.index("group_message")
            event[group_msg & (self.primary_group[user] < 0)] = SOCIAL_EVENTS.index("click")
            parts.append(pd.DataFrame({
                "social_id": self.social_id[user],
                "ts": self._period_ts(p, user),
                "event": pd.Categorical.from_codes(event, SOCIAL_EVENTS),
                "scene": pd.Categorical.from_codes(self._scene(event, user), SCENES),
                "category": pd.Categorical.from_codes(cat, CATEGORIES),
            }))
        events = pd.concat(parts, ignore_index=True)
        return events.sort_values(["ts", "social_id"], kind="stable").reset_index(drop=True)

    def _scene(self, event: np.ndarray, user: np.ndarray) -> np.ndarray:
        """Where each event happened: fixed by the event type, with tier-dependent habits."""
        rng = self.rng
        # Rows: events in SOCIAL_EVENTS order; columns: SCENES order.
        mix = np.array([
            [0.45, 0.05, 0.0, 0.0, 0.35, 0.15],   # impression
            [0.35, 0.2, 0.1, 0.0, 0.2, 0.15],     # click
            [0.6, 0.1, 0.0, 0.0, 0.3, 0.0],       # like
            [0.4, 0.1, 0.5, 0.0, 0.0, 0.0],       # share
            [0.5, 0.2, 0.0, 0.0, 0.3, 0.0],       # comment
            [0.2, 0.7, 0.0, 0.0, 0.0, 0.1],       # read
            [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],       # mini_program_visit
            [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],       # group_message
        ])
        cum = mix.cumsum(axis=1)[event]
        scene = (rng.random(event.size)[:, None] > cum).sum(axis=1)
        # Lower-tier group members share into chat groups more often than to Moments.
        lower = (self.tier[user] >= 3) & (self.primary_group[user] >= 0)
        to_group = lower & (event == SOCIAL_EVENTS.index("click")) & (rng.random(event.size) < 0.3)
        scene[to_group] = SCENES.index("group_chat")
        return np.minimum(scene, len(SCENES) - 1)

    # -- the other tables ------------------------------------------------------------------
    def _identity(self) -> pd.DataFrame:
        shop = self.has_shop | self.buyers
        return pd.DataFrame({
            "user_id": self.user_id,
            "social_id": _nullable_id(self.social_id, self.has_social),
            "shop_id": _nullable_id(self.shop_id, shop),
            "member_id": _nullable_id(self.member_id, self.is_member),
        })

    def _users_table(self) -> pd.DataFrame:
        first_seen = self.join_ts
        return pd.DataFrame({
            "user_id": self.user_id,
            "city_tier": self.tier.astype("int8"),
            "region": pd.Categorical.from_codes(self.region, REGIONS),
            "age_band": pd.Categorical.from_codes(self.age, AGE_BANDS),
            "gender": pd.Categorical.from_codes((~self.female).astype(int), GENDERS),
            "first_seen": first_seen.astype("datetime64[ns]"),
        })

    def _groups_table(self) -> pd.DataFrame:
        members = np.flatnonzero(self.primary_group >= 0)
        extra_user, extra_group = self.second_group
        user = np.r_[members, extra_user]
        group = np.r_[self.primary_group[members], extra_group]
        frame = pd.DataFrame({"group_id": group + 1, "user": user})
        frame = frame.drop_duplicates(["group_id", "user"])
        owner = self.group_owner[frame.group_id.to_numpy() - 1] == frame.user.to_numpy()
        user = frame.user.to_numpy()
        joined = np.maximum(self.joined_at[user], self.join_ts[user]).astype("datetime64[ns]")
        return pd.DataFrame({
            "group_id": frame.group_id.to_numpy().astype(np.int64),
            "social_id": self.social_id[frame.user.to_numpy()],
            "role": pd.Categorical(np.where(owner, "owner", "member"), ["owner", "member"]),
            "joined_at": joined,
        }).sort_values(["group_id", "social_id"]).reset_index(drop=True)

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


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _nullable_id(ids: np.ndarray, present: np.ndarray) -> pd.Series:
    return pd.Series(pd.array(np.where(present, ids, 0), dtype="Int64")).where(present)


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
