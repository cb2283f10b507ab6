"""Brand-membership (CRM) features, for consenting members only.

Members who did not consent get no CRM features at all: their rows are dropped here, before
any aggregation, so nothing about them reaches a model, an artifact or an audience.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

from targeting.features.common import BuildContext, as_timestamp, link, to_pandas

PREFIX = "crm_"
# The contract columns this builder reads (docs/reference/contracts.md is generated from it).
READS = {"crm": ("member_id", "tier", "points", "store_visits", "consent", "joined_at")}


def build(ctx: BuildContext) -> pl.DataFrame | None:
    """Per-user CRM features for consenting members known before ``ctx.as_of``."""
    if not ctx.has("crm"):
        return None
    crm = ctx.tables["crm"]
    keep = crm["consent"].to_numpy(dtype=bool).copy()
    days_member = None
    if "joined_at" in crm.columns:
        as_of = as_timestamp(ctx.as_of, crm["joined_at"])
        joined = crm["joined_at"]
        keep &= (joined.isna() | (joined < as_of)).to_numpy()
        days_member = ((as_of - joined[keep]).dt.total_seconds() / 86_400).to_numpy()
    members = crm.loc[keep]
    out = pl.DataFrame({
        "member_id": members["member_id"].to_numpy(),
        f"{PREFIX}member": 1.0,
        # Missing tiers stay missing (``astype(str)`` made them a level called "nan").
        f"{PREFIX}tier": members["tier"].astype("string").to_numpy(dtype=object, na_value=None),
        f"{PREFIX}points": members["points"].to_numpy(dtype=float, na_value=np.nan),
        f"{PREFIX}store_visits": members["store_visits"].to_numpy(dtype=float, na_value=np.nan),
        f"{PREFIX}days_member": days_member if days_member is not None else None,
    }, strict=False)
    out = out.with_columns(pl.col(f"{PREFIX}days_member").cast(pl.Float64),
                           pl.col(f"{PREFIX}tier").cast(pl.String))
    return link(out, ctx.identity, "member_id")


def crm_features(tables: dict[str, pd.DataFrame], as_of) -> pd.DataFrame:
    """CRM features per consenting member, indexed by ``user_id``.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=1_000, random_state=3)
    >>> f = crm_features(w.tables, w.as_of)
    >>> len(f) < w.tables["crm"].consent.size
    True
    """
    ctx = BuildContext(tables, tables["identity"], as_of, [], ())
    return to_pandas(build(ctx))
