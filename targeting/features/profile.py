"""Profile features from the ``users`` table: city tier, region, age band, gender, tenure.

The values are the brand's own (the pipeline learns their levels). ``city_tier`` is a number
when the table holds numbers (an ordinal scale: LightGBM splits on its order, as on the demo's
1-5 tiers) and a categorical level when it holds text labels (``"urban"``, ``"rural"``: LightGBM
splits on groups of levels, with no order made up).
"""

from __future__ import annotations

import polars as pl
from pandas.api import types as ptypes

from targeting.features.common import BuildContext, as_timestamp

CATEGORICAL = ("region", "age_band", "gender")
# The contract columns this builder reads (docs/reference/contracts.md is generated from it).
READS = {"users": ("user_id", "city_tier", "region", "age_band", "gender", "first_seen")}


def build(ctx: BuildContext) -> pl.DataFrame | None:
    """Static attributes; tenure counts only users first seen before ``ctx.as_of``."""
    if not ctx.has("users"):
        return None
    users = ctx.tables["users"]
    out = {"user_id": users["user_id"].to_numpy(), "city_tier": _city_tier(users["city_tier"])}
    for col in CATEGORICAL:
        out[col] = _labels(users[col])
    if "first_seen" in users.columns:
        as_of = as_timestamp(ctx.as_of, users["first_seen"])
        tenure = (as_of - users["first_seen"]).dt.total_seconds() / 86_400
        out["days_since_first_seen"] = tenure.where(tenure > 0).to_numpy(dtype=float,
                                                                         na_value=float("nan"))
    text = [c for c in (*CATEGORICAL, "city_tier") if out[c].dtype == object]
    return pl.DataFrame(out, strict=False).with_columns(pl.col(text).cast(pl.String))


def text_tier(city_tier) -> bool:
    """Whether a ``users.city_tier`` column holds labels (a categorical feature), not numbers."""
    return not ptypes.is_numeric_dtype(city_tier)


def _city_tier(values):
    if text_tier(values):
        return _labels(values)
    return values.to_numpy(dtype=float, na_value=float("nan"))


def _labels(values):
    return values.astype("string").to_numpy(dtype=object, na_value=None)
