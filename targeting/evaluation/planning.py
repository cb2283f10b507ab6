"""Which half of the budget is wasted: plan who to contact to maximise incremental profit.

A contact is worth ``uplift x value_per_conversion - cost_per_contact``. The plan contacts the
users with the highest positive worth, each with their best arm, until the budget is spent,
and sets that against three plans with the same number of contacts: at random, the highest
propensity first (the "sure things" a response model picks), and everyone.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from targeting.data.vocab import CONTROL_ARM

if TYPE_CHECKING:
    from targeting.data.io import CampaignInput
    from targeting.features.campaign import CampaignData

POLICIES = ("uplift", "propensity", "random", "everyone")


@dataclass
class CampaignPlan:
    """A contact plan and what it is expected to add, next to the alternatives.

    With ``calibration`` data, ``expected_*`` come from out-of-fold predictions measured
    against the randomised outcomes (see :func:`plan_campaign`), with an interval; without it,
    they are the model's own predictions summed (``calibrated`` is False) and have none.
    """

    audience: pd.DataFrame  # user_id index: arm, predicted uplift, expected worth, in rank order
    table: pd.DataFrame  # one row per policy: contacts, cost, increments, profit, intervals
    curves: pd.DataFrame  # cumulative predicted incremental outcome by contacts, per policy
    budget: float
    cost_per_contact: float
    calibrated: bool = False
    confidence: float = 0.95
    selections: dict = field(default_factory=dict, repr=False)  # policy -> (rows, arms)
    control: object = CONTROL_ARM

    def _repr_html_(self) -> str:
        note = ("expected increments measured out of fold on the calibration campaign, "
                f"{self.confidence:.0%} intervals" if self.calibrated else
                "expected increments are the model's own predictions, not calibrated: pass "
                "calibration= for honest ones")
        return (f"<h4>Campaign plan: {len(self.audience):,} contacts, budget "
                f"{self.budget:,.0f}</h4><p>{html.escape(note)}</p>"
                + self.table.to_html(float_format=lambda v: f"{v:,.1f}"))

    def plot(self, ax=None):
        """Predicted increment as contacts grow, per policy, with the budget's reach (and the
        calibrated expectation of each policy with its interval)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        for policy in self.curves.columns:
            ax.plot(self.curves.index, self.curves[policy], label=f"{policy} (predicted)")
        if self.calibrated:
            s = self.table
            ax.errorbar(s.contacts, s.expected_incremental,
                        yerr=[s.expected_incremental - s.expected_low,
                              s.expected_high - s.expected_incremental],
                        fmt="o", color="black", capsize=3, label="expected (calibrated)")
        ax.axvline(len(self.audience), color="grey", ls=":", label="the plan's contacts")
        ax.set(xlabel="users contacted", ylabel="incremental outcome",
               title="Who to contact: uplift against propensity and random")
        ax.legend(fontsize=8)
        ax.figure.tight_layout()
        return ax.figure

    def measure(self, y, treatment) -> pd.DataFrame:
        """The increment each policy's contacts actually showed, from randomised outcomes of the
        planned users (e.g. a held-out half of the campaign), against the stated interval.

        Parameters
        ----------
        y, treatment : array
            Outcome and randomised arm of every planned user, in the plan's row order.
        """
        y, arm = np.asarray(y, dtype=float), np.asarray(treatment, dtype=object)
        if len(y) != len(arm):
            raise ValueError(f"y and treatment differ in length: {len(y)} and {len(arm)}")
        z = stats.norm.ppf(0.5 + self.confidence / 2)
        rows = {}
        for policy, (chosen, arms) in self.selections.items():
            if len(y) <= chosen.max(initial=-1):
                raise ValueError(f"y has {len(y)} users; the plan has more")
            picked = np.zeros(len(y), dtype=bool)
            picked[chosen] = True
            recommended = np.full(len(y), None, dtype=object)
            recommended[chosen] = arms
            per, se, _ = measured_increment(y, arm, picked, recommended, self.control)
            n = len(chosen)
            row = {"realised_incremental": per * n, "realised_low": (per - z * se) * n,
                   "realised_high": (per + z * se) * n}
            if self.calibrated:
                s = self.table.loc[policy]
                row["within_stated_interval"] = bool(
                    s.expected_low <= row["realised_incremental"] <= s.expected_high)
            rows[policy] = row
        return pd.DataFrame(rows).T


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


def plan_campaign(model, data, *, budget: float, cost_per_contact: float,
                  value_per_conversion: float | None = None, truth: pd.DataFrame | None = None,
                  calibration: tuple | CampaignData | CampaignInput | None = None,
                  n_folds: int = 5, confidence: float = 0.95,
                  random_state: int = 0) -> CampaignPlan:
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
    calibration : (X, y, treatment), CampaignData or from_campaign result, optional
        A randomised campaign with outcomes, typically the one the model was fitted on. A clone
        of the model is cross-fitted on it (``n_folds`` folds); each policy then contacts the same
        share of those users, ranked by out-of-fold predictions, and the increment their
        randomised outcomes show becomes the expectation. Its interval adds, to the standard
        error of that measurement, the noise of measuring the plan's own contacts the same way
        (a randomised test of the plan), so a held-out measurement falls inside it at the
        stated ``confidence``. Without calibration, the expectation is the model's predictions
        summed, which overstates what the top of a ranking adds (they are its highest
        predictions, noise included).
    n_folds : int, default 5
    confidence : float, default 0.95

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from targeting.models.uplift import UpliftModel
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(3_000, 2)), columns=["a", "b"])
    >>> t = rng.choice(["control", "coupon"], 3_000)
    >>> y = (rng.random(3_000) < 0.1 + 0.3 * (t == "coupon") * (X.a > 1)).astype(int)
    >>> model = UpliftModel("t", n_estimators=30).fit(X, y, t)
    >>> plan = plan_campaign(model, X, budget=500, cost_per_contact=1, value_per_conversion=20,
    ...                      calibration=(X, y, t))
    >>> s = plan.table
    >>> bool(s.expected_profit["uplift"] > s.expected_profit["random"])
    True
    >>> low, mid, high = s.loc["uplift", ["expected_low", "expected_incremental", "expected_high"]]
    >>> bool(low < mid < high)
    True
    """
    X = getattr(data, "X", data)
    if budget <= 0 or cost_per_contact <= 0:
        raise ValueError("budget and cost_per_contact must be positive")
    value = 1.0 if value_per_conversion is None else float(value_per_conversion)
    uplift = model.predict_uplift(X)
    rankings, n = _rankings(uplift, model.predict_outcome(X), value, cost_per_contact, budget,
                            random_state)
    order, best_arm = rankings["uplift"]
    picked = order[:n]
    best = uplift.to_numpy().max(axis=1)
    audience = pd.DataFrame({"arm": best_arm[picked], "uplift": best[picked],
                             "expected_worth": best[picked] * value - cost_per_contact},
                            index=X.index[picked])
    true = None if truth is None else _true_uplift(truth, X.index, uplift.columns)
    summary, curves, selections = {}, {}, {}
    for policy, (rank, arms) in rankings.items():
        gain = _effects(uplift, rank, arms)
        if policy != "everyone":
            curves[policy] = np.r_[0.0, np.cumsum(gain)]
        size = len(X) if policy == "everyone" else n
        summary[policy] = _row(gain[:size], true, rank[:size], arms, value, cost_per_contact)
        selections[policy] = (rank[:size], arms[rank[:size]])
    table = pd.DataFrame(summary).T
    if calibration is not None:
        shares = {p: len(sel[0]) / len(X) for p, sel in selections.items()}
        expected = _calibrated(model, calibration, shares, value, cost_per_contact, budget,
                               n_folds, confidence, random_state)
        table = _with_expectation(table, expected, value, cost_per_contact)
    table["within_budget"] = table.cost <= budget
    return CampaignPlan(audience, table, pd.DataFrame(curves), budget, cost_per_contact,
                        calibration is not None, confidence, selections, model.control)


def _rankings(uplift: pd.DataFrame, outcome: np.ndarray, value, cost, budget, random_state):
    """Each policy's order of users and the arm it sends each; and how many the plan contacts:
    the budget's reach, or fewer when fewer users are worth their cost."""
    best_arm = np.asarray(uplift.columns, dtype=object)[uplift.to_numpy().argmax(axis=1)]
    worth = uplift.to_numpy().max(axis=1) * value - cost
    order = np.argsort(-worth, kind="stable")
    n = int(min(budget // cost, (worth > 0).sum()))
    # The alternatives send everyone the arm that works best on average.
    top_arm = np.full(len(uplift), uplift.mean().idxmax(), dtype=object)
    return {"uplift": (order, best_arm),
            "propensity": (np.argsort(-outcome, kind="stable"), top_arm),
            "random": (np.random.default_rng(random_state).permutation(len(uplift)), top_arm),
            "everyone": (np.arange(len(uplift)), top_arm)}, n


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
        raise ValueError("calibration must be (X, y, treatment), a CampaignData or a from_campaign "
                         "result") from None
    X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    return X, np.asarray(y, dtype=float), np.asarray(arm, dtype=object)


def _calibrated(model, calibration, shares, value, cost, budget, n_folds, confidence,
                random_state) -> dict:
    """Per-contact increment of each policy measured out of fold on the calibration campaign,
    with its standard error and the number of users it rests on."""
    from sklearn.base import clone

    from targeting.evaluation.uplift import splits

    X, y, arm = _calibration_inputs(calibration)
    uplift = pd.DataFrame(index=range(len(X)), columns=model.arms_, dtype=float)
    outcome = np.empty(len(X))
    for fit_rows, pred_rows in splits(arm, n_folds=n_folds, random_state=random_state):
        fold = clone(model).fit(X.iloc[fit_rows], y[fit_rows], arm[fit_rows])
        uplift.iloc[pred_rows] = fold.predict_uplift(X.iloc[pred_rows]).to_numpy()
        outcome[pred_rows] = fold.predict_outcome(X.iloc[pred_rows])
    rankings, _ = _rankings(uplift, outcome, value, cost, budget, random_state)
    out = {}
    for policy, (rank, arms) in rankings.items():
        k = max(1, int(round(shares[policy] * len(X))))
        picked = np.zeros(len(X), dtype=bool)
        picked[rank[:k]] = True
        per, se, used = measured_increment(y, arm, picked, arms, model.control)
        out[policy] = {"per_contact": per, "se": se, "measured_on": k, "z": stats.norm.ppf(
            0.5 + confidence / 2)}
    return out


def _with_expectation(table: pd.DataFrame, expected: dict, value, cost) -> pd.DataFrame:
    table = table.rename(columns={"expected_incremental": "predicted_incremental",
                                  "expected_profit": "predicted_profit"})
    for policy, e in expected.items():
        n = table.loc[policy, "contacts"]
        # The measurement's own error, and that of measuring the plan's n contacts alike.
        se = e["se"] * np.sqrt(1 + e["measured_on"] / max(n, 1))
        mid, half = e["per_contact"] * n, e["z"] * se * n
        table.loc[policy, ["expected_incremental", "expected_low", "expected_high"]] = (
            mid, mid - half, mid + half)
    table["expected_profit"] = table.expected_incremental * value - table.contacts * cost
    table["profit_low"] = table.expected_low * value - table.contacts * cost
    table["profit_high"] = table.expected_high * value - table.contacts * cost
    return table


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
