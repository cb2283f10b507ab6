"""Customer value: each user's expected revenue in ``[as_of, as_of + horizon)``.

Trained on the propensity model's point-in-time snapshots (the same schedule, the same
universe: only users who exist at a snapshot are rows; see :mod:`targeting.models.propensity`),
with the revenue of each snapshot's window as the label, and a gap before the validation
snapshot so that no training window overlaps the validation window (see ``schedule``): early
stopping and the choice between the candidates are then honest. Two models the field uses are
fitted, both LightGBM on the fused features:

- ``"two_part"``: P(buy) (binary log loss) times E[revenue | buy] (gamma log-likelihood on the
  buyers, a log link), the hurdle model of the CLV literature;
- ``"ziln"``: one booster with three outputs per user (the logit of P(buy), and the mean and
  log standard deviation of log revenue given a purchase) under the zero-inflated lognormal
  loss of Wang, Liu & Miao (2019), "A deep probabilistic model for customer lifetime value
  prediction" (a custom LightGBM objective); E[revenue] = p * exp(mu + sigma^2 / 2).

Each is early-stopped on the validation snapshot (the newest, whose window ends at ``as_of``);
``method="auto"`` keeps the one with the higher normalised Gini of revenue on that snapshot
(both are reported in ``validation_``). Then each is calibrated by one scale factor, so that
its predicted total on the validation snapshot equals the realised total there.

The optional 12-month lifetime value (``lifetime_months``) is the model's horizon value spread
over the months by each user's own BG/NBD purchase curve and discounted monthly, as the CLV
packages discount (``lifetimes.utils._customer_lifetime_value``)::

    CLV = sum_{i=1..M} v_h * (E(30 i) - E(30 (i - 1))) / E(h) / (1 + d)^i

with ``v_h`` the expected revenue in the horizon, ``E(t)`` the BG/NBD expected purchases in
the next ``t`` days given the user's history (a new customer's curve for users with none) and
``d`` the monthly discount rate: the model says how much a purchase of this user is worth and
how many to expect in the horizon; BG/NBD says how the purchases spread over the year.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from targeting.data.dates import as_of_for
from targeting.data.labels import revenue_labels
from targeting.data.schema import InsufficientDataError
from targeting.data.tables import checked_tables
from targeting.features.pipeline import BUILDERS
from targeting.features.reference import FeatureReference
from targeting.models._base import Scorable, decile_edges
from targeting.models._gini import normalised_gini
from targeting.models._params import LightGBMParamsMixin
from targeting.models.btyd import BetaGeoModel
from targeting.models.propensity import PropensityModel

METHODS = ("auto", "two_part", "ziln")
_DEFAULT_LGB = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 100,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "cat_smooth": 50,
}
MIN_BUYERS = 20  # buyers a training or validation window needs
_LOG_SIGMA = (np.log(0.05), np.log(4.0))  # the ZILN spread of log revenue stays in here
_BTYD = ("pur_btyd_frequency", "pur_btyd_recency", "pur_btyd_T")


class _RevenueSnapshots(PropensityModel):
    """The propensity model's snapshot schedule with each window's revenue as the label, and
    a gap before the validation snapshot: the value model builds its matrices through it.

    The propensity schedule steps by less than the horizon, so its newest training windows
    overlap the validation window: the same users' same purchases label both, and boosting
    that memorises users looks better on validation the longer it runs (on the demo world,
    5,000 users, seeds 7 and 8: 840 and 1,462 rounds of the purchase booster, validation Gini
    0.55 / 0.66 against 0.52 / 0.54 on the next window). Here the training snapshots are the
    schedule's own for ``as_of - h + step``: they step back from ``as_of - 2h``, so every
    training window ends where the validation window starts (same seeds: 92 and 112 rounds,
    validation 0.49 / 0.58, next window 0.53 / 0.58). With too short a history for that gap,
    the schedule's overlapping snapshots are used (``purged_`` False).
    """

    def snapshot_dates(self, data, as_of) -> list[pd.Timestamp]:
        dates = super().snapshot_dates(data, as_of)
        try:
            gapped = super().snapshot_dates(data, dates[0] + pd.Timedelta(days=self.step_days))
        except InsufficientDataError:
            self.purged_ = False
            return dates
        self.purged_ = True
        return [dates[0], *gapped[1:]]

    def _labels(self, tables, as_of: pd.Timestamp, users: pd.Index) -> np.ndarray:
        return revenue_labels(tables, as_of, self.horizon_days, self.category,
                              users).to_numpy()


class ValueModel(Scorable, LightGBMParamsMixin, BaseEstimator):
    """Expected revenue per user in the next ``horizon_days``, with its feature pipeline inside.

    Parameters
    ----------
    category : str or None, default None
        Revenue of this product category only; None counts every order.
    horizon_days : int, default 30
        Length of the revenue window after each snapshot.
    method : {"auto", "two_part", "ziln"}, default "auto"
        The model (see the module docstring); ``"auto"`` fits both and keeps the one with the
        higher normalised Gini on the validation snapshot.
    snapshot_every_days : int or None, default None
        Days between training snapshots; default half the horizon, between 7 and 30 (the
        schedule of :class:`~targeting.PropensityModel`).
    max_snapshots : int, default 6
        Training snapshots at most.
    max_train_rows : int, default 300_000
        Users are sampled evenly from every training snapshot above this many rows in all.
    lookback_days : int or None, default None
        Cut the history features read at this many days (default: the whole history).
    builders : sequence of str, default all silos
        Feature builders to use (see :class:`~targeting.FeaturePipeline`).
    n_estimators : int, default 3000
        Upper bound on boosting rounds; early stopping on the validation snapshot picks them.
    early_stopping_rounds : int, default 50
    lifetime_months : int or None, default None
        Also give a discounted lifetime value over this many months (``score()`` then adds a
        ``lifetime_value`` column; see the module docstring). Needs the purchase builder.
    monthly_discount_rate : float, default 0.01
        Discount per 30-day month of the lifetime value.
    random_state : int, default 0
    progress : bool, default True
    **lightgbm_params
        Any LightGBM parameter, overriding the defaults, for every booster.

    Attributes
    ----------
    pipeline_ : FeaturePipeline
    method_ : str
        The model kept (``"two_part"`` or ``"ziln"``).
    candidates_ : dict
        Every fitted candidate by method (each predicts calibrated expected revenue).
    scale_ : float
        The kept candidate's calibration factor: realised over predicted total revenue on the
        validation snapshot.
    decile_edges_ : ndarray
        Cut points of the expected revenue of the users who exist at ``as_of``.
    reference_ : FeatureReference
        The drift reference (that population's features and expected revenue).
    validation_ : dict
        Rows, buyer shares and revenue of the snapshots, each candidate's normalised Gini and
        scale factor on the validation snapshot (where it was early-stopped and calibrated:
        optimistic figures; see ``tg.evaluate`` for the window after ``as_of``).
    snapshots_ : list of pandas.Timestamp
        The validation snapshot first, then the training snapshots.
    purged_ : bool
        True when every training window ends where the validation window starts (see
        :meth:`schedule`); False when the history was too short for that gap.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> model = ValueModel(progress=False).fit(world.tables, world.as_of)
    >>> X = model.pipeline_.to_matrix(model.features(world.tables, world.as_of))
    >>> bool((model.score_matrix(X) >= 0).all()), model.method_ in ("two_part", "ziln")
    (True, True)
    """

    column_major_ok = True  # LightGBM reads a column-major matrix in place, same numbers

    def __init__(self, category: str | None = None, horizon_days: int = 30,
                 method: str = "auto", snapshot_every_days: int | None = None,
                 max_snapshots: int = 6, max_train_rows: int = 300_000,
                 lookback_days: int | None = None, builders: Sequence[str] = BUILDERS,
                 n_estimators: int = 3000, early_stopping_rounds: int = 50,
                 lifetime_months: int | None = None, monthly_discount_rate: float = 0.01,
                 random_state: int = 0, progress: bool = True, **lightgbm_params: Any):
        self.category = category
        self.horizon_days = horizon_days
        self.method = method
        self.snapshot_every_days = snapshot_every_days
        self.max_snapshots = max_snapshots
        self.max_train_rows = max_train_rows
        self.lookback_days = lookback_days
        self.builders = builders
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.lifetime_months = lifetime_months
        self.monthly_discount_rate = monthly_discount_rate
        self.random_state = random_state
        self.progress = progress
        self._lightgbm_params = dict(lightgbm_params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        return tags

    @property
    def lightgbm_params(self) -> dict[str, Any]:
        """The LightGBM parameters every booster starts from: defaults updated with the
        user's (each candidate sets its own objective)."""
        params = {**_DEFAULT_LGB, **self._lightgbm_params}
        params.update(seed=self.random_state, verbosity=-1, deterministic=True,
                      force_row_wise=True)
        return params

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, data: Mapping[str, pd.DataFrame], as_of, y=None) -> ValueModel:
        """Train on point-in-time snapshots before ``as_of`` (see the module docstring)."""
        self._check_params()
        data = checked_tables(data, require=("orders",))
        as_of = as_of_for(data, as_of)
        schedule = self.schedule()
        snapshots = schedule.snapshot_dates(data, as_of)
        (X_val, y_val), (X_tr, y_tr) = schedule._snapshot_matrices(data, snapshots)
        self.pipeline_, self.purged_ = schedule.pipeline_, schedule.purged_
        # Returns netted into amounts can leave a window's revenue below 0: no purchase.
        y_val, y_tr = np.clip(y_val, 0, None), np.clip(y_tr, 0, None)
        self._check_buyers(int((y_tr > 0).sum()), int((y_val > 0).sum()))
        methods = ("two_part", "ziln") if self.method == "auto" else (self.method,)
        fitters = {"two_part": self._fit_two_part, "ziln": self._fit_ziln}
        self.candidates_, gini = {}, {}
        for method in tqdm(methods, desc="value models", disable=not self.progress,
                           leave=False):
            candidate = fitters[method](X_tr, y_tr, X_val, y_val)
            raw = candidate.predict(X_val)
            candidate.scale = float(y_val.sum() / max(raw.sum(), 1e-12))
            self.candidates_[method] = candidate
            gini[method] = normalised_gini(y_val, raw)
        self.method_ = max(gini, key=lambda m: gini[m])  # ties: the first, two_part
        self.as_of_, self.snapshots_ = as_of, snapshots
        self.validation_ = self._summary(snapshots, y_tr, y_val, gini)
        self._fit_population(data, as_of)
        return self

    def schedule(self) -> PropensityModel:
        """The snapshot schedule of this model: a propensity model with the same schedule
        parameters whose ``snapshot_dates(data, as_of)`` are the dates ``fit`` uses (the
        propensity schedule, with training windows that end where validation starts)."""
        return _RevenueSnapshots(
            self.category, horizon_days=self.horizon_days,
            snapshot_every_days=self.snapshot_every_days, max_snapshots=self.max_snapshots,
            max_train_rows=self.max_train_rows, lookback_days=self.lookback_days,
            builders=self.builders, random_state=self.random_state, progress=self.progress)

    def _check_params(self) -> None:
        problems = []
        if self.method not in METHODS:
            problems.append(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if self.lifetime_months is not None and (
                not isinstance(self.lifetime_months, int | np.integer)
                or self.lifetime_months < 1):
            problems.append("lifetime_months must be a positive integer or None, got "
                            f"{self.lifetime_months!r}")
        if self.lifetime_months is not None and "purchase" not in self.builders:
            problems.append("lifetime_months needs the purchase builder (its BG/NBD summary)")
        if not 0 <= self.monthly_discount_rate < 1:
            problems.append("monthly_discount_rate must be in [0, 1), got "
                            f"{self.monthly_discount_rate!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def _check_buyers(self, train_buyers: int, validation_buyers: int) -> None:
        for name, buyers in (("training", train_buyers), ("validation", validation_buyers)):
            if buyers < MIN_BUYERS:
                raise InsufficientDataError(
                    f"only {buyers} buyers with revenue in the {name} window(s): too few to "
                    "learn from; use a longer horizon_days, more history or another category")

    def _dataset(self, X, y, *, reference=None, init_score=None) -> lgb.Dataset:
        if reference is not None:
            return lgb.Dataset(X, y, reference=reference, init_score=init_score)
        return lgb.Dataset(X, y, feature_name=self.pipeline_.feature_names_,
                           categorical_feature=self.pipeline_.categorical_indices_,
                           init_score=init_score, free_raw_data=False)

    def _boost(self, params, train, valid, **kwargs) -> lgb.Booster:
        booster = lgb.train({**self.lightgbm_params, **params}, train,
                            num_boost_round=self.n_estimators, valid_sets=[valid],
                            valid_names=["validation"],
                            callbacks=[lgb.early_stopping(self.early_stopping_rounds,
                                                          verbose=False)], **kwargs)
        # Kept as its best iteration's model text: no training callbacks inside, and a
        # pickled model that loads the same anywhere.
        best = booster.best_iteration or booster.current_iteration()
        return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))

    def _fit_two_part(self, X_tr, y_tr, X_val, y_val) -> TwoPartValue:
        buy_tr, buy_val = y_tr > 0, y_val > 0
        train = self._dataset(X_tr, buy_tr.astype(float))
        buy = self._boost({"objective": "binary"}, train,
                          self._dataset(X_val, buy_val.astype(float), reference=train))
        train = self._dataset(X_tr[buy_tr], y_tr[buy_tr])
        spend = self._boost({"objective": "gamma"}, train,
                            self._dataset(X_val[buy_val], y_val[buy_val], reference=train))
        return TwoPartValue(buy, spend)

    def _fit_ziln(self, X_tr, y_tr, X_val, y_val) -> ZilnValue:
        init = ziln_init(y_tr)
        train = self._dataset(X_tr, y_tr, init_score=np.tile(init, (len(y_tr), 1)))
        valid = self._dataset(X_val, y_val, reference=train,
                              init_score=np.tile(init, (len(y_val), 1)))
        booster = self._boost({"objective": ziln_objective, "num_class": 3, "metric": "None"},
                              train, valid, feval=ziln_metric)
        return ZilnValue(booster, init)

    def _summary(self, snapshots, y_tr, y_val, gini) -> dict:
        out = {
            "train_rows": int(len(y_tr)),
            "train_buyer_rate": float((y_tr > 0).mean()),
            "validation_rows": int(len(y_val)),
            "validation_buyer_rate": float((y_val > 0).mean()),
            "validation_revenue": float(y_val.sum()),
            "train_snapshots": len(snapshots) - 1,
            "first_snapshot": str(snapshots[-1].date()),
            "gap_before_validation": self.purged_,
            "method": self.method_,
            "scale": self.scale_,
        }
        for method, candidate in self.candidates_.items():
            out[f"validation_gini_{method}"] = float(gini[method])
            out[f"scale_{method}"] = candidate.scale
            out[f"best_iterations_{method}"] = "+".join(map(str, candidate.iterations()))
        return out

    def _fit_population(self, tables, as_of) -> None:
        """Decile cut points, the drift reference and the lifetime curve's BG/NBD, from the
        users who exist at ``as_of`` (no labels read)."""
        X = self.pipeline_.transform(tables, as_of)
        matrix = self.pipeline_.to_matrix(X[self.pipeline_.has_record(X)])
        if self.lifetime_months is not None:
            self.lifetime_btyd_ = self._fit_lifetime_btyd(matrix)
        scores = self.score_matrix(matrix)
        self.decile_edges_ = decile_edges(scores)
        self.reference_ = FeatureReference.fit(matrix, self.pipeline_.feature_names_,
                                               self.pipeline_.categorical_indices_, scores)

    # -- predicting --------------------------------------------------------------------------
    @property
    def scale_(self) -> float:
        check_is_fitted(self, "candidates_")
        return self.candidates_[self.method_].scale

    def features(self, data: Mapping[str, pd.DataFrame], as_of=None,
                 users: Sequence | None = None) -> pd.DataFrame:
        """The model's feature table at ``as_of`` (the fitted pipeline's transform)."""
        check_is_fitted(self, "candidates_")
        return self.pipeline_.transform(data, as_of, users=users)

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        """Expected revenue in the horizon for each row of the model matrix."""
        check_is_fitted(self, "candidates_")
        return self.candidates_[self.method_].expected(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected revenue in the horizon for each row of a feature frame."""
        check_is_fitted(self, "candidates_")
        return self.score_matrix(self.pipeline_.to_matrix(X))

    def predict_value(self, X: pd.DataFrame) -> np.ndarray:
        """Expected revenue per row of a feature frame: what a plan reads as each user's
        value (:class:`~targeting.data.money.ValueSource`). The frame must hold this model's
        features (its pipeline's ``transform``); any other is refused by name."""
        return self.predict(X)

    def extra_columns(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """``expected_value`` (the score, named in money) and, with ``lifetime_months``, the
        discounted ``lifetime_value``."""
        value = self.score_matrix(X)
        out = {"expected_value": value}
        if self.lifetime_months is not None:
            out["lifetime_value"] = value * self._lifetime_factor(X)
        return out

    def lifetime_value(self, X: pd.DataFrame) -> np.ndarray:
        """Discounted lifetime value over ``lifetime_months`` for a feature frame (see the
        module docstring for the definition)."""
        check_is_fitted(self, "lifetime_btyd_")
        matrix = self.pipeline_.to_matrix(X)
        return self.score_matrix(matrix) * self._lifetime_factor(matrix)

    def feature_importance(self, kind: str = "gain") -> pd.Series:
        """LightGBM importance per feature, summed over the kept model's boosters."""
        check_is_fitted(self, "candidates_")
        values = sum(b.feature_importance(importance_type=kind)
                     for b in self.candidates_[self.method_].boosters())
        return pd.Series(values, index=self.pipeline_.feature_names_).sort_values(
            ascending=False)

    # -- lifetime value ------------------------------------------------------------------------
    def _btyd_summary(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        """(frequency, recency, T) in days from the purchase features; users with no purchase
        are new customers (0, 0, and a T of almost 0)."""
        names = self.pipeline_.feature_names_
        x, t_x, T = (X[:, names.index(c)] for c in _BTYD)
        bought = np.isfinite(T)
        x, t_x = np.where(bought, x, 0.0), np.where(bought, t_x, 0.0)
        T = np.where(bought, T + 1.0, 1e-6)  # the purchase day itself counts
        return x, np.minimum(t_x, T), T

    def _fit_lifetime_btyd(self, matrix: np.ndarray) -> BetaGeoModel:
        x, t_x, T = self._btyd_summary(matrix)
        bought = T >= 1
        if bought.sum() < 10 or (x[bought] > 0).sum() < 5:
            raise InsufficientDataError(
                f"{int(bought.sum())} buyers at as_of: too few to fit the BG/NBD curve the "
                "lifetime value needs; leave lifetime_months=None")
        return BetaGeoModel().fit(x[bought], t_x[bought], T[bought])

    def _lifetime_factor(self, X: np.ndarray) -> np.ndarray:
        """sum_i (E(30 i) - E(30 (i - 1))) / (1 + d)^i / E(h), per row."""
        x, t_x, T = self._btyd_summary(X)
        btyd = self.lifetime_btyd_
        months = np.arange(1, self.lifetime_months + 1)
        cumulative = np.column_stack([np.zeros(len(x))] + [
            btyd.expected_purchases(30.0 * i, x, t_x, T) for i in months])
        discounted = (np.diff(cumulative, axis=1)
                      / (1 + self.monthly_discount_rate) ** months).sum(axis=1)
        horizon = btyd.expected_purchases(float(self.horizon_days), x, t_x, T)
        return discounted / np.maximum(horizon, 1e-12)


# -- the candidates ----------------------------------------------------------------------------
def _raw(booster: lgb.Booster, X: np.ndarray) -> np.ndarray:
    # For a handful of rows, starting OpenMP threads costs more than the trees do.
    threads = {"num_threads": 1} if len(X) <= 256 else {}
    return booster.predict(X, raw_score=True, **threads)


class TwoPartValue:
    """P(buy) x E[revenue | buy]: a binary booster and a gamma (log link) booster."""

    scale = 1.0

    def __init__(self, buy: lgb.Booster, spend: lgb.Booster):
        self.buy, self.spend = buy, spend

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Expected revenue before calibration."""
        return expit(_raw(self.buy, X)) * np.exp(_raw(self.spend, X))

    def expected(self, X: np.ndarray) -> np.ndarray:
        """Calibrated expected revenue."""
        return self.scale * self.predict(X)

    def boosters(self) -> list[lgb.Booster]:
        return [self.buy, self.spend]

    def iterations(self) -> list[int]:
        return [b.current_iteration() for b in self.boosters()]


class ZilnValue:
    """The zero-inflated lognormal booster: raw outputs (logit p, mu, log sigma) plus their
    starting values."""

    scale = 1.0

    def __init__(self, booster: lgb.Booster, init: np.ndarray):
        self.booster, self.init = booster, np.asarray(init, dtype=float)

    def parameters(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P(buy), mu and sigma of log revenue given a purchase, per row."""
        raw = _raw(self.booster, X).reshape(len(X), 3) + self.init
        return expit(raw[:, 0]), raw[:, 1], np.exp(np.clip(raw[:, 2], *_LOG_SIGMA))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Expected revenue before calibration: p exp(mu + sigma^2 / 2)."""
        p, mu, sigma = self.parameters(X)
        return p * np.exp(mu + sigma**2 / 2)

    def expected(self, X: np.ndarray) -> np.ndarray:
        return self.scale * self.predict(X)

    def boosters(self) -> list[lgb.Booster]:
        return [self.booster]

    def iterations(self) -> list[int]:
        return [self.booster.current_iteration()]


def ziln_init(y: np.ndarray) -> np.ndarray:
    """Starting raw outputs: the logit of the buyer share, and the mean and log standard
    deviation of log revenue among buyers."""
    y = np.asarray(y, dtype=float)
    log_y = np.log(y[y > 0])
    share = np.clip((y > 0).mean(), 1e-6, 1 - 1e-6)
    sd = max(float(log_y.std()), 0.1)
    return np.array([logit(share), float(log_y.mean()), np.log(sd)])


def _ziln_parts(raw: np.ndarray, y: np.ndarray):
    raw = raw.reshape(len(y), 3)
    p = expit(raw[:, 0])
    log_sigma = np.clip(raw[:, 2], *_LOG_SIGMA)
    bought = y > 0
    log_y = np.log(np.where(bought, y, 1.0))
    z2 = ((log_y - raw[:, 1]) / np.exp(log_sigma)) ** 2
    return p, raw[:, 1], log_sigma, bought, log_y, z2


def ziln_objective(raw: np.ndarray, data: lgb.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and (Fisher) Hessian of the zero-inflated lognormal negative log-likelihood
    in the raw outputs (logit p, mu, log sigma); the last two only on buyers' rows."""
    y = data.get_label()
    p, mu, log_sigma, bought, log_y, z2 = _ziln_parts(raw, y)
    inv_var = np.exp(-2 * log_sigma)
    grad = np.column_stack([p - bought, bought * (mu - log_y) * inv_var, bought * (1 - z2)])
    hess = np.column_stack([np.maximum(p * (1 - p), 1e-6), bought * inv_var, bought * 2.0])
    return grad, hess


def ziln_loss(raw: np.ndarray, y: np.ndarray) -> float:
    """Mean zero-inflated lognormal negative log-likelihood (Wang et al. 2019, equation 3)."""
    p, _, log_sigma, bought, log_y, z2 = _ziln_parts(raw, np.asarray(y, dtype=float))
    p = np.clip(p, 1e-12, 1 - 1e-12)
    positive = -np.log(p) + log_y + log_sigma + 0.5 * np.log(2 * np.pi) + z2 / 2
    return float(np.where(bought, positive, -np.log1p(-p)).mean())


def ziln_metric(raw: np.ndarray, data: lgb.Dataset) -> tuple[str, float, bool]:
    """The ZILN loss as LightGBM's validation metric (early stopping)."""
    return "ziln", ziln_loss(raw, data.get_label()), False
