"""Feature building on Dask: the same builders, run per partition of tables shuffled by user.

:func:`targeting.data.dask.shuffle_by_user` places every row of every contract table in the
partition of its user (a hash of ``user_id``; rows of ids unknown to the identity table by a
hash of their own id), so partition ``i`` of each table holds everything about the same
users. The per-user builders (profile, social, purchase, CRM) then run unchanged on each
partition. The graph builder needs
whole chat groups, so it runs in three steps: each partition sums what its users contribute to
each group, the sums are added up in a tree into group-level tables (one row per group), and
each partition joins those back to its users. All of these sums are over integers, which is
why the features equal the single-machine ones exactly.

:class:`DaskFeaturePipeline` fits the vocabularies over the whole dataset and returns Dask
dataframes; ``to_local()`` gives the plain :class:`~targeting.FeaturePipeline` saved in models.
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.delayed import Delayed, delayed
from sklearn.utils.validation import check_is_fitted

from targeting.data.dask import UserPartitions, as_partitions
from targeting.data.identity import resolve_identity
from targeting.data.labels import purchase_labels
from targeting.data.vocab import ORDER_CHANNELS
from targeting.features import graph
from targeting.features.common import distinct_slugs, vocabulary
from targeting.features.pipeline import (
    FeaturePipeline,
    _counts_before,
    capped_levels,
    categorical_columns,
    social_vocabularies,
)

TREE_WIDTH = 8  # partial group sums added up eight at a time


# -- the pipeline ----------------------------------------------------------------------------
class DaskFeaturePipeline(FeaturePipeline):
    """:class:`~targeting.FeaturePipeline` over tables shuffled by user, on a Dask cluster.

    Same parameters and fitted attributes as :class:`~targeting.FeaturePipeline`; ``fit``
    learns the vocabularies over the whole dataset, ``transform`` returns a lazy Dask
    dataframe indexed by ``user_id`` (partition ``i`` holds the users of partition ``i``,
    in identity order), and ``to_local()`` returns the plain pipeline to save in a model.

    Examples
    --------
    >>> import targeting as tg
    >>> from targeting.data.dask import shuffle_by_user
    >>> world = tg.demo_world(n_users=800, random_state=2)
    >>> parts = shuffle_by_user(world.tables, 2)
    >>> X = DaskFeaturePipeline().fit(parts, world.as_of).transform(parts, world.as_of)
    >>> int(X.shape[0].compute()) == 800
    True
    """

    def fit(self, tables, as_of=None, y=None) -> DaskFeaturePipeline:
        """Learn categories, vocabularies and output columns over every partition."""
        self._fit(tables, as_of, keep=False)
        return self

    def fit_transform(self, tables, as_of=None, y=None, **_) -> dd.DataFrame:
        """Fit, and return the features at ``as_of``; the partitions are built once (kept in
        the cluster's memory between the two steps)."""
        raws = self._fit(tables, as_of, keep=True)
        return _finished(self, raws)

    def _fit(self, tables, as_of, keep: bool) -> list[Delayed]:
        self._check_params()
        parts = as_partitions(tables)
        if as_of is None:
            raise ValueError("as_of is required with Dask input (no default from the data)")
        as_of = pd.Timestamp(as_of)
        self.categories_ = _learn_categories(parts, as_of, self.max_categories)
        self.channels_ = _learn_channels(parts, as_of, self.max_categories)
        self.events_, self.scenes_ = social_vocabularies(
            _total_counts(parts, "social_events", "event", as_of),
            _total_counts(parts, "social_events", "scene", as_of), self.max_categories)
        self.vocabularies_, self.rare_levels_, self.feature_names_ = {}, {}, []
        raws = _raw_parts(self, parts, as_of)
        if keep:
            raws = list(dask.persist(*raws))
        summaries = dask.compute(*[delayed(_summary)(raw) for raw in raws])
        counts: dict[str, dict] = {}
        for summary in summaries:
            for c, part in summary["levels"].items():
                total = counts.setdefault(c, {})
                for level, n in part.items():
                    total[level] = total.get(level, 0) + n
        self.vocabularies_, self.rare_levels_ = capped_levels(counts, self.max_categories)
        columns = _canonical_columns([s["columns"] for s in summaries])
        numeric = [c for c in columns if c not in self.vocabularies_]
        self.feature_names_ = numeric + [c for c in columns if c in self.vocabularies_]
        self.as_of_ = as_of
        return raws

    def transform(self, tables, as_of=None, users=None) -> dd.DataFrame:
        """Features at ``as_of``, lazily, one partition per partition of ``tables``."""
        check_is_fitted(self, "feature_names_")
        if users is not None:
            raise NotImplementedError("users= is not supported with Dask input; filter the "
                                      "result instead (features are indexed by user_id)")
        return transform(self, tables, as_of)

    def to_local(self) -> FeaturePipeline:
        """The fitted state in a plain :class:`~targeting.FeaturePipeline`."""
        check_is_fitted(self, "feature_names_")
        local = FeaturePipeline(**self.get_params())
        for name in ("categories_", "channels_", "events_", "scenes_", "vocabularies_",
                     "rare_levels_", "feature_names_", "as_of_"):
            setattr(local, name, getattr(self, name))
        return local


def transform(pipeline: FeaturePipeline, tables, as_of) -> dd.DataFrame:
    """A fitted pipeline's features at ``as_of`` over Dask tables (lazy).

    Used by :class:`DaskFeaturePipeline`, ``PropensityModel.features`` and ``score()`` when the
    input is a Dask collection.
    """
    check_is_fitted(pipeline, "feature_names_")
    if as_of is None:
        raise ValueError("as_of is required with Dask input (no default from the data)")
    parts = as_partitions(tables)
    return _finished(pipeline, _raw_parts(pipeline, parts, pd.Timestamp(as_of)))


def _finished(pipeline: FeaturePipeline, raws: list[Delayed]) -> dd.DataFrame:
    finished = [delayed(_finish)(pipeline, raw) for raw in raws]
    return from_delayed(finished, _meta(pipeline))


def from_delayed(parts: list[Delayed], meta) -> dd.DataFrame:
    """``dd.from_delayed`` keeping object columns as plain Python strings, as the local path
    returns them (Dask would otherwise turn them into Arrow strings)."""
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(parts, meta=meta, verify_meta=False)


def _finish(pipeline: FeaturePipeline, raw: tuple[pd.DataFrame, dict]) -> pd.DataFrame:
    return pipeline._finish(raw[0])


def labels(tables, as_of, horizon_days: int, category: str | None) -> dd.Series:
    """Purchase labels in ``[as_of, as_of + horizon)``, aligned with :func:`transform`'s rows."""
    parts = as_partitions(tables)
    out = [delayed(_partition_labels)(parts.partition(i), as_of, horizon_days, category)
           for i in range(parts.npartitions)]
    meta = pd.Series(np.array([], dtype=np.int8), name="label",
                     index=pd.Index([], name="user_id", dtype=np.int64))
    return from_delayed(out, meta)


def _partition_labels(tables: dict, as_of, horizon_days, category) -> pd.Series:
    tables = _plain(tables)
    identity = resolve_identity(tables)
    users = pd.Index(identity["user_id"], name="user_id")
    if "orders" not in tables or not len(tables["orders"]):
        return pd.Series(np.zeros(len(users), np.int8), index=users, name="label")
    return purchase_labels(tables, as_of, horizon_days, category, users)


def _meta(pipeline: FeaturePipeline) -> pd.DataFrame:
    cats = set(pipeline.vocabularies_)
    data = {c: pd.Series([], dtype=object if c in cats else float)
            for c in pipeline.feature_names_}
    return pd.DataFrame(data, index=pd.Index([], name="user_id", dtype=np.int64))


# -- the three passes over partitions ----------------------------------------------------------
def _raw_parts(pipeline: FeaturePipeline, parts: UserPartitions, as_of) -> list[Delayed]:
    """Unfinished per-partition feature frames; the graph's group tables summed in a tree."""
    states = [delayed(_partition_state)(pipeline, parts.partition(i), as_of)
              for i in range(parts.npartitions)]
    groups = None
    if "graph" in pipeline.builders and "groups" in parts.tables:
        level = [delayed(_partials_of)(s) for s in states]
        while len(level) > 1:
            level = [delayed(_sum_or_none)(level[i:i + TREE_WIDTH])
                     for i in range(0, len(level), TREE_WIDTH)]
        groups = delayed(_combine)(level[0])
    return [delayed(_partition_raw)(pipeline, s, groups) for s in states]


def _plain(tables: dict) -> dict[str, pd.DataFrame]:
    return {name: frame.reset_index(drop=True) for name, frame in tables.items()}


def _partition_state(pipeline: FeaturePipeline, tables: dict, as_of) -> dict:
    """Per-user builders on one partition, and its users' contribution to each group.

    The result keeps only what later steps need (small per-user frames and the partition's
    memberships), so the partition's events can be freed once it is built.
    """
    tables = _plain(tables)
    identity = resolve_identity(tables)
    ctx = pipeline._context(tables, identity, as_of)
    frames = pipeline._per_user_frames(ctx)
    state = {"identity": identity, "frames": frames, "partials": None, "ctx": None}
    if "graph" in pipeline.builders and ctx.has("groups"):
        state["partials"] = graph.partial_aggregates(ctx, frames.get("social"),
                                                     frames.get("purchase"))
        state["ctx"] = pipeline._context({"groups": tables["groups"]}, identity, as_of)
    return state


def _partials_of(state: dict) -> dict | None:
    return state["partials"]


def _combine(root: dict | None) -> dict | None:
    return None if root is None else graph.combine_aggregates([root])


def _sum_or_none(parts: list[dict | None]) -> dict | None:
    """Partitions without group memberships contribute nothing."""
    parts = [p for p in parts if p is not None]
    return graph.sum_partials(parts) if parts else None


def _partition_raw(pipeline: FeaturePipeline, state: dict,
                   groups: dict | None) -> tuple[pd.DataFrame, dict]:
    frames = dict(state["frames"])
    if state["ctx"] is not None and groups is not None:
        frames["graph"] = graph.from_groups(state["ctx"], groups, frames.get("social"),
                                            frames.get("purchase"))
    columns = {name: [] if f is None else [c for c in f.columns if c != "user_id"]
               for name, f in frames.items()}
    return pipeline._join(state["identity"], frames, None), columns


def _summary(raw_and_columns: tuple[pd.DataFrame, dict]) -> dict:
    raw, columns = raw_and_columns
    return {"columns": columns,
            "levels": {c: raw[c].dropna().value_counts().to_dict()
                       for c in categorical_columns(raw)}}


def _canonical_columns(per_partition: list[dict[str, list[str]]]) -> list[str]:
    """Output columns in builder order; each builder's fullest column list across partitions.

    A partition without, say, any CRM member has no CRM columns; the full list comes from the
    partitions that have them, so the order is the single-machine one.
    """
    builders = list(dict.fromkeys(b for cols in per_partition for b in cols))
    out: list[str] = []
    for builder in builders:
        lists = [cols.get(builder, []) for cols in per_partition]
        out += max(lists, key=len)
    return out


def _learn_categories(parts: UserPartitions, as_of, limit: int) -> list[str]:
    counts: list[Delayed] = []
    for name in ("orders", "social_events"):
        if name in parts.tables:
            frame = parts.tables[name][["ts", "category"]]
            counts += [delayed(_counts_before)(p, "category", as_of) for p in frame.to_delayed()]
    total: dict[str, int] = {}
    for part in dask.compute(*counts):
        for cat, n in part.items():
            total[cat] = total.get(cat, 0) + n
    return distinct_slugs(sorted(total, key=lambda c: (-total[c], c))[:limit])


def _learn_channels(parts: UserPartitions, as_of, limit: int) -> list[str]:
    total = _total_counts(parts, "orders", "channel", as_of)
    return distinct_slugs(vocabulary(total, limit, ORDER_CHANNELS), ORDER_CHANNELS)


def _total_counts(parts: UserPartitions, table: str, column: str, as_of) -> dict[str, int]:
    """Rows per value of ``table.column`` before ``as_of``, over every partition."""
    total: dict[str, int] = {}
    if table in parts.tables:
        frame = parts.tables[table][["ts", column]]
        counts = [delayed(_counts_before)(p, column, as_of) for p in frame.to_delayed()]
        for part in dask.compute(*counts):
            for level, n in part.items():
                total[level] = total.get(level, 0) + n
    return total
