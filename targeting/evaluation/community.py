"""Community commerce readouts: owner rankings against the truth, and a budgeted owner plan.

``evaluate_owners`` scores an owner ranking against the influence a demo world planted: the
share of truly influential owners in the top 20 % and the rank correlation with the planted
incremental orders, beside the naive rankings a community team uses (group size, referral
revenue). ``plan_owners`` turns a commission budget into the owners to back, with the
expected profit and its interval, in the same words as :func:`~targeting.plan_campaign`'s
table (``cost``, ``expected_profit``, ``profit_low``, ``profit_high``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from targeting.data.money import spend_budget
from targeting.data.schema import InsufficientDataError, SchemaError
from targeting.models.owners import OwnerValue, rank_owners

RANKINGS = {"causal (incremental orders)": "incremental_orders",
            "net value": "net_value",
            "group size": "members",
            "referral revenue": "referral_revenue"}


@dataclass
class OwnerEvaluation:
    """Each ranking's precision at the top and rank correlation with the planted truth."""

    table: pd.DataFrame
    top_share: float
    coverage: float

    def _repr_html_(self) -> str:
        note = (f"precision: share of truly influential owners in the top {self.top_share:.0%}; "
                f"Spearman against the planted incremental orders; interval coverage "
                f"{self.coverage:.0%}")
        return (f"<h4>Owner rankings against the planted influence</h4><p>"
                f"{html.escape(note)}</p>" + self.table.to_html(float_format="{:.3f}".format))

    def plot(self, ax=None):
        """Precision at the top and Spearman per ranking."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3))
        self.table[["precision_top", "spearman_incremental"]].plot.barh(ax=ax)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel("against the planted truth")
        return ax.figure


def evaluate_owners(value: OwnerValue, *, truth: pd.DataFrame,
                    top_share: float = 0.2) -> OwnerEvaluation:
    """Score owner rankings against planted owner truth (``world.truth["owners"]``).

    Parameters
    ----------
    value : OwnerValue
        From :func:`targeting.models.owners.rank_owners`.
    truth : DataFrame
        Index ``group_id``; columns ``influential`` and ``incremental_orders``.
    top_share : float, default 0.2

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=2)
    >>> value = tg.rank_owners(world.tables, world.as_of, n_folds=3, n_estimators=40)
    >>> ev = evaluate_owners(value, truth=world.truth["owners"])
    >>> list(ev.table.columns)
    ['precision_top', 'spearman_incremental', 'spearman_influence']
    """
    missing = [c for c in ("influential", "incremental_orders", "influence")
               if c not in truth.columns]
    if missing:
        raise SchemaError([f"owner truth: missing column(s) {missing}"])
    if not 0 < top_share <= 1:
        raise SchemaError([f"top_share must be in (0, 1], got {top_share}"])
    owners = value.table
    t = truth.reindex(owners.index)
    k = max(1, int(round(top_share * len(owners))))
    rows = {}
    for name, column in RANKINGS.items():
        score = owners[column].to_numpy(float)
        top = np.argsort(-score, kind="stable")[:k]
        rows[name] = {
            "precision_top": float(t.influential.to_numpy()[top].mean()),
            "spearman_incremental": float(stats.spearmanr(score, t.incremental_orders)[0]),
            "spearman_influence": float(stats.spearmanr(score, t.influence)[0])}
    rows["random (expected)"] = {"precision_top": float(t.influential.mean()),
                                 "spearman_incremental": 0.0, "spearman_influence": 0.0}
    inside = ((owners.incremental_low <= t.incremental_orders)
              & (t.incremental_orders <= owners.incremental_high))
    return OwnerEvaluation(pd.DataFrame(rows).T, top_share, float(inside.mean()))


@dataclass
class OwnerPlan:
    """The owners to back under a commission budget, and what they are expected to earn.

    ``totals``: ``owners``, ``cost`` (their commission), ``expected_profit`` (their net value:
    margin x incremental revenue - commission, already money), ``profit_low``,
    ``profit_high``, ``incremental_orders``, ``members_reached`` and ``z``.
    """

    table: pd.DataFrame  # the owners backed, best value per commission first
    totals: pd.Series
    budget: float

    def _repr_html_(self) -> str:
        s = self.totals
        head = (f"<h4>Owner plan: back {int(s.owners):,} owners for {s.cost:,.0f} of "
                f"{self.budget:,.0f} commission</h4><p>expected profit (net value) "
                f"{s.expected_profit:,.0f} (interval {s.profit_low:,.0f} to "
                f"{s.profit_high:,.0f})</p>")
        return head + self.table.head(20).to_html(float_format="{:,.1f}".format)

    def plot(self, ax=None):
        """Cumulative expected net value (with interval) against commission spent."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        o = self.table
        x = o.commission_cost.cumsum()
        ax.plot(x, o.net_value.cumsum(), label="expected net value")
        spread = np.sqrt(o.net_sd.pow(2).cumsum()) * self.totals.z
        ax.fill_between(x, o.net_value.cumsum() - spread, o.net_value.cumsum() + spread,
                        alpha=0.3, label="interval")
        ax.set_xlabel("commission spent (money)")
        ax.set_ylabel("expected profit: net value (money)")
        ax.legend()
        return ax.figure


def plan_owners(value: OwnerValue, *, budget: float, by: str = "net_low") -> OwnerPlan:
    """Back owners, best value per unit of commission first, while the budget lasts.

    An owner's net value is already money: ``margin x incremental revenue - commission``
    (:func:`~targeting.rank_owners`), so the plan weighs each owner's value against their cost
    as :func:`~targeting.plan_campaign` weighs each user's value against each arm's price,
    spends the budget the same way (best value per unit of cost first, skipping who no longer
    fits) and reports its totals in the same words: ``cost``, ``expected_profit``,
    ``profit_low``, ``profit_high``.

    Parameters
    ----------
    value : OwnerValue
    budget : float
        Commission to spend. Each owner's commission is what their referrals cost in the
        window (the same again is expected next).
    by : {"net_low", "net_value"}, default "net_low"
        What an owner is worth to the plan: the lower end of their net-value interval (only
        owners credibly worth more than their commission are backed) or the estimate itself.
        Ranking by the estimate picks the owners whose noise happened to be positive: on the
        default world its backed owners' true incremental orders were a fraction of the
        estimate, while the lower-bound plan's matched it (``benchmarks/community.py``).

    Notes
    -----
    The plan's net value is the sum of the backed owners' estimates, its interval from their
    intervals taken as independent. Owners that do not fit in what is left of the budget are
    skipped; cheaper ones after them may still fit.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=2)
    >>> value = tg.rank_owners(world.tables, world.as_of, n_folds=3, n_estimators=40)
    >>> plan = plan_owners(value, budget=500.0)
    >>> bool(plan.totals.cost <= 500.0)
    True
    """
    if not np.isfinite(budget) or budget <= 0:
        raise SchemaError([f"budget must be a positive amount of commission, got {budget}"])
    if by not in ("net_low", "net_value"):
        raise SchemaError([f"by must be 'net_low' or 'net_value', got {by!r}"])
    z = stats.norm.ppf(0.5 + value.confidence / 2)
    o = value.table[value.table[by] > 0].copy()
    o["net_sd"] = (o.net_high - o.net_low) / (2 * z)
    o["value_per_commission"] = o[by] / o.commission_cost.clip(lower=1.0)
    o = o.sort_values("value_per_commission", ascending=False, kind="stable")
    chosen = o.iloc[spend_budget(np.arange(len(o)), o.commission_cost.to_numpy(), budget)]
    sd = float(np.sqrt((chosen.net_sd ** 2).sum()))
    net = float(chosen.net_value.sum())
    totals = pd.Series({"owners": len(chosen), "cost": float(chosen.commission_cost.sum()),
                         "expected_profit": net, "profit_low": net - z * sd,
                         "profit_high": net + z * sd,
                         "incremental_orders": float(chosen.incremental_orders.sum()),
                         "members_reached": float(chosen.members.sum()), "z": z})
    cols = ["owner_user_id", "members", "lower_tier_share", "commission_cost",
            "incremental_orders", "net_value", "net_low", "net_high", "net_sd"]
    return OwnerPlan(chosen[cols], totals, float(budget))


@dataclass
class PotentialEvaluation:
    """Planted owner potential of the top of each ranking, against the population's."""

    table: pd.DataFrame
    population_mean: float
    n_eligible: int

    def _repr_html_(self) -> str:
        note = (f"precision: mean planted owner potential (the expected share who would run an "
                f"effective group) in the top of {self.n_eligible:,} non-owners; lift: that "
                f"over the population's {self.population_mean:.3f}")
        return (f"<h4>Owner potential against the planted truth</h4><p>{html.escape(note)}"
                "</p>" + self.table.to_html(float_format="{:.3f}".format))

    def plot(self, ax=None):
        """Lift at each size per ranking."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        self.table.filter(like="lift").plot.barh(ax=ax)
        ax.axvline(1, color="grey", lw=0.8)
        ax.set_xlabel("lift over the population")
        return ax.figure


def evaluate_potential(scores: pd.Series, *, truth: pd.Series,
                       baselines: dict[str, pd.Series] | None = None,
                       sizes: tuple[float, ...] = (0.01, 0.05), random_state: int = 0
                       ) -> PotentialEvaluation:
    """Score an owner-potential ranking (and baselines) against the planted potential.

    Parameters
    ----------
    scores : Series
        The ranking to judge (index ``user_id``, higher is better), e.g.
        ``OwnerPotentialModel.scores_``; its index is the eligible population.
    truth : Series
        Planted owner potential per user (``world.truth["owner_potential"]``).
    baselines : dict of str to Series, optional
        Other rankings (e.g. a purchase propensity), restricted to the same users.
    sizes : tuple of float
        Audience sizes as shares of the eligible users.

    Examples
    --------
    >>> import pandas as pd
    >>> truth = pd.Series([0.9, 0.1, 0.5, 0.2], index=[1, 2, 3, 4])
    >>> ev = evaluate_potential(truth, truth=truth, sizes=(0.25,))
    >>> float(ev.table.loc["owner potential", "precision_25%"])
    0.9
    """
    if scores.empty:
        raise SchemaError(["scores: no users to evaluate"])
    index = scores.index
    t = truth.reindex(index)
    if t.isna().any():
        raise SchemaError([f"truth: {int(t.isna().sum())} ranked user(s) have no planted "
                           "potential"])
    rng = np.random.default_rng(random_state)
    rankings = {"owner potential": scores,
                **{name: s.reindex(index) for name, s in (baselines or {}).items()},
                "random": pd.Series(rng.random(len(index)), index=index)}
    mean = float(t.mean())
    rows = {}
    for name, s in rankings.items():
        order = np.argsort(-s.fillna(-np.inf).to_numpy(), kind="stable")
        row = {}
        for size in sizes:
            k = max(1, int(round(size * len(index))))
            precision = float(t.to_numpy()[order[:k]].mean())
            row[f"precision_{size:.0%}"] = precision
            row[f"lift_{size:.0%}"] = precision / mean
        rows[name] = row
    return PotentialEvaluation(pd.DataFrame(rows).T, mean, len(index))


def community_summary(world, *, propensity: pd.Series | None = None,
                      budget: float = 20_000.0, progress: bool = True) -> dict:
    """Owner value, an owner plan and owner potential on a demo world, scored against its truth
    (what ``targeting demo`` prints; ``propensity``: scores to compare the audience with;
    ``progress``: the models' own progress bars)."""
    from targeting.models.owner_potential import OwnerPotentialModel
    from targeting.privacy import PrivacyFloorError

    value = rank_owners(world.tables, world.as_of, progress=progress)
    ev = evaluate_owners(value, truth=world.truth["owners"])
    plan = plan_owners(value, budget=budget)
    out = {"owners": len(value.table), "top": value.top(5), "evaluation": ev.table,
           "coverage": ev.coverage, "confidence": value.confidence, "plan": plan.totals,
           "budget": budget}
    try:
        model = OwnerPotentialModel(progress=progress).fit(world.tables, value)
    except (PrivacyFloorError, InsufficientDataError, ValueError) as err:
        out["potential_skipped"] = str(err).split(";")[0]
        return out
    baselines = {"propensity": propensity} if propensity is not None else None
    pev = evaluate_potential(model.scores_, truth=world.truth["owner_potential"],
                             baselines=baselines)
    out.update(potential=pev.table, potential_seeds=len(model.seeds_),
               potential_eligible=pev.n_eligible)
    return out


def community_lines(s: dict) -> list[str]:
    """The demo's printout of :func:`community_summary`."""
    ev = s["evaluation"]
    lines = [f"\nCommunity owners ({s['owners']:,} group owners): ranking against the planted "
             f"influence (precision in the top 20 %, Spearman with the true increment)"]
    for name, row in ev.iterrows():
        lines.append(f"  {name:<28} {row.precision_top:.3f}  {row.spearman_incremental:+.3f}")
    lines.append(f"  per-owner {s['confidence']:.0%} intervals cover the true increment for "
                 f"{s['coverage']:.0%} of owners")
    top = s["top"]
    lines.append("  top owners: " + "; ".join(
        f"group {g}: {r.members:.0f} members, {r.incremental_orders:+.0f} orders, net "
        f"{r.net_value:,.0f}" for g, r in top.head(3).iterrows()))
    p = s["plan"]
    lines.append(f"  plan for {s['budget']:,.0f} commission: back {p.owners:.0f} owners, expected "
                 f"profit (net value) {p.expected_profit:,.0f} ({p.profit_low:,.0f} to "
                 f"{p.profit_high:,.0f})")
    if "potential_skipped" in s:
        lines.append(f"  owner potential skipped: {s['potential_skipped']}")
        return lines
    lines.append(f"  owner potential ({s['potential_seeds']} seed owners, "
                 f"{s['potential_eligible']:,} members ranked): mean planted potential / lift")
    for name, row in s["potential"].iterrows():
        lines.append(f"  {name:<28} 1 % {row['precision_1%']:.3f} ({row['lift_1%']:.2f}x), "
                     f"5 % {row['precision_5%']:.3f} ({row['lift_5%']:.2f}x)")
    return lines
