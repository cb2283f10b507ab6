"""Drift: the population stability index of each feature and of the score at scoring time.

``PSI = sum((actual - expected) * ln(actual / expected))`` over the bins of the training
distribution (:class:`~targeting.features.reference.FeatureReference`, stored in the model),
shares floored at 1e-4 so an empty bin counts but never divides by zero. The usual reading:
below 0.1 stable, 0.1-0.25 a moderate shift worth a look, above 0.25 a major shift (retrain,
or find the broken feed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting.features.reference import FeatureReference

MODERATE, MAJOR = 0.1, 0.25
_FLOOR = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two vectors of bin shares.

    Examples
    --------
    >>> psi(np.array([0.5, 0.5]), np.array([0.5, 0.5]))
    0.0
    >>> round(psi(np.array([0.5, 0.5]), np.array([0.9, 0.1])), 3)
    0.879
    """
    e = np.maximum(np.asarray(expected, float), _FLOOR)
    a = np.maximum(np.asarray(actual, float), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def level(value: float) -> str:
    return "major" if value > MAJOR else "moderate" if value > MODERATE else "stable"


@dataclass
class DriftReport:
    """PSI of each feature and of the score against the model's training data.

    Attributes
    ----------
    table : DataFrame
        Index ``feature``; columns ``silo``, ``psi``, ``level``, largest PSI first.
    score_psi : float
        PSI of the model's score.
    n_rows, reference_rows : int
        Rows scored and rows the training reference summarised.
    """

    table: pd.DataFrame
    score_psi: float
    n_rows: int
    reference_rows: int

    @property
    def score_level(self) -> str:
        return level(self.score_psi)

    @property
    def metrics(self) -> dict[str, float]:
        """Numbers to log: score PSI, largest feature PSI, features with a major shift."""
        return {"psi_score": self.score_psi,
                "psi_max_feature": float(self.table.psi.max()),
                "psi_features_moderate": int((self.table.level == "moderate").sum()),
                "psi_features_major": int((self.table.level == "major").sum())}

    def plot(self, ax=None, *, k: int = 20):
        """Bar chart of the ``k`` largest feature PSIs, with the score's PSI and the
        thresholds."""
        import matplotlib.pyplot as plt

        shown = self.table.head(k).iloc[::-1]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.28 * len(shown) + 1.6))
        fig = ax.figure
        colours = shown.level.map({"stable": "#1E88E5", "moderate": "#FFA000",
                                   "major": "#D81B60"})
        ax.barh(shown.index, shown.psi, color=colours)
        for x in (MODERATE, MAJOR):
            ax.axvline(x, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("population stability index")
        ax.set_title(f"drift against training: score PSI {self.score_psi:.3f} "
                     f"({self.score_level})")
        fig.tight_layout()
        return fig

    def _repr_html_(self) -> str:
        head = (f"<b>Drift</b> of {self.n_rows:,} scored users against {self.reference_rows:,} "
                f"training rows: score PSI {self.score_psi:.4f} ({self.score_level}); "
                f"{(self.table.level != 'stable').sum()} feature(s) shifted<br>")
        return head + self.table.head(15).to_html(float_format="{:.4f}".format)

    def __repr__(self) -> str:
        return (f"DriftReport(score_psi={self.score_psi:.4f}, "
                f"max_feature_psi={self.table.psi.max():.4f}, n_rows={self.n_rows})")


def drift(reference: FeatureReference, X: np.ndarray, scores: np.ndarray,
          silo_of=None) -> DriftReport:
    """Compare a scored model matrix with the training reference.

    Parameters
    ----------
    reference : FeatureReference
        ``model.reference_``.
    X : ndarray of shape (n_users, n_features)
        The model matrix that was scored.
    scores : ndarray
        The model's scores for those rows.
    silo_of : callable, optional
        Feature name -> silo (``pipeline_.silo_of``), for the report's ``silo`` column.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(5_000, 2))
    >>> ref = FeatureReference.fit(X, ["same", "shifted"], [], X[:, 0])
    >>> X2 = np.column_stack([rng.normal(size=5_000), rng.normal(1.0, size=5_000)])
    >>> report = drift(ref, X2, X2[:, 0])
    >>> report.table.level.to_dict()
    {'shifted': 'major', 'same': 'stable'}
    """
    if X.shape[1] != len(reference.names):
        raise ValueError(f"X has {X.shape[1]} columns; the model's reference has "
                         f"{len(reference.names)}")
    values = [psi(reference.shares[j], reference.bin_shares(j, X[:, j]))
              for j in range(X.shape[1])]
    table = pd.DataFrame({"silo": [silo_of(n) if silo_of else "" for n in reference.names],
                          "psi": values}, index=pd.Index(reference.names, name="feature"))
    table["level"] = table.psi.map(level)
    table = table.sort_values("psi", ascending=False, kind="stable")
    score_psi = psi(reference.score_shares, reference.score_bin_shares(np.asarray(scores)))
    return DriftReport(table, score_psi, int(len(X)), reference.n_rows)
