"""Which half of the budget is wasted: plan who to contact to maximise incremental profit.

A contact is worth ``uplift x value_per_conversion - cost_per_contact``. The plan contacts the
users with the highest positive worth, each with their best arm, until the budget is spent,
and sets that against three plans with the same number of contacts: at random, the highest
propensity first (the "sure things" a response model picks), and everyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

POLICIES = ("uplift", "propensity", "random", "everyone")


@dataclass
class CampaignPlan:
    """A contact plan and what it is expected to add, next to the alternatives."""

    audience: pd.DataFrame  # user_id index: arm, predicted uplift, expected worth, in rank order
    summary: pd.DataFrame  # one row per policy: contacts, cost, incremental conversions, profit
    curves: pd.DataFrame  # cumulative incremental conversions by contacts, per policy
    budget: float
    cost_per_contact: float

    def _repr_html_(self) -> str:
        return (f"<h4>Campaign plan: {len(self.audience):,} contacts, budget "
                f"{self.budget:,.0f}</h4>"
                + self.summary.to_html(float_format=lambda v: f"{v:,.1f}"))

    def plot(self, ax=None):
        """Incremental conversions as contacts grow, per policy, with the budget's reach."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        for policy in self.curves.columns:
            ax.plot(self.curves.index, self.curves[policy], label=policy)
        ax.axvline(len(self.audience), color="grey", ls=":", label="the plan's contacts")
        ax.set(xlabel="users contacted", ylabel="incremental conversions",
               title="Who to contact: uplift against propensity and random")
        ax.legend()
        ax.figure.tight_layout()
        return ax.figure


def plan_campaign(model, data, *, budget: float, cost_per_contact: float,
                  value_per_conversion: float | None = None, truth: pd.DataFrame | None = None,
                  seed: int = 0) -> CampaignPlan:
    """Contact plan under a budget from a fitted :class:`~targeting.UpliftModel`.

    Parameters
    ----------
    model : UpliftModel
        Fitted; its ``predict_uplift`` gives each arm's effect per user.
    data : DataFrame or CampaignData
        Features of the users to plan for (``user_id`` index).
    budget, cost_per_contact : float
        At most ``budget / cost_per_contact`` users are contacted.
    value_per_conversion : float, optional
        Margin of one conversion. Leave out when the model predicts revenue uplift (then the
        uplift is already money).
    truth : DataFrame, optional
        True uplift (``user_id``, ``uplift_<arm>``): adds the true increment of every plan.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from targeting.models.uplift import UpliftModel
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(3_000, 2)), columns=["a", "b"])
    >>> t = rng.choice(["control", "coupon"], 3_000)
    >>> y = (rng.random(3_000) < 0.1 + 0.3 * (t == "coupon") * (X.a > 1)).astype(int)
    >>> model = UpliftModel("t", n_estimators=30).fit(X, y, t)
    >>> plan = plan_campaign(model, X, budget=500, cost_per_contact=1, value_per_conversion=20)
    >>> s = plan.summary.expected_profit
    >>> bool(s["uplift"] > s["random"])
    True
    """
    X = getattr(data, "X", data)
    if budget <= 0 or cost_per_contact <= 0:
        raise ValueError("budget and cost_per_contact must be positive")
    value = 1.0 if value_per_conversion is None else float(value_per_conversion)
    uplift = model.predict_uplift(X)
    best_arm = np.asarray(uplift.columns, dtype=object)[uplift.to_numpy().argmax(axis=1)]
    best = uplift.to_numpy().max(axis=1)
    worth = best * value - cost_per_contact
    order = np.argsort(-worth, kind="stable")
    n = int(min(budget // cost_per_contact, (worth > 0).sum()))
    picked = order[:n]
    audience = pd.DataFrame({"arm": best_arm[picked], "uplift": best[picked],
                             "expected_worth": worth[picked]}, index=X.index[picked])
    # The alternatives send everyone the arm that works best on average.
    top_arm = uplift.mean().idxmax()
    rankings = {"uplift": (order, best_arm),
                "propensity": (np.argsort(-model.predict_outcome(X), kind="stable"),
                               np.full(len(X), top_arm, dtype=object)),
                "random": (np.random.default_rng(seed).permutation(len(X)),
                           np.full(len(X), top_arm, dtype=object))}
    true = None if truth is None else _true_uplift(truth, X.index, uplift.columns)
    summary, curves = {}, {}
    for policy, (rank, arms) in rankings.items():
        gain = _effects(uplift, rank, arms)
        curves[policy] = np.r_[0.0, np.cumsum(gain)]
        summary[policy] = _row(gain[:n], true, rank[:n], arms, value, cost_per_contact)
    everyone = np.arange(len(X))
    summary["everyone"] = _row(_effects(uplift, everyone, rankings["random"][1]), true, everyone,
                               rankings["random"][1], value, cost_per_contact)
    table = pd.DataFrame(summary).T
    table["within_budget"] = table.cost <= budget
    return CampaignPlan(audience, table, pd.DataFrame(curves), budget, cost_per_contact)


def _effects(uplift: pd.DataFrame, rank: np.ndarray, arms: np.ndarray) -> np.ndarray:
    cols = pd.Index(uplift.columns).get_indexer(arms[rank])
    return uplift.to_numpy()[rank, cols]


def _true_uplift(truth: pd.DataFrame, index: pd.Index, arms) -> pd.DataFrame:
    truth = truth.set_index("user_id") if "user_id" in truth.columns else truth
    return pd.DataFrame({a: truth[f"uplift_{a}"].reindex(index).to_numpy() for a in arms})


def _row(gain, true, chosen, arms, value, cost) -> dict:
    row = {"contacts": len(chosen), "cost": len(chosen) * cost,
           "expected_incremental": float(gain.sum()),
           "expected_profit": float(gain.sum() * value - len(chosen) * cost)}
    if true is not None:
        t = _effects(true, chosen, arms)
        row["true_incremental"] = float(np.nansum(t))
        row["true_profit"] = float(np.nansum(t) * value - len(chosen) * cost)
    return row
