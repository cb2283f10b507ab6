"""Adapters for a social platform's event log and a marketing touch log.

``from_events`` turns an event log (one row per read, share, click, ...) into the
``social_events`` table. The social features count events by kind and scene, learning the
names from the data, so a brand's own names are kept (lower-cased) and get columns of their
own. Mapping a name onto the package's (``events={"view": "impression"}``) is worth it where
a rule reads the name: an ``"impression"`` is the one event not counted as engagement.
``from_touchpoints``
turns a touch log and a conversion log into the ``touchpoints`` and ``conversions`` tables of
attribution, where any channel name is fine.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from targeting.data.readers import _ids, _times, report
from targeting.data.schema import SchemaError
from targeting.data.vocab import SCENES, SOCIAL_EVENTS


def from_events(data: pd.DataFrame, *, user: str, ts: str, event: str,
                scene: str | None = None, category: str | None = None,
                events: Mapping[str, str] | None = None,
                scenes: Mapping[str, str] | None = None, default_scene: str = "moments",
                date_format: str | None = "ISO8601",
                verbose: bool = True) -> dict[str, pd.DataFrame]:
    """A social-platform event log as the ``social_events`` table.

    Parameters
    ----------
    data : DataFrame
        The log, one row per event.
    user, ts, event : str
        Column names of the account id, the event time (datetime or ISO 8601 text) and the
        event kind.
    scene, category : str, optional
        Column names of where the event happened and the product category it was about.
        Without a scene column every event is in ``default_scene``.
    events, scenes : mapping, optional
        Some of the brand's names mapped to the package's (``SOCIAL_EVENTS``, ``SCENES``),
        e.g. ``{"view": "impression", "forward": "share"}``; other names are kept as they are
        (lower-cased, spaces trimmed), and the features learn them from the data. Map the
        event that is a bare view to ``"impression"``: every other event counts as engagement.
    default_scene : str, default "moments"
    date_format : str or None, default "ISO8601"
    verbose : bool, default True
        Print one line: what was mapped or defaulted.

    Returns
    -------
    dict of str to DataFrame
        ``{"social_events": ...}``; the account id is the ``social_id`` (and, with no other
        silo, the ``user_id``).

    Examples
    --------
    >>> log = pd.DataFrame({"uid": [7, 7, 9], "time": ["2026-03-01", "2026-03-02", "2026-03-05"],
    ...                     "action": ["View", "forward", "read"]})
    >>> tables = from_events(log, user="uid", ts="time", event="action",
    ...                      events={"view": "impression", "forward": "share"}, verbose=False)
    >>> tables["social_events"].event.tolist()
    ['impression', 'share', 'read']
    """
    _check_frame(data, "events", {"user": user, "ts": ts, "event": event, "scene": scene,
                                   "category": category})
    problems: list[str] = []
    notes: list[str] = []
    out = pd.DataFrame({
        "social_id": _ids(data[user], f"events.{user}", problems),
        "ts": _times(data[ts], f"events.{ts}", date_format, problems),
        "event": _mapped(data[event], events, SOCIAL_EVENTS, "event", "events", problems,
                         notes),
        "scene": (pd.Series(default_scene, index=data.index, dtype="string")
                  if scene is None else
                  _mapped(data[scene], scenes, SCENES, "scene", "scenes", problems, notes)),
        "category": (pd.Series(pd.NA, index=data.index, dtype="string") if category is None
                     else data[category].astype("string")),
    }).reset_index(drop=True)
    if scene is None:
        notes.append(f"scene: {default_scene!r} for every event")
    report("from_events", problems, notes, verbose,
           f"{len(out):,} events, {out.social_id.nunique():,} accounts")
    return {"social_events": out}


def from_touchpoints(touches: pd.DataFrame, conversions: pd.DataFrame | None = None, *,
                     user: str, ts: str, channel: str, value: str | None = None,
                     date_format: str | None = "ISO8601") -> dict[str, pd.DataFrame]:
    """A touch log (and a conversion log with the same user and time columns) as the
    ``touchpoints`` and ``conversions`` tables of :func:`~targeting.journeys`.

    Any channel name is kept. ``value`` names the conversion value column (default: 1 per
    conversion). Ids keep their type in both tables, so they join.

    Examples
    --------
    >>> touch = pd.DataFrame({"uid": ["a", "a"], "t": ["2026-03-01", "2026-03-02"],
    ...                       "source": ["KOL video", "search"]})
    >>> conv = pd.DataFrame({"uid": ["a"], "t": ["2026-03-03"], "gmv": [99.0]})
    >>> out = from_touchpoints(touch, conv, user="uid", ts="t", channel="source", value="gmv")
    >>> out["touchpoints"].channel.tolist(), out["conversions"].value.tolist()
    (['KOL video', 'search'], [99.0])
    """
    _check_frame(touches, "touchpoints", {"user": user, "ts": ts, "channel": channel})
    problems: list[str] = []
    tables = {"touchpoints": pd.DataFrame({
        "user_id": _ids(touches[user], f"touchpoints.{user}", problems),
        "ts": _times(touches[ts], f"touchpoints.{ts}", date_format, problems),
        "channel": touches[channel].astype("string").str.strip(),
    }).reset_index(drop=True)}
    if conversions is not None:
        _check_frame(conversions, "conversions", {"user": user, "ts": ts, "value": value})
        amounts = (pd.Series(1.0, index=conversions.index) if value is None
                   else pd.to_numeric(conversions[value], errors="coerce"))
        if amounts.isna().any() or (amounts < 0).any():
            problems.append(f"conversions.{value}: values must be numbers >= 0 "
                            f"({int(amounts.isna().sum())} not numbers, "
                            f"{int((amounts < 0).sum())} negative)")
        tables["conversions"] = pd.DataFrame({
            "user_id": _ids(conversions[user], f"conversions.{user}", problems),
            "ts": _times(conversions[ts], f"conversions.{ts}", date_format, problems),
            "value": amounts.astype(float),
        }).reset_index(drop=True)
    if problems:
        raise SchemaError(problems)
    return tables


def _check_frame(frame, name: str, given: Mapping[str, str | None]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError([f"{name}: expected a pandas DataFrame, got {type(frame).__name__}"])
    missing = [f"{name}: no column {col!r} (given as {field}=); columns are "
               f"{list(frame.columns)[:20]}" for field, col in given.items()
               if col is not None and col not in frame.columns]
    if missing:
        raise SchemaError(missing)


def _mapped(values: pd.Series, mapping: Mapping[str, str] | None, vocabulary, name: str,
            argument: str, problems: list[str], notes: list[str]) -> pd.Series:
    """Values lower-cased and trimmed, the brand's names mapped where asked; any others kept
    (the features learn them), said in the notes."""
    mapping = {str(k).strip().lower(): v for k, v in (mapping or {}).items()}
    wrong = sorted(set(mapping.values()) - set(vocabulary))
    if wrong:
        problems.append(f"{argument}=: maps to {wrong}, which are not {name}s of the package; "
                        f"use one of {list(vocabulary)}")
    text = values.astype("string").str.strip().str.lower()
    out = text.map(lambda v: mapping.get(v, v) if isinstance(v, str) else v)
    own = sorted(set(out.dropna().unique()) - set(vocabulary))
    if own:
        notes.append(f"{name}: {len(own)} name(s) of the brand's own, kept (e.g. {own[:5]})")
    if out.isna().any():
        problems.append(f"{name}: {int(out.isna().sum())} missing value(s); drop those rows")
    if mapping:
        n = int(np.isin(text.to_numpy(dtype=object), list(mapping)).sum())
        notes.append(f"{name}: {n:,} row(s) mapped with {argument}=")
    return out.astype("string")
