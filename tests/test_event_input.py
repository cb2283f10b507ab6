"""Adapters for event and touch logs: a brand's own names kept or mapped, typos refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.data.vocab import SOCIAL_EVENTS


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


def test_the_brands_own_event_names_are_kept_and_become_features(event_log, capsys):
    world, log = event_log
    tables = tg.from_events(log, user="uid", ts="when", event="action", scene="scene")
    assert "3 name(s) of the brand's own, kept" in capsys.readouterr().out
    events = tables["social_events"].event
    assert {"view", "article_read", "forward"} <= set(events)  # lower-cased, not guessed
    pipe = tg.FeaturePipeline()
    features = pipe.fit_transform(tables, world.as_of)
    before = tables["social_events"][tables["social_events"].ts < world.as_of]
    own = before.event[~before.event.isin(SOCIAL_EVENTS)].value_counts()
    # The package's events first (their columns never move), then the brand's, most frequent
    # first.
    assert pipe.events_ == [*SOCIAL_EVENTS, *sorted(own.index, key=lambda e: (-own[e], e))]
    views = before[before.event == "view"].groupby("social_id").size()
    np.testing.assert_array_equal(features.loc[views.index, "soc_n_view"], views.to_numpy())
    # Unmapped, a bare view is an engagement: the package cannot know what "view" means.
    assert (features.soc_n_impression.fillna(0) == 0).all()
    np.testing.assert_array_equal(features.soc_engaged.dropna(), features.soc_events.dropna())


def test_a_mapping_to_a_name_the_package_lacks_is_refused(event_log):
    _, log = event_log
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
