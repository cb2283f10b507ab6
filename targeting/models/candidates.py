"""The propensity model's candidates of different capacity, and the honest choice among them.

On a big log a LightGBM of default capacity learns what the classic scores miss; on a small one
it over-fits where a regularised logistic regression on log-scaled features, or the best classic
score itself, holds. Rather than guess, :class:`~targeting.PropensityModel` fits a small set of
candidates on the training snapshots and chooses on the validation snapshot (before ``as_of``):

- ``linear``: L2 logistic regression on log-scaled numeric features (sign(x) log(1 + |x|),
  standardised, a missing value read as 0 with an indicator column);
- ``lightgbm_small``: LightGBM with 4 leaves (a few interactions at most);
- ``lightgbm``: LightGBM at the default (or the user's) capacity;
- ``blend``: the mean of two percentiles, the better LightGBM's and the best classic score's
  (RFM, BG/NBD expected purchases or P(alive), recency rank), so a model that trails the
  analyst's score is pulled back to it.

Both LightGBMs keep the classic scores monotone (a higher score never lowers the prediction).
The validation snapshot's users are split in two halves once (``random_state``): LightGBM stops
early on the first, every candidate is graded on the second, which no candidate was fitted,
early-stopped or calibrated on. The highest AUC there wins; a tie goes to the simpler one (the
order above). The choice, each candidate's AUC and the paired difference of each to the winner
(DeLong) are in ``PropensityModel.selection_`` and in the evaluation.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> X = rng.exponential(size=(500, 3))
>>> y = (X[:, 0] + rng.normal(size=500) > 1.5).astype(int)
>>> linear = LogScaledLogistic().fit(X, y, categorical=[])
>>> bool(linear.margin(X)[y == 1].mean() > linear.margin(X)[y == 0].mean())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

ORDER = ("linear", "lightgbm_small", "lightgbm", "blend")  # simplest first: ties go left
SMALL_LEAVES = 4


class LogScaledLogistic:
    """L2 logistic regression on log-scaled, standardised numeric columns.

    Parameters
    ----------
    C : float, default 0.1
        Inverse regularisation strength of scikit-learn's ``LogisticRegression``.
    """

    def __init__(self, C: float = 0.1):
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray, *, categorical: Sequence[int]) -> LogScaledLogistic:
        """Fit on the numeric columns of ``X`` (``categorical`` indices are left out)."""
        self.columns_ = np.array([i for i in range(X.shape[1]) if i not in set(categorical)])
        Z = _log_scaled(X[:, self.columns_])
        self.missing_ = np.flatnonzero(np.isnan(Z).any(axis=0))
        Z = self._design(Z, fit=True)
        self.logistic_ = LogisticRegression(C=self.C, max_iter=500).fit(Z, y)
        return self

    def margin(self, X: np.ndarray) -> np.ndarray:
        """The log-odds of each row."""
        Z = self._design(_log_scaled(X[:, self.columns_]), fit=False)
        return self.logistic_.decision_function(Z)

    def _design(self, Z: np.ndarray, *, fit: bool) -> np.ndarray:
        indicators = np.isnan(Z[:, self.missing_]).astype(float)
        Z = np.hstack([np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0), indicators])
        if fit:
            self.mean_ = Z.mean(axis=0)
            self.scale_ = np.where(Z.std(axis=0) > 0, Z.std(axis=0), 1.0)
        return (Z - self.mean_) / self.scale_


def _log_scaled(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return np.sign(X) * np.log1p(np.abs(X))


class PercentileBlend:
    """The mean of two frozen percentile curves: a model's margin and one classic score.

    A percentile curve maps a value to its mid-rank share among the rows it was fitted on, so
    the blend of one user does not depend on who else is scored with them.
    """

    def __init__(self, column: int, name: str):
        self.column = column
        self.name = name

    def fit(self, margin: np.ndarray, score: np.ndarray) -> PercentileBlend:
        self.margin_curve_ = _curve(margin)
        self.score_curve_ = _curve(_missing_last(score))
        return self

    def margin(self, margin: np.ndarray, score: np.ndarray) -> np.ndarray:
        a = np.interp(margin, *self.margin_curve_)
        b = np.interp(_missing_last(score), *self.score_curve_)
        return (a + b) / 2.0


def _missing_last(score: np.ndarray) -> np.ndarray:
    """A missing classic score (no purchase) ranks below every value."""
    score = np.asarray(score, dtype=float)
    floor = np.nanmin(score) - 1.0 if np.isfinite(score).any() else 0.0
    return np.where(np.isfinite(score), score, floor)


def _curve(values: np.ndarray, grid: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    distinct, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    mid = (np.cumsum(counts) - counts / 2) / max(len(values), 1)
    if len(distinct) > grid:
        keep = np.unique(np.linspace(0, len(distinct) - 1, grid).round().astype(int))
        distinct, mid = distinct[keep], mid[keep]
    return distinct, mid


@dataclass
class Candidate:
    """One candidate: its name, what it is, and its AUC on the selection half."""

    name: str
    description: str
    auc: float
    margin: np.ndarray  # on the selection half


def auc_or_half(y: np.ndarray, s: np.ndarray) -> float:
    """The AUC, or 0.5 when only one outcome is present (nothing to rank)."""
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else 0.5


def best_classic(y: np.ndarray, scores: np.ndarray, names: Sequence[str]) -> tuple[int, float]:
    """Index and AUC of the classic score (a column of ``scores``) that ranks ``y`` best."""
    aucs = [auc_or_half(y, _missing_last(scores[:, j])) for j in range(scores.shape[1])]
    j = int(np.argmax(aucs))
    return j, aucs[j]


def choose(candidates: list[Candidate]) -> Candidate:
    """The highest AUC; a tie (to 1e-9) goes to the simpler candidate (:data:`ORDER`)."""
    ranked = sorted(candidates, key=lambda c: (-round(c.auc, 9), ORDER.index(c.name)))
    return ranked[0]
