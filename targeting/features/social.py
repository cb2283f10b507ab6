"""Social-platform features: engagement by event, scene and category, recency, windows.

Interest shows in reads and shares before it shows in orders, so the engaged events (anything
but a bare impression) per category, their share of a user's attention and their recency are
the core signals here.
"""

from __future__ import annotations

import pandas as pd
import polars as pl

from targeting.data.vocab import SCENES, SOCIAL_EVENTS
from targeting.features.common import (
    BuildContext,
    count_if,
    events_before,
    link,
    per_category,
    slug,
    to_pandas,
)

PREFIX = "soc_"


def build(ctx: BuildContext) -> pl.DataFrame | None:
    """Per-user social features from ``social_events`` before ``ctx.as_of`` (None if absent)."""
    if not ctx.has("social_events"):
        return None
    events = events_before(ctx.tables["social_events"],
                           ["social_id", "ts", "event", "scene", "category"], "ts", ctx.as_of,
                           ctx.lookback_days, codes={"event": SOCIAL_EVENTS, "scene": SCENES,
                                                     "category": ctx.categories})
    event, scene, category = pl.col("event"), pl.col("scene"), pl.col("category")
    engaged = event != SOCIAL_EVENTS.index("impression")
    age = pl.col("age_days")
    aggs = [pl.len().cast(pl.Float64).alias(f"{PREFIX}events"),
            count_if(engaged, f"{PREFIX}engaged"),
            age.min().alias(f"{PREFIX}days_since_last"),
            age.max().alias(f"{PREFIX}days_since_first")]
    aggs += [count_if(age < w, f"{PREFIX}events_{w}d") for w in ctx.windows]
    aggs += [count_if(event == i, f"{PREFIX}n_{e}") for i, e in enumerate(SOCIAL_EVENTS)]
    aggs += [count_if(scene == i, f"{PREFIX}scene_{s}") for i, s in enumerate(SCENES)]
    aggs += per_category(lambda i: engaged & (category == i), age, ctx.categories,
                         ctx.recent_days, lambda s: (f"{PREFIX}eng_{s}", f"{PREFIX}days_since_{s}"))
    per_account = events.group_by("social_id").agg(aggs)
    engaged_total = pl.col(f"{PREFIX}engaged")
    shares = [(pl.col(f"{PREFIX}eng_{slug(c)}") / engaged_total).fill_nan(None)
              .alias(f"{PREFIX}share_{slug(c)}") for c in ctx.categories]
    return link(per_account.with_columns(shares), ctx.identity, "social_id")


def social_features(tables: dict[str, pd.DataFrame], as_of, categories,
                    windows=(7, 30, 90)) -> pd.DataFrame:
    """Social features per user, indexed by ``user_id``.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=1_000, seed=3)
    >>> f = social_features(w.tables, w.as_of, ["beauty"])
    >>> bool((f["soc_days_since_last"] > 0).all())
    True
    """
    ctx = BuildContext(tables, tables["identity"], as_of, categories, windows)
    return to_pandas(build(ctx))
