"""The classic ways an analyst ranks customers by value, set beside a value model.

All are computed from the store's orders strictly before ``as_of`` (of the target category
when there is one), for the same users and the same revenue window as the model:

- ``historic_value``: the revenue of the last ``horizon_days`` before ``as_of`` ("they will
  spend what they spent last period"; a forecast in money);
- ``monetary``: RFM's M, the customer's total spend before ``as_of`` (a ranking, not a
  forecast of the window);
- ``bgnbd_gg``: BG/NBD expected purchases in the horizon times Gamma-Gamma expected spend per
  purchase, both fitted on the same history (:mod:`targeting.models.spend`; a forecast in
  money).

Users with no purchase score 0 on all three. When BG/NBD cannot be trusted on the history,
``bgnbd_gg`` is each customer's mean daily spend times the horizon, and the scores'
``attrs["notes"]`` say so (the evaluation shows the note).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from targeting.data.dates import as_timestamp
from targeting.data.identity import resolve_identity
from targeting.models.spend import bgnbd_gamma_gamma_value, transaction_summary

VALUE_BASELINES = ("historic_value", "monetary", "bgnbd_gg")
MONEY_BASELINES = ("historic_value", "bgnbd_gg")  # forecasts of the window's revenue in money


def user_orders(tables: Mapping[str, pd.DataFrame], as_of,
                category: str | None = None) -> pd.DataFrame:
    """Orders strictly before ``as_of`` with their ``user_id`` (``user_id, ts, amount``)."""
    orders = tables["orders"]
    as_of = as_timestamp(as_of, orders["ts"])
    past = orders[orders["ts"] < as_of]
    if category is not None:
        past = past[past["category"].astype(str) == category]
    identity = resolve_identity(tables)
    shop_to_user = identity.dropna(subset=["shop_id"]).set_index("shop_id")["user_id"]
    out = pd.DataFrame({"user_id": past["shop_id"].map(shop_to_user).to_numpy(),
                        "ts": past["ts"].to_numpy(), "amount": past["amount"].to_numpy()})
    return out.dropna(subset=["user_id"])


def value_baseline_scores(tables: Mapping[str, pd.DataFrame], as_of, users: pd.Index,
                          category: str | None = None,
                          horizon_days: int = 30) -> pd.DataFrame:
    """Each baseline's value for ``users`` at ``as_of`` (higher = more valuable).

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=2_000, random_state=3)
    >>> users = w.truth["purchase_proba"].index
    >>> list(value_baseline_scores(w.tables, w.as_of, users, horizon_days=30).columns)
    ['historic_value', 'monetary', 'bgnbd_gg']
    """
    orders = user_orders(tables, as_of, category)
    as_of = as_timestamp(as_of, tables["orders"]["ts"])
    recent = orders["ts"] >= as_of - pd.Timedelta(days=horizon_days)
    out = pd.DataFrame(index=users)
    out["historic_value"] = _per_user(orders[recent], users)
    out["monetary"] = _per_user(orders, users)
    notes = []
    if len(orders):
        summary = transaction_summary(orders, as_of)
        value = bgnbd_gamma_gamma_value(summary, horizon_days)
        out["bgnbd_gg"] = value.reindex(users).fillna(0.0).to_numpy()
        notes += [value.attrs["note"]] if "note" in value.attrs else []
    else:
        out["bgnbd_gg"] = 0.0
    out.attrs["notes"] = notes  # a baseline scored otherwise than its name says
    return out


def _per_user(orders: pd.DataFrame, users: pd.Index) -> np.ndarray:
    return (orders.groupby("user_id")["amount"].sum().reindex(users).fillna(0.0)
            .to_numpy(dtype=float))
