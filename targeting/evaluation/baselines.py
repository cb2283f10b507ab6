"""The classic baselines a practitioner sets a purchase-propensity model against.

All are computed from the store's orders strictly before ``as_of`` (of the target category
when there is one), for the same users and the same label window as the model:

- ``recency``: the more recent the last purchase, the higher (one line of SQL, and on real
  purchase logs often the strongest single signal);
- ``frequency``: the number of purchase days;
- ``rfm``: the classic RFM score, recency + frequency + monetary quintiles (3 to 15);
- ``bgnbd``: expected purchases in the window from a BG/NBD (buy-till-you-die) model fitted on
  the same history (:class:`~targeting.models.btyd.BetaGeoModel`). When there are too few
  buyers to fit it (under 10, or under 5 with a repeat purchase) or its fit does not converge
  (see ``BetaGeoModel.problems_``), it is scored by recency instead, and says so: the returned
  frame's ``attrs["notes"]`` holds the reason, which the evaluation shows beside its table.

Users with no such purchase rank below every buyer (tied among themselves).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from targeting.data.dates import as_timestamp
from targeting.data.identity import resolve_identity
from targeting.models.btyd import BetaGeoModel

BASELINES = ("recency", "frequency", "rfm", "bgnbd")
_NEVER = -1e12  # the score of users with no purchase: below everyone who bought


def purchase_summary(tables: Mapping[str, pd.DataFrame], as_of, users: pd.Index,
                     category: str | None = None) -> pd.DataFrame:
    """Per user: purchase days, last and first purchase age (days), amount, before ``as_of``.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=1_000, random_state=3)
    >>> s = purchase_summary(w.tables, w.as_of, w.truth["purchase_proba"].index)
    >>> sorted(s.columns)
    ['amount', 'days', 'first_age', 'last_age']
    """
    orders = tables["orders"]
    as_of = as_timestamp(as_of, orders["ts"])
    past = orders[orders["ts"] < as_of]
    if category is not None:
        past = past[past["category"].astype(str) == category]
    identity = resolve_identity(tables)
    shop_to_user = identity.dropna(subset=["shop_id"]).set_index("shop_id")["user_id"]
    age = (as_of - past["ts"]).dt.total_seconds().to_numpy() / 86_400
    frame = pd.DataFrame({"user_id": past["shop_id"].map(shop_to_user).to_numpy(),
                          "day": np.floor(age), "amount": past["amount"].to_numpy()})
    frame = frame.dropna(subset=["user_id"])
    per_user = frame.groupby("user_id").agg(days=("day", "nunique"), last_age=("day", "min"),
                                            first_age=("day", "max"), amount=("amount", "sum"))
    out = per_user.reindex(users)
    out["days"] = out["days"].fillna(0)
    out["amount"] = out["amount"].fillna(0.0)
    return out


def baseline_scores(tables: Mapping[str, pd.DataFrame], as_of, users: pd.Index,
                    category: str | None = None, horizon_days: int = 30) -> pd.DataFrame:
    """Scores of every baseline for ``users`` at ``as_of`` (higher = likelier to buy).

    Returns
    -------
    DataFrame
        One column per baseline, indexed by ``users``; every score is finite. ``attrs["notes"]``
        lists each baseline that was scored otherwise than named, and why.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=2_000, random_state=3)
    >>> users = w.truth["purchase_proba"].index
    >>> list(baseline_scores(w.tables, w.as_of, users, "beauty").columns)
    ['recency', 'frequency', 'rfm', 'bgnbd']
    """
    s = purchase_summary(tables, as_of, users, category)
    bought = s["days"] > 0
    recency = np.where(bought, -s["last_age"], _NEVER)
    out = pd.DataFrame({"recency": recency, "frequency": s["days"].to_numpy(dtype=float)},
                       index=users)
    out["rfm"] = _rfm(s, bought)
    out["bgnbd"], note = _bgnbd(s, bought, horizon_days)
    out.attrs["notes"] = [] if note is None else [note]
    return out


def _quintile(values: pd.Series) -> np.ndarray:
    """1-5 by rank (ties share the average rank), 5 the largest."""
    pct = values.rank(method="average", pct=True).to_numpy()
    return np.clip(np.ceil(pct * 5), 1, 5)


def _rfm(s: pd.DataFrame, bought: pd.Series) -> np.ndarray:
    out = np.zeros(len(s))
    if bought.any():
        b = s[bought]
        out[bought.to_numpy()] = (_quintile(-b["last_age"]) + _quintile(b["days"])
                                  + _quintile(b["amount"]))
    return out


def _bgnbd(s: pd.DataFrame, bought: pd.Series,
           horizon_days: int) -> tuple[np.ndarray, str | None]:
    """Expected purchase days in the window (non-buyers rank last), or recency and the reason
    when BG/NBD cannot be trusted here; finite either way."""
    recency = np.where(bought, -s["last_age"].fillna(0), _NEVER)
    b = s[bought]
    repeaters = int((b["days"] > 1).sum())
    if len(b) < 10 or repeaters < 5:
        return recency, (f"bgnbd: too few buyers to fit ({len(b):,} buyers, {repeaters:,} with a "
                         f"repeat purchase; needs 10 and 5); scored by recency instead")
    # Calibration period per user: from the first purchase day to as_of (days, >= 1).
    T = b["first_age"].to_numpy() + 1.0
    x = b["days"].to_numpy() - 1.0
    t_x = b["first_age"].to_numpy() - b["last_age"].to_numpy()
    with warnings.catch_warnings():  # reported below, as a note
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BetaGeoModel().fit(x, t_x, T)
    expected = model.expected_purchases(horizon_days, x, t_x, T)
    problems = list(model.problems_)
    if not np.isfinite(expected).all():
        problems.append("some expected purchases are not finite")
    if problems:
        return recency, (f"bgnbd: fit did not converge on {len(b):,} buyers "
                         f"({'; '.join(problems)}); scored by recency instead")
    out = np.full(len(s), _NEVER)
    out[bought.to_numpy()] = expected
    return out, None
