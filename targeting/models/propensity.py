"""Propensity: will this user buy ``category`` in the next ``horizon_days`` days?

Training is out-of-time by construction, on point-in-time snapshots. For ``fit(tables,
as_of)`` the latest snapshot whose label window is complete, features at ``as_of - h`` and
labels in ``[as_of - h, as_of)``, is the validation snapshot (early stopping and
calibration); training snapshots lie every ``snapshot_every_days`` before it, as far back as
the history allows (at most ``max_snapshots``). Each snapshot holds only the users who exist
at its date (some record strictly before it): a user who appears later is never a training
row, so "no history yet" cannot be learnt as "about to buy". Nothing at or after ``as_of`` is
read, so the model can be evaluated honestly on the window after ``as_of``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.utils import ClassifierTags
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from targeting.data.dates import as_of_for, first_event
from targeting.data.labels import purchase_labels
from targeting.data.schema import InsufficientDataError, SchemaError, TargetingError
from targeting.data.tables import checked_tables
from targeting.features.common import slug
from targeting.features.pipeline import BUILDERS, FeaturePipeline
from targeting.features.reference import FeatureReference
from targeting.models._base import Scorable, decile_edges, margin_of_row
from targeting.models._params import LightGBMParamsMixin
from targeting.models.candidates import (
    ORDER,
    SMALL_LEAVES,
    Candidate,
    LogScaledLogistic,
    PercentileBlend,
    auc_or_half,
    best_classic,
    choose,
)
from targeting.models.classic import NAMES as CLASSIC_NAMES
from targeting.models.classic import ClassicScores

_DEFAULT_LGB = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 200,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "cat_smooth": 50,
}
MIN_LEAD_DAYS = 30  # history a snapshot needs before it: users must have had time to act


class PropensityModel(Scorable, LightGBMParamsMixin, BaseEstimator):
    """LightGBM propensity model with its feature pipeline inside.

    Parameters
    ----------
    category : str or None, default None
        Product category to predict; None predicts any purchase.
    horizon_days : int, default 30
        Length of the label window after each snapshot.
    snapshot_every_days : int or None, default None
        Days between training snapshots; default half the horizon, between 7 and 30.
    max_snapshots : int, default 6
        Training snapshots at most (the history used is bounded by this times the step).
    max_train_rows : int, default 300_000
        Users are sampled evenly from every snapshot above this many rows in all.
    lookback_days : int or None, default None
        Cut the history features read at this many days (default: the whole history).
    builders : sequence of str, default all silos
        Feature builders to use (see :class:`~targeting.FeaturePipeline`).
    n_estimators : int, default 3000
        Upper bound on boosting rounds; early stopping on the validation window picks the number.
    early_stopping_rounds : int, default 50
    calibrate : bool, default True
        Platt-scale the scores on the validation window so they read as probabilities.
    classic_features : bool, default True
        Add the analyst's classic scores as features (BG/NBD expected purchases and P(alive),
        RFM score, recency rank; :class:`~targeting.models.classic.ClassicScores`), fitted
        point-in-time on each snapshot's own past.
    capacity : str, default "auto"
        ``"auto"`` chooses among the candidates of :mod:`targeting.models.candidates`
        (``linear``, ``lightgbm_small``, ``lightgbm``, ``blend``) on the validation snapshot;
        a candidate's name fits that one only (``"lightgbm"``: the single LightGBM of earlier
        versions, plus the classic features if asked).
    random_state : int, default 0
    progress : bool, default True
        Show a progress bar over the feature windows.
    **lightgbm_params
        Any LightGBM parameter (``learning_rate``, ``num_leaves``, ...), overriding the defaults.

    Attributes
    ----------
    pipeline_ : FeaturePipeline
    booster_ : lightgbm.Booster
    calibration_ : tuple of float
        Platt slope and intercept applied to the raw margin.
    decile_edges_ : ndarray
        Score cut points of the population at ``as_of`` (the users with a record before it; no
        labels read); decile 1 is the top 10 %.
    reference_ : FeatureReference
        Binned distribution of each feature and of the score over the same population, for
        drift at scoring time.
    validation_ : dict
        Sizes and positive rates of the training and validation snapshots, the validation
        AUC (in-sample for early stopping: an optimistic figure, see ``evaluate``), the
        snapshot dates and the best iteration.
    snapshots_ : list of pandas.Timestamp
        The validation snapshot first, then the training snapshots.
    candidate_ : str
        The candidate that scores (see ``capacity``).
    selection_ : dict
        The choice: each candidate's AUC on the selection half of the validation snapshot,
        the winner and why (``reason``).
    classic_ : ClassicScores or None
        The classic scores fitted at ``as_of``, computed from the matrix when scoring.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> model = PropensityModel("snacks", progress=False).fit(world.tables, world.as_of)
    >>> model.predict_proba(model.features(world.tables, world.as_of)).shape
    (3000, 2)
    """

    def __init__(self, category: str | None = None, horizon_days: int = 30,
                 snapshot_every_days: int | None = None, max_snapshots: int = 6,
                 max_train_rows: int = 300_000, lookback_days: int | None = None,
                 builders: Sequence[str] = BUILDERS,
                 n_estimators: int = 3000, early_stopping_rounds: int = 50,
                 calibrate: bool = True, classic_features: bool = True,
                 capacity: str = "auto", random_state: int = 0, progress: bool = True,
                 **lightgbm_params: Any):
        self.category = category
        self.horizon_days = horizon_days
        self.snapshot_every_days = snapshot_every_days
        self.max_snapshots = max_snapshots
        self.max_train_rows = max_train_rows
        self.lookback_days = lookback_days
        self.builders = builders
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.calibrate = calibrate
        self.classic_features = classic_features
        self.capacity = capacity
        self.random_state = random_state
        self.progress = progress
        self._lightgbm_params = dict(lightgbm_params)

    # Fitted state that older pickles and the distributed engine do not set.
    classic_ = None
    linear_ = None
    blend_ = None
    candidate_ = "lightgbm"
    selection_: dict | None = None

    def __sklearn_tags__(self):
        # A classifier to scikit-learn's tools (is_classifier, stratified splits), without
        # ClassifierMixin's ``score`` (accuracy at 0.5, meaningless for calibrated low rates).
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        return tags

    @property
    def lightgbm_params(self) -> dict[str, Any]:
        """The LightGBM parameters used: defaults updated with the user's."""
        params = {**_DEFAULT_LGB, **self._lightgbm_params}
        params.update(objective="binary", seed=self.random_state, verbosity=-1,
                      deterministic=True, force_row_wise=True)
        return params

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, data: Mapping[str, pd.DataFrame], as_of, y=None) -> PropensityModel:
        """Train on point-in-time snapshots before ``as_of`` (see the module docstring)."""
        self._check_params()
        data = checked_tables(data, require=("orders",))
        as_of = as_of_for(data, as_of)
        snapshots = self.snapshot_dates(data, as_of)
        (X_val, y_val), (X_tr, y_tr) = self._snapshot_matrices(data, snapshots)
        self._check_labels(int(y_tr.sum()), int(y_val.sum()))
        margin, selection_auc = self._fit_candidates(X_tr, y_tr, X_val, y_val)
        return self._finish_fit(data, as_of, snapshots, margin, y_val,
                                train_rows=len(y_tr), train_positives=int(y_tr.sum()),
                                validation_auc=selection_auc)

    # -- candidates of different capacity ------------------------------------------------------
    @property
    def feature_names_(self) -> list[str]:
        """The columns the model reads: the pipeline's, then the classic scores (if any)."""
        names = list(self.pipeline_.feature_names_)
        return names + list(CLASSIC_NAMES) if self.classic_ is not None else names

    def model_matrix(self, X: np.ndarray) -> np.ndarray:
        """The pipeline's matrix with the classic scores appended (unchanged without them)."""
        if self.classic_ is None:
            return X
        return np.hstack([X, self.classic_.transform(X)])

    @property
    def compilable(self) -> bool:
        """Whether compiled trees can score this model (a LightGBM candidate scores)."""
        return self.candidate_.startswith("lightgbm")

    def explain_boosters(self) -> list[tuple[lgb.Booster, float]]:
        """The booster whose margin the model's scores are (for SHAP explanations)."""
        check_is_fitted(self, "booster_")
        if not self.compilable:
            raise TargetingError(
                f"the chosen candidate {self.candidate_!r} is not a tree model, so it has no "
                "SHAP explanation; fit with capacity='lightgbm' to explain the scores")
        return [(self.booster_, 1.0)]

    def _fit_candidates(self, X_tr, y_tr, X_val, y_val) -> tuple[np.ndarray, float]:
        """Fit the candidates, choose one on the selection half; the validation margins of the
        one chosen and its selection AUC. LightGBM stops early on the other half."""
        self.linear_ = self.blend_ = None
        stop, grade = _halves(len(y_val), self.random_state)
        names = ORDER if self.capacity == "auto" else (self.capacity,)
        boosters, candidates = {}, []
        for name in ("lightgbm_small", "lightgbm"):
            # The default LightGBM is always fitted: the explanation and the compiled
            # engine read ``booster_``, whichever candidate scores.
            if name in names or name == "lightgbm" or ("blend" in names and self._uses_classic):
                boosters[name] = self._train(X_tr, y_tr, X_val[stop], y_val[stop],
                                             small=name == "lightgbm_small")
                if name in names:
                    m = boosters[name].predict(X_val[grade], raw_score=True)
                    candidates.append(Candidate(name, _describe(name, boosters[name]),
                                                auc_or_half(y_val[grade], m), m))
        if "linear" in names:
            linear = LogScaledLogistic().fit(X_tr, y_tr,
                                             categorical=self.pipeline_.categorical_indices_)
            m = linear.margin(X_val[grade])
            candidates.append(Candidate("linear", "L2 logistic regression on log-scaled "
                                        "features", auc_or_half(y_val[grade], m), m))
        blend = self._blend_candidate(boosters, X_val, y_val, stop, grade)
        if "blend" in names and blend is not None:
            candidates.append(blend[1])
        if not candidates:
            raise ValueError(f"capacity={self.capacity!r} cannot be fitted here: the blend "
                             "needs the classic features (classic_features=True and the "
                             "purchase builder); choose 'auto' or one of "
                             f"{[n for n in ORDER if n != 'blend']}")
        chosen = choose(candidates)
        self.candidate_ = chosen.name
        if chosen.name == "linear":
            self.linear_, self.booster_ = linear, boosters.get("lightgbm")
        else:
            base = "lightgbm" if chosen.name == "blend" else chosen.name
            self.booster_ = boosters[base] if chosen.name != "blend" else blend[2]
            self.blend_ = blend[0] if chosen.name == "blend" else None
        self.selection_ = _selection_summary(candidates, chosen, rows=(len(stop), len(grade)))
        return self._margin(X_val), chosen.auc

    @property
    def _uses_classic(self) -> bool:
        return self.classic_ is not None

    def _blend_candidate(self, boosters, X_val, y_val, stop, grade):
        """The blend of the better LightGBM (on the early-stopping half) and the best classic
        score (likewise): ``(blend, Candidate, booster)``, or None without classic scores."""
        if not self._uses_classic or not boosters:
            return None
        classic = X_val[:, -len(CLASSIC_NAMES):]
        j, _ = best_classic(y_val[stop], classic[stop], CLASSIC_NAMES)
        name, booster = max(boosters.items(), key=lambda kv: auc_or_half(
            y_val[stop], kv[1].predict(X_val[stop], raw_score=True)))
        column = X_val.shape[1] - len(CLASSIC_NAMES) + j
        blend = PercentileBlend(column, CLASSIC_NAMES[j]).fit(
            booster.predict(X_val[stop], raw_score=True), X_val[stop, column])
        m = blend.margin(booster.predict(X_val[grade], raw_score=True), X_val[grade, column])
        text = f"mean percentile of {name} and {CLASSIC_NAMES[j]}"
        return blend, Candidate("blend", text, auc_or_half(y_val[grade], m), m), booster

    def _margin(self, M: np.ndarray) -> np.ndarray:
        """The chosen candidate's margin of model-matrix rows (before calibration)."""
        if self.candidate_ == "linear":
            return self.linear_.margin(M)
        threads = {"num_threads": 1} if len(M) <= 256 else {}
        if len(M) == 1 and self.blend_ is None:
            return np.array([margin_of_row(self.booster_, M[0])])
        margin = self.booster_.predict(M, raw_score=True, **threads)
        if self.blend_ is not None:
            return self.blend_.margin(margin, M[:, self.blend_.column])
        return margin

    def _snapshot_matrices(self, tables, snapshots):
        """Model matrix and labels of the validation snapshot, and of the training ones stacked.

        Fits ``pipeline_`` on the validation snapshot (the newest). Each snapshot keeps only the
        users who exist at its date; the training snapshots share ``max_train_rows``.
        """
        self.pipeline_ = FeaturePipeline(builders=self.builders,
                                         lookback_days=self.lookback_days)
        per_snapshot = max(1, self.max_train_rows // max(len(snapshots) - 1, 1))
        bar = tqdm(snapshots, desc="feature snapshots", disable=not self.progress, leave=False)
        windows = []
        for i, t in enumerate(bar):
            if i == 0:
                X = self.pipeline_.fit_transform(tables, t)
                self._check_category()
            else:
                X = self.pipeline_.transform(tables, t)
            X = X[self.pipeline_.has_record(X)]  # only users who exist at t
            matrix = self.pipeline_.to_matrix(X)
            classic = self._classic_at(matrix)  # fitted on every user who exists at t
            if i > 0 and len(X) > per_snapshot:
                rng = np.random.default_rng([self.random_state, i])
                keep = np.sort(rng.choice(len(X), per_snapshot, replace=False))
                X, matrix = X.iloc[keep], matrix[keep]
            if classic is not None:
                matrix = np.hstack([matrix, classic.transform(matrix)])
            windows.append((matrix, self._labels(tables, t, X.index)))
        self.classic_ = classic  # marks the matrices as holding classic scores (refit at as_of)
        train = windows[1:]
        return windows[0], (np.vstack([w[0] for w in train]),
                            np.concatenate([w[1] for w in train]))

    def _labels(self, tables, as_of: pd.Timestamp, users: pd.Index) -> np.ndarray:
        """The label of each snapshot row: 1 if the user buys in the window after ``as_of``.
        The hook a model with another target overrides (the value model's revenue)."""
        return purchase_labels(tables, as_of, self.horizon_days, self.category, users).to_numpy()

    def _classic_at(self, matrix: np.ndarray) -> ClassicScores | None:
        """Classic scores fitted on one snapshot's users, or None when not asked for or the
        matrix lacks the purchase columns they read."""
        names = self.pipeline_.feature_names_
        category = None if self.category is None else slug(self.category)
        if not self.classic_features or not ClassicScores.available(names, category):
            return None
        return ClassicScores(self.horizon_days, category).fit(matrix, names)

    def _finish_fit(self, tables, as_of: pd.Timestamp, snapshots: list[pd.Timestamp],
                    margin: np.ndarray, y_val: np.ndarray, *, train_rows: int,
                    train_positives: int, validation_auc: float | None = None
                    ) -> PropensityModel:
        """Everything after boosting, shared by every engine: calibration on the validation
        margin, the population at ``as_of`` (deciles, drift reference) and the fit summary."""
        self.calibration_ = self._fit_calibration(margin, y_val)
        self.as_of_ = as_of
        self.snapshots_ = snapshots
        self._fit_population(tables, as_of)
        self.validation_ = {
            "train_rows": int(train_rows),
            "train_positive_rate": float(train_positives / max(train_rows, 1)),
            "validation_rows": int(len(y_val)),
            "validation_positive_rate": float(y_val.mean()),
            "validation_auc": float(roc_auc_score(y_val, margin) if validation_auc is None
                                    else validation_auc),
            "train_snapshots": len(snapshots) - 1,
            "first_snapshot": str(snapshots[-1].date()),
            "best_iteration": int(self.booster_.best_iteration or self.booster_.num_trees()),
        }
        self.classes_ = np.array([0, 1])
        return self

    def _fit_population(self, tables, as_of) -> None:
        """Decile cut points and the drift reference from the population at ``as_of``.

        Scoring happens at or after ``as_of``, on the users who exist then: cut points from
        that population keep deciles near 10 % each at scoring time even when the population
        has aged since the training snapshots (a one-cohort customer base does). No labels
        are read.
        """
        X = self.pipeline_.transform(tables, as_of)
        matrix = self.pipeline_.to_matrix(X[self.pipeline_.has_record(X)])
        if self.classic_ is not None:  # the scores of the population that will be scored
            self.classic_ = self._classic_at(matrix)
        scores = self.score_matrix(matrix)
        self._set_population(scores, matrix, scores)

    def _set_population(self, scores: np.ndarray, matrix: np.ndarray,
                        matrix_scores: np.ndarray) -> None:
        """Decile cut points from ``scores``; the drift reference from ``matrix`` (a sample of
        the same population may do) and its scores."""
        self.decile_edges_ = decile_edges(scores)
        # Binned shares only (no rows): drift at scoring time is measured against these.
        self.reference_ = FeatureReference.fit(matrix, self.pipeline_.feature_names_,
                                               self.pipeline_.categorical_indices_,
                                               matrix_scores)

    # -- the snapshot schedule -----------------------------------------------------------------
    @property
    def step_days(self) -> int:
        """Days between training snapshots (``snapshot_every_days`` or its default)."""
        if self.snapshot_every_days is not None:
            return int(self.snapshot_every_days)
        return int(np.clip(self.horizon_days // 2, 7, 30))

    def snapshot_dates(self, data: Mapping[str, pd.DataFrame], as_of) -> list[pd.Timestamp]:
        """The validation snapshot, then the training snapshots, newest first.

        Raises :class:`~targeting.data.schema.InsufficientDataError` naming the days of
        history found and needed, and the longest horizon that would fit, when the history
        is too short for one training snapshot.

        Examples
        --------
        >>> import targeting as tg
        >>> world = tg.demo_world(n_users=1_000, random_state=4)
        >>> dates = PropensityModel(horizon_days=30).snapshot_dates(world.tables, world.as_of)
        >>> (world.as_of - dates[0]).days, (dates[0] - dates[1]).days
        (30, 15)
        """
        as_of = as_of_for(data, as_of)
        start = data_start(data)
        h, step = pd.Timedelta(days=self.horizon_days), pd.Timedelta(days=self.step_days)
        validation = as_of - h
        earliest = start + pd.Timedelta(days=MIN_LEAD_DAYS)
        train = [validation - step * k for k in range(1, self.max_snapshots + 1)
                 if validation - step * k >= earliest]
        if not train:
            found = (as_of - start).days
            needed = self.horizon_days + self.step_days + MIN_LEAD_DAYS
            raise InsufficientDataError(
                f"{found} days of history before as_of={as_of.date()} (from {start.date()}); "
                f"a {self.horizon_days}-day horizon needs at least {needed} (a {self.horizon_days}"
                f"-day validation window, one {self.step_days}-day step to a training snapshot "
                f"and {MIN_LEAD_DAYS} days of history before it). "
                + _longest_horizon_hint(found))
        return [validation, *train]

    def _check_params(self) -> None:
        problems = []
        if not isinstance(self.horizon_days, int | np.integer) or self.horizon_days < 1:
            problems.append(f"horizon_days must be a positive integer, got {self.horizon_days!r}")
        if self.snapshot_every_days is not None and self.snapshot_every_days < 1:
            problems.append("snapshot_every_days must be a positive integer or None, got "
                            f"{self.snapshot_every_days!r}")
        if self.capacity != "auto" and self.capacity not in ORDER:
            problems.append(f"capacity must be 'auto' or one of {list(ORDER)}, got "
                            f"{self.capacity!r}")
        if self.max_snapshots < 1:
            problems.append(f"max_snapshots must be at least 1, got {self.max_snapshots!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def _check_category(self) -> None:
        known = self.pipeline_.categories_
        if self.category is not None and self.category not in known:
            raise SchemaError([f"unknown category {self.category!r}: the data before as_of "
                               f"have {known}; pick one of them, or any purchase "
                               "(category=None in Python, --category any on the command "
                               "line)"], hint="")

    def _check_labels(self, train_positives: int, validation_positives: int) -> None:
        for name, positives in (("training", train_positives),
                                ("validation", validation_positives)):
            if positives < 20:
                raise InsufficientDataError(
                    f"only {positives} buyers of {self.category!r} in the {name} window(s): "
                    "too few to learn from; use a longer horizon_days, more history or another "
                    "category")

    def _train(self, X_tr, y_tr, X_val, y_val, *, small: bool = False) -> lgb.Booster:
        cats = self.pipeline_.categorical_indices_
        names = list(self.pipeline_.feature_names_)
        params = dict(self.lightgbm_params)
        if X_tr.shape[1] == len(names) + len(CLASSIC_NAMES):  # classic scores: all rising
            names += list(CLASSIC_NAMES)
            params["monotone_constraints"] = [0] * (len(names) - len(CLASSIC_NAMES)) + [1] * len(
                CLASSIC_NAMES)
        if small:
            params["num_leaves"] = SMALL_LEAVES
        train = lgb.Dataset(X_tr, y_tr, feature_name=names, categorical_feature=cats,
                            free_raw_data=False)
        valid = lgb.Dataset(X_val, y_val, reference=train)
        return lgb.train(
            params, train, num_boost_round=self.n_estimators,
            valid_sets=[valid], valid_names=["validation"],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)])

    def _fit_calibration(self, margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        if not self.calibrate:
            return 1.0, 0.0
        platt = LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), y)
        return float(platt.coef_[0, 0]), float(platt.intercept_[0])

    def _calibrated(self, margin: np.ndarray) -> np.ndarray:
        a, b = self.calibration_
        return expit(a * margin + b)

    def calibrated(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the booster's raw margins (what ``score_matrix``
        returns for the rows those margins belong to)."""
        check_is_fitted(self, "booster_")
        return self._calibrated(np.asarray(margin, dtype=float))

    # -- predicting --------------------------------------------------------------------------
    def features(self, data: Mapping[str, pd.DataFrame], as_of=None,
                 users: Sequence | None = None) -> pd.DataFrame:
        """The model's feature table at ``as_of`` (the fitted pipeline's transform)."""
        check_is_fitted(self, "booster_")
        return self.pipeline_.transform(data, as_of, users=users)

    # LightGBM reads a column-major matrix in place (no copy), same numbers bit for bit.
    column_major_ok = True

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the pipeline's matrix (``pipeline_.to_matrix``)."""
        # One user goes through LightGBM's single-row path, set up once per booster; for a
        # handful of rows, starting OpenMP threads costs more than the trees do.
        return self._calibrated(self._margin(self.model_matrix(X)))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of (no purchase, purchase) for a feature frame."""
        check_is_fitted(self, "booster_")
        p = self.score_matrix(self.pipeline_.to_matrix(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= threshold).astype(int)

    def feature_importance(self, kind: str = "gain") -> pd.Series:
        """LightGBM importance per feature, largest first."""
        check_is_fitted(self, "booster_")
        values = self.booster_.feature_importance(importance_type=kind)
        return pd.Series(values, index=self.booster_.feature_name()).sort_values(
            ascending=False)


def data_start(tables: Mapping[str, pd.DataFrame]) -> pd.Timestamp:
    """The earliest event in the tables (orders, social events, group joins)."""
    start = first_event(tables)
    if start is None:
        raise InsufficientDataError("no dated events: orders, social_events or groups must "
                                    "have at least one row")
    return start


def _halves(n: int, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of the validation rows, fixed by ``random_state``: early stopping, grading."""
    order = np.random.default_rng([random_state, 7]).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def _describe(name: str, booster: lgb.Booster) -> str:
    leaves = SMALL_LEAVES if name == "lightgbm_small" else booster.params.get("num_leaves")
    return f"LightGBM, {leaves} leaves, {booster.best_iteration or booster.num_trees()} trees"


def _selection_summary(candidates: list[Candidate], chosen: Candidate, *,
                       rows: tuple[int, int]) -> dict:
    """Each candidate's AUC and its difference to the winner's, the winner and why."""
    table = {c.name: {"description": c.description, "auc": c.auc,
                      "difference_to_chosen": c.auc - chosen.auc} for c in candidates}
    others = sorted((c for c in candidates if c is not chosen), key=lambda c: -c.auc)
    runner = (f"; next {others[0].name} {others[0].auc:.4f}" if others else "")
    reason = (f"{chosen.name} ({chosen.description}): highest AUC {chosen.auc:.4f} on "
              f"{rows[1]:,} validation users none of the candidates was fitted or "
              f"early-stopped on{runner}")
    return {"chosen": chosen.name, "reason": reason, "candidates": table,
            "early_stopping_rows": rows[0], "selection_rows": rows[1]}


def _longest_horizon_hint(found_days: int) -> str:
    fits = [h for h in range(found_days, 0, -1)
            if h + int(np.clip(h // 2, 7, 30)) + MIN_LEAD_DAYS <= found_days]
    if not fits:
        return "No horizon fits: bring more history, or a later as_of."
    return f"The longest horizon that fits is {fits[0]} days; or bring more history."
