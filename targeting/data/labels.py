"""Labels: what happened in the window after ``as_of`` (and only there)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.data.dates import as_timestamp
from targeting.data.identity import resolve_identity


def purchase_labels(tables: dict[str, pd.DataFrame], as_of, horizon_days: int,
                    category: str | None, users: pd.Index) -> pd.Series:
    """1 for users who ordered ``category`` (any category if None) in ``[as_of, as_of+h)``.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=1_000, random_state=3)
    >>> y = purchase_labels(w.tables, w.as_of, 30, "beauty", w.truth["purchase_proba"].index)
    >>> bool(0 < y.mean() < 0.2)
    True
    """
    orders = tables["orders"]
    hit = _in_window(orders, as_of, horizon_days, category)
    identity = resolve_identity(tables)
    buyers = identity.loc[identity["shop_id"].isin(orders.loc[hit, "shop_id"]), "user_id"]
    return pd.Series(np.isin(users, buyers.to_numpy()).astype(np.int8), index=users,
                     name="label")


def revenue_labels(tables: dict[str, pd.DataFrame], as_of, horizon_days: int,
                   category: str | None, users: pd.Index) -> pd.Series:
    """Each user's revenue: the ``amount`` of their orders (of ``category``, any if None) in
    ``[as_of, as_of + h)``, summed over every store account they have; 0 without any.

    The same window and identity resolution as :func:`purchase_labels`, so a user with
    positive revenue is a buyer there (returns netted into ``amount`` may leave a buyer at 0
    or below).

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=1_000, random_state=3)
    >>> users = w.truth["purchase_proba"].index
    >>> revenue = revenue_labels(w.tables, w.as_of, 30, None, users)
    >>> bought = purchase_labels(w.tables, w.as_of, 30, None, users)
    >>> bool(((revenue > 0) == (bought == 1)).all())
    True
    """
    orders = tables["orders"]
    hit = _in_window(orders, as_of, horizon_days, category)
    per_shop = orders.loc[hit].groupby("shop_id", observed=True)["amount"].sum()
    identity = resolve_identity(tables)
    linked = identity[["user_id", "shop_id"]].dropna(subset=["shop_id"])
    per_user = (linked.assign(amount=linked["shop_id"].map(per_shop).to_numpy())
                .groupby("user_id")["amount"].sum())
    values = per_user.reindex(users).fillna(0.0).to_numpy(dtype=float)
    return pd.Series(values, index=users, name="revenue")


def _in_window(orders: pd.DataFrame, as_of, horizon_days: int, category: str | None) -> pd.Series:
    """Orders (of ``category``, any if None) in ``[as_of, as_of + horizon_days)``."""
    start = as_timestamp(as_of, orders["ts"])
    hit = (orders["ts"] >= start) & (orders["ts"] < start + pd.Timedelta(days=horizon_days))
    if category is not None:
        hit &= orders["category"] == category
    return hit
