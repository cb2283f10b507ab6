"""Seeds at the door: parse, match to the universe, and report what was found where."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def round_count(n: int | float, base: int | None = None) -> int:
    """A count rounded so that it does not reveal whether one person is in it.

    Counts under 1,000 round to tens, larger ones to hundreds (or to ``base``), half up: the
    same rule for every count, so 5 becomes 10 and 25 becomes 30 (not 0 and 20, as rounding
    half to even would have it).

    Examples
    --------
    >>> round_count(1234), round_count(87), round_count(4), round_count(5), round_count(25)
    (1200, 90, 0, 10, 30)
    """
    base = base or (10 if n < 1_000 else 100)
    return int(base * math.floor(float(n) / base + 0.5))


@dataclass
class SeedSet:
    """Seed user ids with optional values (customer value) and dates (for out-of-time holdout)."""

    ids: np.ndarray
    values: np.ndarray | None = None
    dates: np.ndarray | None = None
    n_given: int = 0
    n_duplicates: int = 0


def parse_seeds(seeds, value_column: str | None = None,
                date_column: str | None = None) -> SeedSet:
    """Accept a sequence of ids, a Series (ids as values) or a DataFrame with ``user_id``."""
    values = dates = None
    if isinstance(seeds, pd.DataFrame):
        if "user_id" not in seeds.columns:
            raise ValueError(f"seeds: a DataFrame of seeds needs a 'user_id' column; found "
                             f"{list(seeds.columns)[:10]}")
        for name in (value_column, date_column):
            if name is not None and name not in seeds.columns:
                raise ValueError(f"seeds: column {name!r} not found; found "
                                 f"{list(seeds.columns)[:10]}")
        frame = seeds
    else:
        if value_column or date_column:
            raise ValueError("seeds: value_column/date_column need seeds as a DataFrame with "
                             "'user_id' and those columns")
        frame = pd.DataFrame({"user_id": pd.Series(np.asarray(list(seeds), dtype=object))})
    n_given = len(frame)
    if frame["user_id"].isna().any():
        raise ValueError(f"seeds: {int(frame.user_id.isna().sum())} missing user id(s); "
                         "drop them first")
    dup = frame["user_id"].duplicated()
    frame = frame[~dup]
    if value_column is not None:
        values = frame[value_column].to_numpy(dtype=float)
        if not np.isfinite(values).all() or (values < 0).any():
            raise ValueError(f"seeds: {value_column!r} must be finite and non-negative")
        if values.sum() <= 0:
            raise ValueError(f"seeds: {value_column!r} sums to zero: no seed carries weight")
    if date_column is not None:
        dates = pd.to_datetime(frame[date_column]).to_numpy()
    return SeedSet(frame["user_id"].to_numpy(), values, dates, n_given, int(dup.sum()))


@dataclass
class SeedReport:
    """What the seed looked like once matched: where its users were found, how homogeneous.

    ``silos`` counts matched seeds with history in each silo; ``unknown`` lists seed ids found
    in no silo and not in the universe (never logged anywhere, shown here for the owner of the
    seed to fix). ``homogeneity`` is 1 minus the seed's mean variance in the standardised space
    (the universe's is 1): near 0 the seed looks like everyone, towards 1 it is one kind of user.
    """

    n_given: int
    n_duplicates: int
    n_matched: int
    unknown: list = field(default_factory=list)
    silos: dict = field(default_factory=dict)
    homogeneity: float = float("nan")
    n_clusters: int = 0
    largest_cluster_share: float = float("nan")
    n_holdout: int = 0
    holdout_recall: pd.DataFrame | None = None
    weights: dict = field(default_factory=dict)
    estimated_share: float = float("nan")

    @property
    def n_unknown(self) -> int:
        return len(self.unknown)

    def to_dict(self) -> dict:
        """Rounded counts and statistics, safe to log (no ids)."""
        out = {"seed_given": round_count(self.n_given), "seed_matched": round_count(self.n_matched),
               "seed_unknown": round_count(self.n_unknown),
               "seed_duplicates": round_count(self.n_duplicates),
               "seed_homogeneity": round(self.homogeneity, 4),
               "seed_clusters": self.n_clusters,
               "seed_largest_cluster_share": round(self.largest_cluster_share, 2),
               "seed_holdout": round_count(self.n_holdout),
               "estimated_lookalike_share": round(self.estimated_share, 4)}
        out.update({f"seed_in_{silo}": round_count(n) for silo, n in self.silos.items()})
        out.update({f"blend_weight_{m}": round(w, 4) for m, w in self.weights.items()})
        return out

    def _repr_html_(self) -> str:
        rows = [("seeds given", self.n_given), ("duplicates dropped", self.n_duplicates),
                ("matched to the universe", self.n_matched),
                ("unknown to every silo (dropped, listed in .unknown)", self.n_unknown)]
        rows += [(f"with history in {s}", n) for s, n in self.silos.items()]
        rows += [("homogeneity (0 = like everyone)", f"{self.homogeneity:.3f}"),
                 ("seed centroids", self.n_clusters),
                 ("largest centroid's share", f"{self.largest_cluster_share:.2f}"),
                 ("held-out seeds", self.n_holdout),
                 ("estimated share of the universe like the seed", f"{self.estimated_share:.3f}")]
        rows += [(f"blend weight: {m}", f"{w:.3f}") for m, w in self.weights.items()]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        recall = ("" if self.holdout_recall is None else
                  "<p>Held-out seed recall at each audience size (share of the universe):</p>"
                  + self.holdout_recall.round(3).to_html())
        return f"<div><b>Seed report</b><table>{body}</table>{recall}</div>"
