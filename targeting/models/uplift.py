"""Uplift: how much more likely is a user to convert (or spend) *because* of a campaign arm?

Meta-learners on LightGBM base models, one estimator with the scikit-learn contract:

- ``"s"`` (S-learner): one outcome model with the arm as a feature; uplift is its prediction
  treated minus its prediction untreated.
- ``"t"`` (T-learner): one outcome model per arm; uplift is the difference.
- ``"x"`` (X-learner, Künzel et al. 2019): T-learner outcome models impute each user's effect,
  which two effect models learn; they are blended by the propensity.
- ``"class_transformation"`` (Jaskowski & Jaroszewicz 2012): one classifier of "treated and
  converted, or control and did not", arms reweighted to equal size, uplift ``2 P - 1``;
  for revenue the transformed-outcome regression it generalises to (Athey & Imbens 2016).
- ``"dr"`` (doubly-robust DR-learner, Kennedy 2023): cross-fitted outcome models give an
  AIPW pseudo-outcome per user, which one effect model learns.

Several treatment arms against one control are fitted arm by arm (each on its arm and the
control) and ``recommend`` picks the best arm per user, or no contact when none helps. The
treatment rate is known from the randomisation (``propensity="known"``: each arm's share of
its arm-plus-control) or estimated by a cross-fitted LightGBM classifier
(``propensity="estimated"``) for campaigns that were not randomised cleanly.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from targeting.data.schema import SchemaError
from targeting.data.vocab import CONTROL_ARM
from targeting.models._base import Scorable, decile_edges
from targeting.models._params import LightGBMParamsMixin

LEARNERS = ("s", "t", "x", "class_transformation", "dr")
PROPENSITY_CLIP = (0.02, 0.98)
_DEFAULT_LGB = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 300,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.7,
    "reg_lambda": 10.0,
    # Per-arm models are small: one thread each avoids OpenMP's spin-waiting, which on a busy
    # machine made a 1 s fit take 20 s.
    "n_jobs": 1,
}

MIN_ARM_USERS = 50  # fewer users in an arm (or the control) cannot be fitted


class UpliftModel(LightGBMParamsMixin, BaseEstimator):
    """Uplift meta-learner on LightGBM, for one or several treatment arms.

    Parameters
    ----------
    learner : {"s", "t", "x", "class_transformation", "dr"}, default "x"
        The meta-learner (see the module docstring).
    control : str or int, default "control"
        The control arm's label in ``treatment`` (``0`` when ``treatment`` is 0/1).
    propensity : {"known", "estimated"}, default "known"
        Treatment probability: each arm's share (randomised campaigns) or a cross-fitted
        classifier's estimate, clipped to [0.02, 0.98].
    categorical_feature : list of str, optional
        Columns of ``X`` holding category codes (LightGBM splits them as categories). Text,
        pandas ``category`` and ``string`` columns of a DataFrame are categories without being
        named here: their levels are learned at ``fit`` (``categories_``), and levels unseen at
        ``fit`` are treated as missing when predicting.
    random_state : int, default 0
    progress : bool, default True
        Show a progress bar over the arms.
    **lightgbm_params
        Passed to the LightGBM base models (defaults: 100 trees, learning rate 0.05, 7
        leaves, at least 300 users per leaf, row and column subsampling, L2 10, one thread:
        uplift signals are small and noisy, so the base models are kept simple).

    Attributes
    ----------
    arms_ : list of str
        The treatment arms, in column order of :meth:`predict_uplift`.
    outcome_type_ : {"binary", "continuous"}
    treatment_rate_ : dict of arm to float
        Each arm's share of its arm-plus-control users.
    categories_ : dict of str to list
        Levels of each text or category column of ``X``, in code order.
    categorical_features_ : list of str
        Every column split as a category (named and detected).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(4_000, 3))
    >>> t = rng.integers(0, 2, 4_000)
    >>> y = (rng.random(4_000) < 0.1 + 0.2 * t * (X[:, 0] > 0)).astype(int)
    >>> model = UpliftModel("t", control=0, n_estimators=50).fit(X, y, t)
    >>> uplift = model.predict(X)
    >>> bool(uplift[X[:, 0] > 0].mean() > uplift[X[:, 0] <= 0].mean() + 0.1)
    True
    """

    # With scikit-learn's metadata routing on, search tools pass ``treatment`` to fit and to
    # the uplift scorers without being told (see targeting.evaluation.uplift.uplift_scorer).
    __metadata_request__fit = {"treatment": True}

    def __init__(self, learner: str = "x", control: str | int = CONTROL_ARM,
                 propensity: str = "known", categorical_feature: list[str] | None = None,
                 random_state: int = 0, progress: bool = True, **lightgbm_params: Any):
        self.learner = learner
        self.control = control
        self.propensity = propensity
        self.categorical_feature = categorical_feature
        self.random_state = random_state
        self.progress = progress
        self._lightgbm_params = dict(lightgbm_params)

    @property
    def lightgbm_params(self) -> dict[str, Any]:
        return {**_DEFAULT_LGB, **self._lightgbm_params, "random_state": self.random_state,
                "verbosity": -1, "deterministic": True, "force_row_wise": True}

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X, y, treatment) -> UpliftModel:
        """Fit one effect model per treatment arm against the control.

        Parameters
        ----------
        X : DataFrame or array of shape (n_users, n_features)
            Pre-campaign features (e.g. :func:`~targeting.features.campaign.campaign_dataset`).
        y : array of shape (n_users,)
            Outcome: 0/1 conversion, or a non-negative amount such as revenue.
        treatment : array of shape (n_users,)
            The arm each user was randomised to (``control`` for the control group).
        """
        self._check_params()
        X, y, treatment = _check_inputs(X, y, treatment)
        self.outcome_type_ = "binary" if np.isin(y, (0.0, 1.0)).all() else "continuous"
        self.arms_ = _treatment_arms(treatment, self.control)
        self.n_features_in_ = X.shape[1]
        names = _feature_names(X)
        if names is not None:
            self.feature_names_in_ = names
        self.categories_ = _learn_categories(X)
        self.categorical_features_ = [
            *(self.categorical_feature or []),
            *(c for c in self.categories_ if c not in set(self.categorical_feature or []))]
        X = self._encode(X)
        self.treatment_rate_, self.effects_, self.propensity_models_ = {}, {}, {}
        for arm in tqdm(self.arms_, desc=f"{self.learner}-learner arms",
                        disable=not self.progress, leave=False):
            rows = (treatment == arm) | (treatment == self.control)
            w = (treatment[rows] == arm).astype(np.int8)
            self.treatment_rate_[arm] = float(w.mean())
            e = self._fit_propensity(arm, X[rows], w)
            self.effects_[arm] = self._learner().fit(X[rows], y[rows], w, e)
        return self

    def _check_params(self) -> None:
        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {LEARNERS}, got {self.learner!r}")
        if self.propensity not in ("known", "estimated"):
            raise ValueError(f"propensity must be 'known' or 'estimated', got "
                             f"{self.propensity!r}")

    def _learner(self) -> _MetaLearner:
        kind = {"s": _SLearner, "t": _TLearner, "x": _XLearner,
                "class_transformation": _ClassTransformation, "dr": _DRLearner}[self.learner]
        return kind(self.lightgbm_params, self._fit_kwargs(), self.outcome_type_,
                    self.random_state)

    def _fit_kwargs(self) -> dict:
        names = getattr(self, "feature_names_in_", None)
        wanted = getattr(self, "categorical_features_", None) or self.categorical_feature
        if not wanted:
            return {}
        if names is None:
            raise SchemaError(["categorical_feature names need X as a DataFrame with columns"])
        missing = sorted(set(wanted) - set(names))
        if missing:
            raise SchemaError([f"categorical_feature {missing} not among X's columns "
                               f"{list(names)[:20]}"])
        return {"categorical_feature": [list(names).index(c) for c in wanted]}

    def _encode(self, X) -> np.ndarray:
        """The float matrix LightGBM takes: categories as their fitted codes (NaN unseen)."""
        if not isinstance(X, pd.DataFrame) or not self.categories_:
            return np.asarray(X, dtype=float)
        X = X.copy()
        for col, levels in self.categories_.items():
            codes = pd.Categorical(X[col].astype(object), categories=levels).codes
            X[col] = np.where(codes < 0, np.nan, codes)
        return X.to_numpy(dtype=float)

    def _fit_propensity(self, arm, X, w: np.ndarray) -> np.ndarray:
        """Each user's probability of being treated, out of fold when estimated."""
        if self.propensity == "known":
            return np.full(len(w), w.mean())
        params = {**self.lightgbm_params, "n_estimators": 100}
        e = np.empty(len(w))
        for fit_rows, pred_rows in _folds(w, self.random_state):
            clf = lgb.LGBMClassifier(**params).fit(X[fit_rows], w[fit_rows], **self._fit_kwargs())
            e[pred_rows] = clf.predict_proba(X[pred_rows])[:, 1]
        self.propensity_models_[arm] = lgb.LGBMClassifier(**params).fit(
            X, w, **self._fit_kwargs())
        return np.clip(e, *PROPENSITY_CLIP)

    def _propensity_at(self, arm, X) -> np.ndarray:
        if self.propensity == "known":
            return np.full(X.shape[0], self.treatment_rate_[arm])
        return np.clip(self.propensity_models_[arm].predict_proba(X)[:, 1], *PROPENSITY_CLIP)

    # -- predicting --------------------------------------------------------------------------
    def predict_uplift(self, X) -> pd.DataFrame:
        """Predicted uplift of every treatment arm over the control, one column per arm."""
        check_is_fitted(self, "effects_")
        index = X.index if isinstance(X, pd.DataFrame) else None
        X = self._matrix(X)
        columns = {arm: self.effects_[arm].effect(X, self._propensity_at(arm, X))
                   for arm in self.arms_}
        return pd.DataFrame(columns, index=index)

    def _matrix(self, X) -> np.ndarray:
        names = getattr(self, "feature_names_in_", None)
        if isinstance(X, pd.DataFrame) and names is not None:
            missing = [c for c in names if c not in set(X.columns)]
            if missing:
                raise SchemaError([f"X lacks {len(missing)} feature(s) the model was fitted "
                                   f"on: {missing[:10]}"])
            X = X[list(names)]
        return self._encode(_check_features(X, self.n_features_in_))

    def predict(self, X) -> np.ndarray:
        """Predicted uplift of each user's best arm (the only arm for a two-arm campaign)."""
        return self.predict_uplift(X).to_numpy().max(axis=1)

    def recommend(self, X, min_uplift: float = 0.0) -> np.ndarray:
        """The arm to send each user, or the control (no contact) where no arm's predicted
        uplift exceeds ``min_uplift``."""
        uplift = self.predict_uplift(X)
        best = uplift.to_numpy().argmax(axis=1)
        arms = np.asarray(self.arms_, dtype=object)[best]
        return np.where(uplift.to_numpy().max(axis=1) > min_uplift, arms, self.control)

    def predict_outcome(self, X, arm=None) -> np.ndarray:
        """Expected outcome without the campaign (``arm=None``) or under ``arm``: the
        propensity a "contact the likeliest buyers" policy would rank by."""
        check_is_fitted(self, "effects_")
        X = self._matrix(X)
        first = self.effects_[self.arms_[0]]
        base = first.baseline(X)
        return base if arm is None else base + self.predict_uplift(X)[arm].to_numpy()


    # -- explaining ---------------------------------------------------------------------------
    def explain_boosters(self, arm=None) -> list:
        """``(booster, weight)`` pairs whose raw outputs add up to ``arm``'s predicted uplift,
        for :func:`targeting.explain` (SHAP values in uplift units).

        Exact for the learners whose effect is a weighted sum of LightGBM regressors: the
        X-learner with a known propensity, the DR-learner, and class transformation on revenue.
        The others (S, T, class transformation on conversions) take differences of
        probabilities, which TreeSHAP cannot add up exactly: they raise.
        """
        check_is_fitted(self, "effects_")
        arm = self.arms_[0] if arm is None else arm
        if arm not in self.effects_:
            raise ValueError(f"unknown arm {arm!r}; the model has {self.arms_}")
        learner = self.effects_[arm]
        if isinstance(learner, _XLearner) and self.propensity == "known":
            e = self.treatment_rate_[arm]
            return [(learner.tau_control_.booster_, e), (learner.tau_treated_.booster_, 1 - e)]
        if isinstance(learner, _DRLearner):
            return [(learner.tau_.booster_, 1.0)]
        if isinstance(learner, _ClassTransformation) and self.outcome_type_ == "continuous":
            return [(learner.model_.booster_, 1.0)]
        raise ValueError(f"the {self.learner!r} learner's uplift is a difference of "
                         "probabilities, not a sum of trees: explain an 'x' (known propensity) "
                         "or 'dr' model instead")

    def explainer(self, pipeline, arm=None) -> UpliftExplainer:
        """What :func:`targeting.explain` needs: this model's ``arm`` with its pipeline.

        Examples
        --------
        >>> import targeting as tg
        >>> world = tg.demo_world(n_users=3_000, random_state=0)
        >>> data = tg.campaign_dataset(world.tables, world.campaign_id)
        >>> model = UpliftModel("dr", n_estimators=20).fit(data.X, data.y, data.treatment)
        >>> ex = tg.explain(model.explainer(data.pipeline, "group_invite"),
        ...                 data.pipeline.decode(data.X), sample=200)
        >>> ex.values.shape
        (200, 143)
        """
        return UpliftExplainer(self, pipeline, arm)


class UpliftScorer(Scorable):
    """An uplift model seen through the scoring contract (what MLflow stores and ``score()`` uses).

    ``score`` is the recommended arm's predicted uplift; ``decile`` ranks it against the
    campaign the model was trained on; the extra columns are ``arm`` (the recommended arm, or the
    control when no arm is predicted to help) and ``uplift_<arm>`` for every arm.

    Parameters
    ----------
    model : UpliftModel
        Fitted on the matrix of ``pipeline``.
    pipeline : FeaturePipeline
    reference_scores : array, optional
        The uplift scores the decile cut points come from (default: all in decile 1).

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=4_000, random_state=1)
    >>> data = tg.campaign_dataset(world.tables, world.campaign_id)
    >>> model = UpliftModel("t", n_estimators=20, progress=False)
    >>> model = model.fit(data.X, data.y, data.treatment)
    >>> scorer = UpliftScorer(model, data.pipeline, model.predict(data.X))
    >>> sorted(scorer.extra_columns(data.X.head(3).to_numpy()))[:2]
    ['arm', 'uplift_coupon']
    """

    def __init__(self, model: UpliftModel, pipeline, reference_scores=None):
        self.model, self.pipeline_ = model, pipeline
        self.decile_edges_ = (np.zeros(9) if reference_scores is None
                              else decile_edges(reference_scores))

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict(X)

    def extra_columns(self, X: np.ndarray) -> dict[str, np.ndarray]:
        uplift = self.model.predict_uplift(X)
        return {"arm": self.model.recommend(X),
                **{f"uplift_{arm}": uplift[arm].to_numpy() for arm in uplift.columns}}


class UpliftExplainer:
    """An uplift model's arm seen by :func:`targeting.explain` (``pipeline_`` and boosters)."""

    def __init__(self, model: UpliftModel, pipeline, arm=None):
        self.model, self.pipeline_, self.arm = model, pipeline, arm

    def explain_boosters(self) -> list:
        return self.model.explain_boosters(self.arm)


# -- the meta-learners ----------------------------------------------------------------------------
class _MetaLearner:
    """One treatment arm against the control: ``fit(X, y, w, e)`` then ``effect(X, e)``."""

    def __init__(self, params: dict, fit_kwargs: dict, outcome_type: str, random_state: int):
        self.params, self.fit_kwargs = params, fit_kwargs
        self.outcome_type, self.random_state = outcome_type, random_state

    def _outcome_model(self, X, y, weight=None):
        kind = lgb.LGBMClassifier if self.outcome_type == "binary" else lgb.LGBMRegressor
        return kind(**self.params).fit(X, y, sample_weight=weight, **self.fit_kwargs)

    def _mean(self, model, X) -> np.ndarray:
        if self.outcome_type == "binary":
            return model.predict_proba(X)[:, 1]
        return model.predict(X)

    def _effect_model(self, X, target, weight=None):
        return lgb.LGBMRegressor(**self.params).fit(X, target, sample_weight=weight,
                                                    **self.fit_kwargs)

    def baseline(self, X) -> np.ndarray:
        """Expected outcome under control (every learner keeps a control outcome model)."""
        return self._mean(self.control_model_, X)


class _SLearner(_MetaLearner):
    def fit(self, X, y, w, e):
        self.model_ = self._outcome_model(_with_arm(X, w), y)
        self.control_model_ = _ArmFixed(self.model_, 0)
        return self

    def effect(self, X, e):
        ones, zeros = np.ones(X.shape[0]), np.zeros(X.shape[0])
        return self._mean(self.model_, _with_arm(X, ones)) - self._mean(
            self.model_, _with_arm(X, zeros))


class _TLearner(_MetaLearner):
    def fit(self, X, y, w, e):
        self.control_model_ = self._outcome_model(X[w == 0], y[w == 0])
        self.treated_model_ = self._outcome_model(X[w == 1], y[w == 1])
        return self

    def effect(self, X, e):
        return self._mean(self.treated_model_, X) - self._mean(self.control_model_, X)


class _XLearner(_TLearner):
    def fit(self, X, y, w, e):
        super().fit(X, y, w, e)
        treated, control = w == 1, w == 0
        imputed_treated = y[treated] - self._mean(self.control_model_, X[treated])
        imputed_control = self._mean(self.treated_model_, X[control]) - y[control]
        self.tau_treated_ = self._effect_model(X[treated], imputed_treated)
        self.tau_control_ = self._effect_model(X[control], imputed_control)
        return self

    def effect(self, X, e):
        # Weigh each effect model by how much data the *other* arm had where the user is.
        return e * self.tau_control_.predict(X) + (1 - e) * self.tau_treated_.predict(X)


class _ClassTransformation(_MetaLearner):
    def fit(self, X, y, w, e):
        if self.outcome_type == "binary":
            z = (y == w).astype(np.int8)  # treated buyers and control non-buyers
            balance = np.where(w == 1, 0.5 / e, 0.5 / (1 - e))
            self.model_ = lgb.LGBMClassifier(**self.params).fit(X, z, sample_weight=balance,
                                                                **self.fit_kwargs)
        else:
            transformed = y * (w - e) / (e * (1 - e))
            self.model_ = self._effect_model(X, transformed)
        self.control_model_ = self._outcome_model(X[w == 0], y[w == 0])
        return self

    def effect(self, X, e):
        if self.outcome_type == "binary":
            return 2 * self.model_.predict_proba(X)[:, 1] - 1
        return self.model_.predict(X)


class _DRLearner(_MetaLearner):
    def fit(self, X, y, w, e):
        mu0, mu1 = np.empty(len(y)), np.empty(len(y))
        for fit_rows, pred_rows in _folds(w, self.random_state):
            Xf, yf, wf = X[fit_rows], y[fit_rows], w[fit_rows]
            m0 = self._outcome_model(Xf[wf == 0], yf[wf == 0])
            m1 = self._outcome_model(Xf[wf == 1], yf[wf == 1])
            mu0[pred_rows], mu1[pred_rows] = self._mean(m0, X[pred_rows]), self._mean(
                m1, X[pred_rows])
        pseudo = mu1 - mu0 + w * (y - mu1) / e - (1 - w) * (y - mu0) / (1 - e)
        self.tau_ = self._effect_model(X, pseudo)
        self.control_model_ = self._outcome_model(X[w == 0], y[w == 0])
        return self

    def effect(self, X, e):
        return self.tau_.predict(X)


class _ArmFixed:
    """The S-learner's outcome model with the arm feature fixed (for ``baseline``)."""

    def __init__(self, model, arm: int):
        self.model, self.arm = model, arm

    def predict_proba(self, X):
        return self.model.predict_proba(_with_arm(X, np.full(X.shape[0], self.arm)))

    def predict(self, X):
        return self.model.predict(_with_arm(X, np.full(X.shape[0], self.arm)))


# -- helpers --------------------------------------------------------------------------------------
def _with_arm(X, w):
    return np.column_stack([X, w])  # the arm is the last column: categorical indices hold


def _folds(w: np.ndarray, random_state: int):
    """Two stratified folds: fit on one half, predict the other (cross-fitting)."""
    splitter = StratifiedKFold(n_splits=2, shuffle=True, random_state=random_state)
    yield from splitter.split(np.zeros(len(w)), w)


def _feature_names(X) -> np.ndarray | None:
    return np.asarray(X.columns, dtype=object) if isinstance(X, pd.DataFrame) else None


def _is_category(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or (
        not ptypes.is_bool_dtype(s) and not ptypes.is_numeric_dtype(s)
        and not ptypes.is_datetime64_any_dtype(s))


def _learn_categories(X) -> dict:
    """Levels of each text/category column of a DataFrame (sorted, or the dtype's order)."""
    if not isinstance(X, pd.DataFrame):
        return {}
    out = {}
    for col in X.columns:
        s = X[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = list(s.cat.categories)
        elif _is_category(s):
            out[col] = sorted(pd.unique(s.dropna()).tolist(), key=str)
    return out


def _check_features(X, n_features: int):
    if not isinstance(X, pd.DataFrame):
        try:
            X = np.asarray(X, dtype=float)
        except (ValueError, TypeError) as err:
            raise SchemaError([f"X is not numeric ({err}); pass a DataFrame, whose text "
                               "columns become LightGBM categories"]) from None
        if X.ndim != 2:
            raise SchemaError([f"X must be 2-dimensional, got shape {X.shape}"])
    else:
        dates = [c for c in X.columns if ptypes.is_datetime64_any_dtype(X[c])]
        if dates:
            raise SchemaError([f"X columns {dates} hold dates; turn them into numbers (e.g. "
                               "days before the campaign) first"])
    if X.shape[1] != n_features:
        raise SchemaError([f"X has {X.shape[1]} features; the model was fitted on "
                           f"{n_features}"])
    return X


def _check_inputs(X, y, treatment):
    X = _check_features(X, np.shape(X)[1])
    try:
        y = np.asarray(y, dtype=float)
    except (ValueError, TypeError):
        raise SchemaError(["y must be numeric: 0/1 (or bool) conversions or an amount such "
                           "as revenue"]) from None
    treatment = np.asarray(treatment)
    problems = []
    if treatment.dtype.kind in "fc":
        bad = ~np.isin(treatment, (0.0, 1.0))
        if bad.any():
            raise SchemaError([f"a numeric treatment must be 0 (control) or 1 (treated), found "
                               f"{np.unique(treatment[bad])[:5].tolist()}"])
        treatment = treatment.astype(np.int64)
    elif pd.isna(treatment).any():
        problems.append(f"{int(pd.isna(treatment).sum())} user(s) without an arm in treatment")
    if not (X.shape[0] == len(y) == len(treatment)):
        problems.append(f"X, y and treatment differ in length: {X.shape[0]}, {len(y)}, "
                        f"{len(treatment)}")
    elif np.isnan(y).any():
        problems.append(f"{int(np.isnan(y).sum())} missing outcome(s); drop those users or "
                        "fill the outcome before fitting")
    elif np.isinf(y).any():
        problems.append(f"{int(np.isinf(y).sum())} infinite outcome(s); outcomes must be "
                        "finite (0/1 or an amount): drop or fix those users")
    if problems:
        raise SchemaError(problems)
    return X, y, treatment


def _treatment_arms(treatment: np.ndarray, control) -> list:
    labels = pd.unique(treatment)
    if control not in set(labels.tolist()):
        hint = " (pass control=0 for a 0/1 treatment)" if set(labels.tolist()) <= {0, 1} else ""
        raise SchemaError([f"no control users: control={control!r} not among the treatment "
                           f"values {sorted(map(str, labels))[:10]}{hint}"])
    arms = sorted((a for a in labels.tolist() if a != control), key=str)
    if not arms:
        raise SchemaError([f"every user is in the control arm {control!r}: nothing to "
                           "compare"])
    small = small_arms(treatment)
    if small:
        raise SchemaError([f"arm(s) with fewer than {MIN_ARM_USERS} users, too few to learn "
                           f"an effect: {small}"])
    return arms


def small_arms(treatment) -> dict[str, int]:
    """The arms (the control included) with fewer than ``MIN_ARM_USERS`` users, and their
    counts: an :class:`UpliftModel` refuses to fit on them.

    Examples
    --------
    >>> small_arms(["control"] * 60 + ["coupon"] * 49)
    {'coupon': 49}
    """
    counts = pd.Series(treatment).value_counts()
    return {str(a): int(n) for a, n in counts.items() if n < MIN_ARM_USERS}
