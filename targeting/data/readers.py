"""Column readers shared by the adapters: ids, times, numbers, text, flags, and the summary.

Each reader turns one column of a user's frame into the dtype a contract wants, and appends
what is wrong to ``problems`` (every adapter raises them together, in one
:class:`~targeting.data.schema.SchemaError`) and what it filled in to ``notes`` (the adapter's
one summary line). Nothing here guesses: text times must be ISO 8601 or follow the
``date_format`` given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.data.schema import SchemaError
from targeting.data.vocab import ORDER_CHANNELS

# Text that a flag column (promo, cancelled) may hold, lower-cased.
FLAG_TEXT = {"true": True, "false": False, "yes": True, "no": False, "y": True, "n": False,
             "t": True, "f": False}


def report(adapter: str, problems: list[str], notes: list[str], verbose: bool,
           headline: str) -> None:
    """An adapter's ending: every problem in one SchemaError, else the one summary line of
    what was defaulted or mapped (printed when ``verbose``)."""
    if problems:
        raise SchemaError(problems)
    if verbose and notes:
        print(f"{adapter}: {headline}; " + "; ".join(notes))


def _ids(values: pd.Series, where: str, problems: list[str]) -> pd.Series:
    """Ids as integers when they are whole numbers, else as strings; a missing id is a
    problem."""
    if values.isna().any():
        problems.append(f"{where}: {int(values.isna().sum())} missing id(s); drop those rows")
    return _id_dtype(values)


def _id_dtype(values: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(values):
        return values.astype("int64") if not values.isna().any() else values.astype("Int64")
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            return values.astype("Int64")
    return values.astype("string")


def _missing_ids(values: pd.Series) -> np.ndarray:
    """Where an id is missing: NA, or text that is empty once blanks are stripped."""
    missing = values.isna().to_numpy(dtype=bool, copy=True)
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        text = values.astype("string").str.strip()
        missing |= (text == "").fillna(True).to_numpy(dtype=bool)
    return missing


def _times(values: pd.Series, where: str, date_format: str | None,
           problems: list[str], *, missing_ok: bool = False) -> pd.Series:
    """Datetimes, or text read with ``date_format`` (ISO 8601 by default)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
    else:
        try:
            out = pd.to_datetime(values, format=date_format)
        except (ValueError, TypeError) as err:
            problems.append(f"{where}: times must be datetimes or ISO 8601 text (2026-09-10 or "
                            f"2026-09-10T08:30); could not read them ({err}). Convert them with "
                            "pd.to_datetime(..., format=...) first, or give date_format= "
                            "(targeting init-mapping FILE guesses it from the data)")
            return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if out.isna().any() and not missing_ok:
        problems.append(f"{where}: {int(out.isna().sum())} missing time(s); drop those rows")
    return out


def _text(frame, column, default, notes, name) -> pd.Series:
    if column is None:
        notes.append(f"{name}: {default!r} for every order")
        return pd.Series(default, index=frame.index, dtype="string")
    values = frame[column].astype("string")
    if values.isna().any():
        notes.append(f"{name}: {int(values.isna().sum()):,} missing -> {default!r}")
        values = values.fillna(default)
    return values


def _numbers(values: pd.Series, where: str, problems: list[str]) -> pd.Series:
    """Floats (missing stays NaN); text that is not a number and infinities are problems."""
    out = pd.to_numeric(values, errors="coerce").astype("float64")
    bad = out.isna() & values.notna()
    if not pd.api.types.is_numeric_dtype(values):
        bad &= values.astype("string").str.strip().ne("").fillna(False)
    if bad.any():
        problems.append(f"{where}: {int(bad.sum())} value(s) are not numbers, e.g. "
                        f"{values[bad].iloc[0]!r}")
    if np.isinf(out).any():
        problems.append(f"{where}: {int(np.isinf(out).sum())} infinite value(s); fix or drop "
                        "those rows")
    return out


def _channels(frame, column, notes) -> pd.Series:
    if column is None:
        notes.append("channel: 'web' (absent)")
        return pd.Series("web", index=frame.index, dtype="string")
    values = frame[column].astype("string").str.strip().str.lower()
    own = sorted(set(values.dropna().unique().tolist()) - set(ORDER_CHANNELS))
    if own:  # the brand's own channels are kept: features learn their vocabulary
        notes.append(f"channel: {len(own)} channel(s) of the brand's own, kept "
                     f"(e.g. {own[:5]})")
    if values.isna().any():
        notes.append(f"channel: {int(values.isna().sum()):,} missing -> 'web'")
        values = values.fillna("web")
    return values


def _flags(frame, column, name, problems, notes) -> pd.Series:
    """A 0/1, true/false or yes/no column as bool (missing: False)."""
    if column is None:
        notes.append(f"{name}: False (absent)")
        return pd.Series(False, index=frame.index)
    values = frame[column]
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.dropna().isin([0, 1]).all() and numeric.notna().any():
        return numeric.fillna(0).astype(bool)
    text = values.astype("string").str.strip().str.lower()
    if text.dropna().isin(list(FLAG_TEXT)).all():
        return text.map(FLAG_TEXT).fillna(False).astype(bool)
    problems.append(f"transactions.{column}: expected 0/1, true/false or yes/no, found "
                    f"{sorted(map(str, values.dropna().unique()))[:5]}")
    return pd.Series(False, index=frame.index)
