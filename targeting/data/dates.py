"""``as_of`` dates, one module for all of them.

- :func:`parse_as_of`: text from the outside world (the CLI, a config file): ISO 8601 only,
  localised to the data's time zone.
- :func:`as_timestamp` / :func:`as_of_for`: a date-like from Python code, checked against the
  data's time-zone convention (naive data, naive ``as_of``; tz-aware data, tz-aware ``as_of``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from targeting.data.schema import SchemaError

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_TIME_COLUMNS = (("orders", "ts"), ("social_events", "ts"), ("groups", "joined_at"))


def parse_as_of(value, tables: Mapping[str, pd.DataFrame] | None = None) -> pd.Timestamp:
    """``value`` as a Timestamp; None means just after the latest order or social event.

    Text must be ISO 8601 (``2026-09-10``, ``2026-09-10T08:00``): ``09/10/2026`` is the 10th
    of September in one country and the 9th of October in another, so it is refused.

    Examples
    --------
    >>> parse_as_of("2026-09-10")
    Timestamp('2026-09-10 00:00:00')
    >>> parse_as_of("09/10/2026")
    Traceback (most recent call last):
    ...
    targeting.data.schema.SchemaError: 1 problem(s) with the input data:
      - as_of '09/10/2026' is not an ISO 8601 date: write it as YYYY-MM-DD (e.g. 2026-09-10)
    See targeting.data.schema.CONTRACTS for the expected tables and columns.
    """
    if value is None:
        latest = [tables[n][c].max() for n, c in _TIME_COLUMNS[:2]
                  if tables is not None and n in tables and len(tables[n])]
        if not latest:
            raise SchemaError(["as_of is required when there are no orders or social events"])
        return max(latest) + pd.Timedelta(seconds=1)
    ts = strict_timestamp(value)
    if tables is not None:
        like = next((tables[n][c] for n, c in _TIME_COLUMNS if n in tables), None)
        tz = getattr(getattr(like, "dtype", None), "tz", None)
        if tz is not None and ts.tzinfo is None:
            ts = ts.tz_localize(tz)
    return ts


def latest_complete_as_of(tables: Mapping[str, pd.DataFrame], horizon_days: int) -> pd.Timestamp:
    """The latest ``as_of`` whose ``horizon_days`` window the orders cover: midnight after the
    last order's day, less the horizon (the default moment a model is graded from).

    Examples
    --------
    >>> orders = pd.DataFrame({"ts": pd.to_datetime(["2026-01-05 09:00", "2026-03-31 18:00"])})
    >>> latest_complete_as_of({"orders": orders}, 30)
    Timestamp('2026-03-02 00:00:00')
    """
    if "orders" not in tables or not len(tables["orders"]):
        raise SchemaError(["no orders: a propensity model is graded on the purchases after "
                           "as_of"])
    last = tables["orders"]["ts"].max()
    return last.normalize() + pd.Timedelta(days=1) - pd.Timedelta(days=int(horizon_days))


def as_timestamp(as_of, like: pd.Series | None = None) -> pd.Timestamp:
    """``as_of`` as a Timestamp in the time zone of ``like`` (naive data, naive as_of).

    Examples
    --------
    >>> as_timestamp("2026-09-10", pd.Series(pd.to_datetime(["2026-01-01"])))
    Timestamp('2026-09-10 00:00:00')
    """
    ts = strict_timestamp(as_of)
    tz = getattr(like.dtype, "tz", None) if like is not None else None
    if tz is not None and ts.tzinfo is None:
        raise SchemaError([f"as_of={ts} is naive but the data are in time zone {tz}; "
                           f"pass a tz-aware as_of, e.g. pd.Timestamp('{ts}', tz='{tz}')"])
    if tz is None and ts.tzinfo is not None and like is not None:
        raise SchemaError([f"as_of={ts} is tz-aware but the data are naive; pass a naive as_of"])
    return ts


def as_of_for(tables: Mapping[str, pd.DataFrame], as_of) -> pd.Timestamp:
    """``as_of`` as a Timestamp checked against the time zone of the tables' event times."""
    like = next((tables[n][c] for n, c in _TIME_COLUMNS if n in tables), None)
    return as_timestamp(as_of, like)


def strict_timestamp(value, what: str = "as_of") -> pd.Timestamp:
    """A date-like as a Timestamp: ISO 8601 text, a Timestamp, datetime, date or datetime64.

    Numbers are refused (``20260910`` would be read as nanoseconds after 1970), and so is text
    that is not ISO 8601 (``09/10/2026`` means a different day in different countries).

    Examples
    --------
    >>> strict_timestamp("2026-09-10T08:00")
    Timestamp('2026-09-10 08:00:00')
    >>> strict_timestamp(20260910)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    targeting.data.schema.SchemaError: ...as_of must be an ISO 8601 date or a timestamp, got int...
    """
    if isinstance(value, str) and not _ISO.match(value.strip()):
        raise SchemaError([f"{what} {value!r} is not an ISO 8601 date: write it as YYYY-MM-DD "
                           "(e.g. 2026-09-10)"])
    if not isinstance(value, str | np.datetime64) and not hasattr(value, "year"):
        raise SchemaError([f"{what} must be an ISO 8601 date or a timestamp, got "
                           f"{type(value).__name__} {value!r}: write it as YYYY-MM-DD "
                           "(e.g. '2026-09-10') or pass a pd.Timestamp"])
    try:
        ts = pd.Timestamp(value)
    except (ValueError, OverflowError) as err:
        raise SchemaError([f"{what} {value!r} is not a valid date ({err})"]) from None
    if pd.isna(ts):
        raise SchemaError([f"{what} is missing ({value!r}): pass a date such as '2026-09-10'"])
    return ts


def first_event(tables: Mapping[str, pd.DataFrame]) -> pd.Timestamp | None:
    """The earliest order, social event or group join (None without any).

    Computed once per :class:`~targeting.data.tables.ValidatedTables` (cached there); Dask
    tables give lazy minima, computed here (one small task each).
    """
    cached = getattr(tables, "cached", None)
    if cached is not None:
        return cached("first_event", lambda: first_event(dict(tables)))
    starts = [tables[n][c].min() for n, c in _TIME_COLUMNS
              if n in tables and c in tables[n].columns and len(tables[n])]
    starts = [t.compute() if hasattr(t, "compute") else t for t in starts]
    starts = [t for t in starts if pd.notna(t)]
    return min(starts) if starts else None


def check_after_first_event(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> None:
    """Refuse an ``as_of`` at or before the first dated event: no user has any history then
    (an integer or a mistyped year, usually)."""
    start = first_event(tables)
    if start is not None and as_of <= start:
        raise SchemaError([f"as_of {as_of} is not after the first dated event "
                           f"({start}): no user has any history then; pass a later as_of"])
