"""The analyst's classic scores, fitted at one point in time, as features of the model.

An analyst ranks customers by recency, by an RFM cell or by a BG/NBD model's expected
purchases; the propensity model must never do worse than those. Rather than only compete with
them, it reads them: :class:`ClassicScores` computes, from the purchase columns of the
pipeline's matrix,

- ``pur_bgnbd_expected``: BG/NBD expected purchase days in the horizon,
- ``pur_bgnbd_p_alive``: BG/NBD probability that the customer is still alive,
- ``pur_rfm``: the RFM score (recency + frequency + monetary quintiles, 3 to 15),
- ``pur_recency_rank``: the recency percentile among buyers (1 = the most recent),

with the BG/NBD and the quintiles fitted on the users of *one* snapshot (their past only).
The propensity model fits one per snapshot (each training row reads the scores of its own
date) and keeps the one fitted at ``as_of`` for scoring, so ``score()`` computes the columns
from the matrix alone, without refitting anything. Users without a purchase get missing values
(LightGBM routes them by themselves). With a category, recency and frequency are the
category's (``pur_days_since_<cat>``, ``pur_n_<cat>``); BG/NBD and monetary value read every
purchase (the builder keeps no per-category buy-till-you-die summary).

Why in the models layer, beside the BG/NBD, and not a feature builder: a builder maps one
snapshot's tables to features with nothing fitted but vocabularies, and features never import
models; these scores need parameters fitted on a population (the BG/NBD, the quintiles), which
must be fitted at training snapshots and frozen for scoring: model state, not a transform.

Examples
--------
>>> import targeting as tg
>>> world = tg.demo_world(n_users=2_000, random_state=3)
>>> pipe = tg.FeaturePipeline(builders=("purchase",))
>>> X = pipe.to_matrix(pipe.fit_transform(world.tables, world.as_of))
>>> scores = ClassicScores(30).fit(X, pipe.feature_names_)
>>> scores.transform(X).shape
(2000, 4)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from targeting.models.btyd import BetaGeoModel

NAMES = ("pur_bgnbd_expected", "pur_bgnbd_p_alive", "pur_rfm", "pur_recency_rank")
_BTYD = ("pur_btyd_frequency", "pur_btyd_recency", "pur_btyd_T")
_GRID = 512  # points kept of each percentile curve


class ClassicScores:
    """RFM, recency rank and BG/NBD scores fitted on one snapshot's users.

    Parameters
    ----------
    horizon_days : int
        The horizon of the BG/NBD expected purchases.
    category : str or None, default None
        Recency and frequency of this category's purchases (None: every purchase).

    Attributes
    ----------
    btyd_ : BetaGeoModel or None
        The BG/NBD fitted here; None when it was not (see ``note_``).
    note_ : str
        Why the BG/NBD columns are missing, or "".
    """

    names = NAMES

    def __init__(self, horizon_days: int, category: str | None = None):
        self.horizon_days = horizon_days
        self.category = category

    @staticmethod
    def available(feature_names: Sequence[str], category: str | None = None) -> bool:
        """Whether the matrix has the purchase columns the scores read."""
        return all(c in feature_names for c in (*_BTYD, *_columns(category), "pur_amount"))

    def fit(self, X: np.ndarray, feature_names: Sequence[str]) -> ClassicScores:
        """Fit the BG/NBD and the percentile curves on the rows of ``X`` (one snapshot)."""
        self.columns_ = [list(feature_names).index(c)
                         for c in (*_BTYD, *_columns(self.category), "pur_amount")]
        x, t_x, T, recency, frequency, amount = self._read(X)
        self.btyd_, self.note_ = _fit_btyd(x, t_x, T)
        bought = np.isfinite(recency) & (frequency > 0)
        self.curves_ = [_percentile_curve(v[bought]) for v in (-recency, frequency, amount)]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The four scores of each row (columns in :data:`NAMES` order)."""
        x, t_x, T, recency, frequency, amount = self._read(X)
        out = np.full((len(X), len(NAMES)), np.nan)
        bought = np.isfinite(T)
        if self.btyd_ is not None and bought.any():
            args = (x[bought], np.minimum(t_x[bought], T[bought]), T[bought])
            out[bought, 0] = self.btyd_.expected_purchases(self.horizon_days, *args)
            out[bought, 1] = self.btyd_.probability_alive(*args)
        buyer = np.isfinite(recency) & (frequency > 0)
        pct = [_percentile(curve, v[buyer]) for curve, v
               in zip(self.curves_, (-recency, frequency, amount), strict=True)]
        out[buyer, 2] = sum(np.clip(np.ceil(p * 5), 1, 5) for p in pct)
        out[buyer, 3] = pct[0]
        return out

    def _read(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        x, t_x, T, recency, frequency, amount = (X[:, i] for i in self.columns_)
        T = T + 1.0  # the calibration period counts the first purchase day
        return (np.nan_to_num(x), np.nan_to_num(t_x), T, recency, np.nan_to_num(frequency),
                np.nan_to_num(amount))


def _columns(category: str | None) -> tuple[str, str]:
    """Recency and frequency columns: every purchase, or one category's."""
    if category is None:
        return "pur_days_since_last", "pur_orders"
    return f"pur_days_since_{category}", f"pur_n_{category}"


def _fit_btyd(x, t_x, T) -> tuple[BetaGeoModel | None, str]:
    """The BG/NBD on the buyers, or None and why (too few, or a fit not to be trusted)."""
    bought = np.isfinite(T)
    x, t_x, T = x[bought], np.minimum(t_x[bought], T[bought]), T[bought]
    repeaters = int((x > 0).sum())
    if len(x) < 10 or repeaters < 5:
        return None, (f"BG/NBD not fitted: {len(x):,} buyers, {repeaters:,} with a repeat "
                      "purchase (needs 10 and 5)")
    with warnings.catch_warnings():  # the reason is kept in the note
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BetaGeoModel().fit(x, t_x, T)
    if model.problems_:
        return None, f"BG/NBD not to be trusted: {'; '.join(model.problems_)}"
    return model, ""


def _percentile_curve(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their mid-rank percentile (ties share one), at most ``_GRID``."""
    if len(values) == 0:
        return np.zeros(1), np.full(1, 0.5)
    distinct, counts = np.unique(values, return_counts=True)
    mid = (np.cumsum(counts) - counts / 2) / len(values)
    if len(distinct) > _GRID:
        keep = np.unique(np.linspace(0, len(distinct) - 1, _GRID).round().astype(int))
        distinct, mid = distinct[keep], mid[keep]
    return distinct, mid


def _percentile(curve: tuple[np.ndarray, np.ndarray], values: np.ndarray) -> np.ndarray:
    distinct, mid = curve
    return np.interp(values, distinct, mid)
