"""Attribution: which scenes and channels earned the conversions.

Input is either the ``touchpoints`` and ``conversions`` tables, turned into journeys by
:func:`journeys`, or an aggregated *path table*, one row per distinct path, in the interchange
format of ChannelAttribution and most attribution tools::

    path                          conversions  value   nulls
    "moments > group_chat > app"  12           1830.0  240

Methods (:func:`attribute`):

- heuristics: ``last_touch``, ``first_touch``, ``linear`` (equal split over the touches),
  ``time_decay`` (weight halves every ``half_life`` touches back from the conversion),
  ``position`` (U-shape: 40 % first, 40 % last, 20 % shared by the middle);
- ``markov``: removal effect in a Markov chain of order 1 to 4 over the touches, computed
  exactly from the absorbing chain over the observed states (deterministic, unlike
  simulation-based peers). A channel's credit is its removal effect (the share of conversions
  lost when its states lead nowhere), normalised to the conversions; its value credit is the
  same removal effect in the chain rewarded with each end state's conversion value;
- ``shapley``: per set of channels seen together in journeys, the Shapley value of the
  conversion rate of exposure (converting and non-converting journeys alike), weighted by the
  journeys with that set; exact up to ``max_exact`` channels in a set, sampled beyond.

Every data-driven credit comes with a Poisson-bootstrap interval over journeys. It covers the
sampling noise of the data only: not the method's own error, which only a known truth shows
(``compare_attribution(..., truth=...)`` on the demo world), nor an experiment's
(:func:`incrementality`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import factorial

import numpy as np
import pandas as pd

SEP = " > "
HEURISTICS = ("last_touch", "first_touch", "linear", "time_decay", "position")
DATA_DRIVEN = ("markov", "shapley")
METHODS = HEURISTICS + DATA_DRIVEN
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

    def plot(self, axes=None):
        """Path length by outcome, and the most frequent converting paths."""
        import matplotlib.pyplot as plt

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


def journeys(tables: Mapping[str, pd.DataFrame], lookback_days: float | None = 30) -> Journeys:
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
    _check_journey_tables(tables)
    if lookback_days is not None and not lookback_days > 0:
        raise ValueError(f"lookback_days must be positive or None, got {lookback_days}")
    touches, conversions = tables["touchpoints"], tables["conversions"]
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
    return problems


def path_table(per_journey: pd.DataFrame) -> pd.DataFrame:
    """Aggregate journeys (``path, converted, value``) to the path table."""
    g = per_journey.assign(conv=per_journey.converted.astype(int),
                           null=(~per_journey.converted).astype(int))
    out = g.groupby("path").agg(conversions=("conv", "sum"), value=("value", "sum"),
                                nulls=("null", "sum")).reset_index()
    return out.sort_values(["conversions", "nulls", "path"], ascending=[False, False, True],
                           ignore_index=True)


def _as_paths(data) -> pd.DataFrame:
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


def _touches(paths: pd.DataFrame) -> pd.DataFrame:
    """One row per touch of each distinct path: ``row, pos, n, channel`` plus path counts."""
    paths = paths.reset_index(drop=True)
    steps = paths.path.str.split(SEP.strip()).explode()
    out = pd.DataFrame({"row": steps.index.to_numpy(), "channel": steps.str.strip().to_numpy()})
    out["pos"] = out.groupby("row").cumcount().to_numpy()
    out["n"] = out.groupby("row").pos.transform("size").to_numpy()
    for col in ("conversions", "value", "nulls"):
        out[col] = paths[col].to_numpy(dtype=float)[out.row.to_numpy()]
    return out


# -- heuristics ---------------------------------------------------------------------------------
def _heuristic(paths: pd.DataFrame, method: str, half_life: float = 2.0) -> pd.DataFrame:
    t = _touches(paths[paths.conversions > 0].reset_index(drop=True))
    pos, n = t.pos.to_numpy(), t.n.to_numpy()
    if method == "last_touch":
        w = (pos == n - 1).astype(float)
    elif method == "first_touch":
        w = (pos == 0).astype(float)
    elif method == "linear":
        w = 1.0 / n
    elif method == "time_decay":
        w = 0.5 ** ((n - 1 - pos) / half_life)
        w = w / pd.Series(w).groupby(t.row.to_numpy()).transform("sum").to_numpy()
    elif method == "position":
        ends = (pos == 0) | (pos == n - 1)
        w = np.where(n <= 2, 1.0 / n, np.where(ends, 0.4, 0.2 / np.maximum(n - 2, 1)))
    else:
        raise ValueError(f"unknown heuristic {method!r}; choose from {HEURISTICS}")
    credit = pd.DataFrame({"channel": t.channel, "conversions": w * t.conversions,
                           "value": w * t.value})
    return credit.groupby("channel")[["conversions", "value"]].sum()


# -- Markov chain removal effect ----------------------------------------------------------------
@dataclass
class _Chain:
    """A path table parsed once into the observed states of an order-``order`` chain.

    Only the structure is kept (which edges and end states each path uses), so bootstrap
    replicates re-weight it without parsing the paths again. State 0 is the start.
    """

    channels: list[str]
    has: np.ndarray          # (states, channels): the state's history window holds the channel
    edge_from: np.ndarray
    edge_to: np.ndarray
    edge_paths: object       # sparse (edges, paths): times each path takes each edge
    end_paths: object        # sparse (states, paths): 1 where the path ends in the state

    @classmethod
    def build(cls, paths: pd.DataFrame, order: int) -> _Chain:
        from scipy import sparse

        row, pos, codes, channels = _parse(paths)
        base = len(channels) + 1
        key = np.zeros(len(codes), dtype=np.int64)
        for lag in range(order):  # state = the last `order` channels, one base-`base` digit each
            earlier = np.full(len(codes), -1, dtype=np.int64)
            if lag < len(codes):
                earlier[lag:] = codes[:len(codes) - lag]
            earlier[pos < lag] = -1
            key += (earlier + 1) * base ** lag
        uniq, state = np.unique(key, return_inverse=True)
        state = state.astype(np.int64) + 1
        n_states = len(uniq) + 1
        has = np.zeros((n_states, len(channels)), dtype=bool)
        for lag in range(order):
            digit = (uniq // base ** lag) % base
            seen = digit > 0
            has[1 + np.flatnonzero(seen), digit[seen] - 1] = True
        first = pos == 0
        prev = np.r_[0, state[:-1]]
        prev[first] = 0
        edge_key, edge = np.unique(prev * n_states + state, return_inverse=True)
        n_paths = len(paths)
        ones = np.ones(len(state))
        edge_paths = sparse.csr_matrix((ones, (edge.ravel(), row)),
                                       shape=(len(edge_key), n_paths))
        last = np.r_[first[1:], True] if len(state) else first
        end_paths = sparse.csr_matrix((ones[last], (state[last], row[last])),
                                      shape=(n_states, n_paths))
        return cls(channels, has, edge_key // n_states, edge_key % n_states, edge_paths,
                   end_paths)

    def removal_effects(self, conversions: np.ndarray, nulls: np.ndarray, value: np.ndarray,
                        max_steps: int = 20_000) -> pd.DataFrame:
        """Share of conversions (and of value) lost when each channel's states lead nowhere.

        ``max_steps`` bounds the iteration before sparse LU takes over (see :func:`_absorb`).
        """
        from scipy import sparse

        n = self.has.shape[0]
        moves = self.edge_paths @ (conversions + nulls)
        conv, null = self.end_paths @ conversions, self.end_paths @ nulls
        totals = np.bincount(self.edge_from, moves, minlength=n) + conv + null
        totals[totals == 0] = 1.0
        Q = sparse.csr_matrix((moves / totals[self.edge_from], (self.edge_from, self.edge_to)),
                              shape=(n, n))
        rhs = np.column_stack([conv, self.end_paths @ value]) / totals[:, None]
        alive = np.column_stack([np.ones(n, dtype=bool), ~self.has])  # start chain, removals
        x = _absorb(Q, rhs, alive, max_steps=max_steps)
        base, kept = x[0], x[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            effects = np.where(base > 0, 1.0 - kept / base, 0.0)
        return pd.DataFrame(effects, index=self.channels, columns=["conversions", "value"])


def _parse(paths: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Touches of a path table as arrays: path row, position, channel code; sorted channels.

    One split of all paths joined (not one per path), and the names stripped once per distinct
    token rather than per touch.
    """
    texts = paths.path.astype(str).tolist()
    sep = SEP.strip()
    n = np.fromiter((t.count(sep) for t in texts), dtype=np.int64, count=len(texts)) + 1
    tokens = np.array(sep.join(texts).split(sep) if texts else [], dtype=object)
    raw_codes, raw_names = pd.factorize(tokens)
    stripped = [str(name).strip() for name in raw_names]
    channels = sorted(set(stripped))
    index = {name: i for i, name in enumerate(channels)}
    lookup = np.array([index[name] for name in stripped], dtype=np.int64)
    row = np.repeat(np.arange(len(texts), dtype=np.int64), n)
    pos = np.arange(len(row), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    return row, pos, lookup[raw_codes], channels


def _absorb(Q, rhs: np.ndarray, alive: np.ndarray, tol: float = 1e-13,
            max_steps: int = 20_000) -> np.ndarray:
    """Absorption reward from the start state of each sub-chain, all sub-chains at once.

    Sub-chain ``j`` keeps the states where ``alive[:, j]``; a move into any other state ends in
    null. Its rewards ``x_j`` solve ``x_j = alive_j * (r + Q x_j)``, iterated from zero for every
    sub-chain together (one sparse product per step, each step adds the journeys one touch
    longer) until the estimated remaining error is below ``tol`` relative to the largest reward;
    a chain whose paths loop too long to converge within ``max_steps`` is solved by sparse LU,
    one factorisation per sub-chain. Returns ``x[start]``, shape ``(sub-chains, rewards)``.
    """
    n, m = alive.shape
    k = rhs.shape[1]
    mask = np.repeat(alive, k, axis=1)
    reward = np.tile(rhs, (1, m)) * mask
    x = reward.copy()
    steps = []
    for _ in range(max_steps):
        new = reward + mask * (Q @ x)
        steps.append(float(np.abs(new - x).max()))
        x = new
        if steps[-1] == 0.0:
            break
        if len(steps) > 3:
            rate = min(max(steps[-1] / steps[-2], steps[-2] / steps[-3]), 1 - 1e-12)
            if steps[-1] * rate / (1 - rate) <= tol * max(float(np.abs(x).max()), 1e-300):
                break
    else:
        return _absorb_lu(Q, rhs, alive)
    return x[0].reshape(m, k)


def _absorb_lu(Q, rhs: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """The same rewards by sparse LU on each sub-chain (a fallback for slowly mixing chains)."""
    from scipy import sparse
    from scipy.sparse.linalg import splu

    system = (sparse.identity(Q.shape[0], format="csr") - Q).tocsr()
    out = np.zeros((alive.shape[1], rhs.shape[1]))
    for j in range(alive.shape[1]):
        keep = alive[:, j]
        out[j] = splu(system[keep][:, keep].tocsc()).solve(rhs[keep])[0]
    return out


def _markov_credit(paths: pd.DataFrame, order: int = 1,
                   chain: _Chain | None = None) -> pd.DataFrame:
    """Removal effects per channel, for conversions and for value (absorbing Markov chain).

    The chain holds the observed states only and is solved with one sparse LU factorisation
    per removed channel on the sub-chain that survives the removal. Conversion is the absorbing
    state; its reward is a conversion (``conversions`` column) or the conversion value of the
    paths ending in the state (``value`` column), which reproduces ChannelAttribution's value
    chain (a conversion's value drawn from those of its last state).
    """
    chain = chain or _Chain.build(paths, order)
    return chain.removal_effects(*(paths[c].to_numpy(dtype=float)
                                   for c in ("conversions", "nulls", "value")))


# -- Shapley ------------------------------------------------------------------------------------
MAX_SHAPLEY_CHANNELS = 62  # channel sets are bits of an int64


def _shapley_credit(paths: pd.DataFrame, max_exact: int = 15, n_permutations: int = 2000,
                    seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Shapley credit of each channel, for conversions and for value, with its sampling error.

    Journeys are grouped by their set of channels ``T``. Within a group, the game is the
    conversion rate of exposure ``v(S)`` = conversions / journeys among the journeys (converting
    or not) whose channel set is exactly ``S``; an ``S`` seen in no journey takes the pooled rate
    of the journeys whose channels all lie in ``S`` (0 if none do). Each group adds
    ``journeys(T) * phi_j(v restricted to T)`` to channel ``j``, so the credit sums to the
    conversions (efficiency: the phi of a group add up to its own rate); the empty set is worth
    nothing, so conversions that would have happened anyway are shared among the channels too.
    This is the Shapley value of the conditional conversion probability (as in Dalessandro et
    al. 2012, "Causally motivated attribution for online advertising"), played per channel set
    and with non-converting journeys in the denominator; the simplified Shapley value of Zhao
    et al. 2018, an equal split of each converting journey over its channels, ignores them (it
    is what this method computed before). The value credit plays the same game with value per
    journey. Exact for sets of up to ``max_exact`` channels,
    ``n_permutations`` sampled orders beyond (the returned standard error is non-zero then).
    """
    paths = paths.reset_index(drop=True)
    row, _, codes, channels = _parse(paths)
    k = len(channels)
    if k > MAX_SHAPLEY_CHANNELS:
        raise ValueError(f"Shapley attribution supports up to {MAX_SHAPLEY_CHANNELS} channels, "
                         f"got {k}; merge rare channels or use method='markov'")
    masks = np.zeros(len(paths), dtype=np.int64)
    np.bitwise_or.at(masks, row, np.left_shift(np.int64(1), codes))
    groups = pd.DataFrame({
        "mask": masks, "conversions": paths.conversions.to_numpy(dtype=float),
        "value": paths.value.to_numpy(dtype=float),
        "journeys": (paths.conversions + paths.nulls).to_numpy(dtype=float),
    }).groupby("mask").sum()
    groups = groups[groups.journeys > 0]
    sets = groups.index.to_numpy(dtype=np.int64)
    sums = groups[["conversions", "value", "journeys"]].to_numpy()
    credit, var = np.zeros((k, 2)), np.zeros(k)
    rng = np.random.default_rng(seed)
    for target, n_journeys in zip(sets, sums[:, 2], strict=True):
        players = np.flatnonzero((target >> np.arange(k)) & 1)
        inside = (sets & ~target) == 0
        local = _local_masks(sets[inside], players)
        if len(players) <= max_exact:
            phi, phi_var = _exact_shapley(_group_game(local, sums[inside], len(players))), 0.0
        else:
            phi, phi_var = _sampled_shapley(local, sums[inside], len(players),
                                            n_permutations, rng)
        credit[players] += n_journeys * phi
        var[players] += n_journeys ** 2 * phi_var
    frame = pd.DataFrame(credit, index=channels, columns=["conversions", "value"])
    return frame, pd.Series(np.sqrt(var), index=channels)


def _local_masks(sets: np.ndarray, players: np.ndarray) -> np.ndarray:
    """Channel sets re-coded on the group's own players (bit i = ``players[i]``)."""
    bits = (sets[:, None] >> players[None, :]) & 1
    return (bits << np.arange(len(players))[None, :]).sum(axis=1)


def _group_game(local: np.ndarray, sums: np.ndarray, m: int) -> np.ndarray:
    """``v(S)`` for every subset of a group's ``m`` players: rates of conversion and value."""
    pooled = np.zeros((1 << m, 3))
    np.add.at(pooled, local, sums)
    exact = pooled.copy()
    idx = np.arange(1 << m)
    for i in range(m):  # zeta transform: sums over the journeys whose set lies within S
        has = ((idx >> i) & 1) == 1
        pooled[has] += pooled[idx[has] ^ (1 << i)]
    use = np.where(exact[:, 2:] > 0, exact, pooled)
    return np.divide(use[:, :2], use[:, 2:], out=np.zeros((1 << m, 2)), where=use[:, 2:] > 0)


def _exact_shapley(v: np.ndarray) -> np.ndarray:
    """Shapley values of the players of a game given on all subsets (rows of ``v``)."""
    m = int(np.log2(len(v)))
    idx = np.arange(1 << m)
    size = np.array([bin(s).count("1") for s in idx])
    weight = np.array([factorial(s) * factorial(m - s - 1) / factorial(m) for s in range(m)]
                      + [0.0])
    phi = np.zeros((m, v.shape[1]))
    for i in range(m):
        without = idx[((idx >> i) & 1) == 0]
        phi[i] = (weight[size[without], None] * (v[without | (1 << i)] - v[without])).sum(axis=0)
    return phi


def _sampled_shapley(local: np.ndarray, sums: np.ndarray, m: int, n_permutations: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mean marginal rate of each player over random orders, and its sampling variance."""
    orders = np.argsort(rng.random((n_permutations, m)), axis=1)
    prefix = np.cumsum(np.left_shift(np.int64(1), orders), axis=1)
    unique, where = np.unique(prefix, return_inverse=True)
    value = _game_at(unique, local, sums)[where.reshape(prefix.shape)]  # (perm, step, 2)
    gain = np.diff(value, axis=1, prepend=0.0)
    draws = np.zeros((n_permutations, m, 2))
    for col in range(2):
        np.put_along_axis(draws[:, :, col], orders, gain[:, :, col], axis=1)
    return draws.mean(axis=0), draws[:, :, 0].var(axis=0) / n_permutations


def _game_at(subsets: np.ndarray, local: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """``v(S)`` (conversion and value rates) at the given subsets, as in :func:`_group_game`."""
    out = np.zeros((len(subsets), 2))
    for i, s in enumerate(subsets):
        same = local == s
        use = sums[same].sum(axis=0) if same.any() else sums[(local & ~s) == 0].sum(axis=0)
        if use[2] > 0:
            out[i] = use[:2] / use[2]
    return out


# -- one call -----------------------------------------------------------------------------------
@dataclass
class Attribution:
    """Credit per channel: conversions and value, absolute and share, with intervals.

    ``share_low``/``share_high`` (data-driven methods) bound the share over Poisson-bootstrap
    replicates of the journeys: sampling noise only, not the method's error against the truth.
    """

    method: str
    credit: pd.DataFrame
    params: dict = field(default_factory=dict)

    def _repr_html_(self) -> str:
        title = html.escape(f"Attribution: {self.method} {self.params or ''}")
        note = ""
        if "share_low" in self.credit:
            note = ("<p>share_low / share_high: bootstrap interval over journeys, sampling noise "
                    "only (not the method's error against the truth).</p>")
        return f"<h4>{title}</h4>" + note + self.credit.round(4).to_html()

    def plot(self, ax=None):
        """Share of conversions per channel, with the bootstrap interval where there is one."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        c = self.credit.sort_values("share")
        err = None
        if "share_low" in c:
            err = np.vstack([c.share - c.share_low, c.share_high - c.share])
        ax.barh(c.index, c.share, xerr=err)
        ax.set(xlabel="share of conversions", title=f"Attribution: {self.method}")
        ax.figure.tight_layout()
        return ax.figure


def attribute(data, method: str = "markov", *, order: int = 1, half_life: float = 2.0,
              n_bootstrap: int = 200, confidence: float = 0.9, seed: int = 0) -> Attribution:
    """Credit each channel with conversions and value.

    Parameters
    ----------
    data : dict of tables, Journeys or path table
        ``touchpoints`` + ``conversions``, the result of :func:`journeys`, or a path table.
    method : str
        One of ``last_touch, first_touch, linear, time_decay, position, markov, shapley``.
    order : int, default 1
        Markov order (1 to 4).
    half_life : float, default 2
        For ``time_decay``: touches back from the conversion at which the weight halves.
    n_bootstrap : int, default 200
        Poisson-bootstrap replicates over journeys for the data-driven intervals (0: none).
    confidence : float, default 0.9
        Coverage of those intervals (sampling noise only).
    seed : int, default 0
        Seed of the bootstrap (and of sampled Shapley orders).

    Returns
    -------
    Attribution
        ``credit``: per channel ``conversions``, ``value``, ``share`` (and for data-driven
        methods ``share_low``/``share_high``: a ``confidence`` Poisson-bootstrap interval over
        journeys, which covers sampling noise only, not the method's error).

    Raises
    ------
    SchemaError
        Input that is not tables, a Journeys or a path table, or whose tables or columns break
        their contract (see :func:`journeys` and :func:`journeys_from_paths`).
    ValueError
        An unknown method, a Markov order outside 1-4, a negative ``n_bootstrap`` or a
        ``confidence`` outside (0, 1).

    Examples
    --------
    >>> import pandas as pd
    >>> paths = pd.DataFrame({"path": ["a > b", "b"], "conversions": [3, 1], "value": [30., 5.],
    ...                       "nulls": [1, 5]})
    >>> attribute(paths, "last_touch").credit.conversions.to_dict()
    {'a': 0.0, 'b': 4.0}
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    if method == "markov" and order not in (1, 2, 3, 4):
        raise ValueError(f"Markov order must be 1 to 4, got {order}")
    if n_bootstrap < 0 or not 0 < confidence < 1:
        raise ValueError(f"n_bootstrap must be >= 0 and confidence in (0, 1), got {n_bootstrap} "
                         f"and {confidence}")
    paths = _as_paths(data)
    chain = _Chain.build(paths, order) if method == "markov" else None
    credit = _credit(paths, method, order, half_life, seed, chain)
    params = {"order": order} if method == "markov" else (
        {"half_life": half_life} if method == "time_decay" else {})
    if method in DATA_DRIVEN and n_bootstrap:
        table = _bootstrap(paths, method, order, seed, chain, n_bootstrap)
        table = table.reindex(credit.index).fillna(0.0)
        alpha = (1 - confidence) / 2
        credit["share_low"] = table.quantile(alpha, axis=1)
        credit["share_high"] = table.quantile(1 - alpha, axis=1)
    return Attribution(method, credit, params)


def _bootstrap(paths, method, order, seed, chain, n_bootstrap) -> pd.DataFrame:
    """Shares of conversions over Poisson-bootstrap replicates of the journeys (one column each).

    A path's conversions and nulls are redrawn, its value scaled with its conversions. The
    Markov chain is parsed once and re-weighted per replicate.
    """
    rng = np.random.default_rng(seed)
    conv = paths.conversions.to_numpy(dtype=float)
    per_conversion = np.divide(paths.value.to_numpy(dtype=float), conv,
                               out=np.zeros(len(conv)), where=conv > 0)
    shares = []
    for _ in range(n_bootstrap):
        drawn = rng.poisson(conv)
        boot = paths.assign(conversions=drawn, nulls=rng.poisson(paths.nulls),
                            value=drawn * per_conversion)
        if chain is None:
            boot = boot[(boot.conversions + boot.nulls) > 0]
        shares.append(_credit(boot, method, order, 2.0, seed, chain).share)
    return pd.concat(shares, axis=1)


def _credit(paths, method, order, half_life, seed, chain=None) -> pd.DataFrame:
    total_conv = float(paths.conversions.sum())
    total_value = float(paths.value.sum())
    if method in HEURISTICS:
        out = _heuristic(paths, method, half_life)
    else:
        se = None
        if method == "markov":
            raw = _markov_credit(paths, order, chain)
        else:
            raw, se = _shapley_credit(paths, seed=seed)
        raw = raw.clip(lower=0.0)
        out = pd.DataFrame({"conversions": _scaled(raw.conversions, total_conv),
                            "value": _scaled(raw.value, total_value)})
        if se is not None and (se > 0).any():  # sampled Shapley: its Monte Carlo error
            out["share_se"] = se / raw.conversions.sum()
    out = out.sort_index()
    out["share"] = out.conversions / out.conversions.sum() if total_conv else 0.0
    out["value_share"] = out.value / total_value if total_value else 0.0
    out.index.name = "channel"
    return out


def _scaled(raw: pd.Series, total: float) -> pd.Series:
    """``raw`` rescaled to sum to ``total`` (zeros when there is nothing to share)."""
    return raw / raw.sum() * total if raw.sum() > 0 else raw * 0.0


@dataclass
class AttributionComparison:
    """Every method's share of conversions per channel, side by side (and the truth, if known).

    ``table`` has one column per method (plus ``truth``); with the truth, ``errors`` holds each
    method's mean absolute error in channel share.
    """

    table: pd.DataFrame
    errors: pd.Series | None = None

    def _repr_html_(self) -> str:
        out = "<h4>Attribution: share of conversions by channel</h4>" + self.table.round(
            3).to_html()
        if self.errors is not None:
            out += "<h5>Mean absolute error against the truth</h5>" + self.errors.round(
                4).to_frame("MAE").to_html()
        return out

    def plot(self, ax=None):
        """Grouped bars: channels on the axis, one bar per method (truth in black)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(10, 4.5))
        colors = [("black" if c == "truth" else None) for c in self.table.columns]
        self.table.plot.bar(ax=ax, width=0.85, color=[c or f"C{i}" for i, c in
                                                      enumerate(colors)])
        ax.set(ylabel="share of conversions", xlabel="", title="Attribution by method")
        ax.legend(ncol=4, fontsize=8)
        ax.figure.tight_layout()
        return ax.figure


def compare_attribution(data, methods=METHODS, *, truth: pd.Series | None = None,
                        order: int = 1, n_bootstrap: int = 0) -> AttributionComparison:
    """Share of conversions per channel for each method, side by side.

    With ``truth`` (a share per channel, e.g. the demo world's true credit) the table gains a
    ``truth`` column and ``errors`` holds each method's mean absolute error against it.

    Examples
    --------
    >>> import pandas as pd
    >>> paths = pd.DataFrame({"path": ["a > b", "b"], "conversions": [3, 1], "nulls": [1, 5]})
    >>> compare_attribution(paths, ["first_touch", "last_touch"]).table.loc["a"].tolist()
    [0.75, 0.0]
    """
    paths = _as_paths(data)
    table = pd.DataFrame({m: attribute(paths, m, order=order, n_bootstrap=n_bootstrap)
                          .credit.share for m in methods}).fillna(0.0)
    errors = None
    if truth is not None:
        table["truth"] = truth.reindex(table.index).fillna(0.0)
        errors = pd.Series({m: float((table[m] - table.truth).abs().mean()) for m in methods})
    return AttributionComparison(table, errors)


# -- incrementality ------------------------------------------------------------------------------
@dataclass
class Incrementality:
    """A channel's increment measured by a randomised holdout, against attributed credit.

    ``measured`` is the exposed arm's extra conversions, ``(rate_exposed - rate_held_out) *
    exposed``, with a normal-approximation interval; ``table`` sets each attribution method's
    credit to the channel (over the exposed journeys) beside it, with the calibration factor
    ``measured / attributed`` that would rescale that method's credit to the experiment and its
    interval (``calibration_low``/``calibration_high``, the measured interval over the
    attributed credit). Both intervals cover the experiment's sampling noise only; the
    attributed credit is taken as fixed.
    """

    channel: str
    campaign_id: str
    exposed: int
    held_out: int
    rate_exposed: float
    rate_held_out: float
    measured: float
    measured_low: float
    measured_high: float
    attributed: pd.Series
    confidence: float = 0.9

    @property
    def table(self) -> pd.DataFrame:
        out = pd.DataFrame({"attributed": self.attributed})
        out["measured"] = self.measured
        attributed = out.attributed.replace(0, np.nan)
        out["calibration_factor"] = self.measured / attributed
        out["calibration_low"] = self.measured_low / attributed
        out["calibration_high"] = self.measured_high / attributed
        out["within_interval"] = out.attributed.between(self.measured_low, self.measured_high)
        return out

    def _repr_html_(self) -> str:
        head = html.escape(
            f"{self.channel}: {self.measured:.1f} incremental conversions measured by "
            f"{self.campaign_id} ({self.measured_low:.1f} to {self.measured_high:.1f}); "
            f"exposed {self.exposed:,} at {self.rate_exposed:.2%}, held out {self.held_out:,} "
            f"at {self.rate_held_out:.2%}")
        note = (f"<p>Intervals: {self.confidence:.0%} normal approximation of the experiment's "
                "sampling noise only (attributed credit taken as fixed).</p>")
        return f"<h4>Incrementality</h4><p>{head}</p>{note}" + self.table.round(3).to_html()

    def plot(self, ax=None):
        """Attributed credit per method against the measured increment and its interval."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        ax.barh(self.attributed.index, self.attributed.to_numpy(), label="attributed")
        ax.axvspan(self.measured_low, self.measured_high, color="grey", alpha=0.3,
                   label="measured (interval)")
        ax.axvline(self.measured, color="black", label="measured")
        ax.set(xlabel=f"conversions credited to {self.channel}",
               title=f"Attribution vs experiment: {self.channel}")
        ax.legend(loc="lower right")
        ax.figure.tight_layout()
        return ax.figure


def incrementality(tables: Mapping[str, pd.DataFrame], campaign_id: str, channel: str, *,
                   methods=("last_touch", "linear", "markov", "shapley"),
                   control: str = "control", confidence: float = 0.9,
                   lookback_days: float | None = 30) -> Incrementality:
    """Measure a channel's increment with a randomised holdout and compare attribution to it.

    ``campaign`` rows of ``campaign_id`` split users into a held-out arm (``control``: the
    channel never reached them) and exposed arms. Attribution says who touched; the experiment
    says what was added.

    Examples
    --------
    >>> import targeting as tg
    >>> w = tg.demo_world(n_users=5_000, seed=2)
    >>> inc = incrementality(w.tables, "group_chat_holdout_2026", "group_chat")
    >>> inc.exposed > inc.held_out
    True
    """
    from scipy.stats import norm

    from targeting.data.schema import SchemaError, validate

    if not isinstance(tables, Mapping) or "campaign" not in tables:
        raise SchemaError(["incrementality needs the 'campaign' table (user_id, campaign_id, "
                           "arm, sent_at, converted, revenue) beside touchpoints and conversions"])
    validate({"campaign": tables["campaign"]})
    campaign = tables["campaign"]
    rows = campaign[campaign["campaign_id"] == campaign_id]
    held = rows[rows["arm"] == control]
    exposed = rows[rows["arm"] != control]
    if held.empty or exposed.empty:
        raise ValueError(f"campaign {campaign_id!r} needs a {control!r} arm and an exposed arm; "
                         f"found arms {sorted(map(str, rows['arm'].unique()))}")
    p_e, p_c = exposed["converted"].mean(), held["converted"].mean()
    n_e, n_c = len(exposed), len(held)
    se = np.sqrt(p_e * (1 - p_e) / n_e + p_c * (1 - p_c) / n_c) * n_e
    z = norm.ppf(0.5 + confidence / 2)
    measured = (p_e - p_c) * n_e
    ids = set(exposed["user_id"])
    sub = {name: tables[name][tables[name]["user_id"].isin(ids)]
           for name in ("touchpoints", "conversions")}
    paths = journeys(sub, lookback_days).paths
    attributed = pd.Series({m: float(attribute(paths, m, n_bootstrap=0).credit.conversions
                                     .get(channel, 0.0)) for m in methods})
    return Incrementality(channel, campaign_id, n_e, n_c, float(p_e), float(p_c),
                          float(measured), float(measured - z * se), float(measured + z * se),
                          attributed, confidence)
