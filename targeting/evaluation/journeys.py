"""Journeys: touchpoints and conversions (or an aggregated path table) turned into one path per
journey, checked as a user's data should be (the input of every attribution method)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SEP = " > "
PATH_COLUMNS = ("path", "conversions", "value", "nulls")


# -- journeys ------------------------------------------------------------------------------------
@dataclass
class Journeys:
    """Ordered paths per journey and the path table they aggregate to.

    Attributes
    ----------
    paths : DataFrame
        The path table (``path, conversions, value, nulls``), most frequent first.
    journeys : DataFrame
        One row per journey: ``user_id, path, length, converted, value, days_to_convert``
        (from :func:`journeys_from_paths`: one row per path and outcome, with a ``count``).
    excluded : dict of str to int
        Rows left out and why (never silently).
    """

    paths: pd.DataFrame
    journeys: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)

    def stats(self) -> pd.DataFrame:
        """Journey counts, conversion rate, path length and time to convert."""
        j = self.journeys
        n = j["count"] if "count" in j else pd.Series(1.0, index=j.index)  # path-table input
        total = float(n.sum())
        conv = j[j.converted]
        return pd.DataFrame({"value": {
            "journeys": int(total), "converting": int(n[j.converted].sum()),
            "conversion rate": float(n[j.converted].sum() / total) if total else np.nan,
            "mean path length": float((j.length * n).sum() / total) if total else np.nan,
            "median days to convert": float(conv.days_to_convert.median())
            if len(conv) else np.nan,
            "distinct paths": len(self.paths),
            **{f"excluded: {k}": v for k, v in self.excluded.items()},
        }})

    def _repr_html_(self) -> str:
        top = self.paths.head(10)
        return ("<h4>Journeys</h4>" + self.stats().to_html()
                + "<h5>Top paths</h5>" + top.to_html(index=False))

    def plot(self, ax=None):
        """Path length by outcome, and the most frequent converting paths."""
        import matplotlib.pyplot as plt

        axes = ax
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4))
        j = self.journeys
        n = j["count"] if "count" in j else pd.Series(1.0, index=j.index)
        lengths = n.groupby([j.length, j.converted]).sum().unstack(fill_value=0)
        (lengths / lengths.sum()).plot.bar(ax=axes[0])
        axes[0].set(xlabel="touches in the journey", ylabel="share of journeys",
                    title="Path length by outcome")
        top = self.paths.nlargest(10, "conversions").set_index("path").conversions[::-1]
        top.plot.barh(ax=axes[1])
        axes[1].set(xlabel="conversions", title="Top converting paths")
        axes[0].figure.tight_layout()
        return axes[0].figure


def journeys(data: Mapping[str, pd.DataFrame], lookback_days: float | None = 30) -> Journeys:
    """Cut each user's touches into journeys that end at a conversion (or at the data's end).

    Any channel name is accepted (channels are learned from the data). Rules, applied in this
    order and counted in ``Journeys.excluded``:
    touches are sorted by time per user, touches at the same instant by channel name (so input
    order does not matter); touches with a missing channel are dropped; a conversion closes the
    journey of the touches since the user's previous conversion; touches after a user's last
    conversion form a non-converting journey; every journey keeps the touches within
    ``lookback_days`` before its end, the conversion or, for a journey that did not convert,
    its last touch (the same history gives the same path whatever the outcome); a conversion
    with no touch in its window has an empty path and is left out. Tz-aware timestamps are
    compared in UTC.

    Raises
    ------
    SchemaError
        A missing table or column, a column of the wrong type (timestamps that are not
        datetimes, a non-numeric ``value``), time zones that differ between the tables, or
        ``user_id`` typed differently in the two tables (no conversion would match a touch).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"user_id": [1, 1, 2], "channel": ["video", "search", "video"],
    ...                   "ts": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-01"])})
    >>> c = pd.DataFrame({"user_id": [1], "ts": pd.to_datetime(["2026-01-03"]), "value": [9.0]})
    >>> journeys({"touchpoints": t, "conversions": c}).paths
                 path  conversions  value  nulls
    0  video > search            1    9.0      0
    1           video            0    0.0      1
    """
    _check_journey_tables(data)
    if lookback_days is not None and not lookback_days > 0:
        raise ValueError(f"lookback_days must be positive or None, got {lookback_days}")
    touches, conversions = data["touchpoints"], data["conversions"]
    excluded = {}
    missing = int(touches["channel"].isna().sum())
    if missing:
        excluded["touches without a channel"] = missing
    t = touches.loc[touches["channel"].notna(), ["user_id", "ts", "channel"]].assign(
        kind=0, ts=lambda f: _utc(f.ts), channel=lambda f: f.channel.astype(str))
    c = conversions[["user_id", "ts", "value"]].assign(
        kind=1, ts=lambda f: _utc(f.ts), value=lambda f: f.value.astype(float))
    events = pd.concat([t, c], ignore_index=True)
    # A conversion at the same instant as a touch comes after it; tied touches by channel.
    events = events.sort_values(["user_id", "ts", "kind", "channel"], kind="stable",
                                na_position="last")
    conv_before = events.groupby("user_id").kind.cumsum() - events.kind
    events["journey"] = conv_before.astype(np.int64)
    conv = events[events.kind == 1].set_index(["user_id", "journey"])
    touch = events[events.kind == 0]
    if lookback_days is not None:
        touch, dropped = _within_lookback(touch, conv, lookback_days)
        if dropped:
            excluded[f"touches more than {lookback_days} days before their journey's end"] = (
                dropped)
    per = _per_journey(touch, conv)
    empty = per.path.isna()
    if empty.any():
        excluded["conversions with no touch in their window"] = int(empty.sum())
    per = per[~empty]
    per["converted"] = per.conv_ts.notna()
    per["value"] = per.value.fillna(0.0)
    per["days_to_convert"] = (per.conv_ts - per.first_ts).dt.total_seconds() / 86_400
    per = per.reset_index()[["user_id", "path", "length", "converted", "value",
                             "days_to_convert"]]
    return Journeys(path_table(per), per, excluded)


def _utc(ts: pd.Series) -> pd.Series:
    """Timestamps as naive UTC (tz-aware ones converted), nanosecond resolution."""
    if getattr(ts.dtype, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.astype("datetime64[ns]")


def _within_lookback(touch: pd.DataFrame, conv: pd.DataFrame,
                     lookback_days: float) -> tuple[pd.DataFrame, int]:
    """Touches within ``lookback_days`` of their journey's end (conversion, else last touch)."""
    key = pd.MultiIndex.from_frame(touch[["user_id", "journey"]])
    end = pd.Series(conv.ts.reindex(key).to_numpy(), index=touch.index)
    last_touch = touch.groupby(["user_id", "journey"]).ts.transform("max")
    end = end.fillna(last_touch)
    too_old = touch.ts < end - pd.Timedelta(seconds=int(lookback_days * 86_400))
    return touch[~too_old], int(too_old.sum())


def _per_journey(touch: pd.DataFrame, conv: pd.DataFrame) -> pd.DataFrame:
    """Path, length and first touch per journey, joined with its conversion (if any)."""
    # Strings summed per journey (pandas concatenates in a C loop), then the last separator cut.
    touch = touch.assign(step=touch.channel.astype(object) + SEP)
    grouped = touch.groupby(["user_id", "journey"], sort=True)
    per = pd.DataFrame({
        "path": grouped.step.sum().str.slice(stop=-len(SEP)),
        "length": grouped.size(),
        "first_ts": grouped.ts.min(),
    })
    return per.join(conv[["ts", "value"]].rename(columns={"ts": "conv_ts"}), how="outer")


def _check_journey_tables(tables) -> None:
    """Raise one SchemaError naming every problem with the touchpoints and conversions."""
    from pandas.api import types as ptypes

    from targeting.data.schema import CONTRACTS, SchemaError, validate

    if not isinstance(tables, Mapping):
        raise SchemaError([f"journeys: expected a dict with the 'touchpoints' and 'conversions' "
                           f"DataFrames, got {type(tables).__name__}; for an aggregated path "
                           "table use tg.journeys_from_paths(df, path=..., conversions=...)"])
    problems = [f"missing table '{name}' ({', '.join(c.name for c in CONTRACTS[name].columns)})"
                for name in ("touchpoints", "conversions") if name not in tables]
    present = {name: tables[name] for name in ("touchpoints", "conversions") if name in tables}
    frames = {n: f for n, f in present.items() if isinstance(f, pd.DataFrame)}
    if "touchpoints" in frames and "channel" in frames["touchpoints"].columns:
        touches = frames["touchpoints"]
        if touches["channel"].isna().any():  # allowed here: the touch is dropped and counted
            present["touchpoints"] = touches.dropna(subset=["channel"])
    try:
        validate(present)
    except SchemaError as err:
        problems += err.problems
    ids = {n: f["user_id"].dtype for n, f in frames.items() if "user_id" in f.columns and len(f)}
    if len(ids) == 2:
        kinds = {n: "integer" if ptypes.is_integer_dtype(d) else "string"
                 if ptypes.is_string_dtype(d) else str(d) for n, d in ids.items()}
        if kinds["touchpoints"] != kinds["conversions"]:
            problems.append(
                f"user_id is {kinds['touchpoints']} ({ids['touchpoints']}) in touchpoints but "
                f"{kinds['conversions']} ({ids['conversions']}) in conversions, so no conversion "
                "would match a touch; cast both to one type, e.g. .astype(str)")
    if problems:
        raise SchemaError(problems)


def journeys_from_paths(table: pd.DataFrame, *, path: str = "path",
                        conversions: str = "conversions", value: str | None = None,
                        nulls: str | None = None, sep: str = ">") -> Journeys:
    """Journeys from an aggregated path table, one row per path string (``"a > b > c"``).

    This is the interchange format of ChannelAttribution and most attribution tools: a path
    and its total conversions, total conversion value and total journeys that did not convert.
    The result feeds :func:`attribute` and :func:`compare_attribution` like :func:`journeys`'.

    Parameters
    ----------
    table : DataFrame
        One row per path (repeated paths are summed).
    path, conversions : str
        Column names of the path string and its conversion count.
    value, nulls : str, optional
        Column names of total conversion value and of non-converting journeys (0 if absent).
    sep : str, default ">"
        Separator between channels in the path string (spaces around it are ignored).

    Returns
    -------
    Journeys
        ``paths`` in the canonical form; ``journeys`` has one row per path and outcome with a
        ``count`` column (no user ids or timings in a path table); ``excluded`` counts the
        rows with an empty path.

    Raises
    ------
    SchemaError
        A named column that is missing, counts or value that are not numeric, negative or
        missing.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"route": ["search>app", "video > app", "search > app"],
    ...                     "conv": [2, 1, 1], "no_conv": [5, 3, 0]})
    >>> journeys_from_paths(raw, path="route", conversions="conv", nulls="no_conv").paths
               path  conversions  value  nulls
    0  search > app            3    0.0      5
    1   video > app            1    0.0      3
    """
    from targeting.data.schema import SchemaError

    if not isinstance(table, pd.DataFrame):
        raise SchemaError([f"journeys_from_paths: expected a DataFrame, got "
                           f"{type(table).__name__}"])
    names = {"path": path, "conversions": conversions, "value": value, "nulls": nulls}
    problems = [f"path table: missing column '{col}' (given as {role}=); columns are "
                f"{list(table.columns)[:20]}" for role, col in names.items()
                if col is not None and col not in table.columns]
    if problems:
        raise SchemaError(problems)
    out = pd.DataFrame({role: table[col] for role, col in names.items() if col is not None})
    for role in ("value", "nulls"):
        if role not in out:
            out[role] = 0.0 if role == "value" else 0
    problems = _path_table_problems(out, {r: c for r, c in names.items() if c is not None})
    if problems:
        raise SchemaError(problems)
    steps = out.path.astype(str).str.split(sep)
    out["path"] = steps.map(lambda s: SEP.join(c.strip() for c in s if c.strip()))
    empty = out.path == ""
    excluded = {"rows with an empty path": int(empty.sum())} if empty.any() else {}
    out = out[~empty]
    paths = out.groupby("path", as_index=False)[["conversions", "value", "nulls"]].sum()
    paths = paths.sort_values(["conversions", "nulls", "path"], ascending=[False, False, True],
                              ignore_index=True)
    length = paths.path.str.count(">") + 1
    per = pd.concat([
        pd.DataFrame({"path": paths.path, "length": length, "converted": True,
                      "value": paths.value, "count": paths.conversions}),
        pd.DataFrame({"path": paths.path, "length": length, "converted": False,
                      "value": 0.0, "count": paths.nulls}),
    ], ignore_index=True)
    per = per[per["count"] > 0].reset_index(drop=True)
    per.insert(0, "user_id", pd.NA)
    per.insert(5, "days_to_convert", np.nan)
    return Journeys(paths, per, excluded)


def _path_table_problems(table: pd.DataFrame, names: dict[str, str]) -> list[str]:
    """Type and range problems of a path table's columns (named as the caller named them)."""
    from pandas.api import types as ptypes

    problems = []
    if not (ptypes.is_string_dtype(table.path) or ptypes.is_object_dtype(table.path)):
        problems.append(f"path table: '{names['path']}' must hold path strings like "
                        f"'a > b', found dtype {table.path.dtype}")
    for role in ("conversions", "value", "nulls"):
        if role not in names:
            continue
        col = table[role]
        where = f"path table: '{names[role]}' ({role})"
        if not ptypes.is_numeric_dtype(col) or ptypes.is_bool_dtype(col):
            problems.append(f"{where} must be numeric, found dtype {col.dtype}; convert it, "
                            f"e.g. pd.to_numeric(df['{names[role]}'])")
            continue
        if col.isna().any():
            problems.append(f"{where}: {int(col.isna().sum())} missing value(s); fill them "
                            "(e.g. .fillna(0)) or drop those rows")
        if (col < 0).any():
            problems.append(f"{where}: {int((col < 0).sum())} negative value(s)")
        if col.isin([np.inf, -np.inf]).any():
            problems.append(f"{where}: {int(col.isin([np.inf, -np.inf]).sum())} infinite "
                            "value(s); replace or drop those rows")
    return problems


def path_table(per_journey: pd.DataFrame) -> pd.DataFrame:
    """Aggregate journeys (``path, converted, value``) to the path table."""
    g = per_journey.assign(conv=per_journey.converted.astype(int),
                           null=(~per_journey.converted).astype(int))
    out = g.groupby("path").agg(conversions=("conv", "sum"), value=("value", "sum"),
                                nulls=("null", "sum")).reset_index()
    return out.sort_values(["conversions", "nulls", "path"], ascending=[False, False, True],
                           ignore_index=True)


def as_paths(data) -> pd.DataFrame:
    """The path table from tables, a Journeys object or a path table; checked."""
    from targeting.data.schema import SchemaError

    if isinstance(data, Journeys):
        return data.paths
    if isinstance(data, Mapping):
        return journeys(data).paths
    if not isinstance(data, pd.DataFrame):
        raise SchemaError([f"attribution input: expected a dict of the touchpoints and "
                           f"conversions tables, a Journeys or a path table DataFrame, got "
                           f"{type(data).__name__}"])
    missing = [c for c in ("path", "conversions") if c not in data.columns]
    if missing:
        raise SchemaError([f"path table: missing column(s) {missing}; expected {PATH_COLUMNS}; "
                           "for other column names use tg.journeys_from_paths(df, path=..., "
                           "conversions=..., value=..., nulls=...)"])
    out = data.copy()
    for col in ("value", "nulls"):
        if col not in out.columns:
            out[col] = 0.0
    problems = _path_table_problems(out, {c: c for c in PATH_COLUMNS if c in data.columns})
    if problems:
        raise SchemaError(problems)
    empty = out.path.fillna("").astype(str).str.strip() == ""
    return out[~empty].reset_index(drop=True)


def touches(paths: pd.DataFrame) -> pd.DataFrame:
    """One row per touch of each distinct path: ``row, pos, n, channel`` plus path counts."""
    paths = paths.reset_index(drop=True)
    steps = paths.path.str.split(SEP.strip()).explode()
    out = pd.DataFrame({"row": steps.index.to_numpy(), "channel": steps.str.strip().to_numpy()})
    out["pos"] = out.groupby("row").cumcount().to_numpy()
    out["n"] = out.groupby("row").pos.transform("size").to_numpy()
    for col in ("conversions", "value", "nulls"):
        out[col] = paths[col].to_numpy(dtype=float)[out.row.to_numpy()]
    return out
