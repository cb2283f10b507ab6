"""The simulated world as a user sees it: its tables, its planted truth and the labels of
its evaluation window."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from targeting.data.demo.common import ALLOCATION, ARMS, CAMPAIGN_CATEGORY, CAMPAIGN_ID
from targeting.data.labels import purchase_labels
from targeting.data.vocab import (
    CATEGORIES,
)


@dataclass
class DemoWorld:
    """A simulated brand world: contract tables plus the ground truth behind them.

    Attributes
    ----------
    tables : dict of str to DataFrame
        The silo tables (identity, users, social_events, groups, orders, crm, campaign,
        touchpoints, conversions, invites).
    truth : dict of str to DataFrame
        ``purchase_proba`` (user_id x category, the evaluation window),
        ``expected_revenue`` (per user: the expected amount of their orders in the evaluation
        window, every category, from the same rates and prices the orders were drawn from),
        ``uplift``
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
    random_state: int
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

    def respond(self, assignments: pd.DataFrame, **kwargs) -> pd.DataFrame:
        """Outcomes of a campaign's assignments, drawn from the planted truth
        (see :func:`targeting.data.demo_response.respond`)."""
        from targeting.data.demo_response import respond

        return respond(self, assignments, **kwargs)

    def summary(self) -> pd.DataFrame:
        """Row counts per table and the world's calibration statistics."""
        rows = [(f"rows: {name}", len(t)) for name, t in self.tables.items()]
        rows += list(self.stats.items())
        return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")

    def _repr_html_(self) -> str:
        head = (
            f"<b>DemoWorld</b> random_state={self.random_state}, as_of={self.as_of.date()}, "
            f"horizon={self.horizon_days} days"
        )
        return f"<div>{html.escape(head)}</div>" + self.summary().to_html()


def purchased_in_window(world: DemoWorld, category: str) -> pd.Series:
    """1 where a user ordered ``category`` in the evaluation window, aligned to the truth
    (the package's one label function, :func:`~targeting.data.labels.purchase_labels`)."""
    index = world.truth["purchase_proba"].index
    labels = purchase_labels(world.tables, world.as_of, world.horizon_days, category, index)
    return labels.astype(int).rename(category)


def calibration_stats(world: DemoWorld) -> dict[str, float]:
    """The world's calibration statistics (``world.stats``), from its tables and truth alone,
    so a world read back from files gets them the same way as a simulated one."""
    t = world.tables
    identity = t["identity"]
    store = identity.shop_id.notna()
    lower = t["users"].set_index("user_id").city_tier.reindex(identity.user_id).to_numpy() >= 3
    orders = t["orders"]
    hist = orders[orders.ts < world.as_of]
    ref_share = {}
    for name, mask in (("lower-tier", lower), ("tier 1-2", ~lower)):
        shops = identity.shop_id[mask & store.to_numpy()]
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
        "planted segment share": float(world.truth["segment"].mean()),
    }
