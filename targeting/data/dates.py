"""Dates from the outside world: ISO 8601 only, in the data's time-zone convention."""

from __future__ import annotations

import re
from collections.abc import Mapping

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
    if isinstance(value, str) and not _ISO.match(value.strip()):
        raise SchemaError([f"as_of {value!r} is not an ISO 8601 date: write it as YYYY-MM-DD "
                           "(e.g. 2026-09-10)"])
    if not isinstance(value, str | pd.Timestamp) and not hasattr(value, "year"):
        raise SchemaError([f"as_of must be an ISO 8601 date or a timestamp, got "
                           f"{type(value).__name__} {value!r}"])
    ts = pd.Timestamp(value)
    if tables is not None:
        like = next((tables[n][c] for n, c in _TIME_COLUMNS if n in tables), None)
        tz = getattr(getattr(like, "dtype", None), "tz", None)
        if tz is not None and ts.tzinfo is None:
            ts = ts.tz_localize(tz)
    return ts
