"""Evaluation of a fitted propensity model on Dask tables: features and scores per partition,
metrics here. Only the scores and labels (two numbers per user) come back to this process."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
from dask.delayed import delayed
from sklearn.utils.validation import check_is_fitted

from targeting.data.dask import as_partitions
from targeting.evaluation.metrics import PropensityEvaluation
from targeting.features import dask as dask_features
from targeting.models.propensity import PropensityModel


def evaluate_dask(model: PropensityModel, tables, as_of=None, *, oracle: pd.Series | None = None,
                  label: str | None = None) -> PropensityEvaluation:
    """:func:`~targeting.evaluation.propensity.evaluate_propensity` on Dask tables."""
    check_is_fitted(model, "booster_")
    parts = as_partitions(tables)
    as_of = model.as_of_ if as_of is None else pd.Timestamp(as_of)
    X = dask_features.transform(model.pipeline_, parts, as_of)
    y = dask_features.labels(parts, as_of, model.horizon_days, model.category)
    shared = delayed(model, pure=True)  # one copy of the booster in the graph
    pieces = dask.compute(*[delayed(_scores_and_labels)(shared, x, t)
                            for x, t in zip(X.to_delayed(), y.to_delayed(), strict=True)])
    users = np.concatenate([p[0] for p in pieces])
    scores = np.concatenate([p[1] for p in pieces])
    labels = np.concatenate([p[2] for p in pieces])
    oracle_values = None if oracle is None else oracle.reindex(users).to_numpy()
    name = label or f"propensity[{model.category}] ({'+'.join(model.builders)}) on Dask"
    evaluation = PropensityEvaluation.from_scores(labels, scores, label=name,
                                                  oracle=oracle_values)
    evaluation.extra.update(as_of=str(as_of), horizon_days=model.horizon_days)
    return evaluation


def _scores_and_labels(model: PropensityModel, X: pd.DataFrame, y: pd.Series):
    X = X[model.pipeline_.has_record(X)]
    p = model.score_matrix(model.pipeline_.to_matrix(X))
    return X.index.to_numpy(), p, y.reindex(X.index).to_numpy()
