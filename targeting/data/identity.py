"""Identity resolution: one ``user_id`` for the social, store and CRM ids of a person.

Silos overlap only partly: a store customer may have no known social account, a social user no
store account, and only some customers are CRM members. The identity table holds one row per
user with whichever silo ids are known (missing ones are null).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from targeting.data.schema import SchemaError

SILO_IDS = {"social_id": ("social_events", "groups"), "shop_id": ("orders",),
            "member_id": ("crm",)}


def resolve_identity(data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Return the identity table, deriving it when a brand has a single silo.

    With an ``identity`` table it is returned as is. Without one, a brand whose data come from one
    silo only (say, store orders) needs no linking: each silo id becomes the user id. Two or more
    silos without an identity table cannot be linked, and that is an error.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"shop_id": [7, 7, 9]})
    >>> resolve_identity({"orders": orders}).user_id.tolist()
    [7, 9]
    """
    resolved = getattr(data, "resolved_identity", None)  # ValidatedTables: done once
    if resolved is not None:
        return resolved
    if "identity" in data:
        return data["identity"]
    present = {sid: names for sid, names in SILO_IDS.items()
               if any(n in data for n in names)}
    if len(present) > 1:
        raise SchemaError([
            f"missing table 'identity': the silos {sorted(present)} cannot be linked without it "
            "(one row per user_id with its social_id, shop_id and member_id)"])
    if not present:
        if "users" in data:
            return data["users"][["user_id"]].assign(social_id=None, shop_id=None,
                                                       member_id=None)
        raise SchemaError(["no user table found: pass 'identity' or at least one silo table"])
    (silo_id, names), = present.items()
    ids = pd.concat([data[n][silo_id] for n in names if n in data]).drop_duplicates()
    frame = pd.DataFrame({"user_id": ids.sort_values().to_numpy()})
    for sid in SILO_IDS:
        frame[sid] = frame.user_id if sid == silo_id else pd.NA
    return frame


def coverage(identity: pd.DataFrame) -> pd.Series:
    """Share of users known in each silo, and in all three.

    Examples
    --------
    >>> import pandas as pd
    >>> ident = pd.DataFrame({"user_id": [1, 2], "social_id": [5, None],
    ...                       "shop_id": [6, 7], "member_id": [None, None]})
    >>> float(coverage(ident)["social_id"])
    0.5
    """
    known = identity[list(SILO_IDS)].notna()
    out = known.mean()
    out["all silos"] = known.all(axis=1).mean()
    return out
