"""Campaign readout: what did a randomised campaign add, with the checks that make it credible.

- **Sample-ratio mismatch**: a chi-square test of the arm sizes against the planned allocation.
  A tiny p-value means the randomisation or the logging broke, and no effect can be trusted.
- **Balance**: standardised mean differences of pre-campaign covariates, each arm against the
  control (|SMD| above 0.1 is the usual alarm).
- **Effects**: conversion rate and revenue per user by arm; each arm's average effect over the
  control with a normal-approximation confidence interval (unpooled standard errors), relative
  lift and a two-sided p-value; and the same for any treatment pooled.
- **Breakdown**: the effect by city tier, by the user's main purchase channel and by lifecycle
  segment (new, active, lapsed), so a campaign that only works in lower-tier cities shows it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from targeting.data.identity import resolve_identity
from targeting.data.schema import validate
from targeting.data.vocab import CONTROL_ARM
from targeting.features.campaign import campaign_rows

ANY_TREATMENT = "any treatment"
SRM_ALPHA = 0.001
BREAKDOWNS = ("city_tier", "channel", "segment")


@dataclass
class CampaignReport:
    """The readout of one campaign; ``effects`` is the table to quote."""

    campaign_id: str
    arms: pd.DataFrame
    srm: dict
    balance: pd.DataFrame
    effects: pd.DataFrame
    breakdown: pd.DataFrame
    confidence: float

    @property
    def trustworthy(self) -> bool:
        """No sample-ratio mismatch and no covariate out of balance."""
        return self.srm["p_value"] >= SRM_ALPHA and bool((self.balance.abs() <= 0.1).all().all())

    def _repr_html_(self) -> str:
        srm = self.srm
        verdict = "OK" if srm["p_value"] >= SRM_ALPHA else "MISMATCH: do not trust the effects"
        fmt = {"float_format": lambda v: f"{v:.4f}"}
        return (f"<h4>Campaign {html.escape(self.campaign_id)}</h4>"
                f"<p>Sample ratio: chi2 = {srm['chi2']:.2f}, p = {srm['p_value']:.3g} "
                f"({verdict}); largest covariate imbalance |SMD| = "
                f"{self.balance.abs().to_numpy().max():.3f}</p>"
                + self.arms.to_html(**fmt)
                + f"<p>Average effect over the control ({self.confidence:.0%} intervals)</p>"
                + self.effects.to_html(**fmt))

    def plot(self, axes=None):
        """Conversion by arm with intervals, and the pooled effect by city tier."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        ax, forest = axes
        a = self.arms
        ax.bar(a.index.astype(str), a.conversion_rate,
               yerr=[a.conversion_rate - a.rate_low, a.rate_high - a.conversion_rate],
               color=["grey" if i == CONTROL_ARM else "tab:blue" for i in a.index], capsize=4)
        ax.set(ylabel="conversion rate", title="Conversion by arm")
        b = self.breakdown[(self.breakdown.arm == ANY_TREATMENT)
                           & (self.breakdown.dimension == "city_tier")]
        y = np.arange(len(b))
        forest.errorbar(b.effect, y, xerr=[b.effect - b.low, b.high - b.effect], fmt="o",
                        capsize=3)
        forest.axvline(0, color="grey", lw=0.8)
        forest.set_yticks(y, [f"tier {g}" for g in b.group])
        forest.set(xlabel="effect on conversion (any treatment vs control)",
                   title="Effect by city tier")
        ax.figure.suptitle(f"Campaign {self.campaign_id}", fontsize=10)
        ax.figure.tight_layout()
        return ax.figure


def campaign_report(tables: Mapping[str, pd.DataFrame], campaign_id: str, *,
                    allocation: Mapping[str, float] | None = None, control: str = CONTROL_ARM,
                    confidence: float = 0.95,
                    breakdowns: Sequence[str] = BREAKDOWNS) -> CampaignReport:
    """Read out a randomised campaign: sizes and SRM, balance, effects, breakdowns.

    Parameters
    ----------
    tables : dict of str to DataFrame
        Contract tables with ``campaign`` (``users`` and ``orders`` feed balance/breakdowns).
    campaign_id : str
    allocation : dict of arm to share, optional
        The planned split (e.g. ``{"control": 0.4, "coupon": 0.2, ...}``); default equal.
    confidence : float, default 0.95

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, seed=0)
    >>> report = campaign_report(world.tables, world.campaign_id,
    ...                          allocation=world.campaign_allocation)
    >>> report.effects.index.tolist()
    ['coupon', 'group_invite', 'push', 'any treatment']
    >>> bool(report.srm["p_value"] > 0.001)
    True
    """
    validate(tables)
    rows = campaign_rows(tables, campaign_id, "converted", control)
    if "revenue" not in rows.columns or rows["revenue"].isna().any():
        rows = rows.assign(revenue=rows.get("revenue", pd.Series(0.0, index=rows.index))
                           .fillna(0.0))
    covariates = _covariates(tables, rows)
    z = stats.norm.ppf(0.5 + confidence / 2)
    arms = _arm_table(rows, allocation, control, z)
    return CampaignReport(
        campaign_id=str(campaign_id), arms=arms, srm=_srm(arms),
        balance=_balance(covariates.drop(columns=list(BREAKDOWNS)), rows.arm.to_numpy(),
                         control),
        effects=_effects(rows, control, z), confidence=confidence,
        breakdown=_breakdown(rows, covariates, breakdowns, control, z))


def _arm_table(rows: pd.DataFrame, allocation, control, z: float) -> pd.DataFrame:
    g = rows.groupby("arm", sort=True)
    arms = pd.DataFrame({"users": g.size(), "conversions": g.converted.sum().astype(int),
                         "revenue": g.revenue.sum()})
    arms = arms.loc[[control] + [a for a in arms.index if a != control]]
    arms["share"] = arms.users / arms.users.sum()
    planned = _allocation(allocation, arms.index)
    arms["planned_share"] = [planned[a] for a in arms.index]
    arms["conversion_rate"] = arms.conversions / arms.users
    arms["rate_low"], arms["rate_high"] = _wilson(arms.conversions, arms.users, z)
    arms["revenue_per_user"] = arms.revenue / arms.users
    return arms


def _allocation(allocation, arms) -> dict:
    if allocation is None:
        return {a: 1 / len(arms) for a in arms}
    unknown = sorted(set(map(str, arms)) - set(allocation))
    if unknown:
        raise ValueError(f"allocation has no share for arm(s) {unknown}")
    total = sum(allocation[a] for a in arms)
    return {a: allocation[a] / total for a in arms}


def _wilson(successes, n, z: float):
    """Wilson score interval of a proportion (good near 0, where conversion rates live)."""
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def _srm(arms: pd.DataFrame) -> dict:
    expected = arms.planned_share * arms.users.sum()
    chi2, p = stats.chisquare(arms.users, expected)
    return {"chi2": float(chi2), "p_value": float(p), "mismatch": bool(p < SRM_ALPHA)}


def _covariates(tables, rows: pd.DataFrame) -> pd.DataFrame:
    """Pre-campaign covariates per campaign user: profile and 90 days of store history."""
    sent = pd.Timestamp(rows["sent_at"].min())
    out = pd.DataFrame(index=pd.Index(rows.user_id.to_numpy(), name="user_id"))
    if "users" in tables:
        users = tables["users"].set_index("user_id").reindex(out.index)
        out["city_tier"] = users["city_tier"].astype(float)
        for col in ("age_band", "gender"):
            dummies = pd.get_dummies(users[col].astype(str), prefix=col, dtype=float)
            out[dummies.columns] = dummies.to_numpy()
    else:
        out["city_tier"] = np.nan
    history = _store_history(tables, out.index, sent)
    return out.join(history)


def _store_history(tables, users: pd.Index, sent: pd.Timestamp) -> pd.DataFrame:
    out = pd.DataFrame(index=users)
    out["orders_90d"], out["spend_90d"], out["channel"], out["segment"] = 0.0, 0.0, "none", "new"
    if "orders" not in tables:
        return out
    identity = resolve_identity(tables).dropna(subset=["shop_id"])
    orders = tables["orders"]
    orders = orders[orders.ts < sent].merge(identity[["user_id", "shop_id"]], on="shop_id")
    orders = orders[orders.user_id.isin(users)]
    recent = orders[orders.ts >= sent - pd.Timedelta(days=90)]
    g = recent.groupby("user_id")
    out["orders_90d"] = g.size().reindex(users, fill_value=0).astype(float)
    out["spend_90d"] = g.amount.sum().reindex(users, fill_value=0.0)
    main = recent.groupby(["user_id", "channel"], observed=True).size().reset_index(name="n")
    main = main.sort_values(["user_id", "n"], ascending=[True, False]).drop_duplicates("user_id")
    out.loc[main.user_id.to_numpy(), "channel"] = main.channel.astype(str).to_numpy()
    ever = users.isin(orders.user_id)
    active = users.isin(recent.user_id)
    out["segment"] = np.select([active, ever], ["active", "lapsed"], "new")
    return out


def _balance(covariates: pd.DataFrame, arm: np.ndarray, control) -> pd.DataFrame:
    """Standardised mean difference of each covariate, each treatment arm vs the control."""
    base = covariates[arm == control]
    out = {}
    for name in sorted(set(arm) - {control}):
        group = covariates[arm == name]
        pooled = np.sqrt((group.var() + base.var()) / 2).replace(0, np.nan)
        out[name] = ((group.mean() - base.mean()) / pooled).fillna(0.0)
    return pd.DataFrame(out)


def _difference(y_t: np.ndarray, y_c: np.ndarray, z: float) -> dict:
    diff = y_t.mean() - y_c.mean()
    se = np.sqrt(y_t.var(ddof=1) / len(y_t) + y_c.var(ddof=1) / len(y_c))
    p = 2 * stats.norm.sf(abs(diff) / se) if se > 0 else float("nan")
    return {"effect": diff, "low": diff - z * se, "high": diff + z * se, "p_value": p}


def _effects(rows: pd.DataFrame, control, z: float) -> pd.DataFrame:
    arm = rows.arm.to_numpy()
    conv, revenue = rows.converted.to_numpy(float), rows.revenue.to_numpy(float)
    out = {}
    groups = {a: arm == a for a in sorted(set(arm) - {control})}
    groups[ANY_TREATMENT] = arm != control
    base = arm == control
    for name, treated in groups.items():
        c = _difference(conv[treated], conv[base], z)
        r = _difference(revenue[treated], revenue[base], z)
        out[name] = {**c, "relative_lift": c["effect"] / conv[base].mean(),
                     "incremental_conversions": c["effect"] * treated.sum(),
                     "revenue_effect": r["effect"], "revenue_low": r["low"],
                     "revenue_high": r["high"]}
    return pd.DataFrame(out).T


def _breakdown(rows, covariates, dimensions, control, z: float) -> pd.DataFrame:
    arm = rows.arm.to_numpy()
    conv = rows.converted.to_numpy(float)
    records = []
    arms = [*sorted(set(arm) - {control}), ANY_TREATMENT]
    for dim in dimensions:
        if dim not in covariates.columns:
            raise ValueError(f"unknown breakdown {dim!r}; choose from {list(BREAKDOWNS)}")
        values = covariates[dim].to_numpy()
        for group in pd.unique(values[~pd.isna(values)]):
            in_group = values == group
            base = in_group & (arm == control)
            for name in arms:
                treated = in_group & ((arm != control) if name == ANY_TREATMENT else arm == name)
                if treated.sum() < 2 or base.sum() < 2:
                    continue
                records.append({"dimension": dim, "group": str(_plain(group)), "arm": name,
                                "treated": int(treated.sum()), "control": int(base.sum()),
                                **_difference(conv[treated], conv[base], z)})
    return pd.DataFrame(records).sort_values(["dimension", "group", "arm"], ignore_index=True)


def _plain(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value
