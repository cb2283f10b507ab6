"""The scoring contract: what :func:`targeting.score` and every MLflow pyfunc need of a model.

A scorable model holds

- ``pipeline_``: the fitted :class:`~targeting.FeaturePipeline` that turns tables into its matrix;
- ``score_matrix(X)``: one score per row of that matrix (higher = more worth targeting);
- ``decile_edges_``: nine fixed cut points (:func:`decile_edges` of a reference population), so a
  user's decile does not depend on who else is scored in the same batch;
- ``reference_``: the binned training distribution for drift (None when the model has none);
- ``extra_columns(X)``: more columns the model has to say (an uplift model's arm), default none.

``decile`` is written here once. :class:`~targeting.scoring.Scorer` reads only these names.

Examples
--------
>>> decile_edges(np.arange(101)).round(6).tolist()[:3]
[10.0, 20.0, 30.0]
"""

from __future__ import annotations

import numpy as np

DECILE_QUANTILES = np.linspace(0.1, 0.9, 9)


def decile_edges(scores: np.ndarray) -> np.ndarray:
    """The nine cut points between score deciles of a reference population."""
    return np.quantile(np.asarray(scores, dtype=float), DECILE_QUANTILES)


def decile_of(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Decile of each score against fixed cut points: 1 = top 10 %, 10 = bottom.

    Examples
    --------
    >>> decile_of(np.array([95.0, 5.0]), decile_edges(np.arange(101))).tolist()
    [1, 10]
    """
    return 10 - np.searchsorted(edges, scores, side="right")


class Scorable:
    """Mixin: the scoring contract (see the module docstring). Subclasses set ``pipeline_`` and
    ``decile_edges_`` when fitted and implement ``score_matrix``."""

    reference_ = None  # no drift reference unless the model fits one

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def decile(self, scores: np.ndarray) -> np.ndarray:
        """Decile against the model's fixed cut points: 1 = top 10 %, 10 = bottom."""
        return decile_of(scores, self.decile_edges_)

    def extra_columns(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Columns the model adds to ``score()`` beside the score (none by default)."""
        return {}
