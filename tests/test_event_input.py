"""Adapters for event and touch logs: a brand's own names mapped once, refused when unknown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import targeting as tg


@pytest.fixture(scope="module")
def event_log():
    # The demo world's events, renamed the way a platform export names them.
    world = tg.demo_world(n_users=1_500, random_state=6)
    events = world.tables["social_events"].head(20_000)
    rename = {"impression": "View", "read": "article_read", "share": "Forward"}
    return world, events.assign(
        action=events.event.astype(str).map(lambda e: rename.get(e, e)),
        uid=events.social_id.astype(str), when=events.ts.dt.strftime("%Y-%m-%dT%H:%M:%S"))


def test_events_map_the_brands_names_and_build_features(event_log):
    world, log = event_log
    tables = tg.from_events(log, user="uid", ts="when", event="action", scene="scene",
                            category="category",
                            events={"view": "impression", "article_read": "read",
                                    "forward": "share"}, verbose=False)
    events = tables["social_events"]
    tg.validate(tables)
    np.testing.assert_array_equal(events.event.to_numpy(dtype=str),
                                  log.event.astype(str).to_numpy())
    features = tg.build_features(tables, world.as_of)  # one silo: the account is the user
    assert features.index.nunique() == log.uid.nunique()
    counts = log.groupby("uid").size()
    ts = pd.to_datetime(log.when)
    before = log[ts < world.as_of].groupby("uid").size()
    np.testing.assert_array_equal(features.loc[before.index, "soc_events"], before.to_numpy())
    assert len(counts) >= len(before)


def test_unknown_event_names_are_refused_by_name(event_log):
    _, log = event_log
    with pytest.raises(tg.SchemaError) as err:
        tg.from_events(log, user="uid", ts="when", event="action", verbose=False)
    text = str(err.value)
    assert "not in the package's vocabulary" in text and "article_read" in text
    assert "events={'article_read': ...}" in text
    with pytest.raises(tg.SchemaError, match="which are not events of the package"):
        tg.from_events(log, user="uid", ts="when", event="action",
                       events={"view": "glance"}, verbose=False)


def test_touch_and_conversion_logs_become_journeys():
    touch = pd.DataFrame({"member": ["m1", "m1", "m2", "m3", "m3"],
                          "at": ["2026-03-01", "2026-03-02", "2026-03-01", "2026-03-02",
                                 "2026-03-04"],
                          "source": ["KOL video", "search", "search", "KOL video", "group chat"]})
    conv = pd.DataFrame({"member": ["m1", "m3"], "at": ["2026-03-03", "2026-03-05"],
                         "gmv": [99.0, 20.0]})
    tables = tg.from_touchpoints(touch, conv, user="member", ts="at", channel="source",
                                 value="gmv")
    result = tg.journeys(tables)
    assert result.paths.conversions.sum() == 2
    assert set(result.paths.path) == {"KOL video > search", "search",
                                      "KOL video > group chat"}
    with pytest.raises(tg.SchemaError, match="values must be numbers >= 0"):
        tg.from_touchpoints(touch, conv.assign(gmv=["n/a", "5"]), user="member", ts="at",
                            channel="source", value="gmv")
