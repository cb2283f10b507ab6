"""Community features: the chat-group invitations a user sent (the fission log).

Read from the ``invites`` table (social ids, strictly before ``as_of``), named with the social
silo's prefix because invitations are a social-platform log. Not one of the main pipeline's
builders: the owner-potential model adds them to the standard features.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from targeting.features.common import as_timestamp

PREFIX = "soc_invites_"
# The contract columns this builder reads (docs/reference/contracts.md is generated from it).
READS = {"invites": ("social_id", "ts", "accepted")}
WINDOWS = (90, 365)


def invite_features(tables: Mapping[str, pd.DataFrame], as_of,
                    users: pd.Index) -> pd.DataFrame:
    """Per user: invites sent in the last 90 and 365 days and ever, accepted ones, recency.

    Users with a social id but no invitation get zeros; users without one get NaN.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=2_000, random_state=0)
    >>> users = world.tables["identity"].user_id
    >>> f = invite_features(world.tables, world.as_of, pd.Index(users, name="user_id"))
    >>> list(f.columns)[:2]
    ['soc_invites_90d', 'soc_invites_365d']
    """
    identity = tables["identity"]
    social = identity.dropna(subset=["social_id"])
    by_social = pd.Series(social.user_id.to_numpy(), index=social.social_id.astype("int64"))
    columns = [f"{PREFIX}{d}d" for d in WINDOWS] + [f"{PREFIX}all", f"{PREFIX}accepted",
                                                    f"{PREFIX}days_since_last"]
    out = pd.DataFrame(np.nan, index=users, columns=columns)
    out.loc[users.isin(social.user_id), columns[:-1]] = 0.0
    if "invites" not in tables:
        return out
    invites = tables["invites"]
    as_of = as_timestamp(as_of, invites.ts)
    invites = invites[invites.ts < as_of]
    user = by_social.reindex(invites.social_id.astype("int64").to_numpy()).to_numpy()
    age = (as_of - invites.ts).dt.total_seconds().to_numpy() / 86400
    frame = pd.DataFrame({"user_id": user, "age": age,
                          "accepted": invites.accepted.to_numpy(bool)}).dropna()
    frame = frame.astype({"user_id": "int64"})
    by = frame.groupby("user_id")
    parts = {f"{PREFIX}{d}d": frame[frame.age < d].groupby("user_id").size() for d in WINDOWS}
    parts[f"{PREFIX}all"] = by.size()
    parts[f"{PREFIX}accepted"] = by.accepted.sum()
    parts[f"{PREFIX}days_since_last"] = by.age.min()
    for name, values in parts.items():
        values = values.reindex(users)
        out[name] = values.where(values.notna(), out[name])
    return out
