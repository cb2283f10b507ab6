"""Helpers shared by the feature builders: time filtering and id linking in Polars.

The builders take pandas tables and return pandas frames; inside they compute with Polars,
which ran the same per-user aggregations about 4x faster than pandas here (see benchmarks/),
except the social builder: its table is the largest by far (150 M rows at a million users),
so it streams through :func:`event_chunks` into numpy bincounts by account, one pass for
every count (a Polars group_by with its 54 conditional aggregations took 7x longer).
Every builder is a pure function of its tables and ``as_of``, so it also runs per partition
of a dataframe shuffled by user.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import polars as pl

from targeting.data.dates import as_timestamp
from targeting.data.vocab import ORDER_CHANNELS, SCENES, SOCIAL_EVENTS

DAY_SECONDS = 86_400.0
DAY_NS = DAY_SECONDS * 1e9
# Rows per chunk of the streaming builders: about 60 bytes of scratch per row, so a table of any
# length costs about 120 MB on top of itself (150 M social events included).
CHUNK_ROWS = 2_000_000


def events_before(frame: pd.DataFrame, columns: list[str], time_column: str,
                  as_of: pd.Timestamp, lookback_days: float | None = None,
                  codes: Mapping[str, Sequence] | None = None) -> pl.DataFrame:
    """Rows strictly before ``as_of`` (and within ``lookback_days`` of it) as Polars.

    Adds ``age_days`` (days before ``as_of``). Columns named in ``codes`` arrive as integer
    codes into the given vocabulary (-1 for missing or unknown values): builders compare small
    integers instead of strings, which keeps feature building at parity with a SQL engine.
    The filtering itself runs in Polars, on columns handed over without copies where possible.
    """
    ts = frame[time_column]
    as_of = as_timestamp(as_of, ts)
    t_ns = _utc_nanoseconds(ts)
    end = int(_utc_nanoseconds(pd.Series([as_of]))[0])
    data = {"_t": t_ns}
    for col in columns:
        if col == time_column:
            continue
        if codes and col in codes:
            data[col] = encode(frame[col], codes[col])
        elif isinstance(frame[col].dtype, np.dtype) and frame[col].dtype.kind in "biuf":
            data[col] = frame[col].to_numpy()
        else:
            data[col] = pl.from_pandas(frame[col])
    keep = pl.col("_t") < end
    if lookback_days is not None:
        keep &= pl.col("_t") >= end - int(lookback_days * DAY_SECONDS * 1e9)
    age = ((end - pl.col("_t")) / (DAY_SECONDS * 1e9)).alias("age_days")
    return pl.DataFrame(data).filter(keep).with_columns(age).drop("_t")


def event_chunks(frame: pd.DataFrame, silo_id: str, keys: pl.Series, time_column: str,
                 as_of: pd.Timestamp, lookback_days: float | None = None,
                 codes: Mapping[str, Sequence] | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> Iterator[dict[str, np.ndarray]]:
    """The rows of ``frame`` before ``as_of`` whose ``silo_id`` is one of ``keys``, in chunks.

    Each chunk is a dict of numpy arrays: ``gid`` (the row's position in ``keys``), ``t``
    (nanoseconds since the epoch, UTC), ``age`` (days before ``as_of``, computed as
    :func:`events_before` does) and each column of ``codes`` as integer codes (-1 for missing
    or unknown). Builders add chunk results up by ``gid``, so a table of any length streams
    through in constant extra memory, and no per-account frame is joined back to the ids.

    Examples
    --------
    >>> frame = pd.DataFrame({"sid": [7, 9, 7, 5], "kind": ["a", "b", "a", "a"],
    ...                       "ts": pd.to_datetime(["2024-01-01", "2024-01-02",
    ...                                             "2024-01-03", "2024-01-01"])})
    >>> chunk, = event_chunks(frame, "sid", pl.Series([7, 9]), "ts",
    ...                       pd.Timestamp("2024-01-03"), codes={"kind": ["a", "b"]})
    >>> chunk["gid"].tolist(), chunk["kind"].tolist(), chunk["age"].tolist()
    ([0, 1], [0, 1], [2.0, 1.0])
    """
    ts = frame[time_column]
    as_of = as_timestamp(as_of, ts)
    t_all = _utc_nanoseconds(ts)
    end = int(_utc_nanoseconds(pd.Series([as_of]))[0])
    start = None if lookback_days is None else end - int(lookback_days * DAY_NS)
    position = key_positions(keys)
    ids = frame[silo_id]
    for a in range(0, len(frame), chunk_rows):
        t = t_all[a:a + chunk_rows]
        gid = position(ids.iloc[a:a + chunk_rows])
        keep = (t < end) & (gid >= 0)
        if start is not None:
            keep &= t >= start
        chunk = {"gid": gid, "t": t}
        for col, vocabulary in (codes or {}).items():
            chunk[col] = encode(frame[col].iloc[a:a + chunk_rows], vocabulary)
        if not keep.all():
            rows = np.flatnonzero(keep)
            chunk = {k: v[rows] for k, v in chunk.items()}
        chunk["age"] = age_days(end, chunk["t"])
        yield chunk


def key_positions(keys: pl.Series):
    """A function from a Series of ids to their positions in ``keys`` (-1 where absent).

    Integer ids spanning a range at most four times their count (sequential or offset ids,
    the common shape) are looked up in a table indexed by the id itself, several times faster
    than hashing each of 150 M rows; other ids go through a hash index.

    Examples
    --------
    >>> position = key_positions(pl.Series([12, 10, 15]))
    >>> position(pd.Series([10, 11, 15, 99, -3])).tolist()
    [1, -1, 2, -1, -1]
    >>> key_positions(pl.Series(["b", "a"]))(pd.Series(["a", "z"])).tolist()
    [1, -1]
    >>> position(pd.Series([15, None], dtype="Int64")).tolist()
    [2, -1]
    """
    values = keys.to_numpy()
    index = pd.Index(values)
    if values.dtype.kind not in "iu" or not len(values):
        return lambda ids: index.get_indexer(ids)
    low, high = int(values.min()), int(values.max())
    if high - low + 1 > 4 * len(values) + 1024:
        return lambda ids: index.get_indexer(ids)
    table = np.full(high - low + 1, -1, dtype=np.int64)
    table[values - low] = np.arange(len(values))

    def position(ids: pd.Series) -> np.ndarray:
        if not (isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iu"):  # nullable, other
            return index.get_indexer(ids)
        offset = ids.to_numpy() - low
        inside = (offset >= 0) & (offset < len(table))
        return np.where(inside, table[np.where(inside, offset, 0)], -1)

    return position


def age_days(end: int, t: np.ndarray) -> np.ndarray:
    """Days from ``t`` to ``end`` (both nanoseconds), bit for bit as :func:`events_before`
    (Polars divides by a constant as a product with its reciprocal)."""
    return (end - t).astype(np.float64) * (1.0 / DAY_NS)


def silo_keys(identity: pl.DataFrame, silo_id: str) -> pl.Series:
    """The distinct known ids of one silo, in identity order."""
    return identity.get_column(silo_id).drop_nulls().unique(maintain_order=True)


def _utc_nanoseconds(ts: pd.Series) -> np.ndarray:
    if getattr(ts.dtype, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.to_numpy(dtype="datetime64[ns]").view(np.int64)


def encode(values: pd.Series, vocabulary: Sequence) -> np.ndarray:
    """Integer codes of ``values`` in ``vocabulary`` (-1 for missing or unknown).

    Examples
    --------
    >>> encode(pd.Series(["b", None, "z", "a"]), ["a", "b"]).tolist()
    [1, -1, -1, 0]
    """
    cat = values.array if isinstance(values.dtype, pd.CategoricalDtype) else pd.Categorical(values)
    lookup = {str(v): i for i, v in enumerate(vocabulary)}
    mapping = np.array([lookup.get(str(v), -1) for v in cat.categories] + [-1], dtype=np.int16)
    return mapping[np.asarray(cat.codes)]  # code -1 (missing) picks the trailing -1


def link(frame: pl.DataFrame, identity: pl.DataFrame, silo_id: str) -> pl.DataFrame:
    """Replace a silo's own id by ``user_id`` (rows of unknown ids drop out)."""
    ids = identity.select("user_id", silo_id).drop_nulls(silo_id)
    if frame.schema[silo_id] == pl.Null:  # no rows (no consenting member before as_of)
        frame = frame.with_columns(pl.col(silo_id).cast(ids.schema[silo_id]))
    return frame.join(ids, on=silo_id, how="inner").drop(silo_id)


def identity_polars(identity: pd.DataFrame) -> pl.DataFrame:
    return pl.from_pandas(identity[["user_id", "social_id", "shop_id", "member_id"]])


def count_if(condition: pl.Expr, name: str) -> pl.Expr:
    return condition.sum().cast(pl.Float64).alias(name)


def min_if(condition: pl.Expr, value: pl.Expr, name: str) -> pl.Expr:
    return pl.when(condition).then(value).min().alias(name)


def per_category(in_category, age: pl.Expr, categories, recent_days: int,
                 names) -> list[pl.Expr]:
    """For each category: the count, the count in the last ``recent_days`` and the days since
    the latest, of the events where ``in_category(i)`` holds (one definition for every silo).

    ``names(slug)`` gives the (count, recent, days-since) prefixes' stem, e.g.
    ``lambda s: ("soc_eng_" + s, "soc_days_since_" + s)``.
    """
    aggs = []
    for i, cat in enumerate(categories):
        condition = in_category(i)
        count, since = names(slug(cat))
        aggs += [count_if(condition, count),
                 count_if(condition & (age < recent_days), f"{count}_{recent_days}d"),
                 min_if(condition, age, since)]
    return aggs


def vocabulary(counts: Mapping[str, int], limit: int,
               known: Sequence[str] = ()) -> list[str]:
    """The levels a pipeline gives columns to: ``known`` levels first (a fixed order, so the
    columns of data in the package's own vocabulary never move), then the others seen in the
    data, most frequent first, up to ``limit`` in all.

    Examples
    --------
    >>> vocabulary({"web": 5, "tmall": 9, "kiosk": 1}, limit=3, known=("app", "web"))
    ['app', 'web', 'tmall']
    """
    others = sorted((c for c in counts if c not in known), key=lambda c: (-counts[c], c))
    return [*known, *others][:max(limit, len(known))]


def slug(value: str) -> str:
    """A column-name-safe version of a vocabulary value.

    Examples
    --------
    >>> slug("Group Referral"), slug("18-24")
    ('group_referral', '18_24')
    """
    return "".join(ch if ch.isalnum() else "_" for ch in str(value).lower()).strip("_")


# Words that end fixed column names after a learnt value's prefix (``pur_n_categories``,
# ``soc_days_since_last``): a value slugged to one of them would name a column twice.
RESERVED_SLUGS = ("", "categories", "first", "last")


def distinct_slugs(values: Sequence[str], known: Sequence[str] = ()) -> list[str]:
    """``values`` less those whose column name would repeat another's.

    Features are named after learnt values (``soc_n_<event>``, ``pur_share_<channel>``), so
    two values with one slug (``"Gift Card"`` and ``"gift-card"``), a value with no letter or
    digit, or one slugged to a fixed column's ending would give two columns one name. The
    first value of each slug keeps its column; the others are still counted in totals. The
    ``known`` values (the package's own) always keep theirs.

    Examples
    --------
    >>> distinct_slugs(["app", "Gift Card", "gift-card", "???", "last"])
    ['app', 'Gift Card']
    """
    taken, out = set(), []
    for value in values:
        name = slug(value)
        if value in known or (name not in taken and name not in RESERVED_SLUGS):
            taken.add(name)
            out.append(value)
    return out


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    out = frame.to_pandas()
    return out.set_index("user_id") if "user_id" in out.columns else out


class BuildContext:
    """What every builder needs: the tables, the identity in Polars, ``as_of`` and vocabularies.

    Parameters
    ----------
    tables : dict of str to DataFrame
        Validated contract tables (any subset).
    identity : DataFrame
        The resolved identity table.
    as_of : timestamp-like
        Only rows strictly before it are read.
    categories : sequence of str
        Product categories that get their own columns.
    windows : sequence of int
        Look-back windows in days for recency-bounded counts.
    recent_days : int
        The window for per-category recent counts.
    lookback_days : int or None
        Events older than this are not read, so every snapshot sees the same span of history
        (training windows stacked at several ``as_of`` dates stay comparable).
    channels : sequence of str
        Order channels that get their own share column (learnt from the data by the pipeline).
    events, scenes : sequence of str
        Social events and scenes that get their own count column (learnt likewise; the
        package's own by default).
    chunk_rows : int
        Rows per chunk for the builders that stream their table (social events).
    """

    def __init__(self, tables, identity: pd.DataFrame, as_of, categories, windows,
                 recent_days: int = 30, lookback_days: int | None = None,
                 channels: Sequence[str] = ORDER_CHANNELS, chunk_rows: int = CHUNK_ROWS,
                 events: Sequence[str] = SOCIAL_EVENTS, scenes: Sequence[str] = SCENES):
        self.channels = list(channels)
        self.events = list(events)
        self.scenes = list(scenes)
        self.chunk_rows = chunk_rows
        self.recent_days = recent_days
        self.lookback_days = lookback_days
        self.tables = tables
        cached = getattr(tables, "cached", None)  # ValidatedTables: one Polars copy per call
        self.identity = (cached("identity_polars", lambda: identity_polars(identity))
                         if cached is not None else identity_polars(identity))
        self.as_of = pd.Timestamp(as_of)
        self.categories = list(categories)
        self.windows = tuple(windows)

    def has(self, name: str) -> bool:
        return name in self.tables and len(self.tables[name]) > 0
