"""Propensity: will this user buy ``category`` in the next ``horizon_days`` days?

Training is out-of-time by construction. For ``fit(tables, as_of)`` the most recent complete
window, features at ``as_of - h`` and labels in ``[as_of - h, as_of)``, is the validation
window (early stopping and calibration); the ``n_train_windows`` windows before it, stacked,
are the training data. Nothing at or after ``as_of`` is read, so the model can be evaluated
honestly on the window after ``as_of``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from targeting.data.engines import is_dask
from targeting.features.labels import purchase_labels
from targeting.features.pipeline import BUILDERS, FeaturePipeline
from targeting.features.reference import FeatureReference
from targeting.models._params import LightGBMParamsMixin

_DEFAULT_LGB = {
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 200,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "cat_smooth": 50,
}


class PropensityModel(LightGBMParamsMixin, ClassifierMixin, BaseEstimator):
    """LightGBM propensity model with its feature pipeline inside.

    Parameters
    ----------
    category : str or None, default "beauty"
        Product category to predict; None predicts any purchase.
    horizon_days : int, default 30
        Length of the label window after each snapshot.
    n_train_windows : int, default 3
        Training windows stacked before the validation window.
    builders : sequence of str, default all silos
        Feature builders to use (see :class:`~targeting.FeaturePipeline`).
    n_estimators : int, default 3000
        Upper bound on boosting rounds; early stopping on the validation window picks the number.
    early_stopping_rounds : int, default 100
    calibrate : bool, default True
        Platt-scale the scores on the validation window so they read as probabilities.
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
        Score cut points of the validation window; decile 1 is the top 10 %.
    reference_ : FeatureReference
        Binned distribution of each feature and of the score on the validation window (the
        most recent training window), for drift at scoring time.
    validation_ : dict
        Sizes, positive rates and AUC of the training and validation windows.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, seed=4)
    >>> model = PropensityModel("snacks", progress=False).fit(world.tables, world.as_of)
    >>> model.predict_proba(model.features(world.tables, world.as_of)).shape
    (3000, 2)
    """

    def __init__(self, category: str | None = "beauty", horizon_days: int = 30,
                 n_train_windows: int = 3, builders: Sequence[str] = BUILDERS,
                 n_estimators: int = 3000, early_stopping_rounds: int = 100,
                 calibrate: bool = True, random_state: int = 0, progress: bool = True,
                 **lightgbm_params: Any):
        self.category = category
        self.horizon_days = horizon_days
        self.n_train_windows = n_train_windows
        self.builders = builders
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.calibrate = calibrate
        self.random_state = random_state
        self.progress = progress
        self._lightgbm_params = dict(lightgbm_params)

    @property
    def lightgbm_params(self) -> dict[str, Any]:
        """The LightGBM parameters used: defaults updated with the user's."""
        params = {**_DEFAULT_LGB, **self._lightgbm_params}
        params.update(objective="binary", seed=self.random_state, verbosity=-1,
                      deterministic=True, force_row_wise=True)
        return params

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, tables: Mapping[str, pd.DataFrame], as_of, y=None) -> PropensityModel:
        """Train on windows before ``as_of`` (see the module docstring for the layout)."""
        as_of = pd.Timestamp(as_of)
        h = pd.Timedelta(days=self.horizon_days)
        snapshots = [as_of - h * k for k in range(1, self.n_train_windows + 2)]
        self.pipeline_ = FeaturePipeline(builders=self.builders)
        bar = tqdm(snapshots, desc="feature windows", disable=not self.progress, leave=False)
        windows = []
        for i, t in enumerate(bar):
            if i == 0:
                X = self.pipeline_.fit_transform(tables, t)
                self._check_category()
            else:
                X = self.pipeline_.transform(tables, t)
            y_t = purchase_labels(tables, t, self.horizon_days, self.category, X.index)
            windows.append((self.pipeline_.to_matrix(X), y_t.to_numpy()))
        (X_val, y_val), train = windows[0], windows[1:]
        X_tr = np.vstack([w[0] for w in train])
        y_tr = np.concatenate([w[1] for w in train])
        self._check_labels(y_tr, y_val)
        self.booster_ = self._train(X_tr, y_tr, X_val, y_val)
        margin = self.booster_.predict(X_val, raw_score=True)
        self.calibration_ = self._fit_calibration(margin, y_val)
        val_score = self._calibrated(margin)
        self.decile_edges_ = np.quantile(val_score, np.linspace(0.1, 0.9, 9))
        # Binned shares only (no rows): drift at scoring time is measured against these.
        self.reference_ = FeatureReference.fit(X_val, self.pipeline_.feature_names_,
                                               self.pipeline_.categorical_indices_, val_score)
        self.as_of_ = as_of
        self.validation_ = {
            "train_rows": int(len(y_tr)), "train_positive_rate": float(y_tr.mean()),
            "validation_rows": int(len(y_val)),
            "validation_positive_rate": float(y_val.mean()),
            "best_iteration": int(self.booster_.best_iteration or self.booster_.num_trees()),
        }
        self.classes_ = np.array([0, 1])
        return self

    def _check_category(self) -> None:
        known = self.pipeline_.categories_
        if self.category is not None and self.category not in known:
            raise ValueError(f"unknown category {self.category!r}: the data before as_of have "
                             f"{known}")

    def _check_labels(self, y_tr: np.ndarray, y_val: np.ndarray) -> None:
        for name, y in (("training", y_tr), ("validation", y_val)):
            if y.sum() < 20:
                raise ValueError(
                    f"only {int(y.sum())} buyers of {self.category!r} in the {name} window(s): "
                    "too few to learn from; use a longer horizon_days, more history or another "
                    "category")

    def _train(self, X_tr, y_tr, X_val, y_val) -> lgb.Booster:
        cats = self.pipeline_.categorical_indices_
        names = self.pipeline_.feature_names_
        train = lgb.Dataset(X_tr, y_tr, feature_name=names, categorical_feature=cats,
                            free_raw_data=False)
        valid = lgb.Dataset(X_val, y_val, reference=train)
        return lgb.train(
            self.lightgbm_params, train, num_boost_round=self.n_estimators,
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

    # -- predicting --------------------------------------------------------------------------
    def features(self, tables: Mapping[str, pd.DataFrame], as_of=None,
                 users: Sequence | None = None) -> pd.DataFrame:
        """The model's feature table at ``as_of`` (the fitted pipeline's transform)."""
        check_is_fitted(self, "booster_")
        if is_dask(tables):
            from targeting.models.dask import features_dask

            return features_dask(self, tables, as_of)
        return self.pipeline_.transform(tables, as_of, users=users)

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the model matrix (``pipeline_.to_matrix``)."""
        # For a handful of rows, starting OpenMP threads costs more than the trees do.
        threads = {"num_threads": 1} if len(X) <= 256 else {}
        return self._calibrated(self.booster_.predict(X, raw_score=True, **threads))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of (no purchase, purchase) for a feature frame."""
        check_is_fitted(self, "booster_")
        p = self.score_matrix(self.pipeline_.to_matrix(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= threshold).astype(int)

    def decile(self, scores: np.ndarray) -> np.ndarray:
        """Decile against the validation distribution: 1 = top 10 %, 10 = bottom."""
        return 10 - np.searchsorted(self.decile_edges_, scores, side="right")

    # -- evaluating --------------------------------------------------------------------------
    def evaluate(self, tables, as_of=None, *, oracle: pd.Series | None = None, label=None):
        """Evaluate on the window after ``as_of`` (default: where training stopped).

        ``tables`` may also be Dask tables (see :mod:`targeting.models.dask`).

        ``tables`` may be a :class:`~targeting.DemoWorld`; then the window is the world's
        evaluation window and the oracle (true probabilities) comes from its truth.

        Returns
        -------
        PropensityEvaluation
        """
        from targeting.evaluation.metrics import PropensityEvaluation

        check_is_fitted(self, "booster_")
        if is_dask(tables):  # features and scores per partition; metrics here
            from targeting.models.dask import evaluate_dask

            return evaluate_dask(self, tables, as_of, oracle=oracle, label=label)
        if hasattr(tables, "truth"):
            world = tables
            tables, as_of = world.tables, as_of or world.as_of
            if oracle is None and self.category is not None:
                oracle = world.truth["purchase_proba"][self.category]
        as_of = self.as_of_ if as_of is None else pd.Timestamp(as_of)
        X = self.features(tables, as_of)
        y = purchase_labels(tables, as_of, self.horizon_days, self.category, X.index)
        p = self.score_matrix(self.pipeline_.to_matrix(X))
        oracle_values = None if oracle is None else oracle.reindex(X.index).to_numpy()
        name = label or f"propensity[{self.category}] ({'+'.join(self.builders)})"
        evaluation = PropensityEvaluation.from_scores(y.to_numpy(), p, label=name,
                                                      oracle=oracle_values)
        evaluation.extra.update(as_of=str(as_of), horizon_days=self.horizon_days)
        return evaluation

    def feature_importance(self, kind: str = "gain") -> pd.Series:
        """LightGBM importance per feature, largest first."""
        check_is_fitted(self, "booster_")
        values = self.booster_.feature_importance(importance_type=kind)
        return pd.Series(values, index=self.pipeline_.feature_names_).sort_values(
            ascending=False)
