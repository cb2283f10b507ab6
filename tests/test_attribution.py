"""Attribution: journeys built as documented, peers agree, data-driven methods beat last touch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.evaluation.attribution import attribute, compare_attribution
from targeting.evaluation.journeys import journeys


@pytest.fixture(scope="module")
def world():
    return tg.demo_world(n_users=30_000, random_state=4)


@pytest.fixture(scope="module")
def paths(world):
    return journeys(world.tables).paths


@pytest.fixture(scope="module")
def sample_paths():
    """ChannelAttribution's own sample path table (10,000 paths, 12 channels), our columns."""
    pytest.importorskip("ChannelAttribution")
    from importlib.metadata import files

    data = next(f for f in files("ChannelAttribution") if f.name == "Data.csv")
    table = pd.read_csv(data.locate(), sep=";")
    return table.rename(columns={"total_conversions": "conversions", "total_null": "nulls",
                                 "total_conversion_value": "value"})


def _dense_removal_effects(paths, order):
    """The previous closed form, kept as the reference: dense (I - Q) solves, string states."""
    from targeting.evaluation.journeys import SEP, touches

    t = touches(paths)
    state = t.channel.astype(object)
    for lag in range(1, order):
        earlier = t.groupby("row").channel.shift(lag)
        state = (earlier + SEP).where(earlier.notna(), "") + state
    t["state"] = state
    t["from"] = t.groupby("row").state.shift(1).fillna("(start)")
    t["weight"] = t.conversions + t.nulls
    moves = t.groupby(["from", "state"]).weight.sum()
    ends = t[t.pos == t.n - 1].groupby("state")[["conversions", "nulls", "value"]].sum()
    states = ["(start)", *sorted(pd.unique(t.state))]
    index = {s: i for i, s in enumerate(states)}
    k = len(states)
    counts = np.zeros((k, k))
    for (a, b), w in moves.items():
        counts[index[a], index[b]] += w
    rewards = np.zeros((k, 3))
    rewards[[index[s] for s in ends.index]] = ends.to_numpy()
    totals = counts.sum(axis=1) + rewards[:, 0] + rewards[:, 1]
    totals[totals == 0] = 1.0
    Q, r = counts / totals[:, None], rewards[:, [0, 2]] / totals[:, None]

    def absorb(Q, r):
        return np.linalg.solve(np.eye(k) - Q, r)[0]

    base = absorb(Q, r)
    effects = {}
    for ch in sorted(pd.unique(t.channel)):
        dead = [index[s] for s in states[1:] if ch in s.split(SEP)]
        Qr, rr = Q.copy(), r.copy()
        Qr[:, dead] = 0.0
        rr[dead] = 0.0
        effects[ch] = 1.0 - absorb(Qr, rr) / base
    return pd.DataFrame(effects, index=["conversions", "value"]).T


def _touch_rows(rows):
    return pd.DataFrame(rows, columns=["user_id", "ts", "channel"]).assign(
        ts=lambda f: pd.to_datetime(f.ts))


def test_journeys_sort_cut_and_count_what_they_leave_out():
    touches = _touch_rows([
        (1, "2026-01-05", "search"), (1, "2026-01-01", "video"),   # unsorted on purpose
        (1, "2026-01-10", "moments"),                              # after the conversion
        (2, "2026-01-01", None),                                   # no channel
        (3, "2025-10-01", "video"), (3, "2026-01-02", "app"),      # first is too old
    ])
    conversions = pd.DataFrame({"user_id": [1, 3, 4], "value": [10.0, 5.0, 7.0],
                                "ts": pd.to_datetime(["2026-01-06", "2026-01-03",
                                                      "2026-01-03"])})
    j = journeys({"touchpoints": touches, "conversions": conversions}, lookback_days=30)
    got = j.journeys.set_index(["user_id", "path"])
    assert got.loc[(1, "video > search"), "converted"]
    assert not got.loc[(1, "moments"), "converted"]
    assert got.loc[(3, "app"), "converted"]
    assert j.excluded == {"touches without a channel": 1,
                          "touches more than 30 days before their journey's end": 1,
                          "conversions with no touch in their window": 1}
    assert j.paths.conversions.sum() == 2 and j.paths.value.sum() == 15.0


def _one_user(channels_and_days, converts_on=None):
    touches = pd.DataFrame({"user_id": 1, "channel": [c for c, _ in channels_and_days],
                            "ts": pd.to_datetime("2026-01-01")
                            + pd.to_timedelta([d for _, d in channels_and_days], unit="D")})
    conv = pd.DataFrame({"user_id": pd.Series([1] if converts_on is not None else [],
                                              dtype="int64"),
                         "ts": pd.to_datetime("2026-01-01")
                         + pd.to_timedelta([converts_on] if converts_on is not None else [],
                                           unit="D"),
                         "value": pd.Series([5.0] if converts_on is not None else [],
                                            dtype=float)})
    return {"touchpoints": touches, "conversions": conv}


def test_journeys_accept_tz_aware_timestamps():
    # Issue 18 item 12 (failed before: UFuncTypeError comparing tz-aware timestamps).
    tables = _one_user([("video", 0), ("search", 2)], converts_on=3)
    naive = journeys(tables).paths
    for name in ("touchpoints", "conversions"):
        tables[name] = tables[name].assign(ts=tables[name].ts.dt.tz_localize("Asia/Shanghai"))
    pd.testing.assert_frame_equal(journeys(tables).paths, naive)


def test_lookback_cuts_every_journey_alike():
    # Issue 18 item 12 (failed before: only converting journeys were cut, so this history gave
    # "app" when it converted and "video > search > app" when it did not).
    history = [("video", 0), ("search", 10), ("app", 45)]
    converted = journeys(_one_user(history, converts_on=45.5), lookback_days=30)
    not_converted = journeys(_one_user(history), lookback_days=30)
    assert converted.journeys.path.tolist() == ["app"]
    assert not_converted.journeys.path.tolist() == ["app"]
    assert not_converted.excluded == {"touches more than 30 days before their journey's end": 2}


def test_tied_touches_do_not_depend_on_input_order():
    # Issue 18 item 12 (failed before: tied timestamps kept input order).
    forward = journeys(_one_user([("video", 0), ("app", 1), ("search", 1)], converts_on=2))
    backward = journeys(_one_user([("search", 1), ("app", 1), ("video", 0)], converts_on=2))
    assert forward.journeys.path.tolist() == backward.journeys.path.tolist() == [
        "video > app > search"]


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda t: {"conversions": t["conversions"]}, "missing table 'touchpoints'"),
    (lambda t: {**t, "conversions": t["conversions"].assign(
        ts=t["conversions"].ts.dt.tz_localize("UTC"))}, "mix time zones"),
    (lambda t: {**t, "conversions": t["conversions"].assign(
        value=t["conversions"].value.astype(str))}, "conversions.value: expected a numeric"),
    (lambda t: {**t, "touchpoints": t["touchpoints"].assign(
        user_id=t["touchpoints"].user_id.astype(str))}, "cast both to one type"),
    (lambda t: {**t, "touchpoints": t["touchpoints"].drop(columns="ts")},
     "touchpoints: missing column 'ts'"),
    (lambda t: [t["touchpoints"]], "expected a dict"),
])
def test_journeys_and_attribute_name_bad_input(breakage, message):
    # Issue 12 (failed before: KeyError, TypeError, or silently 0 converting journeys).
    tables = _one_user([("video", 0), ("search", 2)], converts_on=3)
    with pytest.raises(tg.SchemaError, match=message):
        journeys(breakage(tables))
    with pytest.raises(tg.SchemaError, match=message):
        attribute(breakage(tables), "linear")


def test_path_table_values_are_checked():
    good = pd.DataFrame({"path": ["a > b", "b"], "conversions": [3, 1], "value": [9.0, 1.0],
                         "nulls": [1, 5]})
    with pytest.raises(tg.SchemaError, match="'value' .* must be numeric"):
        attribute(good.assign(value=["9", "1"]), "markov")
    with pytest.raises(tg.SchemaError, match="1 negative"):
        attribute(good.assign(nulls=[-1, 5]), "markov")
    with pytest.raises(tg.SchemaError, match="1 missing"):
        tg.journeys_from_paths(good.assign(conversions=[3, None]))
    with pytest.raises(tg.SchemaError, match="missing column 'total'"):
        tg.journeys_from_paths(good, conversions="total")


def test_journeys_from_a_real_path_table_match_channel_attribution(sample_paths):
    # Issue 12: ChannelAttribution's sample table, under its own column names and separator.
    ca = pytest.importorskip("ChannelAttribution")
    from importlib.metadata import files

    raw = pd.read_csv(next(f for f in files("ChannelAttribution")
                           if f.name == "Data.csv").locate(), sep=";")
    raw["path"] = raw.path.str.replace(" > ", ">")
    trips = tg.journeys_from_paths(raw, path="path", conversions="total_conversions",
                                   value="total_conversion_value", nulls="total_null")
    stats = trips.stats().value
    assert stats["journeys"] == raw.total_conversions.sum() + raw.total_null.sum()
    assert stats["converting"] == raw.total_conversions.sum()
    assert "Top paths" in trips._repr_html_() and trips.plot() is not None
    peer = ca.heuristic_models(raw, "path", "total_conversions",
                               var_value="total_conversion_value", sep=">",
                               flg_pro=False).set_index("channel_name")
    for ours, theirs in (("first_touch", "first_touch"), ("last_touch", "last_touch"),
                         ("linear", "linear_touch")):
        credit = tg.attribute(trips, ours).table.reindex(peer.index)
        np.testing.assert_allclose(credit.conversions, peer[f"{theirs}_conversions"],
                                   rtol=1e-9)
        np.testing.assert_allclose(credit.value, peer[f"{theirs}_value"], rtol=1e-9)
    # Markov conversions: within ChannelAttribution's simulation noise (1.1-1.8 % at orders
    # 1-3 on the channels with over 5 % of conversions, one run of 1e6 simulations).
    for order in (1, 3):
        markov = ca.markov_model(raw, "path", "total_conversions", var_null="total_null",
                                 order=order, sep=">", nsim_start=1e6, flg_pro=False,
                                 verbose=False).set_index("channel_name").total_conversions
        large = markov > 0.05 * markov.sum()
        ours = tg.attribute(trips, "markov", order=order, n_bootstrap=0).table.conversions
        np.testing.assert_allclose(ours.reindex(markov.index)[large], markov[large], rtol=0.03)


def test_heuristics_match_channel_attribution_exactly(paths):
    ca = pytest.importorskip("ChannelAttribution")
    peer = ca.heuristic_models(paths, "path", "conversions", var_value="value",
                               flg_pro=False).set_index("channel_name")
    for ours, theirs in (("first_touch", "first_touch"), ("last_touch", "last_touch"),
                         ("linear", "linear_touch")):
        credit = attribute(paths, ours).table.reindex(peer.index).fillna(0.0)
        np.testing.assert_allclose(credit.conversions, peer[f"{theirs}_conversions"],
                                   rtol=1e-9)
        np.testing.assert_allclose(credit.value, peer[f"{theirs}_value"], rtol=1e-9)


def test_markov_matches_channel_attribution_within_its_simulation_noise(paths):
    ca = pytest.importorskip("ChannelAttribution")
    peer = ca.markov_model(paths, "path", "conversions", var_value="value", var_null="nulls",
                           order=1, nsim_start=1e6, flg_pro=False, verbose=False)
    peer = peer.set_index("channel_name").total_conversions
    ours = attribute(paths, "markov", n_bootstrap=0).table.conversions.reindex(peer.index)
    np.testing.assert_allclose(ours, peer, rtol=0.03)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_sparse_markov_equals_the_dense_closed_form(order, sample_paths):
    from targeting.evaluation.markov import markov_credit

    small = journeys(tg.demo_world(n_users=3_000, random_state=5).tables).paths
    for table in (small, sample_paths.head(400 if order == 4 else 1_500)):
        ours = markov_credit(table, order)
        reference = _dense_removal_effects(table, order).reindex(ours.index)
        np.testing.assert_allclose(ours.to_numpy(), reference.to_numpy(), rtol=1e-9,
                                   atol=1e-12)


def test_markov_lu_fallback_equals_the_iteration(sample_paths):
    from targeting.evaluation.markov import MarkovChain

    chain = MarkovChain.build(sample_paths, 3)
    weights = [sample_paths[c].to_numpy(dtype=float) for c in ("conversions", "nulls", "value")]
    iterated = chain.removal_effects(*weights)
    factorised = chain.removal_effects(*weights, max_steps=0)  # every sub-chain by sparse LU
    np.testing.assert_allclose(iterated.to_numpy(), factorised.to_numpy(), rtol=1e-9)


def test_markov_stays_exact_on_a_slowly_mixing_chain():
    # A 3,000-touch loop on one channel: the iteration needs thousands of steps or the LU.
    from targeting.evaluation.markov import markov_credit

    paths = pd.DataFrame({"path": [" > ".join(["a"] * 3000 + ["b"]), "b > a > a > c", "c > b",
                                   "a"],
                          "conversions": [3, 2, 1, 0], "nulls": [1, 5, 2, 4],
                          "value": [30.0, 20.0, 10.0, 0.0]})
    for order in (1, 2):
        ours = markov_credit(paths, order)
        reference = _dense_removal_effects(paths, order).reindex(ours.index)
        np.testing.assert_allclose(ours.to_numpy(), reference.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("order", [1, 3])
def test_markov_value_credit_follows_value_like_channel_attribution(order, sample_paths):
    # Issue 18 item 9 (failed before: value was the conversion share times total value, 7-12 %
    # off here). ChannelAttribution draws a conversion's value from its last state's values;
    # one run's spread on the large channels is up to 2.4 % (seeds 0, 1, 7, 42, 1234 at 1e6
    # simulations), the mean of three seeds sat within 0.8 % of ours at orders 1-3.
    ca = pytest.importorskip("ChannelAttribution")
    runs = [ca.markov_model(sample_paths, "path", "conversions", var_value="value",
                            var_null="nulls", order=order, nsim_start=1e6, seed=seed,
                            flg_pro=False, verbose=False).set_index("channel_name")
            for seed in (0, 7, 1234)]
    peer = pd.concat([r.total_conversion_value for r in runs], axis=1).mean(axis=1)
    large = runs[0].total_conversions > 0.05 * runs[0].total_conversions.sum()
    ours = attribute(sample_paths, "markov", order=order, n_bootstrap=0).table
    np.testing.assert_allclose(ours.value.reindex(peer.index)[large], peer[large], rtol=0.02)
    assert ours.value.sum() == pytest.approx(sample_paths.value.sum())


def test_markov_order_4_with_the_default_bootstrap_is_fast(paths):
    # Issue 18 item 14: 12.3 s a call at order 4 before, ~40 minutes with 200 replicates;
    # now the chain is parsed once (2.5 s measured for all 201 solves on this table).
    import time

    start = time.perf_counter()
    result = attribute(paths, "markov", order=4)
    assert time.perf_counter() - start < 30
    assert (result.table.share_low <= result.table.share).all()


def test_markov_is_deterministic_and_orders_run(paths):
    a = attribute(paths, "markov", order=3, n_bootstrap=0).table
    b = attribute(paths, "markov", order=3, n_bootstrap=0).table
    pd.testing.assert_frame_equal(a, b)
    assert a.share.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="order must be 1 to 4"):
        attribute(paths, "markov", order=5)


def test_exact_and_sampled_shapley_agree(paths):
    from targeting.evaluation.shapley import shapley_credit

    exact, _ = shapley_credit(paths)
    sampled, se = shapley_credit(paths, max_exact=0, n_permutations=3000)
    assert exact.conversions.sum() == pytest.approx(paths.conversions.sum())  # efficiency
    assert exact.value.sum() == pytest.approx(paths.value.sum())
    assert (abs(sampled.conversions - exact.conversions) < 4 * se + 1e-9).all()


def test_shapley_counts_the_journeys_that_did_not_convert():
    # Issue 18 item 10 (failed before: the game ignored nulls, an equal split a 10 / b 10).
    # "a" alone converts 5 of 5 journeys, "b" alone 5 of 100; in "a > b" the rate game gives
    # a 0.5 * 1 + 0.5 * (1 - 0.05) = 0.975 of each conversion, b 0.025. Value per journey:
    # a 4, b 0.5, "a > b" 10, so a gets 10 * (0.5 * 4 + 0.5 * 9.5) = 67.5 of that path's 100.
    paths = pd.DataFrame({"path": ["a > b", "a", "b"], "conversions": [10, 5, 5],
                          "nulls": [0, 0, 95], "value": [100.0, 20.0, 50.0]})
    credit = attribute(paths, "shapley", n_bootstrap=0).table
    np.testing.assert_allclose(credit.conversions, [14.75, 5.25])
    np.testing.assert_allclose(credit.value, [20 + 67.5, 50 + 32.5])


def test_shapley_recovers_the_planted_credit(paths, world):
    # Issue 18 item 10: mean absolute error in channel share against the planted credit,
    # 0.019-0.023 over demo worlds 1, 2, 4 (30,000 users); the equal split it replaced scored
    # 0.053-0.057, Markov 0.070-0.072, last touch 0.118-0.126.
    truth = world.truth["channel_credit"].set_index("channel").share
    share = attribute(paths, "shapley", n_bootstrap=0).table.share
    assert float((share - truth.reindex(share.index)).abs().mean()) < 0.035


def test_data_driven_methods_beat_last_touch_against_the_truth(world, paths):
    truth = world.truth["channel_credit"].set_index("channel").share
    comparison = compare_attribution(paths, truth=truth)
    mae = comparison.errors
    assert mae["markov"] < mae["last_touch"]
    assert mae["shapley"] < mae["last_touch"]


def test_bootstrap_interval_brackets_the_estimate(paths):
    credit = attribute(paths, "shapley", n_bootstrap=100).table
    assert (credit.share_low <= credit.share + 1e-12).all()
    assert (credit.share <= credit.share_high + 1e-12).all()
    # The rate game pays for counting non-conversions with noise: widest 90 % interval 0.102
    # here (group_chat, 1,110 conversions).
    assert (credit.share_high - credit.share_low).max() < 0.15


def test_path_table_input_and_bad_input(paths):
    assert attribute(paths[["path", "conversions"]], "linear").table.share.sum() == (
        pytest.approx(1.0))
    with pytest.raises(tg.SchemaError, match="missing column"):
        attribute(paths.rename(columns={"path": "route"}), "linear")
    with pytest.raises(ValueError, match="unknown method"):
        attribute(paths, "gut_feeling")
    with pytest.raises(ValueError, match="confidence in"):
        attribute(paths, "markov", confidence=90)
    from targeting.evaluation.incrementality import incrementality

    with pytest.raises(tg.SchemaError, match="needs the 'campaign' table"):
        incrementality({"touchpoints": paths}, "c", "group_chat")


def test_results_render(world, paths):
    result = attribute(paths, "markov", n_bootstrap=20)
    assert "<table" in result._repr_html_() and "sampling noise only" in result._repr_html_()
    assert result.plot() is not None
    j = journeys(world.tables)
    assert "Top paths" in j._repr_html_() and j.plot() is not None
    comparison = compare_attribution(j, truth=world.truth["channel_credit"].set_index(
        "channel").share)
    assert "Mean absolute error" in comparison._repr_html_() and comparison.plot() is not None


def test_comparison_is_logged_as_one_run(mlflow_store, world, paths):
    import mlflow

    from targeting.tracking import log_attribution

    truth = world.truth["channel_credit"].set_index("channel").share
    run_id = log_attribution(compare_attribution(paths, truth=truth), experiment="attr",
                             params={"order": 1}).run_id
    run = mlflow.MlflowClient().get_run(run_id)
    assert run.data.metrics["mae_markov"] < run.data.metrics["mae_last_touch"]
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
    assert {"attribution.png", "attribution_shares.csv"} <= names


def test_incrementality_sets_the_holdout_against_attribution(world):
    from targeting.evaluation.incrementality import incrementality

    inc = incrementality(world.tables, "group_chat_holdout_2026", "group_chat")
    rows = world.tables["campaign"]
    rows = rows[rows.campaign_id == "group_chat_holdout_2026"]
    exposed = rows[rows.arm == "group_chat"]
    held = rows[rows.arm == "control"]
    expected = (exposed.converted.mean() - held.converted.mean()) * len(exposed)
    assert inc.measured == pytest.approx(expected)
    assert inc.measured_low > 0  # the chat-group channel really adds conversions
    # Issue 18 item 11: the factor carries the experiment's interval. Over worlds 0-5 (30,000
    # users) last touch's factor ran 1.47-2.52 (the old "> 1.5" failed world 2) and its upper
    # bound 2.3-3.2; the planted chat-group credit (330-340) was 2.3-2.8x last touch's.
    table = inc.table
    lt = table.loc["last_touch"]
    assert lt.calibration_low == pytest.approx(inc.measured_low / lt.attributed)
    assert lt.calibration_low <= lt.calibration_factor <= lt.calibration_high
    assert lt.calibration_high > 2
    planted = world.truth["channel_credit"].set_index("channel").conversions["group_chat"]
    assert planted / lt.attributed > 2
    assert "Incrementality" in inc._repr_html_() and inc.plot() is not None
    assert "sampling noise only" in inc._repr_html_()
    with pytest.raises(ValueError, match="needs a 'control' arm"):
        incrementality(world.tables, "no_such_campaign", "group_chat")
