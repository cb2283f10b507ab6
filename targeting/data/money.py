"""Money: what each arm's contact costs, what each user's conversion is worth, and how a budget
is spent.

A brand decides in money. A contact costs its arm's price (a coupon its face value, a push
almost nothing) and a conversion is worth the user's value (a margin, an expected order value,
a customer value). One module holds the three rules every plan follows (the campaign plan,
the closed loop, the demo's oracle), so they read prices and values the same way:

- :func:`arm_costs`: a price per treatment arm, from one number or a mapping arm -> price;
- :func:`user_values`: a value per user, from one number, a ``pandas.Series`` indexed by
  ``user_id``, or a value model (:class:`ValueSource`);
- :func:`spend_budget`: users taken in rank order while the money lasts; one who no longer
  fits is skipped and cheaper ones after them may still fit.

It sits in the data layer because the demo world's oracle (``data/demo_response.py``) spends a
budget too; it imports nothing of the package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from targeting.data.schema import SchemaError

# Cumulative costs are float sums: a budget of 0.3 must buy three contacts of 0.1.
_SLACK = 1e-9


@runtime_checkable
class ValueSource(Protocol):
    """A model of each user's value: expected revenue (or margin) per row of a feature frame.

    Anything with ``predict_value(X)`` returning one finite, non-negative number per row of
    ``X`` (the plan's feature frame, ``user_id`` index) plugs into
    :func:`~targeting.plan_campaign` and :class:`~targeting.CampaignLoop` as
    ``value_per_conversion``. A model with only ``score_matrix(X)`` (the scoring contract,
    ``models/_base.py``) is called the same way; it must take the same feature matrix as the
    uplift model. A model built on other features plugs in through its predictions as a
    ``Series`` indexed by ``user_id`` instead.
    """

    def predict_value(self, X) -> np.ndarray: ...


def arm_costs(cost_per_contact: float | Mapping[str, float], arms) -> dict[str, float]:
    """Each treatment arm's price of one contact.

    Parameters
    ----------
    cost_per_contact : float or mapping of arm to float
        One price for every arm, or a price per arm (``{"coupon": 5.0, "push": 0.01}``);
        every arm of ``arms`` must be priced, and every price must be positive.
    arms : sequence of str
        The treatment arms to price.

    Examples
    --------
    >>> arm_costs({"coupon": 5.0, "push": 0.01, "sms": 0.05}, ["coupon", "push"])
    {'coupon': 5.0, 'push': 0.01}
    >>> arm_costs(1.0, ["coupon", "push"])
    {'coupon': 1.0, 'push': 1.0}
    """
    arms = [str(a) for a in arms]
    if isinstance(cost_per_contact, Mapping):
        prices = {str(k): v for k, v in cost_per_contact.items()}
        missing = [a for a in arms if a not in prices]
        if missing:
            raise SchemaError([f"cost_per_contact has no price for arm(s) {missing}: price every "
                               f"treatment arm ({arms}), e.g. "
                               f"{ {a: prices.get(a, 1.0) for a in arms} }"])
    else:
        prices = dict.fromkeys(arms, cost_per_contact)
    bad = {a: prices[a] for a in arms if not _positive(prices[a])}
    if bad:
        raise SchemaError([f"cost_per_contact must be a positive number per arm, got {bad}"])
    return {a: float(prices[a]) for a in arms}


def unit_cost(costs: Mapping[str, float]) -> float | None:
    """The one price when every arm costs the same (a budget is then a number of contacts),
    else None.

    Examples
    --------
    >>> unit_cost({"coupon": 1.0, "push": 1.0}), unit_cost({"coupon": 5.0, "push": 0.01})
    (1.0, None)
    """
    prices = set(costs.values())
    return prices.pop() if len(prices) == 1 else None


def user_values(value_per_conversion, X) -> np.ndarray:
    """One value per row of ``X``: what a conversion of that user is worth.

    Parameters
    ----------
    value_per_conversion : None, float, Series or ValueSource
        None: the outcome is money already (revenue uplift), every value 1. A number: the same
        for everyone. A ``Series`` indexed by ``user_id``: read at ``X``'s index (every user
        needs one). A value model: ``predict_value(X)`` (or ``score_matrix(X)``), one
        expected value per row.
    X : DataFrame
        The users' features, ``user_id`` index.

    Examples
    --------
    >>> X = pd.DataFrame({"f": [0.1, 0.2]}, index=pd.Index([7, 9], name="user_id"))
    >>> user_values(pd.Series({9: 30.0, 7: 12.5}), X).tolist()
    [12.5, 30.0]
    >>> user_values(60, X).tolist()
    [60.0, 60.0]
    """
    n = len(X)
    if value_per_conversion is None:
        return np.ones(n)
    if isinstance(value_per_conversion, pd.Series):
        values = _from_series(value_per_conversion, X)
    elif hasattr(value_per_conversion, "predict_value") or hasattr(value_per_conversion,
                                                                   "score_matrix"):
        predict = getattr(value_per_conversion, "predict_value", None) or \
            value_per_conversion.score_matrix
        values = np.asarray(predict(X), dtype=float).reshape(-1)
        if len(values) != n:
            raise SchemaError([f"value_per_conversion: the value model returned {len(values)} "
                               f"values for {n} users; it must return one per row"])
    elif _positive(value_per_conversion):
        return np.full(n, float(value_per_conversion))
    else:
        raise SchemaError([f"value_per_conversion must be a positive number, a Series of values "
                           f"by user_id, or a value model with predict_value(X); got "
                           f"{value_per_conversion!r}"])
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise SchemaError([f"value_per_conversion: {int(bad.sum())} value(s) missing, infinite "
                           f"or negative; every user's value must be a finite amount >= 0"])
    return values


def describe_value(value_per_conversion) -> str:
    """A short text of where the values come from (for displays and MLflow params)."""
    if value_per_conversion is None:
        return "the outcome (money)"
    if isinstance(value_per_conversion, pd.Series):
        return f"per user ({len(value_per_conversion):,} values)"
    if isinstance(value_per_conversion, int | float):
        return f"{float(value_per_conversion):g}"
    return f"per user ({type(value_per_conversion).__name__})"


def spend_budget(order: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """Positions of ``order`` taken while ``budget`` lasts: in order, each user whose cost still
    fits; a user who no longer fits is skipped, and cheaper ones after them may still fit.

    Parameters
    ----------
    order : array of int
        Users (row positions) in priority order.
    cost : array of float
        Each user's contact cost, by row position.
    budget : float

    Examples
    --------
    >>> spend_budget(np.array([0, 1, 2, 3]), np.array([5.0, 5.0, 1.0, 0.5]), 6.2).tolist()
    [0, 2]
    """
    order = np.asarray(order, dtype=np.int64)
    if not len(order):
        return order
    c = np.asarray(cost, dtype=float)[order]
    limit = budget * (1 + _SLACK)
    k = int(np.searchsorted(np.cumsum(c), limit, side="right"))
    taken, left = [order[:k]], limit - c[:k].sum()
    if k < len(order):  # fill what is left with later, cheaper users
        cheapest = np.minimum.accumulate(c[::-1])[::-1]  # the cheapest at or after each
        extra = []
        for i in range(k + 1, len(order)):
            if cheapest[i] > left:
                break
            if c[i] <= left:
                extra.append(order[i])
                left -= c[i]
        taken.append(np.asarray(extra, dtype=np.int64))
    return np.concatenate(taken)


def _from_series(values: pd.Series, X) -> np.ndarray:
    index = getattr(X, "index", None)
    if not isinstance(X, pd.DataFrame):
        raise SchemaError(["value_per_conversion: a Series of values needs the users' features "
                           "as a DataFrame with a user_id index"])
    if not values.index.is_unique:
        raise SchemaError(["value_per_conversion: the Series has a user_id twice; one value per "
                           "user"])
    try:
        out = pd.to_numeric(values, errors="raise").reindex(index).to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise SchemaError(["value_per_conversion: the Series must hold numbers"]) from None
    missing = int(np.isnan(out).sum())
    if missing:
        raise SchemaError([f"value_per_conversion: no value for {missing:,} of the {len(out):,} "
                           f"users; give every user one (e.g. "
                           f"values.reindex(X.index).fillna(values.median()))"])
    return out


def _positive(v) -> bool:
    return (isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            and math.isfinite(float(v)) and float(v) > 0)
