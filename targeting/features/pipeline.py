"""FeaturePipeline: fuse the silo builders into one point-in-time row per user.

``fit`` learns the vocabularies (product categories, order channels, social events and
scenes, regions, city tiers, age bands, genders, CRM tiers) from the data before ``as_of``, and
the output columns; ``transform`` is deterministic given them, so the pipeline saved inside a
model applies exactly the training-time transformation at scoring time. The package's own
values (the demo world's) come first where features are named after values, so their columns
never move; a brand's own values follow, most frequent first, up to ``max_categories``.
Missing silos give missing values, never missing users: every user of the identity table gets
a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from targeting.data.dates import as_of_for, check_after_first_event
from targeting.data.identity import resolve_identity
from targeting.data.schema import SchemaError
from targeting.data.tables import ValidatedTables, checked_tables
from targeting.data.vocab import ORDER_CHANNELS, SCENES, SOCIAL_EVENTS
from targeting.features import crm, graph, profile, purchase, social
from targeting.features.common import BuildContext, as_timestamp, distinct_slugs, vocabulary

BUILDERS = ("profile", "social", "purchase", "crm", "graph")
SILO_PREFIXES = {"social": "soc_", "purchase": "pur_", "crm": "crm_", "graph": "graph_"}
_PER_USER_BUILDERS = {"profile": profile, "social": social, "purchase": purchase, "crm": crm}
CATEGORICAL_FEATURES = (*profile.CATEGORICAL, "crm_tier")
# Categorical when the data hold text labels, numeric when they hold numbers.
TEXT_OR_NUMBER = ("city_tier",)
# One column per silo that is present exactly when the user has a record there before as_of.
PRESENCE_COLUMNS = ("days_since_first_seen", "soc_events", "pur_orders", "crm_member",
                    "graph_n_groups")


class FeaturePipeline(TransformerMixin, BaseEstimator):
    """Build the fused per-user feature table from the contract tables.

    Parameters
    ----------
    builders : sequence of str, default all
        Which silos to use: any of ``"profile", "social", "purchase", "crm", "graph"``.
        Use it to compare a social-only or purchase-only model with the fused one.
    windows : sequence of int, default (7, 30, 90, 365)
        Windows in days for the extra windowed counts (recency, tenure, lifetime counts and
        amounts always use the whole history before ``as_of``).
    recent_days : int, default 30
        Window for per-category recent counts.
    lookback_days : int or None, default None
        If set, events older than this are not read at all. The default reads the whole
        history: a cut hides recency and tenure, the strongest signals on real purchase data.
    max_categories : int, default 20
        The cap on every learnt vocabulary: product categories (most frequent first) that get
        their own columns; order channels, social events and scenes beyond the package's own;
        levels of each categorical feature (region, age band, ...: the most frequent keep a
        level, rarer values seen by ``fit`` become missing).
    unknown : {"error", "ignore"}, default "error"
        What ``transform`` does with categorical values never seen by ``fit``: refuse them, or
        treat them as missing.

    Attributes
    ----------
    categories_ : list of str
        Product categories with their own columns.
    channels_ : list of str
        Order channels with a share column: the package's four, then the brand's own.
    events_, scenes_ : list of str
        Social events and scenes with a count column: the package's own, then the brand's.
    vocabularies_ : dict of str to list
        Levels of each categorical feature, in code order.
    rare_levels_ : dict of str to list
        Values seen by ``fit`` beyond the ``max_categories`` most frequent: missing in the
        features.
    feature_names_ : list of str
        Output columns, in order.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=1_000, random_state=2)
    >>> pipe = FeaturePipeline().fit(world.tables, world.as_of)
    >>> X = pipe.transform(world.tables, world.as_of)
    >>> len(X) == len(world.tables["identity"])
    True
    """

    def __init__(self, builders: Sequence[str] = BUILDERS,
                 windows: Sequence[int] = (7, 30, 90, 365),
                 recent_days: int = 30, lookback_days: int | None = None,
                 max_categories: int = 20, unknown: str = "error"):
        self.builders = builders
        self.windows = windows
        self.recent_days = recent_days
        self.lookback_days = lookback_days
        self.max_categories = max_categories
        self.unknown = unknown

    # -- fitting -------------------------------------------------------------------------
    def fit(self, data: Mapping[str, pd.DataFrame], as_of=None, y=None) -> FeaturePipeline:
        """Learn vocabularies and output columns from the data before ``as_of``."""
        self.fit_transform(data, as_of)
        return self

    def fit_transform(self, data, as_of=None, y=None, *, users: Sequence | None = None,
                      **_) -> pd.DataFrame:
        """Fit, and return the features at ``as_of`` without building them twice.

        Vocabularies are always learnt from every user; ``users`` selects the rows returned
        (as in :meth:`transform`)."""
        self._check_params()
        data = checked_tables(data)
        as_of = _default_as_of(data, as_of)
        self.categories_ = _learn_categories(data, as_of, self.max_categories)
        self.channels_ = _learn_channels(data, as_of, self.max_categories)
        self.events_, self.scenes_ = _learn_social(data, as_of, self.max_categories)
        self.vocabularies_, self.rare_levels_ = {}, {}
        raw = self._build(data, as_of, None)
        if raw.height == 0 or raw.width <= 1:  # was a silent (0, 0) frame
            empty = sorted(name for name, frame in data.items() if not len(frame))
            raise SchemaError([f"no users to build features for: empty table(s) {empty}; "
                               "features need at least one user (rows in identity or a silo)"])
        counts = {c: _level_counts(raw.select(c).to_pandas()[c])
                  for c in categorical_columns(raw)}
        self.vocabularies_, self.rare_levels_ = capped_levels(counts, self.max_categories)
        # Numeric features first, categorical last: the model matrix is then filled with one
        # contiguous slice copy, four times faster than a scattered one.
        columns = [c for c in raw.columns if c != "user_id"]
        numeric = [c for c in columns if c not in self.vocabularies_]
        self.feature_names_ = numeric + [c for c in columns if c in self.vocabularies_]
        self.as_of_ = as_of
        if users is not None:
            raw = (raw.rebased(_user_rows(users)) if isinstance(raw, _Unjoined) else
                   _user_rows(users).join(raw, on="user_id", how="left", maintain_order="left"))
        return self._finish(raw)

    # -- transforming ----------------------------------------------------------------------
    def transform(self, data: Mapping[str, pd.DataFrame], as_of=None,
                  users: Sequence | None = None) -> pd.DataFrame:
        """Features at ``as_of`` (only rows strictly before it), one row per user.

        Parameters
        ----------
        data : dict of str to DataFrame
            Contract tables; any silo may be missing.
        as_of : timestamp-like, default the end of the data
            The point in time the features describe.
        users : sequence, optional
            Return rows for these user ids, in this order (unknown users get empty rows).
            Default: every user of the identity table.
        """
        check_is_fitted(self, "feature_names_")
        data = checked_tables(data)
        self._check_tier_kind(data)
        as_of = _default_as_of(data, as_of)
        return self._finish(self._build(data, as_of, users))

    def _build(self, tables, as_of, users) -> _Unjoined | pl.DataFrame:
        identity = resolve_identity(tables)
        ctx = self._context(tables, identity, as_of)
        frames = self._per_user_frames(ctx)
        if "graph" in self.builders:
            social, purchase = frames.get("social"), frames.get("purchase")
            # The graph features read the social and purchase frames when the pipeline has them.
            frames["graph"] = _shared_build(
                ctx, "graph", lambda: graph.build(ctx, social, purchase),
                social is not None, purchase is not None)
        base = (pl.DataFrame({"user_id": identity["user_id"].to_numpy()}) if users is None
                else _user_rows(users))
        present = [frame for frame in frames.values() if frame is not None]
        if any(frame.get_column("user_id").is_duplicated().any() for frame in present):
            return self._join_polars(identity, frames, users)  # a user twice in a silo
        return _Unjoined(base, present)

    def _context(self, tables, identity: pd.DataFrame, as_of) -> BuildContext:
        # Pipelines fitted before these were learnt used the package's fixed vocabularies.
        return BuildContext(tables, identity, as_of, self.categories_, self.windows,
                            self.recent_days, self.lookback_days,
                            channels=getattr(self, "channels_", ORDER_CHANNELS),
                            events=getattr(self, "events_", SOCIAL_EVENTS),
                            scenes=getattr(self, "scenes_", SCENES))

    def _check_tier_kind(self, tables) -> None:
        """A fitted pipeline reads ``city_tier`` as it was at ``fit``: numbers or text labels."""
        if "city_tier" not in self.feature_names_ or "users" not in tables:
            return
        fitted_text = "city_tier" in self.vocabularies_
        if profile.text_tier(tables["users"]["city_tier"]) != fitted_text:
            kinds = ("text labels", "numbers") if fitted_text else ("numbers", "text labels")
            raise SchemaError([f"users.city_tier: the pipeline was fitted on {kinds[0]} but "
                               f"the data hold {kinds[1]}; give city tiers as at training "
                               "(or fit again)"])

    def _per_user_frames(self, ctx: BuildContext) -> dict[str, pl.DataFrame | None]:
        """The builders that need nothing but each user's own rows (all but the graph)."""
        return {name: _shared_build(ctx, name, lambda module=module: module.build(ctx))
                for name, module in _PER_USER_BUILDERS.items() if name in self.builders}

    @classmethod
    def _join(cls, identity: pd.DataFrame, frames: Mapping[str, pl.DataFrame | None],
              users: Sequence | None) -> pd.DataFrame:
        """:meth:`_join_polars` as pandas indexed by ``user_id`` (the Dask partitions' form)."""
        return cls._join_polars(identity, frames, users).to_pandas().set_index("user_id")

    @staticmethod
    def _join_polars(identity: pd.DataFrame, frames: Mapping[str, pl.DataFrame | None],
                     users: Sequence | None) -> pl.DataFrame:
        """One row per user (identity order, or ``users`` order), builders left-joined."""
        base = (pl.DataFrame({"user_id": identity["user_id"].to_numpy()}) if users is None
                else _user_rows(users))
        # Each builder's frame aligned to the rows once, then placed side by side (no copy):
        # chained joins copied every earlier builder's columns again at each join.
        present = [frame for frame in frames.values() if frame is not None]
        aligned = [base.join(frame, on="user_id", how="left", maintain_order="left")
                   for frame in present]
        if any(a.height != base.height for a in aligned):  # a user twice in a silo
            out = base
            for frame in present:
                out = out.join(frame, on="user_id", how="left", maintain_order="left")
            return out
        return pl.concat([base, *(a.drop("user_id") for a in aligned)], how="horizontal")

    def _finish(self, raw: pd.DataFrame | pl.DataFrame) -> pd.DataFrame:
        """Fixed columns in fixed order, categorical levels from ``fit``, floats elsewhere.

        The numeric features are stored as one consolidated float block, so turning the frame
        into the model matrix later is a single contiguous copy. A Polars ``raw`` (with a
        ``user_id`` column) goes straight into that block, without a pandas frame between.
        """
        numeric = [c for c in self.feature_names_ if c not in self.vocabularies_]
        if isinstance(raw, pl.DataFrame | _Unjoined):
            index = pd.Index(raw.select("user_id").to_pandas()["user_id"])
            block = (raw.block(numeric) if isinstance(raw, _Unjoined)
                     else _polars_block(raw, numeric))
            raw = _PolarsColumns(raw, index)
        else:
            index, block = raw.index, np.full((len(raw), len(numeric)), np.nan)
            for i, col in enumerate(numeric):
                if col in raw.columns:
                    block[:, i] = raw[col].to_numpy(dtype=float, na_value=np.nan)
        # copy=False: pandas 3 copies an ndarray by default, which held the block twice at
        # build time and stored it column-major, so every model matrix read from it was a
        # transposing copy. Shared, it stays row-major: ``to_numpy`` of the numeric columns is
        # the block itself.
        out = pd.DataFrame(block, index=index, columns=numeric, copy=False)
        problems = []
        rare_levels = getattr(self, "rare_levels_", {})
        for col in self.feature_names_[len(numeric):]:  # categorical ones, in output order
            levels = self.vocabularies_[col]
            values = raw[col] if col in raw.columns else pd.Series(None, index=index)
            # Plain strings (not pandas categoricals): they travel through JSON, MLflow
            # signatures and serving unchanged; to_matrix maps them to fixed codes.
            values = values.astype(object).where(values.notna(), None)
            other = set(values.dropna()) - set(levels)
            if other:
                rare = other & set(rare_levels.get(col, ()))
                unseen = sorted(other - rare, key=str)
                if unseen and self.unknown == "error":
                    problems.append(f"{col}: value(s) {unseen[:10]} were not seen in training; "
                                    f"known: {levels}")
                drop = rare | (set(unseen) if self.unknown == "ignore" else set())
                values = values.where(~values.isin(drop), None)
            out[col] = values
        if problems:
            raise SchemaError(problems)
        return out

    # -- model matrix ----------------------------------------------------------------------
    def to_matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The numeric matrix LightGBM sees: categorical features as their level codes.

        Checks the frame first (columns, dtypes, levels) and raises :class:`SchemaError`
        naming every problem. Cheap enough for one-row frames (the single-user score path).
        """
        check_is_fitted(self, "feature_names_")
        names = self.feature_names_
        columns = features.columns.tolist()
        missing = [c for c in names if c not in set(columns)]
        if missing:
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise SchemaError([f"features: missing column(s) {missing[:20]}{more}"])
        dtypes = dict(zip(columns, features.dtypes.tolist(), strict=True))
        cat_idx = self.categorical_indices_
        num_idx = [i for i in range(len(names)) if i not in set(cat_idx)]
        num_names = [names[i] for i in num_idx]
        problems = [f"features.{c}: expected a numeric dtype, found {dtypes[c]}"
                    for c in num_names if not _numeric_or_empty(dtypes[c], features, c)]
        matrix = np.empty((len(features), len(names)))
        cat_names = [names[i] for i in cat_idx]
        if len(features) <= 64:
            # A few rows: one object array beats pandas' per-column machinery by far.
            raw = features.to_numpy(dtype=object, na_value=np.nan)
            where = {c: i for i, c in enumerate(columns)}
            num_block = raw[:, [where[c] for c in num_names]]
            cat_values = {c: raw[:, where[c]] for c in cat_names}
        else:
            num_block = None  # read below, once the dtypes are known to be numeric
            cat_values = {c: features[c].to_numpy(dtype=object) for c in cat_names}
        if num_names and not problems:
            # Numeric columns come first: one contiguous slice copy.
            matrix[:, : len(num_idx)] = (
                _numeric_block(features[num_names])
                if num_block is None else num_block.astype(float))
        for i, col in zip(cat_idx, cat_names, strict=True):
            codes, problem = _codes(col, cat_values[col], self.vocabularies_[col])
            matrix[:, i] = codes
            if problem:
                problems.append(problem)
        if problems:
            raise SchemaError(problems)
        return matrix

    def decode(self, matrix: pd.DataFrame) -> pd.DataFrame:
        """The inverse of :meth:`to_matrix` for a frame of it: category codes back to levels."""
        check_is_fitted(self, "feature_names_")
        out = matrix[self.feature_names_].copy()
        for col, levels in self.vocabularies_.items():
            codes = out[col].to_numpy(dtype=float)
            known = ~np.isnan(codes) & (codes >= 0) & (codes < len(levels))
            values = np.full(len(codes), None, dtype=object)
            values[known] = np.asarray(levels, dtype=object)[codes[known].astype(int)]
            out[col] = values
        return out

    @property
    def categorical_indices_(self) -> list[int]:
        return [i for i, c in enumerate(self.feature_names_) if c in self.vocabularies_]


    def has_record(self, features: pd.DataFrame) -> np.ndarray:
        """True for users with some record strictly before the features' ``as_of``.

        A record is an order, a social event, a group membership, a CRM membership or a
        ``users.first_seen`` date. Users without one do not exist yet at that point in time
        (prospects): models score them, with a note, but never train or evaluate on them.

        Examples
        --------
        >>> import targeting as tg
        >>> world = tg.demo_world(n_users=1_000, random_state=2)
        >>> pipe = FeaturePipeline()
        >>> X = pipe.fit_transform(world.tables, world.as_of)
        >>> bool(pipe.has_record(X).mean() < 1.0)
        True
        """
        check_is_fitted(self, "feature_names_")
        present = [c for c in PRESENCE_COLUMNS if c in features.columns]
        if not present:
            return np.ones(len(features), dtype=bool)
        return features[present].notna().to_numpy().any(axis=1)

    def silo_of(self, feature: str) -> str:
        """Which silo a feature comes from (``profile`` for the users table)."""
        for silo, prefix in SILO_PREFIXES.items():
            if feature.startswith(prefix):
                return silo
        return "profile"

    def _check_params(self) -> None:
        unknown = sorted(set(self.builders) - set(BUILDERS))
        if unknown:
            raise ValueError(f"unknown builder(s) {unknown}; choose from {list(BUILDERS)}")
        if self.unknown not in ("error", "ignore"):
            raise ValueError(f"unknown must be 'error' or 'ignore', got {self.unknown!r}")


def build_features(data: Mapping[str, pd.DataFrame], as_of=None, **params) -> pd.DataFrame:
    """One call: fit a :class:`FeaturePipeline` and return the features at ``as_of``.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=1_000, random_state=2)
    >>> X = build_features(world.tables, world.as_of)
    >>> X.index.name
    'user_id'
    """
    return FeaturePipeline(**params).fit_transform(data, as_of)


_SHARED_BUILDS = "feature_builds"


def share_feature_builds(data: Mapping[str, pd.DataFrame]) -> ValidatedTables:
    """``data`` validated, keeping every builder's output for as long as the result lives.

    Pipelines that read the returned tables build each silo's features at each date once,
    however many of them there are: a fused model and single-silo models fitted on the same
    tables share their snapshots' frames, and evaluating or scoring at the fit's ``as_of``
    reuses the frames the fit built. Builders are deterministic given the tables and the
    pipeline's settings (vocabularies, windows, look-back), which key the kept frames, so the
    features are the same to the last bit. The price is memory: every frame built is held.
    Treat the tables as read-only while the result is in use.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=1_000, random_state=2)
    >>> tables = share_feature_builds(world.tables)
    >>> a = FeaturePipeline().fit_transform(tables, world.as_of)
    >>> b = FeaturePipeline(builders=("profile", "social")).fit_transform(tables, world.as_of)
    >>> bool(a["soc_events"].equals(b["soc_events"]))
    True
    """
    tables = checked_tables(data)
    tables.cached(_SHARED_BUILDS, dict)
    return tables


def _shared_build(ctx: BuildContext, name: str, make, *key):
    """``make()``, or the frame an earlier pipeline built with the same settings on tables
    from :func:`share_feature_builds`."""
    builds = ctx.tables.kept(_SHARED_BUILDS) if isinstance(ctx.tables, ValidatedTables) else None
    if builds is None:
        return make()
    key = (name, ctx.as_of, tuple(ctx.categories), tuple(ctx.channels), tuple(ctx.events),
           tuple(ctx.scenes), tuple(ctx.windows), ctx.recent_days, ctx.lookback_days,
           ctx.chunk_rows, *key)
    if key not in builds:
        builds[key] = make()
    return builds[key]


def _numeric_or_empty(dtype, features: pd.DataFrame, col: str) -> bool:
    if dtype.kind in "biuf":
        return True
    return dtype.kind == "O" and features[col].isna().all()


def _codes(col: str, values: np.ndarray, levels: list) -> tuple[np.ndarray, str | None]:
    """Level codes (NaN for missing); small inputs by dict lookup, large ones vectorised."""
    if len(values) <= 64:
        lookup = {v: float(i) for i, v in enumerate(levels)}
        codes = np.array([lookup.get(v, np.nan) for v in values], dtype=float)
    else:
        codes = pd.Categorical(values, categories=levels).codes.astype(float)
        codes[codes < 0] = np.nan
    unknown = np.isnan(codes) & ~pd.isna(values)
    if unknown.any():
        seen = sorted({str(v) for v in values[unknown]})[:10]
        return codes, f"features.{col}: unknown value(s) {seen}; known: {levels}"
    return codes, None


def _learn_categories(tables, as_of, limit: int) -> list[str]:
    counts: dict[str, int] = {}
    for name in ("orders", "social_events"):
        if name in tables and len(tables[name]):
            for cat, n in _counts_before(tables[name], "category", as_of).items():
                counts[cat] = counts.get(cat, 0) + n
    return distinct_slugs(sorted(counts, key=lambda c: (-counts[c], c))[:limit])


def _counts_before(frame: pd.DataFrame, column: str, as_of) -> dict[str, int]:
    """Rows per value of ``column`` (as ``str``) strictly before ``as_of``, missing ones left out.

    A categorical column is counted by its integer codes: casting 150 M codes to strings
    first took most of ``fit``'s own time.

    Examples
    --------
    >>> frame = pd.DataFrame({"c": pd.Categorical(["a", "b", "a", None, "z"]),
    ...                       "ts": pd.to_datetime(["2024-01-01"] * 4 + ["2025-01-01"])})
    >>> _counts_before(frame, "c", pd.Timestamp("2024-06-01"))
    {'a': 2, 'b': 1}
    """
    ts = frame["ts"]
    before = (ts < as_timestamp(as_of, ts)).to_numpy()
    values = frame[column]
    if not isinstance(values.dtype, pd.CategoricalDtype):
        seen = values[before].dropna().astype(str)
        return {str(k): int(n) for k, n in seen.value_counts().items()}
    codes = np.asarray(values.array.codes)[before]
    n_levels = len(values.cat.categories)
    per_code = np.bincount(codes[codes >= 0], minlength=n_levels)
    counts: dict[str, int] = {}
    for level, n in zip(values.cat.categories, per_code.tolist(), strict=True):
        if n:
            counts[str(level)] = counts.get(str(level), 0) + n
    return counts


def _learn_channels(tables, as_of, limit: int) -> list[str]:
    """Order channels before ``as_of``: the package's four, then the brand's own."""
    counts: dict[str, int] = {}
    if "orders" in tables and len(tables["orders"]):
        counts = _counts_before(tables["orders"], "channel", as_of)
    return distinct_slugs(vocabulary(counts, limit, ORDER_CHANNELS), ORDER_CHANNELS)


def _learn_social(tables, as_of, limit: int) -> tuple[list[str], list[str]]:
    """Social events and scenes before ``as_of``: the package's own, then the brand's."""
    events: dict[str, int] = {}
    scenes: dict[str, int] = {}
    if "social_events" in tables and len(tables["social_events"]):
        events = _counts_before(tables["social_events"], "event", as_of)
        scenes = _counts_before(tables["social_events"], "scene", as_of)
    return social_vocabularies(events, scenes, limit)


def social_vocabularies(events: Mapping[str, int], scenes: Mapping[str, int],
                        limit: int) -> tuple[list[str], list[str]]:
    """The events and scenes with a column of their own, from their counts."""
    return (distinct_slugs(vocabulary(events, limit, SOCIAL_EVENTS), SOCIAL_EVENTS),
            distinct_slugs(vocabulary(scenes, limit, SCENES), SCENES))


def categorical_columns(raw) -> list[str]:
    """The categorical features among a raw feature frame's columns (Polars or pandas):
    the profile's and CRM's labels, and ``city_tier`` when it holds text."""
    cols = [c for c in CATEGORICAL_FEATURES if c in raw.columns]
    for c in TEXT_OR_NUMBER:
        if c not in raw.columns:
            continue
        text = (raw[c].dtype == object if isinstance(raw, pd.DataFrame)
                else raw.select(c).to_series().dtype == pl.String)
        if text:
            cols.append(c)
    return cols


def _level_counts(values: pd.Series) -> dict:
    return {k: int(n) for k, n in values.dropna().value_counts().items()}


def capped_levels(counts: Mapping[str, Mapping], limit: int) -> tuple[dict, dict]:
    """Per categorical feature, its levels (the ``limit`` most frequent values, sorted) and
    its rare values (the others, which become missing).

    Examples
    --------
    >>> capped_levels({"region": {"North": 5, "South": 3, "Wales": 1}}, limit=2)
    ({'region': ['North', 'South']}, {'region': ['Wales']})
    """
    levels, rare = {}, {}
    for col, n in counts.items():
        ranked = sorted(n, key=lambda v: (-n[v], str(v)))
        levels[col] = sorted(ranked[:limit], key=str)
        if ranked[limit:]:
            rare[col] = sorted(ranked[limit:], key=str)
    return levels, rare


def _user_rows(users: Sequence) -> pl.DataFrame:
    """``users`` as a one-column frame to left-join features onto (duplicates are an error)."""
    ids = pd.Series(list(users))
    if ids.duplicated().any():
        raise SchemaError([f"users: {int(ids.duplicated().sum())} duplicated user id(s)"])
    return pl.DataFrame({"user_id": ids.to_numpy()})


def _polars_block(raw: pl.DataFrame, numeric: list[str]) -> np.ndarray:
    """The ``numeric`` columns of ``raw`` as one C-ordered float matrix (NaN where missing or
    absent), converted by Polars in one step."""
    present = set(raw.columns)
    columns = [pl.col(c).cast(pl.Float64) if c in present else pl.lit(None, pl.Float64).alias(c)
               for c in numeric]
    if not columns:
        return np.empty((raw.height, 0))
    return raw.select(columns).to_numpy(order="c")


_SCATTER_COLUMNS = 8


class _Unjoined:
    """The builders' per-user frames and the rows to return (``base``: one ``user_id`` column),
    not joined: columns are aligned to the rows only when read, and the numeric ones are
    scattered straight into the feature matrix. Joining first held every feature twice more
    (aligned copies, then the frame the matrix was read from): at a million users, 2 GiB.
    """

    def __init__(self, base: pl.DataFrame, frames: list[pl.DataFrame]):
        self.base, self.frames = base, frames
        self.columns = ["user_id"] + [c for f in frames for c in f.columns if c != "user_id"]
        self.height, self.width = base.height, len(self.columns)

    def rebased(self, base: pl.DataFrame) -> _Unjoined:
        return _Unjoined(base, self.frames)

    def select(self, column: str) -> pl.DataFrame:
        """One column aligned to the rows (``user_id`` itself included)."""
        if column == "user_id":
            return self.base
        frame = next(f for f in self.frames if column in f.columns)
        return self.base.join(frame.select("user_id", column), on="user_id", how="left",
                              maintain_order="left").select(column)

    def block(self, numeric: list[str]) -> np.ndarray:
        """``numeric`` columns as a C-ordered float matrix, NaN where a user has no row."""
        out = np.full((self.height, len(numeric)), np.nan)
        where = {c: i for i, c in enumerate(numeric)}
        rows = self.base.with_row_index("_i")
        for frame in self.frames:
            cols = [c for c in frame.columns if c in where]
            if not cols:
                continue
            pairs = frame.select("user_id").with_row_index("_r").join(rows, on="user_id",
                                                                       how="inner")
            r, i = pairs["_r"].to_numpy(), pairs["_i"].to_numpy()
            # A few columns at a time: a whole frame's values (and their gathered copy) were
            # the peak at a million users.
            for k in range(0, len(cols), _SCATTER_COLUMNS):
                part = cols[k:k + _SCATTER_COLUMNS]
                values = frame.select(pl.col(part).cast(pl.Float64)).to_numpy(order="c")[r]
                target = [where[c] for c in part]
                if target == list(range(target[0], target[0] + len(target))):
                    out[i, target[0]:target[0] + len(target)] = values
                else:
                    out[np.ix_(i, target)] = values
        return out


class _PolarsColumns:
    """Read-only ``raw[col]`` / ``col in raw.columns`` over a Polars frame, as pandas Series
    on ``index`` (only the few categorical columns are read this way)."""

    def __init__(self, frame: pl.DataFrame | _Unjoined, index: pd.Index):
        self.frame, self.index, self.columns = frame, index, frame.columns

    def __getitem__(self, col: str) -> pd.Series:
        return self.frame.select(col).to_pandas()[col].set_axis(self.index)


def _default_as_of(tables, as_of) -> pd.Timestamp:
    """``as_of`` as given, or just after the latest event in the tables."""
    if as_of is not None:
        as_of = as_of_for(tables, as_of)
        check_after_first_event(tables, as_of)
        return as_of
    latest = [tables[n]["ts"].max() for n in ("orders", "social_events")
              if n in tables and len(tables[n])]
    if not latest:
        raise SchemaError(["as_of is required when there are no timestamped events"])
    return max(latest) + pd.Timedelta(seconds=1)


def _numeric_block(frame: pd.DataFrame) -> np.ndarray:
    """The frame's values for a float matrix. Plain numpy dtypes are read natively and cast on
    assignment (``to_numpy(dtype=float)`` took 3 s on 1 M x 64 float32, this 0.1 s); nullable
    extension dtypes go through ``na_value``."""
    if all(isinstance(d, np.dtype) and d.kind in "fiub" for d in frame.dtypes):
        # Row-major first: a cast through strides is slow.
        return np.ascontiguousarray(frame.to_numpy())
    return frame.to_numpy(dtype=float, na_value=np.nan)
