"""Evaluate a fitted propensity model on the label window after ``as_of``.

The evaluation is a function of the model, not a method of it: models never import
evaluation (see ``docs/architecture.md``). The users are those who exist at ``as_of``; beside
the model the evaluation holds the classic baselines on the same users and window.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from sklearn.utils.validation import check_is_fitted

from targeting.data.dates import as_of_for
from targeting.data.engines import is_dask
from targeting.data.labels import purchase_labels
from targeting.data.schema import InsufficientDataError
from targeting.data.tables import checked_tables
from targeting.evaluation.baselines import baseline_scores
from targeting.evaluation.metrics import PropensityEvaluation
from targeting.models.propensity import PropensityModel


def evaluate_propensity(model: PropensityModel, data, as_of=None, *,
                        oracle: pd.Series | None = None, label: str | None = None,
                        baselines: bool = True) -> PropensityEvaluation:
    """Evaluate ``model`` on the ``horizon_days`` after ``as_of`` (default: where training stopped).

    Parameters
    ----------
    model : PropensityModel
        A fitted model.
    data : mapping of DataFrame, DemoWorld or Dask tables
        With a :class:`~targeting.DemoWorld`, the window is the world's evaluation window and
        the oracle (true probabilities) comes from its truth. Dask tables are scored per
        partition (:mod:`targeting.evaluation.dask`).
    as_of : date-like, optional
    oracle : Series, optional
        True probabilities by ``user_id`` (the demo world's), for the oracle AUC.
    label : str, optional
    baselines : bool, default True
        Add recency, frequency, RFM and BG/NBD on the same users and window.

    Returns
    -------
    PropensityEvaluation

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> model = tg.PropensityModel("snacks", progress=False).fit(world.tables, world.as_of)
    >>> evaluation = evaluate_propensity(model, world)
    >>> 0.5 < evaluation.metrics["auc"] <= 1
    True
    """
    check_is_fitted(model, "booster_")
    if is_dask(data):  # features and scores per partition; metrics here
        from targeting.evaluation.dask import evaluate_dask

        return evaluate_dask(model, data, as_of, oracle=oracle, label=label)
    if hasattr(data, "truth"):  # a demo world: its window and its oracle
        world = data
        data, as_of = world.tables, as_of or world.as_of
        if oracle is None and model.category is not None:
            oracle = world.truth["purchase_proba"][model.category]
    data = checked_tables(data, require=("orders",))
    as_of = model.as_of_ if as_of is None else as_of_for(data, as_of)
    check_label_window(data, as_of, model.horizon_days)
    X = model.features(data, as_of)
    X = X[model.pipeline_.has_record(X)]  # the users who exist at as_of
    y = purchase_labels(data, as_of, model.horizon_days, model.category, X.index)
    p = model.score_matrix(model.pipeline_.to_matrix(X))
    oracle_values = None if oracle is None else oracle.reindex(X.index).to_numpy()
    evaluation = PropensityEvaluation.from_scores(y.to_numpy(), p, label=label or _name(model),
                                                  oracle=oracle_values)
    if baselines and "orders" in data:
        evaluation.add_baselines(
            baseline_scores(data, as_of, X.index, model.category, model.horizon_days),
            y.to_numpy())
    evaluation.selection = getattr(model, "selection_", None)
    evaluation.extra.update(as_of=str(as_of), horizon_days=model.horizon_days)
    return evaluation


def _name(model: PropensityModel) -> str:
    """``propensity[beauty] (social+purchase)``: the category and the silos the model read."""
    pipe = model.pipeline_
    silos = dict.fromkeys(pipe.silo_of(f) for f in pipe.feature_names_)
    return f"propensity[{model.category or 'any'}] ({'+'.join(silos)})"


def check_label_window(tables: Mapping[str, pd.DataFrame], as_of, horizon_days: int) -> None:
    """Refuse a label window that runs past the last order: its buyers are not known yet."""
    last = tables["orders"]["ts"].max()
    end = as_of + pd.Timedelta(days=horizon_days)
    latest = last + pd.Timedelta(days=1) - pd.Timedelta(days=horizon_days)
    if pd.notna(last) and end > last + pd.Timedelta(days=1):
        raise InsufficientDataError(
            f"the {horizon_days}-day label window after as_of={as_of.date()} ends on "
            f"{end.date()}, after the data (last order {last.date()}): evaluate at an as_of "
            f"no later than {latest.date()} or with a shorter horizon")
