"""Profile features from the ``users`` table: city tier, region, age band, gender, tenure."""

from __future__ import annotations

import polars as pl

from targeting.features.common import BuildContext, as_timestamp

CATEGORICAL = ("region", "age_band", "gender")


def build(ctx: BuildContext) -> pl.DataFrame | None:
    """Static attributes; tenure counts only users first seen before ``ctx.as_of``."""
    if not ctx.has("users"):
        return None
    users = ctx.tables["users"]
    out = {"user_id": users["user_id"].to_numpy(),
           "city_tier": users["city_tier"].to_numpy().astype(float)}
    for col in CATEGORICAL:
        out[col] = users[col].astype("string").to_numpy(dtype=object, na_value=None)
    if "first_seen" in users.columns:
        as_of = as_timestamp(ctx.as_of, users["first_seen"])
        tenure = (as_of - users["first_seen"]).dt.total_seconds() / 86_400
        out["days_since_first_seen"] = tenure.where(tenure > 0).to_numpy(dtype=float,
                                                                         na_value=float("nan"))
    return pl.DataFrame(out, strict=False).with_columns(pl.col(CATEGORICAL).cast(pl.String))
