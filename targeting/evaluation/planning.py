"""Which half of the budget is wasted: plan who to contact, with which arm, to maximise profit.

A contact with arm ``a`` is worth ``value x uplift(a) - cost(a)``: each user's value (one number,
a value per user or a value model, :mod:`targeting.data.money`) against each arm's price (a
coupon its face value, a push almost nothing). Each user gets the arm of highest expected
profit, never one whose expected profit is not positive; users are ranked (by profit per unit
of cost by default, or by profit) and taken while the budget, in money, lasts. The plan is set
against three plans that spend the same money: at random, the highest propensity first (the
"sure things" a response model picks), and everyone, each sending the arm of best average
profit.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from targeting.data.money import arm_costs, spend_budget, unit_cost, user_values
from targeting.data.schema import SchemaError
from targeting.data.vocab import CONTROL_ARM

if TYPE_CHECKING:
    from targeting.data.io import CampaignInput
    from targeting.data.money import ValueSource
    from targeting.features.campaign import CampaignData

POLICIES = ("uplift", "propensity", "random", "everyone")
# How the plan ranks its users. Measured on the demo world's truth (20,000-user worlds, seeds
# 0-4, benchmarks/plan_costs.py): profit per unit of cost made more true profit at the same
# money budget than profit first; with one price for every arm the two are the same ranking.
RULES = ("profit_per_cost", "profit")
_CURVE_POINTS = 400


@dataclass
class CampaignPlan:
    """A contact plan and what it is expected to earn, next to the alternatives.

    With ``calibration`` data, ``expected_*`` and ``profit_*`` come from out-of-fold predictions
    measured against the randomised outcomes (see :func:`plan_campaign`), with an interval;
    without it, they are the model's own predictions summed (``calibrated`` is False) and the
    interval columns are empty.
    """

    audience: pd.DataFrame  # user_id index: arm, uplift, value, cost, expected_profit, ranked
    table: pd.DataFrame  # one row per policy: contacts, cost, increments, profit, intervals
    curves: pd.DataFrame  # policy, spend, predicted profit: each policy as the budget grows
    budget: float
    costs: dict  # arm -> price of one contact
    calibrated: bool = False
    confidence: float = 0.95
    selections: dict = field(default_factory=dict, repr=False)  # policy -> (rows, arms)
    control: object = CONTROL_ARM
    ranking: pd.DataFrame | None = field(default=None, repr=False)  # all worth contacting
    by: str = "profit_per_cost"
    values: np.ndarray | None = field(default=None, repr=False)  # per row of the plan's data

    def _repr_html_(self) -> str:
        note = ("expected profit measured out of fold on the calibration campaign, "
                f"{self.confidence:.0%} intervals" if self.calibrated else
                "expected profit is the model's own predictions, not calibrated: pass "
                "calibration= for honest ones")
        prices = ", ".join(f"{a} {c:,.2f}" for a, c in self.costs.items())
        spent = self.table.loc["uplift", "cost"]
        return (f"<h4>Campaign plan: {len(self.audience):,} contacts, {spent:,.0f} of a budget "
                f"of {self.budget:,.0f}</h4><p>{html.escape(note)}; cost per contact: "
                f"{html.escape(prices)}; ranked by {self.by.replace('_', ' ')}</p>"
                + self.table.to_html(float_format=lambda v: f"{v:,.1f}"))

    def plot(self, ax=None):
        """Predicted profit as the budget grows, per policy, the chosen budget marked (and the
        calibrated expectation of each policy's plan with its interval)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        for policy, curve in self.curves.groupby("policy", sort=False):
            ax.plot(curve.spend, curve.predicted_profit, label=f"{policy} (predicted)")
        if self.calibrated:
            s = self.table
            ax.errorbar(s.cost, s.expected_profit,
                        yerr=[s.expected_profit - s.profit_low, s.profit_high - s.expected_profit],
                        fmt="o", color="black", capsize=3, label="expected (calibrated)")
        ax.axvline(self.budget, color="grey", ls=":", label="the budget")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(xlabel="budget spent (money)", ylabel="incremental profit (money)",
               title="Profit as the budget grows: uplift against propensity and random")
        ax.legend(fontsize=8)
        ax.figure.tight_layout()
        return ax.figure

    def measure(self, y, treatment) -> pd.DataFrame:
        """What each policy's contacts actually added, from randomised outcomes of the planned
        users (e.g. a held-out half of the campaign), against the stated intervals.

        The realised increment per contact is a difference of means among the users each
        policy picked (those randomised to the arm it recommends against the control), times
        its contacts; the realised profit is the same for outcome x value, minus the contacts'
        costs.

        Parameters
        ----------
        y, treatment : array
            Outcome and randomised arm of every planned user, in the plan's row order.
        """
        y, arm = np.asarray(y, dtype=float), np.asarray(treatment, dtype=object)
        if len(y) != len(arm):
            raise SchemaError([f"y and treatment differ in length: {len(y)} and {len(arm)}"])
        values = np.ones(len(y)) if self.values is None else self.values
        if len(values) != len(y):
            raise SchemaError([f"y has {len(y):,} users; the plan was made for {len(values):,}"])
        z = stats.norm.ppf(0.5 + self.confidence / 2)
        rows = {}
        for policy, (chosen, arms) in self.selections.items():
            picked = np.zeros(len(y), dtype=bool)
            picked[chosen] = True
            recommended = np.full(len(y), None, dtype=object)
            recommended[chosen] = arms
            n, cost = len(chosen), float(self.table.loc[policy, "cost"])
            row = {}
            for name, outcome in (("incremental", y), ("profit", y * values)):
                per, se, _ = measured_increment(outcome, arm, picked, recommended, self.control)
                less = cost if name == "profit" else 0.0
                row[f"realised_{name}"] = per * n - less
                row[f"realised_{name}_low"] = (per - z * se) * n - less
                row[f"realised_{name}_high"] = (per + z * se) * n - less
            if self.calibrated:
                s = self.table.loc[policy]
                row["within_stated_interval"] = bool(
                    s.expected_low <= row["realised_incremental"] <= s.expected_high)
                row["profit_within_interval"] = bool(
                    s.profit_low <= row["realised_profit"] <= s.profit_high)
            rows[policy] = row
        out = pd.DataFrame(rows).T
        flags = [c for c in out.columns if "within" in c]
        return out.astype({c: bool if c in flags else float for c in out.columns})


def measured_increment(y, arm, picked, recommended, control) -> tuple[float, float, int]:
    """Per-contact increment among ``picked`` users of a randomised campaign, with its standard
    error: for each recommended arm, the mean outcome of those randomised to it minus that of
    those randomised to the control (a plain difference of means), weighted by how many were
    recommended it. Arms with fewer than two users on either side are left out (the weights
    renormalised); the third value counts the users whose arm informed the estimate."""
    total = picked.sum()
    effects, variances, weights, used = [], [], [], 0
    for a in pd.unique(recommended[picked]):
        group = picked & (recommended == a)
        y_t, y_c = y[group & (arm == a)], y[group & (arm == control)]
        if len(y_t) < 2 or len(y_c) < 2:
            continue
        effects.append(y_t.mean() - y_c.mean())
        variances.append(y_t.var(ddof=1) / len(y_t) + y_c.var(ddof=1) / len(y_c))
        weights.append(group.sum() / total)
        used += len(y_t) + len(y_c)
    if not weights:
        return float("nan"), float("nan"), 0
    w = np.asarray(weights) / np.sum(weights)
    return float(w @ effects), float(np.sqrt(w**2 @ variances)), used


def plan_campaign(model, data, *, budget: float,
                  cost_per_contact: float | Mapping[str, float],
                  value_per_conversion: float | pd.Series | ValueSource | None = None,
                  truth: pd.DataFrame | None = None,
                  calibration: tuple | CampaignData | CampaignInput | None = None,
                  by: str = "profit_per_cost", n_folds: int = 5, confidence: float = 0.95,
                  random_state: int = 0) -> CampaignPlan:
    """Contact plan under a money budget from a fitted :class:`~targeting.UpliftModel`.

    Each user gets the arm of highest expected profit, ``value x uplift(arm) - cost(arm)``,
    and is left out when no arm's expected profit is positive. Users are ranked by ``by`` and
    taken in that order while the budget lasts: the budget is money, each contact costs its
    arm's price, and a user whose arm no longer fits is skipped (cheaper ones after them may
    still fit). With one price for every arm the budget buys ``budget // price`` contacts.

    Parameters
    ----------
    model : UpliftModel
        Fitted; its ``predict_uplift`` gives each arm's effect per user.
    data : DataFrame or CampaignData
        Features of the users to plan for (``user_id`` index).
    budget : float
        Money to spend on contacts.
    cost_per_contact : float or dict of arm to float
        Price of one contact: one for every arm, or one per arm (``{"coupon": 5.0, "push":
        0.01}``; every treatment arm of the model must be priced).
    value_per_conversion : float, Series or value model, optional
        What one conversion is worth: a margin for everyone, a ``Series`` of values indexed by
        ``user_id`` (an expected order value, a customer value), or a value model with
        ``predict_value(X)`` (:class:`~targeting.data.money.ValueSource`). Leave out when the
        model predicts revenue uplift (then the uplift is already money).
    truth : DataFrame, optional
        True uplift (``user_id``, ``uplift_<arm>``): adds the true increment and the true
        profit (the users' values x the true uplift of the arm sent, minus the costs) of every
        plan.
    calibration : (X, y, treatment), CampaignData or from_campaign result, optional
        A randomised campaign with outcomes, typically the one the model was fitted on. A clone
        of the model is cross-fitted on it (``n_folds`` folds); each policy then spends the
        same share of the budget there (the same share of users when every arm costs the
        same), ranked by out-of-fold predictions, and what their randomised outcomes show (the
        outcome for the increment, outcome x value for the profit) becomes the expectation.
        Its interval adds, to the standard error of that measurement, the noise of measuring
        the plan's own contacts the same way (a randomised test of the plan), so a held-out
        measurement falls inside it at the stated ``confidence``. The costs are known, so the
        profit's interval is the money increment's, less them. Values per user must cover the
        calibration users too. Without calibration, the expectation is the model's predictions
        summed, which overstates what the top of a ranking adds (they are its highest
        predictions, noise included).
    by : {"profit_per_cost", "profit"}, default "profit_per_cost"
        The greedy rule: rank users by expected profit per unit of their arm's cost (the
        budget buys the most profit per unit spent first), or by expected profit. On the demo
        world's truth profit per cost made more true profit at the same budget (README,
        ``benchmarks/plan_costs.py``). With one price for every arm they are the same.
    n_folds : int, default 5
    confidence : float, default 0.95
    random_state : int, default 0
        Seeds the random plan and the calibration folds.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from targeting.models.uplift import UpliftModel
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(3_000, 2)), columns=["a", "b"])
    >>> t = rng.choice(["control", "coupon", "push"], 3_000)
    >>> p = 0.1 + 0.3 * (t == "coupon") * (X.a > 1) + 0.2 * (t == "push") * (X.b > 1)
    >>> y = (rng.random(3_000) < p).astype(int)
    >>> model = UpliftModel("t", n_estimators=30, min_child_samples=50, progress=False)
    >>> model = model.fit(X, y, t)
    >>> plan = plan_campaign(model, X, budget=100, cost_per_contact={"coupon": 2.0, "push": 0.1},
    ...                      value_per_conversion=20, calibration=(X, y, t))
    >>> a = plan.audience  # each user's arm, value, cost and expected profit, best first
    >>> bool(round(a.cost.sum(), 2) <= 100 and (a.expected_profit > 0).all())
    True
    >>> low, mid, high = plan.table.loc["uplift", ["profit_low", "expected_profit", "profit_high"]]
    >>> bool(low < mid < high)
    True
    """
    X = getattr(data, "X", data)
    _check(budget, by, n_folds, confidence)
    uplift = model.predict_uplift(X)
    costs = arm_costs(cost_per_contact, uplift.columns)
    values = user_values(value_per_conversion, X)
    prices = np.array([costs[a] for a in uplift.columns])
    policies = _policies(uplift, model.predict_outcome(X), values, prices, by, random_state)
    selections = _select(policies, budget, unit_cost(costs))
    true = None if truth is None else _true_uplift(truth, X.index, uplift.columns)
    table = pd.DataFrame({
        p: _row(uplift, true, values, policies[p], selections[p]) for p in POLICIES}).T
    if calibration is not None:
        expected = _calibrated(model, calibration, value_per_conversion, table, len(X), prices,
                               by, n_folds, confidence, random_state)
        table = _with_expectation(table, expected)
    table["within_budget"] = table.cost <= budget * (1 + 1e-9)
    ranking = _ranking(X.index, uplift, values, policies["uplift"],
                       selections["uplift"])
    chosen = {p: (rows, policies[p].arms[rows]) for p, rows in selections.items()}
    return CampaignPlan(ranking[ranking.planned].drop(columns="planned"), table,
                        _curves(uplift, values, policies), float(budget), costs,
                        calibration is not None, confidence, chosen, model.control,
                        ranking, by, values)


def _check(budget, by, n_folds, confidence) -> None:
    problems = []
    if isinstance(budget, bool) or not isinstance(budget, int | float | np.number) or \
            not np.isfinite(budget) or budget <= 0:
        problems.append(f"budget must be a positive amount of money, got {budget!r}")
    if by not in RULES:
        problems.append(f"by must be one of {list(RULES)}, got {by!r}")
    if int(n_folds) < 2:
        problems.append(f"n_folds must be at least 2, got {n_folds}")
    if not 0 < confidence < 1:
        problems.append(f"confidence must be between 0 and 1, got {confidence}")
    if problems:
        raise SchemaError(problems)


@dataclass
class _Policy:
    order: np.ndarray  # users (row positions) in priority order; the uplift policy: only those
    # worth their cost
    arms: np.ndarray  # the arm each user would get
    cost: np.ndarray  # what that contact costs


def _policies(uplift: pd.DataFrame, outcome: np.ndarray, values: np.ndarray, prices, by,
              random_state) -> dict[str, _Policy]:
    """Each policy's order of users, the arm it sends each and its cost."""
    arms = np.asarray(uplift.columns, dtype=object)
    profit = values[:, None] * uplift.to_numpy() - prices[None, :]
    best = profit.argmax(axis=1)
    gain = profit[np.arange(len(profit)), best]
    # With one price the two rules are one ranking (a ratio would only add rounding ties).
    key = gain / prices[best] if by == "profit_per_cost" and np.ptp(prices) > 0 else gain
    order = np.argsort(-key, kind="stable")
    # The alternatives send everyone the arm that earns most on average.
    top = int(profit.mean(axis=0).argmax())
    top_arm = np.full(len(uplift), arms[top], dtype=object)
    top_cost = np.full(len(uplift), prices[top])
    random = np.random.default_rng(random_state).permutation(len(uplift))
    return {"uplift": _Policy(order[gain[order] > 0], arms[best], prices[best]),
            "propensity": _Policy(np.argsort(-outcome, kind="stable"), top_arm, top_cost),
            "random": _Policy(random, top_arm, top_cost),
            "everyone": _Policy(np.arange(len(uplift)), top_arm, top_cost)}


def _select(policies: dict[str, _Policy], budget: float,
            unit: float | None) -> dict[str, np.ndarray]:
    """The users each policy contacts: the uplift policy while ``budget`` lasts, the
    alternatives with as much money as it spent (as many contacts, with one price), everyone."""
    uplift = policies["uplift"]
    if unit is not None:
        planned = uplift.order[:int(budget // unit)]
        return {"uplift": planned, "propensity": policies["propensity"].order[:len(planned)],
                "random": policies["random"].order[:len(planned)],
                "everyone": policies["everyone"].order}
    planned = spend_budget(uplift.order, uplift.cost, budget)
    money = _spent(uplift, planned)
    return {"uplift": planned,
            **{p: spend_budget(policies[p].order, policies[p].cost, money)
               for p in ("propensity", "random")},
            "everyone": policies["everyone"].order}


def _spent(policy: _Policy, rows: np.ndarray) -> float:
    return float(policy.cost[rows].sum())


def _row(uplift, true, values, policy: _Policy, rows: np.ndarray) -> dict:
    gain = _effects(uplift, rows, policy.arms)
    cost = _spent(policy, rows)
    row = {"contacts": len(rows), "cost": cost, "expected_incremental": float(gain.sum()),
           "expected_profit": float(values[rows] @ gain - cost),
           "expected_low": np.nan, "expected_high": np.nan, "profit_low": np.nan,
           "profit_high": np.nan}
    if true is not None:
        t = np.nan_to_num(_effects(true, rows, policy.arms))
        row["true_incremental"] = float(t.sum())
        row["true_profit"] = float(values[rows] @ t - cost)
    return row


def _ranking(index, uplift, values, policy: _Policy, planned: np.ndarray) -> pd.DataFrame:
    """Every user worth contacting, in the plan's order, and whether the budget reached them."""
    rows = policy.order
    gain = _effects(uplift, rows, policy.arms)
    cost = policy.cost[rows]
    return pd.DataFrame({"arm": policy.arms[rows], "uplift": gain, "value": values[rows],
                         "cost": cost, "expected_profit": values[rows] * gain - cost,
                         "planned": np.isin(rows, planned)}, index=index[rows])


def _curves(uplift, values, policies: dict[str, _Policy]) -> pd.DataFrame:
    """Cumulative spend and predicted profit along each policy's order (a few hundred points
    each): what each budget would buy."""
    parts = []
    for name, p in policies.items():
        if name == "everyone":
            continue
        gain = values[p.order] * _effects(uplift, p.order, p.arms) - p.cost[p.order]
        spend, profit = np.r_[0.0, np.cumsum(p.cost[p.order])], np.r_[0.0, np.cumsum(gain)]
        keep = np.unique(np.linspace(0, len(spend) - 1, _CURVE_POINTS).astype(int))
        parts.append(pd.DataFrame({"policy": name, "spend": spend[keep],
                                   "predicted_profit": profit[keep]}))
    return pd.concat(parts, ignore_index=True)


def _calibration_inputs(calibration):
    if hasattr(calibration, "campaign") and hasattr(calibration, "covariates"):
        rows = calibration.campaign
        return (calibration.covariates, rows[calibration.outcomes[0]].to_numpy(float),
                rows.arm.astype(str).to_numpy(dtype=object))
    if hasattr(calibration, "X") and hasattr(calibration, "treatment"):
        return calibration.X, np.asarray(calibration.y, dtype=float), calibration.treatment
    try:
        X, y, arm = calibration
    except (TypeError, ValueError):
        raise SchemaError(["calibration must be (X, y, treatment), a CampaignData or a "
                           "from_campaign result"]) from None
    X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    return X, np.asarray(y, dtype=float), np.asarray(arm, dtype=object)


def _calibrated(model, calibration, value_per_conversion, table: pd.DataFrame, n_plan: int,
                prices, by, n_folds, confidence, random_state) -> dict:
    """Per-contact increment (outcome, and outcome x value) of each policy measured out of
    fold on the calibration campaign, with standard errors and the users they rest on."""
    from sklearn.base import clone

    from targeting.evaluation.uplift import splits

    X, y, arm = _calibration_inputs(calibration)
    values = user_values(value_per_conversion, X)
    uplift = pd.DataFrame(index=range(len(X)), columns=model.arms_, dtype=float)
    outcome = np.empty(len(X))
    for fit_rows, pred_rows in splits(arm, n_folds=n_folds, random_state=random_state):
        fold = clone(model).fit(X.iloc[fit_rows], y[fit_rows], arm[fit_rows])
        uplift.iloc[pred_rows] = fold.predict_uplift(X.iloc[pred_rows]).to_numpy()
        outcome[pred_rows] = fold.predict_outcome(X.iloc[pred_rows])
    policies = _policies(uplift, outcome, values, prices, by, random_state)
    if np.ptp(prices) == 0:  # one price: the same share of users
        chosen = {p: policies[p].order[:max(1, int(round(
            table.loc[p, "contacts"] / n_plan * len(X))))] for p in policies}
    else:  # the same share of the money each policy spent
        scale = len(X) / n_plan
        chosen = {p: spend_budget(policies[p].order, policies[p].cost,
                                  table.loc[p, "cost"] * scale) for p in POLICIES[:3]}
        chosen["everyone"] = policies["everyone"].order
    z = stats.norm.ppf(0.5 + confidence / 2)
    out = {}
    for name, rows in chosen.items():
        picked = np.zeros(len(X), dtype=bool)
        picked[rows] = True
        arms = policies[name].arms
        per, se, _ = measured_increment(y, arm, picked, arms, model.control)
        money, money_se, _ = measured_increment(y * values, arm, picked, arms, model.control)
        out[name] = {"per_contact": per, "se": se, "money": money, "money_se": money_se,
                     "measured_on": max(len(rows), 1), "z": z}
    return out


def _with_expectation(table: pd.DataFrame, expected: dict) -> pd.DataFrame:
    table = table.rename(columns={"expected_incremental": "predicted_incremental",
                                  "expected_profit": "predicted_profit"})
    for policy, e in expected.items():
        n, cost = table.loc[policy, "contacts"], table.loc[policy, "cost"]
        # The measurement's own error, and that of measuring the plan's n contacts alike.
        widen = np.sqrt(1 + e["measured_on"] / max(n, 1)) * e["z"] * n
        mid, half = e["per_contact"] * n, e["se"] * widen
        table.loc[policy, ["expected_incremental", "expected_low", "expected_high"]] = (
            mid, mid - half, mid + half)
        mid, half = e["money"] * n - cost, e["money_se"] * widen
        table.loc[policy, ["expected_profit", "profit_low", "profit_high"]] = (
            mid, mid - half, mid + half)
    first = ["contacts", "cost", "expected_incremental", "expected_profit", "expected_low",
             "expected_high", "profit_low", "profit_high"]
    return table[[*first, *(c for c in table.columns if c not in first)]]


def _effects(uplift: pd.DataFrame, rows: np.ndarray, arms: np.ndarray) -> np.ndarray:
    cols = pd.Index(uplift.columns).get_indexer(arms[rows])
    return uplift.to_numpy()[rows, cols]


def _true_uplift(truth: pd.DataFrame, index: pd.Index, arms) -> pd.DataFrame:
    truth = truth.set_index("user_id") if "user_id" in truth.columns else truth
    missing = [f"uplift_{a}" for a in arms if f"uplift_{a}" not in truth.columns]
    if missing:
        raise SchemaError([f"truth: missing column(s) {missing}; one uplift_<arm> per arm"])
    return pd.DataFrame({a: truth[f"uplift_{a}"].reindex(index).to_numpy() for a in arms})
