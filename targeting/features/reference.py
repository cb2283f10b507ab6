"""A binned summary of a model matrix: the training-time distribution drift is measured against.

A model stores one of these (``model.reference_``), built on its training data at ``fit``: for
each feature the bin edges (deciles of the training values; categorical features bin by level)
and the share of rows in each bin, missing values as a bin of their own, and the same for the
model's score. Only these shares are kept, never a row, so the summary travels inside a logged
model without any identifier or personal value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class FeatureReference:
    """Training distribution of each feature and of the score, as binned shares.

    Attributes
    ----------
    names : list of str
        Feature names, in model-matrix order.
    edges : list of ndarray or None
        Numeric features: inner cut points; categorical ones: None (one bin per level code).
    n_levels : list of int
        Categorical features: the number of levels (0 for numeric ones).
    shares : list of ndarray
        Share of training rows per bin; the last bin holds missing values.
    score_edges, score_shares : ndarray
        The same for the model's score.
    n_rows : int
        Rows summarised.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [1.0, np.nan], [2.0, 0.0], [3.0, 1.0]])
    >>> ref = FeatureReference.fit(X, ["x", "level"], [1], np.array([.1, .2, .3, .4]))
    >>> ref.shares[1].tolist()  # levels 0, 1 and missing
    [0.25, 0.5, 0.25]
    """

    names: list[str]
    edges: list[np.ndarray | None]
    n_levels: list[int]
    shares: list[np.ndarray]
    score_edges: np.ndarray
    score_shares: np.ndarray
    n_rows: int

    @classmethod
    def fit(cls, X: np.ndarray, names: Sequence[str], categorical_indices: Sequence[int],
            scores: np.ndarray, n_bins: int = 10) -> FeatureReference:
        """Summarise a model matrix and its scores (``n_bins`` quantile bins per feature)."""
        if X.shape[1] != len(names):
            raise ValueError(f"X has {X.shape[1]} columns but {len(names)} names were given")
        cats = set(categorical_indices)
        qs = np.linspace(0, 1, n_bins + 1)[1:-1]
        edges, levels, shares = [], [], []
        for j in range(X.shape[1]):
            col = X[:, j]
            if j in cats:
                n = int(np.nanmax(col)) + 1 if np.isfinite(col).any() else 0
                edges.append(None)
                levels.append(n)
            else:
                edges.append(_edges(col, qs))
                levels.append(0)
            shares.append(None)
        ref = cls(list(names), edges, levels, shares, _edges(scores, qs),
                  np.empty(0), int(len(X)))
        ref.shares = [ref.bin_shares(j, X[:, j]) for j in range(X.shape[1])]
        ref.score_shares = _shares(_bin_numeric(scores, ref.score_edges), len(ref.score_edges) + 2)
        return ref

    def n_bins(self, j: int) -> int:
        """Bins of feature ``j``, the missing-value bin included."""
        edges = self.edges[j]
        return (self.n_levels[j] + 1) if edges is None else len(edges) + 2

    def bin_shares(self, j: int, column: np.ndarray) -> np.ndarray:
        """Share of ``column``'s values in each of feature ``j``'s bins."""
        edges = self.edges[j]
        if edges is None:
            n = self.n_levels[j]
            codes = np.where(np.isnan(column), n, column)
            # Codes past the training levels (an extended vocabulary) count as missing.
            codes = np.where((codes >= 0) & (codes <= n), codes, n).astype(np.int64)
        else:
            codes = _bin_numeric(column, edges)
        return _shares(codes, self.n_bins(j))

    def score_bin_shares(self, scores: np.ndarray) -> np.ndarray:
        return _shares(_bin_numeric(scores, self.score_edges), len(self.score_edges) + 2)


def _edges(col: np.ndarray, qs: np.ndarray) -> np.ndarray:
    finite = col[np.isfinite(col)]
    if finite.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(finite, qs))


def _bin_numeric(col: np.ndarray, edges: np.ndarray) -> np.ndarray:
    codes = np.searchsorted(edges, col, side="right")
    codes[np.isnan(col)] = len(edges) + 1
    return codes


def _shares(codes: np.ndarray, n_bins: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_bins).astype(float)
    return counts / max(counts.sum(), 1.0)
