"""Social-platform features: engagement by event, scene and category, recency, windows.

Interest shows in reads and shares before it shows in orders, so the engaged events (anything
but a bare impression) per category, their share of a user's attention and their recency are
the core signals here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

from targeting.features.common import (
    BuildContext,
    event_chunks,
    link,
    silo_keys,
    slug,
    to_pandas,
)

PREFIX = "soc_"
# The contract columns this builder reads (docs/reference/contracts.md is generated from it).
READS = {"social_events": ("social_id", "ts", "event", "scene", "category")}


def build(ctx: BuildContext) -> pl.DataFrame | None:
    """Per-user social features from ``social_events`` before ``ctx.as_of`` (None if absent).

    One streaming pass over the table: every count is a ``bincount`` of the chunk's rows by
    account (and event, scene, category or window bucket), every recency a running minimum,
    so the whole table is read once and never copied whole (profile in benchmarks/run.py).
    """
    if not ctx.has("social_events"):
        return None
    keys = silo_keys(ctx.identity, "social_id")
    totals = _Totals(len(keys), ctx)
    for chunk in event_chunks(ctx.tables["social_events"], "social_id", keys, "ts", ctx.as_of,
                              ctx.lookback_days, codes={"event": ctx.events, "scene": ctx.scenes,
                                                        "category": ctx.categories},
                              chunk_rows=ctx.chunk_rows):
        totals.add(chunk)
    per_account = totals.frame(keys)
    engaged_total = pl.col(f"{PREFIX}engaged")
    shares = [(pl.col(f"{PREFIX}eng_{slug(c)}") / engaged_total).fill_nan(None)
              .alias(f"{PREFIX}share_{slug(c)}") for c in ctx.categories]
    return link(per_account.with_columns(shares), ctx.identity, "social_id")


IMPRESSION = "impression"  # the one event that is not an engagement


class _Totals:
    """Running per-account sums and minima over chunks of social events (exact: integers and
    minima do not depend on the order in which rows arrive).

    Counts are added in place at each row's flat cell (account x event, scene, window bucket,
    category) with ``np.add.at``: a ``bincount`` per chunk allocated and added an output
    spanning every cell (40 M for 1 M accounts x 20 categories x 2), 3-4x slower.
    """

    def __init__(self, n: int, ctx: BuildContext):
        self.n, self.ctx = n, ctx
        self.windows = sorted(set(ctx.windows))
        n_cat = len(ctx.categories)
        # Counts per learnt event and scene; the last column holds the others (beyond the cap).
        self.events = np.zeros((n, len(ctx.events) + 1), np.int64)
        self.scenes = np.zeros((n, len(ctx.scenes) + 1), np.int64)
        self.impression = ctx.events.index(IMPRESSION) if IMPRESSION in ctx.events else -2
        self.buckets = np.zeros((n, len(self.windows) + 1), np.int64)
        self.cats = np.zeros((n, n_cat, 2), np.int64)  # engaged, [older, recent]
        self.age_min = np.full(n, np.inf)
        self.age_max = np.full(n, -np.inf)
        self.cat_age_min = np.full(n * n_cat, np.inf)

    def add(self, chunk: dict[str, np.ndarray]) -> None:
        gid, age = chunk["gid"], chunk["age"]
        event, category = chunk["event"], chunk["category"]
        bucket = np.searchsorted(np.asarray(self.windows, float), age, side="right")
        for totals, code in ((self.events, event), (self.scenes, chunk["scene"]),
                             (self.buckets, bucket)):
            np.add.at(totals.reshape(-1), _cells(gid, code, totals.shape[1]), 1)
        np.minimum.at(self.age_min, gid, age)
        np.maximum.at(self.age_max, gid, age)
        rows = np.flatnonzero((event != self.impression) & (category >= 0))
        n_cat = self.cats.shape[1]
        cell = gid[rows] * n_cat + category[rows]
        recent = (age[rows] < self.ctx.recent_days).astype(np.int64)
        np.add.at(self.cats.reshape(-1), _cells(cell, recent, 2), 1)
        np.minimum.at(self.cat_age_min, cell, age[rows])

    def frame(self, keys: pl.Series) -> pl.DataFrame:
        """The accounts with at least one event, columns in the builder's fixed order."""
        total = self.events.sum(axis=1)
        present = np.flatnonzero(total > 0)
        ctx, col = self.ctx, {}
        col[f"{PREFIX}events"] = total
        impressions = self.events[:, self.impression] if self.impression >= 0 else 0
        col[f"{PREFIX}engaged"] = total - impressions
        col[f"{PREFIX}days_since_last"] = self.age_min
        col[f"{PREFIX}days_since_first"] = self.age_max
        within = np.cumsum(self.buckets, axis=1)  # column j: age < windows[j]
        for w in ctx.windows:
            col[f"{PREFIX}events_{w}d"] = within[:, self.windows.index(w)]
        for i, e in enumerate(ctx.events):
            col[f"{PREFIX}n_{slug(e)}"] = self.events[:, i]
        for i, s in enumerate(ctx.scenes):
            col[f"{PREFIX}scene_{slug(s)}"] = self.scenes[:, i]
        since = self.cat_age_min.reshape(self.n, len(ctx.categories))
        for i, c in enumerate(ctx.categories):
            name = f"{PREFIX}eng_{slug(c)}"
            col[name] = self.cats[:, i].sum(axis=1)
            col[f"{name}_{ctx.recent_days}d"] = self.cats[:, i, 1]
            col[f"{PREFIX}days_since_{slug(c)}"] = np.where(col[name] > 0, since[:, i], np.nan)
        return pl.DataFrame([keys.gather(present).alias("social_id")] + [
            pl.Series(name, values[present].astype(np.float64), nan_to_null=True)
            for name, values in col.items()])


def _cells(group: np.ndarray, code: np.ndarray, width: int) -> np.ndarray:
    """Flat cell of each row in a (groups, width) count matrix; code -1 goes to the last column.

    Examples
    --------
    >>> _cells(np.array([0, 1, 1]), np.array([1, 0, -1]), 3).tolist()
    [1, 3, 5]
    """
    return group * width + np.where(code < 0, width - 1, code)


def social_features(tables: dict[str, pd.DataFrame], as_of, categories,
                    windows=(7, 30, 90)) -> pd.DataFrame:
    """Social features per user, indexed by ``user_id``.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=1_000, random_state=3)
    >>> f = social_features(w.tables, w.as_of, ["beauty"])
    >>> bool((f["soc_days_since_last"] > 0).all())
    True
    """
    ctx = BuildContext(tables, tables["identity"], as_of, categories, windows)
    return to_pandas(build(ctx))
