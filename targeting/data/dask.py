"""Contract tables from partitioned Parquet, as Dask dataframes, checked like pandas input.

Two layouts are read, from a local folder or any fsspec URL (``s3://``, ``gs://``,
``memory://``, ...):

- ``<root>/<table>/`` (or ``<root>/<table>.parquet``): any partitioned Parquet dataset per
  table; :func:`read_parquet_tables` returns Dask dataframes, to be shuffled by user with
  :func:`targeting.features.dask.shuffle_by_user`.
- the same with files named ``part.<i>.parquet`` written by :func:`write_user_partitions`,
  where file ``i`` of every table holds the rows of the same users: :func:`read_user_partitions`
  reads it with no shuffle at all (one Dask partition per file).

Validation (:func:`validate_dask`) checks columns and dtypes from the metadata alone, then
values and keys partition by partition, and raises one :class:`~targeting.SchemaError` with the
same messages as :func:`~targeting.validate`. No table is ever loaded whole into one process.
"""

from __future__ import annotations

from collections.abc import Mapping

import dask
import dask.dataframe as dd
import fsspec
import numpy as np
import pandas as pd
from dask.delayed import Delayed, delayed

from targeting.data.schema import _KIND_CHECKS, CONTRACTS, SchemaError, _check_table
from targeting.data.schema import validate as schema_validate

__all__ = ["UserPartitions", "read_parquet_tables", "read_user_partitions", "shuffle_by_user",
           "validate_dask", "write_user_partitions"]

BUCKET = "_bucket"
# How each table reaches its user: directly by user_id, or through a silo id.
USER_KEY = {"identity": "user_id", "users": "user_id", "campaign": "user_id",
            "touchpoints": "user_id", "conversions": "user_id", "social_events": "social_id",
            "groups": "social_id", "orders": "shop_id", "crm": "member_id",
            "invites": "social_id"}


class UserPartitions:
    """Contract tables as Dask dataframes whose partition ``i`` holds the same users' rows.

    Build one with :func:`shuffle_by_user` (any input) or
    :func:`targeting.data.dask.read_user_partitions` (Parquet already laid out by user).

    Parameters
    ----------
    tables : dict of str to dask.dataframe.DataFrame
        Aligned tables, all with ``npartitions`` partitions.
    """

    def __init__(self, tables: Mapping[str, dd.DataFrame]):
        counts = {name: frame.npartitions for name, frame in tables.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"tables shuffled by user must have the same number of partitions; "
                             f"found {counts}")
        if "identity" not in tables and "users" not in tables:
            raise SchemaError(["missing table 'identity': partitions by user need it (one row "
                               "per user_id with its social_id, shop_id and member_id)"])
        self.tables = dict(tables)
        self.npartitions = next(iter(counts.values()))
        self._delayed: dict[str, list[Delayed]] = {}

    def partition(self, i: int) -> dict[str, Delayed]:
        """Partition ``i`` of every table, as delayed pandas frames."""
        for name, frame in self.tables.items():
            if name not in self._delayed:
                self._delayed[name] = frame.to_delayed()
        return {name: parts[i] for name, parts in self._delayed.items()}

    def persist(self) -> UserPartitions:
        """Keep the tables in the cluster's memory (worth it before several passes)."""
        self.tables = dict(zip(self.tables, dask.persist(*self.tables.values()), strict=True))
        self._delayed = {}
        return self

    def __repr__(self) -> str:
        return f"UserPartitions({self.npartitions} partitions: {', '.join(self.tables)})"


def as_partitions(tables, npartitions: int | None = None, *,
                  validate: bool = True) -> UserPartitions:
    """``tables`` as :class:`UserPartitions` (shuffled by user unless they already are)."""
    if isinstance(tables, UserPartitions):
        return tables
    return shuffle_by_user(tables, npartitions, validate=validate)


def shuffle_by_user(tables: Mapping[str, pd.DataFrame | dd.DataFrame],
                    npartitions: int | None = None, *, validate: bool = True) -> UserPartitions:
    """Place each row of each table in the partition of its user.

    Parameters
    ----------
    tables : dict of str to pandas or Dask DataFrame
        Contract tables, with an ``identity`` table (or ``users`` when there is one silo).
    npartitions : int, optional
        Default: the identity table's partition count (pandas input: 4).
    validate : bool, default True
        Check the tables against their contracts first (:func:`validate_dask` for Dask ones).

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=500, random_state=1)
    >>> shuffle_by_user(world.tables, 2).npartitions
    2
    """
    if validate:  # the checks of pandas input, before any work; validate=False skips them
        dask_input = {k: v for k, v in tables.items() if isinstance(v, dd.DataFrame)}
        schema_validate({k: v for k, v in tables.items() if k not in dask_input})
        if dask_input:
            validate_dask(dask_input)
    tables = {name: frame if isinstance(frame, dd.DataFrame)
              else dd.from_pandas(frame, npartitions=npartitions or 4, sort=False)
              for name, frame in tables.items()}
    unknown = sorted(set(tables) - set(USER_KEY))
    if unknown:
        raise SchemaError([f"unknown table '{name}'; known tables: {sorted(USER_KEY)}"
                           for name in unknown])
    base = tables.get("identity", tables.get("users"))
    if base is None:
        raise SchemaError(["missing table 'identity': partitions by user need it (one row per "
                           "user_id with its social_id, shop_id and member_id)"])
    n = npartitions or base.npartitions
    ids = base.map_partitions(_with_bucket, "user_id", n)
    out = {}
    for name, frame in tables.items():
        key = USER_KEY[name]
        if key == "user_id":
            bucketed = frame.map_partitions(_with_bucket, "user_id", n)
        else:
            if key not in base.columns:
                raise SchemaError([f"identity: missing column '{key}' needed to place "
                                   f"'{name}' rows with their users"])
            bucketed = _bucket_through(frame, ids, key, n)
        out[name] = bucketed.set_index(BUCKET, divisions=list(range(n)) + [n - 1])
    return UserPartitions(out)


def _with_bucket(frame: pd.DataFrame, key: str, n: int) -> pd.DataFrame:
    return frame.assign(**{BUCKET: bucket_of(frame[key], n)})


def bucket_of(ids: pd.Series, n: int) -> np.ndarray:
    """The partition of each id: a fixed hash modulo ``n`` (the same in every process).

    Examples
    --------
    >>> bucket_of(pd.Series([1, 2, 3]), 4).tolist() == bucket_of(pd.Series([1, 2, 3]), 4).tolist()
    True
    """
    values = ids.to_numpy()
    if values.dtype.kind in "iu":
        values = values.astype(np.int64)
    else:
        values = ids.astype(str).to_numpy(dtype=object)
    return (pd.util.hash_array(values) % np.uint64(n)).astype(np.int64)


def _bucket_through(frame: dd.DataFrame, ids: dd.DataFrame, key: str, n: int) -> dd.DataFrame:
    """Bucket of each row's user, found through the identity table (own id if unknown)."""
    lookup = ids[[key, BUCKET]].dropna(subset=[key])
    lookup = lookup.astype({key: frame[key].dtype}).rename(columns={BUCKET: "_user_bucket"})
    merged = frame.merge(lookup, on=key, how="left")
    return merged.map_partitions(_fill_bucket, key, n)


def _fill_bucket(frame: pd.DataFrame, key: str, n: int) -> pd.DataFrame:
    own = bucket_of(frame[key].fillna(-1) if frame[key].dtype.kind in "iuf" else frame[key], n)
    user = frame.pop("_user_bucket")
    frame[BUCKET] = np.where(user.isna(), own, user.fillna(-1).to_numpy()).astype(np.int64)
    return frame


def read_parquet_tables(source: str, *, tables: list[str] | None = None,
                        storage_options: dict | None = None,
                        validate: bool = True) -> dict[str, dd.DataFrame]:
    """Contract tables from ``<source>/<table>/`` Parquet datasets, lazily, as Dask frames.

    Parameters
    ----------
    source : str
        A folder or fsspec URL holding one dataset (folder or file) per contract table.
    tables : list of str, optional
        Read only these tables (default: every contract table found).
    storage_options : dict, optional
        Passed to fsspec (credentials, endpoints).
    validate : bool, default True
        Run :func:`validate_dask` (a pass over the data) before returning.

    Examples
    --------
    >>> import targeting as tg
    >>> world = tg.demo_world(n_users=500, random_state=1)
    >>> _ = write_user_partitions(world.tables, "memory://doc-world", npartitions=2)
    >>> sorted(read_parquet_tables("memory://doc-world"))[:3]
    ['campaign', 'conversions', 'crm']
    """
    return _read(source, tables, storage_options, validate, one_file_per_partition=False)


def read_user_partitions(source: str, *, tables: list[str] | None = None,
                         storage_options: dict | None = None, validate: bool = True):
    """Tables written by :func:`write_user_partitions`: already partitioned by user.

    Returns :class:`~targeting.features.dask.UserPartitions` (no shuffle needed).
    """
    frames = _read(source, tables, storage_options, validate, one_file_per_partition=True)
    return UserPartitions(frames)


def _read(source, names, storage_options, validate, one_file_per_partition):
    fs, root = fsspec.core.url_to_fs(source, **(storage_options or {}))
    found = _datasets(fs, root)
    if names is not None:
        missing = sorted(set(names) - set(found))
        if missing:
            raise SchemaError([f"missing table '{n}': no {source}/{n}/ or {source}/{n}.parquet"
                               for n in missing])
        found = {n: found[n] for n in names}
    if not found:
        raise SchemaError([f"no contract tables found in {source}: expected <table>/ Parquet "
                           f"datasets or <table>.parquet files named after {sorted(CONTRACTS)}"])
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    prefix = "" if protocol in ("file", "local") else f"{protocol}://"
    options = {} if one_file_per_partition else {"split_row_groups": "infer"}
    with dask.config.set({"dataframe.convert-string": False}):
        frames = {name: dd.read_parquet(prefix + path, storage_options=storage_options,
                                        **({"split_row_groups": False}
                                           if one_file_per_partition else options))
                  for name, path in found.items()}
    if validate:
        validate_dask(frames)
    return frames


def _datasets(fs, root: str) -> dict[str, str]:
    out = {}
    for name in CONTRACTS:
        for path in (f"{root}/{name}", f"{root}/{name}.parquet"):
            if fs.exists(path):
                out[name] = path
                break
    return out


def write_user_partitions(tables: Mapping, target: str, npartitions: int | None = None, *,
                          storage_options: dict | None = None, validate: bool = True) -> str:
    """Write tables shuffled by user as ``<target>/<table>/part.<i>.parquet``.

    ``tables`` may be pandas or Dask frames, or :class:`UserPartitions`; read it back with
    :func:`read_user_partitions`. Returns ``target``.
    """
    parts = as_partitions(tables, npartitions, validate=validate)
    writes = []
    for name, frame in parts.tables.items():
        path = f"{target}/{name}"
        fsspec.core.url_to_fs(path, **(storage_options or {}))[0].makedirs(path, exist_ok=True)
        writes += [delayed(_write_part)(p, f"{path}/part.{i:05d}.parquet", BUCKET,
                                        storage_options)
                   for i, p in enumerate(frame.to_delayed())]
    dask.compute(*writes)
    return target


def _write_part(frame: pd.DataFrame, path: str, bucket: str, storage_options) -> None:
    frame = frame.reset_index(drop=frame.index.name == bucket)
    with fsspec.open(path, "wb", **(storage_options or {})) as fh:
        frame.to_parquet(fh, index=False)


# -- validation ----------------------------------------------------------------------------
def validate_dask(tables: Mapping[str, dd.DataFrame]) -> None:
    """:func:`~targeting.validate` for Dask tables: one pass, partition by partition.

    Columns and dtypes are checked from the metadata before any data are read; values
    (missing, allowed, minimum) per partition and added up; keys by a distributed count.

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd
    >>> groups = pd.DataFrame({"group_id": [1, 1], "social_id": [5, 5],
    ...                        "role": ["owner", "admin"],
    ...                        "joined_at": pd.to_datetime(["2026-01-01"] * 2)})
    >>> try:
    ...     validate_dask({"groups": dd.from_pandas(groups, npartitions=2)})
    ... except SchemaError as err:
    ...     print(len(err.problems))
    2
    """
    problems: list[str] = []
    checks, keys = [], {}
    tz_seen: dict[str, str] = {}
    for name, frame in tables.items():
        if name not in CONTRACTS:
            problems.append(f"unknown table '{name}'; known tables: {sorted(CONTRACTS)}")
            continue
        if not isinstance(frame, dd.DataFrame):
            problems.append(f"{name}: expected a Dask DataFrame, got {type(frame).__name__}")
            continue
        contract = CONTRACTS[name]
        # Structure from the metadata (an empty frame with the right dtypes): no data read.
        problems += _check_table(contract, frame._meta, tz_seen)
        columns = [c for c in contract.columns
                   if c.name in frame.columns and _KIND_CHECKS[c.kind](frame._meta[c.name])]
        if columns:
            checks += [delayed(_value_stats)(name, columns, p) for p in
                       frame[[c.name for c in columns]].to_delayed()]
        key = list(contract.key)
        if key and all(k in frame.columns for k in key):
            keys[name] = (key, frame[key].assign(_n=1).groupby(key)["_n"].sum())
    if len(set(tz_seen.values())) > 1:
        detail = ", ".join(f"{col} is {tz}" for col, tz in sorted(tz_seen.items()))
        problems.append(f"timestamps mix time zones ({detail}); make them all tz-aware in one "
                        "zone or all naive")
    if not problems:  # values only once the structure is right
        key_counts = {name: counts[counts > 1] for name, (_, counts) in keys.items()}
        stats = dask.compute(*checks)
        dups = dict(zip(key_counts, dask.compute(*key_counts.values()), strict=True))
        problems += _value_problems(stats)
        for name, dup in dups.items():
            if len(dup):
                example = [dict(zip(keys[name][0], k if isinstance(k, tuple) else (k,),
                                    strict=True)) for k in dup.index[:3]]
                problems.append(f"{name}: {int(dup.sum())} rows share a key "
                                f"{tuple(keys[name][0])}, e.g. {example}; keys must be unique")
    if problems:
        raise SchemaError(problems)


def _value_stats(table: str, columns, frame: pd.DataFrame) -> dict:
    out = {}
    for col in columns:
        s = frame[col.name]
        stats = {"nulls": int(s.isna().sum()) if not col.nullable else 0, "unknown": set(),
                 "below": 0, "example": None, "min": col.min_value, "allowed": col.allowed}
        if col.allowed is not None:
            stats["unknown"] = {str(v) for v in s.dropna().unique()} - {str(a)
                                                                        for a in col.allowed}
        if col.min_value is not None and len(s):
            below = s < col.min_value
            stats["below"] = int(below.sum())
            if stats["below"]:
                stats["example"] = s[below].iloc[0]
        out[f"{table}.{col.name}"] = stats
    return out


def _value_problems(stats: list[dict]) -> list[str]:
    total: dict[str, dict] = {}
    for part in stats:
        for where, s in part.items():
            t = total.setdefault(where, {**s, "nulls": 0, "unknown": set(), "below": 0})
            t["nulls"] += s["nulls"]
            t["unknown"] |= s["unknown"]
            t["below"] += s["below"]
            if t["example"] is None:
                t["example"] = s["example"]
    problems = []
    for where, t in total.items():
        if t["nulls"]:
            problems.append(f"{where}: {t['nulls']} missing value(s) in a column that must be "
                            "complete")
        if t["unknown"]:
            problems.append(f"{where}: unknown value(s) {sorted(t['unknown'])[:10]}; allowed: "
                            f"{list(t['allowed'])}")
        if t["below"]:
            problems.append(f"{where}: {t['below']} value(s) below {t['min']} "
                            f"(e.g. {t['example']})")
    return problems


def fingerprint(tables) -> str:
    """SHA-256 over every table's rows, computed per partition (same data and partitioning,
    same fingerprint); used by tracking for Dask input."""
    import hashlib

    frames = tables.tables if isinstance(tables, UserPartitions) else tables
    digests = {name: [delayed(_partition_digest)(p) for p in frame.to_delayed()]
               for name, frame in sorted(frames.items())}
    computed = dask.compute(digests)[0]
    digest = hashlib.sha256()
    for name, parts in computed.items():
        digest.update(name.encode())
        digest.update(",".join(map(str, frames[name].columns)).encode())
        for part in parts:
            digest.update(part)
    return digest.hexdigest()


def _partition_digest(frame: pd.DataFrame) -> bytes:
    import hashlib

    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy()
                          .tobytes()).digest()
