"""Evaluating uplift models: per-arm Qini and uplift curves, the recommended-arm policy, and a
comparison of learners against the oracle, a propensity model and random targeting.

Every learner is scored on users its models never saw: out of fold (cross-fitting), so the whole
campaign serves as the test set, or on a fixed holdout (``holdout=0.5``). Metric conventions are
those of :mod:`targeting.evaluation.metrics` (scikit-uplift's normalisation by default).

The *policy* Qini evaluates the multi-arm decision itself (Zhao et al. 2017): users are ranked
by their best arm's predicted uplift and compared, among those who were randomised to exactly
that arm, against the control group.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pandas as pd
import sklearn
from sklearn.metrics import make_scorer
from sklearn.model_selection import StratifiedKFold
from tqdm.auto import tqdm

from targeting.data.schema import SchemaError
from targeting.evaluation import uplift_metrics as m

if TYPE_CHECKING:
    from targeting.data.io import CampaignInput
    from targeting.features.campaign import CampaignData

TOP_FRACTIONS = (0.1, 0.3)


@dataclass
class UpliftEvaluation:
    """Per-arm and policy uplift metrics of one set of scores, with bootstrap intervals."""

    label: str
    table: pd.DataFrame  # one row per arm plus "policy": qini, auuc, uplift@k, intervals
    curves: dict = field(default_factory=dict)  # arm -> (n, qini) arrays, scaled to 0..1 in n
    deciles: pd.DataFrame | None = None  # policy uplift by decile

    @property
    def policy_qini(self) -> float:
        return float(self.table.loc["policy", "qini"])

    def _repr_html_(self) -> str:
        return (f"<h4>{html.escape(self.label)}</h4>"
                + self.table.to_html(float_format=lambda v: f"{v:.4f}"))

    def plot(self, ax=None):
        """Qini curve of each arm and of the policy, and uplift by decile of the policy."""
        import matplotlib.pyplot as plt

        axes = ax
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        ax, bars = axes
        for name, (x, q) in self.curves.items():
            ax.plot(x, q, label=name)
        ax.plot([0, 1], [0, 0], color="grey", lw=0.8)
        ax.set(xlabel="share of users targeted (by predicted uplift)",
               ylabel="incremental outcomes per user", title="Qini curves")
        ax.legend()
        if self.deciles is not None:
            bars.bar(self.deciles.index, self.deciles.uplift, color="tab:green")
            bars.set(xlabel="decile of predicted uplift (1 = highest)",
                     ylabel="treated minus control rate", title="Uplift by decile (policy)")
        ax.figure.suptitle(self.label, fontsize=10)
        ax.figure.tight_layout()
        return ax.figure


def _arm_rows(arm: np.ndarray, name, control) -> np.ndarray:
    return (arm == name) | (arm == control)


def _metrics_row(y, score, treated, n_bootstrap: int, random_state: int) -> dict:
    row = {"qini": m.qini_coefficient(y, score, treated),
           "auuc": m.auuc(y, score, treated)}
    for k in TOP_FRACTIONS:
        row[f"uplift@{int(k * 100)}%"] = m.uplift_at_k(y, score, treated, k=k)
    if n_bootstrap:
        (row["qini_low"], row["qini_high"]), (row["auuc_low"], row["auuc_high"]) = (
            m.bootstrap_interval((m.qini_coefficient, m.auuc), y, score, treated,
                                 n_bootstrap=n_bootstrap, random_state=random_state))
    row["users"] = len(y)
    return row


def _scaled_curve(y, score, treated, points: int = 200):
    x, q = m.qini_curve(y, score, treated)
    keep = np.unique(np.linspace(0, len(x) - 1, points).astype(int))
    return x[keep] / x[-1], q[keep] / x[-1]


def policy_rows(arm: np.ndarray, scores: pd.DataFrame, control) -> tuple[np.ndarray, np.ndarray]:
    """Users randomised to their recommended arm or to the control, and each one's best
    predicted uplift: the data the policy Qini is computed on."""
    S = scores.to_numpy(dtype=float)
    best = np.asarray(scores.columns, dtype=object)[S.argmax(axis=1)]
    rows = (arm == best) | (arm == control)
    return rows, S.max(axis=1)


def evaluate_uplift(y, treatment, scores: pd.DataFrame, *, control="control",
                    label: str = "model", n_bootstrap: int = 100,
                    random_state: int = 0) -> UpliftEvaluation:
    """Qini coefficient, AUUC and uplift at 10 %/30 % per arm and for the policy.

    Parameters
    ----------
    y : array
        Observed outcome (conversion or revenue) of every campaign user.
    treatment : array
        The arm each user was randomised to.
    scores : DataFrame
        Predicted uplift, one column per treatment arm (``UpliftModel.predict_uplift``).
    n_bootstrap : int, default 100
        Bootstrap draws for the Qini interval (0 to skip).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=3_000)
    >>> arm = rng.choice(["control", "coupon"], 3_000)
    >>> y = (rng.random(3_000) < 0.1 + 0.2 * (arm == "coupon") * (x > 0)).astype(int)
    >>> result = evaluate_uplift(y, arm, pd.DataFrame({"coupon": x}), n_bootstrap=0)
    >>> bool(result.policy_qini > 0.2)
    True
    """
    y, arm = np.asarray(y, dtype=float), np.asarray(treatment, dtype=object)
    rows, curves = {}, {}
    for name in scores.columns:
        sel = _arm_rows(arm, name, control)
        treated = (arm[sel] == name).astype(int)
        s = scores[name].to_numpy(dtype=float)[sel]
        rows[name] = _metrics_row(y[sel], s, treated, n_bootstrap, random_state)
        curves[name] = _scaled_curve(y[sel], s, treated)
    sel, best = policy_rows(arm, scores, control)
    treated = (arm[sel] != control).astype(int)
    rows["policy"] = _metrics_row(y[sel], best[sel], treated, n_bootstrap, random_state)
    curves["policy"] = _scaled_curve(y[sel], best[sel], treated)
    deciles = m.uplift_by_decile(y[sel], best[sel], treated)
    return UpliftEvaluation(label, pd.DataFrame(rows).T, curves, deciles)


# -- comparing learners ---------------------------------------------------------------------------
LEARNER_NAMES = ("s", "t", "x", "class_transformation", "dr")


@dataclass
class UpliftComparison:
    """Learners side by side, out of fold or on a holdout, against the oracle, a propensity
    model and random targeting."""

    table: pd.DataFrame  # one row per scorer: policy qini, per-arm qini, share of the oracle
    evaluations: dict[str, UpliftEvaluation]
    predictions: dict[str, pd.DataFrame]  # predicted uplift of the evaluated users per learner
    best: str
    models: dict = field(default_factory=dict)  # learner -> UpliftModel; cross-fitting: the
    #                    best refitted on every user; holdout: each fitted on the fitting part
    campaign_id: str | None = None
    split: str = "2-fold cross-fitting"  # how the evaluated users were kept from the models
    evaluated: pd.Index | None = None  # the users the table is measured on

    def _repr_html_(self) -> str:
        return (f"<h4>Uplift learners, campaign {html.escape(str(self.campaign_id))} "
                f"(best: {html.escape(self.best)}; {html.escape(self.split)})</h4>"
                + self.table.to_html(float_format=lambda v: f"{v:.3f}"))

    def plot(self, ax=None):
        """Policy Qini curves of every scorer, with the oracle and random lines."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        for name, evaluation in self.evaluations.items():
            x, q = evaluation.curves["policy"]
            style = {"oracle": dict(color="black", ls="--"),
                     "random": dict(color="grey", ls=":")}.get(name, {})
            ax.plot(x, q, label=f"{name} ({evaluation.policy_qini:.3f})", **style)
        ax.set(xlabel="share of users targeted", ylabel="incremental outcome per user",
               title=f"Qini curves of the recommended-arm policy ({self.split})")
        ax.legend(fontsize=8)
        ax.figure.tight_layout()
        return ax.figure


def splits(treatment, *, n_folds: int | None = 2, holdout: float | None = None,
           random_state: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(fit_rows, predict_rows)`` pairs, stratified by arm: ``n_folds`` cross-fitting
    folds, or one split that keeps a ``holdout`` share of the users for evaluation."""
    from sklearn.model_selection import train_test_split

    strata = np.asarray(treatment).astype(str)
    if holdout is not None:
        if not 0 < holdout < 1:
            raise ValueError(f"holdout must be a share in (0, 1), got {holdout}")
        fit, pred = train_test_split(np.arange(len(strata)), test_size=holdout,
                                     stratify=strata, random_state=random_state)
        return [(np.sort(fit), np.sort(pred))]
    if n_folds is None or int(n_folds) < 2:
        raise ValueError(f"n_folds must be an integer of at least 2, got {n_folds}")
    splitter = StratifiedKFold(n_splits=int(n_folds), shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(len(strata)), strata))


def cross_fit(model, X: pd.DataFrame, y, treatment, *, n_folds: int = 2,
              random_state: int = 0, fit_final: bool = True,
              split: list | None = None) -> tuple[pd.DataFrame, object]:
    """Predicted uplift of ``model`` (a fresh clone per fold) for every user of a held-out
    part (``split``, default ``n_folds`` cross-fitting folds, so every user), and ``model``
    refitted on everyone when ``fit_final``. Rows never held out are left out."""
    from sklearn.base import clone

    out, held, arm = None, [], np.asarray(treatment)
    for fit_rows, pred_rows in split or splits(arm, n_folds=n_folds,
                                               random_state=random_state):
        fold_model = clone(model).fit(X.iloc[fit_rows], y[fit_rows], arm[fit_rows])
        pred = fold_model.predict_uplift(X.iloc[pred_rows])
        if out is None:
            out = pd.DataFrame(np.nan, index=X.index, columns=pred.columns)
        out.iloc[pred_rows] = pred.to_numpy()
        held.append(pred_rows)
    final = clone(model).fit(X, y, arm) if fit_final else None
    return out.iloc[np.sort(np.concatenate(held))], final


def _response_scores(X, y, arms, split, categorical, random_state: int) -> pd.DataFrame:
    """A propensity model's ranking: held-out P(convert) (or expected amount), the same for
    every arm."""
    binary = np.isin(y, (0.0, 1.0)).all()
    kind = lgb.LGBMClassifier if binary else lgb.LGBMRegressor
    from targeting.models.uplift import _learn_categories

    X = X.astype({c: "category" for c in _learn_categories(X)})  # LightGBM's own categories
    parts = []
    for fit_rows, pred_rows in split:
        model = kind(n_estimators=200, learning_rate=0.05, num_leaves=15, verbosity=-1,
                     min_child_samples=100, random_state=random_state, n_jobs=1)
        X_fit, X_pred = X.iloc[fit_rows], X.iloc[pred_rows]
        model.fit(X_fit, y[fit_rows], categorical_feature=categorical or "auto")
        p = model.predict_proba(X_pred)[:, 1] if binary else model.predict(X_pred)
        parts.append(pd.Series(p, index=pred_rows))
    p = pd.concat(parts).sort_index()
    return pd.DataFrame({a: p.to_numpy() for a in arms}, index=X.index[p.index])


def _campaign_inputs(data, y, arm, outcome, control, categorical_feature):
    """(X, y, arm, control, categorical, campaign_id, learners-in-y) from any accepted input."""
    if hasattr(data, "campaign") and hasattr(data, "covariates"):  # a from_campaign result
        name = outcome or data.outcomes[0]
        if name not in data.campaign.columns:
            raise SchemaError([f"no outcome {name!r} in the campaign; it has {data.outcomes}"])
        rows = data.campaign
        return (data.covariates, rows[name].to_numpy(float), rows.arm.astype(str).to_numpy(
            dtype=object), data.control, categorical_feature,
                str(rows.campaign_id.iloc[0]), y)
    if hasattr(data, "pipeline") and hasattr(data, "treatment"):  # CampaignData
        categorical = (data.categorical_features if data.pipeline is not None
                       else categorical_feature)
        return (data.X, data.y, data.treatment, data.control, categorical, data.campaign_id, y)
    if y is None or arm is None:
        raise SchemaError(["compare_uplift needs X, y and treatment (or a CampaignData, or a "
                           "from_campaign result)"])
    X = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data))
    arm = np.asarray(arm, dtype=object)
    try:
        y = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise SchemaError(["y must be numeric: 0/1 conversions or an amount"]) from None
    if not (len(X) == len(y) == len(arm)):
        raise SchemaError([f"X, y and treatment differ in length: {len(X)}, {len(y)}, "
                           f"{len(arm)}"])
    return X, y, arm, control, categorical_feature, None, None


def compare_uplift(data: pd.DataFrame | np.ndarray | CampaignData | CampaignInput,
                   y: np.ndarray | pd.Series | Sequence[str] | None = None,
                   treatment: np.ndarray | pd.Series | None = None,
                   learners: Sequence[str] = LEARNER_NAMES, *,
                   outcome: str | None = None, control="control", holdout: float | None = None,
                   n_folds: int | None = None, truth: pd.DataFrame | None = None,
                   random_state: int = 0,
                   n_bootstrap: int = 100, progress: bool = True,
                   categorical_feature: list[str] | None = None,
                   **model_params) -> UpliftComparison:
    """Fit each learner away from the users it is scored on, and rank them by the policy Qini.

    Parameters
    ----------
    data : DataFrame, CampaignData or CampaignInput
        Pre-campaign covariates ``X`` (then pass ``y`` and ``treatment``); or a
        :func:`~targeting.features.campaign.campaign_dataset`; or a
        :func:`~targeting.from_campaign` result (``outcome`` picks its outcome column, default
        ``converted``). Text and category columns of ``X`` are LightGBM categories.
    y, treatment : array, optional
        Outcome (0/1 or an amount) and randomised arm of every user, with ``X``. (With a
        ``CampaignData``, a list of learner names in second place is read as ``learners``.)
    learners : sequence of str
        :class:`~targeting.models.uplift.UpliftModel` learners to compare.
    control : default "control"
        The control arm's label (a CampaignData or from_campaign result carries its own).
    holdout : float, optional
        Keep this share of users (stratified by arm) out of every fit and score the learners on
        them only: a fixed holdout. The models returned are those fitted on the rest.
    n_folds : int, optional
        Cross-fitting folds instead (default 2 when neither is given): every user is scored by a
        model that never saw them; the best learner is then refitted on everyone.
    truth : DataFrame, optional
        True uplift per user (``user_id`` and ``uplift_<arm>`` columns, as the demo world's
        ``truth["uplift"]``): adds the oracle, which ranks by the true effect.
    **model_params
        Passed to every :class:`UpliftModel` (e.g. LightGBM parameters).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=4_000), "city": rng.choice(["x", "y"], 4_000)})
    >>> arm = rng.choice(["control", "mail"], 4_000)
    >>> y = (rng.random(4_000) < 0.1 + 0.2 * (arm == "mail") * (X.a > 0)).astype(int)
    >>> result = compare_uplift(X, y, arm, ("t",), holdout=0.5, n_bootstrap=0, progress=False,
    ...                         n_estimators=30)
    >>> len(result.evaluated), bool(result.table.loc["t", "policy_qini"] > 0.1)
    (2000, True)
    """
    from targeting.models.uplift import UpliftModel

    X, y, arm, control, categorical, campaign_id, learners_in_y = _campaign_inputs(
        data, y, treatment, outcome, control, categorical_feature)
    if learners_in_y is not None:
        learners = [learners_in_y] if isinstance(learners_in_y, str) else learners_in_y
    learners = list(learners)
    if holdout is not None and n_folds is not None:
        raise ValueError("pass holdout= or n_folds=, not both")
    split = splits(arm, n_folds=n_folds or 2, holdout=holdout, random_state=random_state)
    arms = sorted(set(arm.tolist()) - {control}, key=str)
    scorers, models = {}, {}
    bar = tqdm(learners, desc="uplift learners", disable=not progress)
    for learner in bar:
        bar.set_postfix_str(learner)
        model = UpliftModel(learner, control=control, random_state=random_state, progress=False,
                            categorical_feature=categorical, **model_params)
        if holdout is not None:
            fit_rows, pred_rows = split[0]
            model.fit(X.iloc[fit_rows], y[fit_rows], arm[fit_rows])
            scorers[learner] = model.predict_uplift(X.iloc[pred_rows])
        else:
            scorers[learner], _ = cross_fit(model, X, y, arm, split=split, fit_final=False)
        models[learner] = model
    rows = np.sort(np.concatenate([p for _, p in split]))
    evaluated = X.index[rows]
    scorers["propensity"] = _response_scores(X, y, arms, split, _categorical_names(X, categorical),
                                             random_state)
    rng = np.random.default_rng(random_state)
    scorers["random"] = pd.DataFrame({a: rng.random(len(rows)) for a in arms}, index=evaluated)
    if truth is not None:
        scorers["oracle"] = _oracle_scores(truth, evaluated, arms)
    evaluations = {name: evaluate_uplift(y[rows], arm[rows], s.set_axis(evaluated),
                                         control=control, label=name, n_bootstrap=n_bootstrap,
                                         random_state=random_state)
                   for name, s in scorers.items()}
    table = _comparison_table(evaluations, arms)
    best = table.loc[learners, "policy_qini"].idxmax()
    if holdout is None:
        models[best].fit(X, y, arm)  # only the winner is worth a final fit
    how = (f"holdout of {holdout:.0%} ({len(rows):,} users)" if holdout is not None
           else f"{len(split)}-fold cross-fitting")
    return UpliftComparison(table, evaluations, {k: scorers[k] for k in learners}, best,
                            models, campaign_id, how, evaluated)


def _categorical_names(X: pd.DataFrame, named) -> list[str]:
    """Named categorical columns plus text/category ones, for the propensity baseline."""
    from targeting.models.uplift import _learn_categories

    return [*(named or []), *(c for c in _learn_categories(X) if c not in set(named or []))]


def _oracle_scores(truth: pd.DataFrame, index: pd.Index, arms) -> pd.DataFrame:
    truth = truth.set_index("user_id") if "user_id" in truth.columns else truth
    missing = index.difference(truth.index)
    if len(missing):
        raise ValueError(f"truth lacks {len(missing)} campaign user(s)")
    truth = truth.loc[index]
    return pd.DataFrame({a: truth[f"uplift_{a}"].to_numpy() for a in arms}, index=index)


def _comparison_table(evaluations: Mapping[str, UpliftEvaluation], arms) -> pd.DataFrame:
    rows = {}
    for name, ev in evaluations.items():
        t = ev.table
        row = {"policy_qini": t.loc["policy", "qini"],
               "policy_qini_low": t.loc["policy"].get("qini_low", np.nan),
               "policy_qini_high": t.loc["policy"].get("qini_high", np.nan),
               "policy_auuc": t.loc["policy", "auuc"],
               "policy_auuc_low": t.loc["policy"].get("auuc_low", np.nan),
               "policy_auuc_high": t.loc["policy"].get("auuc_high", np.nan)}
        row.update({f"qini_{a}": t.loc[a, "qini"] for a in arms})
        rows[name] = row
    table = pd.DataFrame(rows).T
    if "oracle" in table.index:
        table["share_of_oracle"] = table.policy_qini / table.loc["oracle", "policy_qini"]
    return table.sort_values("policy_qini", ascending=False)


# -- scikit-learn scorers -------------------------------------------------------------------------
def _score_fn(metric: str, normalize: str):
    def score(y_true, uplift, *, treatment, control="control"):
        treated = (np.asarray(treatment) != control).astype(int)
        if metric == "qini":
            return m.qini_coefficient(y_true, uplift, treated, normalize)
        if metric == "auuc":
            return m.auuc(y_true, uplift, treated, normalize)
        return m.uplift_at_k(y_true, uplift, treated, k=0.3)
    return score


def uplift_scorer(metric: str = "qini", *, normalize: str = "perfect", control="control"):
    """A scikit-learn scorer for uplift models, for ``GridSearchCV`` and friends.

    The treatment reaches the scorer through scikit-learn's metadata routing: turn it on
    (``sklearn.set_config(enable_metadata_routing=True)`` or a ``config_context``) and pass
    ``treatment=`` to the search's ``fit``. With several treatment arms, the scorer compares
    every treated user (any arm) with the control by the best arm's predicted uplift.

    Examples
    --------
    >>> import numpy as np, sklearn
    >>> from sklearn.model_selection import GridSearchCV
    >>> from targeting.models.uplift import UpliftModel
    >>> rng = np.random.default_rng(0)
    >>> X, t = rng.normal(size=(3_000, 3)), rng.integers(0, 2, 3_000)
    >>> y = (rng.random(3_000) < 0.1 + 0.2 * t * (X[:, 0] > 0)).astype(int)
    >>> search = GridSearchCV(UpliftModel("t", control=0, n_estimators=30), {"num_leaves": [3, 7]},
    ...                       scoring=uplift_scorer("qini", control=0), cv=2)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     _ = search.fit(X, y, treatment=t)
    >>> sorted(search.best_params_)
    ['num_leaves']
    """
    if metric not in ("qini", "auuc", "uplift_at_30"):
        raise ValueError(f"metric must be 'qini', 'auuc' or 'uplift_at_30', got {metric!r}")
    m._check_normalize(normalize)
    scorer = make_scorer(_score_fn(metric, normalize), response_method="predict",
                         control=control)
    with sklearn.config_context(enable_metadata_routing=True):  # record the request itself
        return scorer.set_score_request(treatment=True)
