"""Evaluation: every function takes a fitted model (models never import evaluation).

:func:`evaluate` dispatches on the model: a propensity model is evaluated on the label window
after ``as_of`` (:func:`~targeting.evaluation.propensity.evaluate_propensity`), a lookalike model
on its held-out seeds and, with a demo world, on the planted truth
(:func:`~targeting.evaluation.audience.evaluate_lookalike`), a value model on the revenue of the
window after ``as_of`` (:func:`~targeting.evaluation.value.evaluate_value`).
"""

from __future__ import annotations

from targeting.evaluation.audience import LookalikeEvaluation, evaluate_lookalike
from targeting.evaluation.metrics import PropensityEvaluation
from targeting.evaluation.propensity import evaluate_propensity
from targeting.evaluation.value import ValueEvaluation, evaluate_value
from targeting.models.lookalike.model import LookalikeModel
from targeting.models.propensity import PropensityModel
from targeting.models.value import ValueModel

__all__ = ["LookalikeEvaluation", "PropensityEvaluation", "ValueEvaluation", "evaluate",
           "evaluate_lookalike", "evaluate_propensity", "evaluate_value"]


def evaluate(model, data=None, as_of=None, **options):
    """Evaluate a fitted model; the function for its kind does the work.

    Parameters
    ----------
    model : PropensityModel, ValueModel or LookalikeModel
    data : tables, DemoWorld or Dask tables
        Propensity and value: the tables (or a demo world) holding the window after
        ``as_of``.
        Lookalike: an optional demo world, to score against its planted truth.
    as_of : date-like, optional
        Propensity and value (default: the world's, or where training stopped).
    **options
        Passed on: ``oracle``, ``label``, ``baselines`` (propensity, value); ``n_bootstrap``,
        ``confidence``, ``random_state`` (value); ``sizes``, ``category`` (lookalike).

    Returns
    -------
    PropensityEvaluation, ValueEvaluation or LookalikeEvaluation

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=3_000, random_state=4)
    >>> model = tg.PropensityModel("snacks", progress=False).fit(world.tables, world.as_of)
    >>> type(tg.evaluate(model, world)).__name__
    'PropensityEvaluation'
    """
    if isinstance(model, ValueModel):
        return evaluate_value(model, data, as_of, **options)
    if isinstance(model, PropensityModel):
        return evaluate_propensity(model, data, as_of, **options)
    if isinstance(model, LookalikeModel):
        if as_of is not None:
            raise TypeError("a lookalike model is evaluated at the as_of it was fitted at; "
                            "drop as_of")
        return evaluate_lookalike(model, data, **options)
    raise TypeError(f"cannot evaluate a {type(model).__name__}: expected a PropensityModel, a "
                    "ValueModel or a LookalikeModel (uplift models: targeting.evaluate_uplift)")
