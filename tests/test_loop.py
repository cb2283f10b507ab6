"""The closed campaign loop on the responsive demo world (issue 13).

Real components throughout: demo worlds, the feature pipeline, LightGBM uplift models, a
SQLite MLflow store, a killed subprocess. Tolerances come from four world seeds (0-3) on the
8,000-user world, 4 waves, measured once (tests/test_loop.py numbers in the comments).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.data import demo_response
from targeting.data.schema import SchemaError, TargetingError
from targeting.loop import CampaignLoop, simulate_loop
from targeting.loop.guard import WORSE_Z
from targeting.loop.simulate import describe

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def world():
    return tg.demo_world(n_users=8_000, random_state=1)


@pytest.fixture(scope="module")
def tiny_world():
    return tg.demo_world(n_users=3_000, random_state=2)


@pytest.fixture(scope="module")
def straight(tiny_world, tmp_path_factory):
    """Three waves on the 3,000-user world, seed 3, uninterrupted."""
    store = tmp_path_factory.mktemp("straight") / "store"
    return simulate_loop(tiny_world, 3, store=store, random_state=3, tracking=False)


@pytest.fixture(scope="module")
def tracked(world, tmp_path_factory):
    """Four waves on the 8,000-user world, logged to a SQLite MLflow store of its own."""
    folder = tmp_path_factory.mktemp("loop")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    os.environ.update(MLFLOW_TRACKING_URI=uri, MLFLOW_REGISTRY_URI=uri)
    mlflow.set_tracking_uri(uri)
    try:
        sim = simulate_loop(world, 4, store=folder / "store", random_state=1,
                            experiment="loop-tests")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        mlflow.set_tracking_uri(None)
    return sim, uri, folder


# -- the responsive world -------------------------------------------------------------------
def test_respond_draws_from_the_planted_truth(world):
    users = demo_response.population(world)
    truth = demo_response.truth_table(world).loc[users]
    arm = np.where(np.arange(len(users)) % 2 == 0, "coupon", "control")
    sent = pd.DataFrame({"user_id": users, "arm": arm, "campaign_id": "check"})
    out = world.respond(sent)
    p = truth.p_control.to_numpy() + np.where(arm == "coupon", truth.uplift_coupon, 0.0)
    for a in ("coupon", "control"):
        hit = arm == a
        se = np.sqrt((p[hit] * (1 - p[hit])).sum()) / hit.sum()
        assert abs(out.converted[hit].mean() - p[hit].mean()) < 4 * se
    # Same assignments, same outcomes, whatever the row order; another campaign, other draws.
    shuffled = sent.sample(frac=1.0, random_state=0)
    again = world.respond(shuffled).set_index("user_id").loc[users]
    assert (again.converted.to_numpy() == out.converted.to_numpy()).all()
    other = world.respond(sent.assign(campaign_id="another"))
    assert (other.converted.to_numpy() != out.converted.to_numpy()).any()
    assert (out.revenue[~out.converted] == 0).all() and (out.revenue[out.converted] > 0).all()


def test_respond_refuses_what_the_world_cannot_answer(world):
    users = demo_response.population(world)[:3]
    with pytest.raises(SchemaError, match="unknown arm"):
        world.respond(pd.DataFrame({"user_id": users, "arm": "sms", "campaign_id": "x"}))
    with pytest.raises(SchemaError, match="does not cover"):
        world.respond(pd.DataFrame({"user_id": [1, 2], "arm": "push", "campaign_id": "x"}))
    with pytest.raises(SchemaError, match="missing column"):
        world.respond(pd.DataFrame({"user_id": users}))


def test_truth_per_policy(world):
    static = demo_response.policy_increments(world, 500, value_per_conversion=60,
                                             cost_per_contact=1)
    assert static["oracle"] > static["propensity"] > static["random"] > 0
    assert demo_response.policy_increments(world, 0)["oracle"] == 0
    assert demo_response.wave_time(world, 2) - demo_response.wave_time(world, 1) == \
        pd.Timedelta(days=demo_response.WAVE_DAYS)


# -- the loop learns --------------------------------------------------------------------------
def test_loop_learns_from_its_own_outcomes(tracked):
    sim, _, _ = tracked
    t = sim.table
    assert t.index.tolist() == [1, 2, 3, 4]
    # Measured on worlds and loops of seeds 0-3 (defaults: X-learner, a 5 % exploration slice
    # at the list's margin, the guard; wave 1 learns from the world's past campaign): wave 1
    # 2.05-2.53x random (a random pilot would be about 1x); last wave 2.38-3.11x random and
    # 1.07-1.22x the one-shot model (the first model never refitted); cumulative 2.20-2.85x
    # random and 1.00-1.13x the one-shot model; the interval covered the truth in 2-4 of 4
    # waves (2 on seed 2; 3-4 with the earlier 10 % slice). On this small world the regret
    # does not fall on every seed (seed 1: 37 -> 39 -> 36 -> 35).
    assert t.loop.iloc[0] > 1.6 * t.random.iloc[0]
    assert t.loop.iloc[-1] > 2.0 * t.random.iloc[-1]
    assert t.loop.iloc[-1] > 0.85 * t.one_shot.iloc[-1]
    total = sim.cumulative().iloc[-1]
    assert total.loop > 2.0 * total.random
    assert 0.85 < total.loop / total.one_shot < 1.25
    assert sim.covered_waves >= 2
    assert (t.oracle >= t.loop).all()
    assert 0 < sim.share_of_oracle()["loop"] < 1
    assert "Regret" in sim.plot().axes[1].get_title()
    assert "Closed loop" in sim._repr_html_() and "share of the oracle" in describe(sim)


def test_loop_from_a_pilot_outlearns_the_pilot_model(world, tmp_path):
    """Without history, wave 1 is the randomised pilot and the one-shot model is fitted on it
    alone; the loop, refitted on every wave, pulls away from it.

    Measured on 8,000-user worlds and loops of seeds 0-3 (four waves, defaults): cumulative
    1.18-1.44x the one-shot model, the last wave 1.43-2.09x; regret in the last wave
    0.52-0.62x the first's; covered 3-4 of 4. The bounds sit below the smallest of them."""
    sim = simulate_loop(world, 4, store=tmp_path / "pilot", random_state=1, tracking=False,
                        history=False)
    t, total = sim.table, sim.cumulative().iloc[-1]
    assert sim.loop.state["history"] == [] and t.loop.iloc[0] == t.one_shot.iloc[0]
    assert total.loop > 1.10 * total.one_shot
    assert t.loop.iloc[-1] > 1.30 * t.one_shot.iloc[-1]
    assert t.regret.iloc[-1] < 0.75 * t.regret.iloc[0]
    assert sim.covered_waves >= 2


def test_one_shot_held_out_prices_the_holdout(tracked, world):
    """The one-shot model measured as the loop measures itself: the expectation of a random
    holdout_share of a list a ninth longer held out, the same contacts."""
    from targeting.evaluation.planning import plan_campaign

    sim, _, _ = tracked
    loop, t = sim.loop, sim.table
    X = loop.features(world.tables, loop.wave(2).as_of, demo_response.population(world))
    listed = int(np.ceil(loop.contacts_per_wave / (1 - loop.holdout_share)))
    plan = plan_campaign(loop.model(0), X, budget=listed * loop.cost_per_contact,
                         cost_per_contact=loop.cost_per_contact,
                         value_per_conversion=loop.value_per_conversion,
                         random_state=loop.random_state)
    sent = plan.audience[["arm"]].rename_axis("user_id").reset_index()
    expected = demo_response.true_increment(world, sent) * loop.contacts_per_wave / len(sent)
    assert t.one_shot_held_out[2] == pytest.approx(expected)
    # Seeds 0-3 (8,000 users, 4 waves): 0.953-1.006x the one-shot model without a holdout.
    assert ((t.one_shot_held_out / t.one_shot).between(0.9, 1.02)).all()
    assert "one-shot measured as the loop measures itself" in describe(sim)


def test_waves_are_randomised_and_within_budget(tracked, world):
    sim, _, _ = tracked
    loop = sim.loop
    # The world's past randomised campaign (sent at as_of, a wave before wave 1) is history:
    # wave 1 already follows the uplift policy of the model fitted on it.
    assert [h["campaign_id"] for h in loop.state["history"]] == [world.campaign_id]
    assert "past randomised campaign" in loop.wave(1).policy
    assert "waves 1-3" in loop.wave(4).policy and world.campaign_id in loop.wave(4).policy
    for number in (1, 2, 3, 4):
        wave = loop.wave(number)
        a = wave.assignments
        assert set(a.slice) == {"target", "holdout", "explore"}
        assert wave.spend <= loop.budget
        listed = a.slice.isin(["target", "holdout"])
        assert abs((a.slice == "holdout").sum() / listed.sum() - 0.1) < 0.01
        assert (a.arm[a.slice == "holdout"] == "control").all()
        explore = a[a.slice == "explore"]
        assert abs(explore.contacted.sum() - loop.explore_share * loop.contacts_per_wave) <= 1
        assert not a.user_id.duplicated().any()
        assert wave.as_of == demo_response.wave_time(world, number)
    reports = loop.readout(2)
    assert set(reports) == {"target", "explore"}
    assert reports["target"].table.index[-1] == "any treatment"


def test_exploration_is_drawn_from_the_margin(tracked, world):
    """The default exploration slice: random users from the band ranked right after the
    policy's list (twice the slice's size), by the model the wave was planned with."""
    from targeting.evaluation.planning import plan_campaign

    loop = tracked[0].loop
    assert loop.exploration == "margin"
    users = demo_response.population(world)
    for number in (1, 3):
        a = loop.wave(number).assignments
        X = loop.features(world.tables, loop.wave(number).as_of, users)
        listed = int(a.slice.isin(["target", "holdout"]).sum())
        explore = a[a.slice == "explore"]
        plan = plan_campaign(loop.model(number - 1), X, budget=len(X), cost_per_contact=1.0,
                             value_per_conversion=loop.value_per_conversion)
        rank = pd.Series(np.arange(len(plan.audience)), index=plan.audience.index)
        assert set(rank.index[:listed]) == set(a.user_id[a.slice.isin(["target", "holdout"])])
        ranks = rank.reindex(explore.user_id)
        assert ranks.notna().all() and (ranks >= listed).all()
        assert (ranks < listed + 2 * len(explore)).all()
        # Randomised inside the band: every arm, and a control group, at about planned shares.
        assert set(explore.arm) == {"control", *loop.arms}
        assert abs((explore.arm == "control").mean() - 0.5) < 0.02


def test_a_store_from_before_the_setting_explores_at_random(tiny_world, tmp_path):
    loop = CampaignLoop(tmp_path / "old", arms=["coupon", "push"], budget=300, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False)
    assert loop.exploration == "margin"
    del loop.state["config"]["exploration"]
    loop.store.write_json(loop.state)
    again = CampaignLoop(tmp_path / "old", tracking=False)
    assert again.exploration == "random"
    assert CampaignLoop(tmp_path / "old", exploration="random", tracking=False).exploration \
        == "random"


def test_a_store_from_before_the_guard_resumes_unguarded(tiny_world, tmp_path):
    loop = CampaignLoop(tmp_path / "old", arms=["coupon", "push"], budget=300, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False)
    assert loop.guard is True
    del loop.state["config"]["guard"]
    loop.store.write_json(loop.state)
    assert CampaignLoop(tmp_path / "old", tracking=False).guard is False


# -- champion / challenger ----------------------------------------------------------------------
def test_guard_decides_every_wave_and_says_so(tracked):
    sim, _, _ = tracked
    loop = sim.loop
    s = loop.report().table
    assert set(s.model) <= {"kept", "replaced"}  # wave 1 has the history's model as champion
    assert s[["champion_qini", "challenger_qini", "difference_se"]].notna().all().all()
    assert (s.difference_se > 0).all()
    worse = s.challenger_qini < s.champion_qini - WORSE_Z * s.difference_se
    assert (s.model == np.where(worse, "kept", "replaced")).all()
    for n in s.index:
        champion = loop.model(n - 1)
        model, kept = loop.model(n), s.model[n] == "kept"
        # kept: the champion's own file again, the challenger stored beside it
        assert kept == (loop.store.path / f"challenger_{n:03d}.pkl").exists()
        assert kept == _same_predictions(model, champion, loop.training_data(n)[0][:200])


def _same_predictions(a, b, X) -> bool:
    return bool(np.allclose(a.predict_uplift(X).to_numpy(), b.predict_uplift(X).to_numpy()))


def _planted_evidence(n: int, seed: int):
    """A randomised campaign (one block, coupon or control at random) whose planted uplift a
    real LightGBM uplift model can find: 0.3 for users with a positive first feature."""
    from targeting.loop.guard import Evidence

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["f0", "f1", "f2"])
    arm = np.where(rng.random(n) < 0.5, "coupon", "control").astype(object)
    p = 0.1 + 0.3 * (arm == "coupon") * (X.f0.to_numpy() > 0)
    y = (rng.random(n) < p).astype(float)
    return Evidence(X, y, arm, np.full(n, "pilot", dtype=object), np.full(n, None, dtype=object))


def _fit(X, y, arm):
    from targeting.models.uplift import UpliftModel

    return UpliftModel("x", random_state=0, min_child_samples=50).fit(X, y, arm)


def test_guard_keeps_the_champion_against_a_worse_challenger():
    """A challenger fitted on shuffled outcomes (no signal left) against the real recipe,
    both cross-fitted on a randomised campaign of 3,000 users: the guard keeps the champion.
    Measured with campaign seeds 0-4 (shuffle seed 0): the real recipe's Qini 0.20-0.28, the
    shuffled one's -0.02-0.06, 4.0-8.1 standard errors below (kept 5 of 5). The same recipe
    on the same rows ties and replaces it; so does the real recipe on more rows.
    (On the 8,000-user demo world the loop's own Qini differences are within chance: the
    standard error, about 0.04, is larger than the recipes' scores; see the README.)"""
    from targeting.loop.guard import decide

    ev = _planted_evidence(3_000, seed=0)
    rng = np.random.default_rng(0)

    def shuffled(X, y, arm):
        return _fit(X, rng.permutation(y), arm)

    worse = decide(_fit, shuffled, ev, len(ev.y), random_state=0)
    assert not worse.replaced and worse.verdict == "kept"
    assert worse.challenger_score < worse.champion_score - 3 * worse.difference_se
    assert worse.rows == 3_000 and worse.metrics()["guard_replaced"] == 0.0
    same = decide(_fit, _fit, ev, len(ev.y), random_state=0)
    assert same.replaced and same.champion_score == same.challenger_score
    assert decide(_fit, _fit, ev, 1_000, random_state=0).replaced


def test_summary_arithmetic_and_display(tracked):
    sim, _, _ = tracked
    loop = sim.loop
    s = loop.report().table
    assert s.index.tolist() == [1, 2, 3, 4]
    assert (s.increment_low < s.measured_increment).all()
    assert (s.measured_increment < s.increment_high).all()
    value = loop.value_per_conversion
    roi = (s.measured_increment * value - s.spend) / s.spend
    np.testing.assert_allclose(s.roi, roi)
    cum = (s.measured_increment.cumsum() * value - s.spend.cumsum()) / s.spend.cumsum()
    np.testing.assert_allclose(s.cumulative_roi, cum)
    # The cumulative interval pools the waves: variances add, so it is narrower than the
    # waves' own intervals added up, and wider than any one wave's.
    half = (s.increment_high - s.increment_low) / 2
    pooled = (s.cumulative_high - s.cumulative_low) / 2
    np.testing.assert_allclose(pooled, np.sqrt((half**2).cumsum()))
    assert (pooled.iloc[1:] < half.cumsum().iloc[1:]).all() and (pooled >= half).all()
    assert "Campaign loop" in loop.report()._repr_html_()
    assert len(loop.report().plot().axes) == 2
    # The model is refitted on every recorded wave: more rows each time.
    sizes = [len(loop.training_data(n)[0]) for n in (1, 2, 3, 4)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


# -- MLflow: one parent, a nested run per wave, no raw id anywhere -----------------------------
def test_mlflow_runs_nested_and_without_ids(tracked, world):
    sim, uri, folder = tracked
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("loop-tests")
    runs = client.search_runs([experiment.experiment_id])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parent) == 1 and len(children) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent[0].info.run_id}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert {"measured_increment", "roi", "cumulative_roi", "contacts", "guard_replaced",
            "guard_champion_qini", "guard_challenger_qini", "guard_difference_se",
            "cumulative_low", "cumulative_high"} <= set(children[0].data.metrics)
    ids = {str(u) for u in world.tables["identity"].user_id}
    ids |= {str(u) for u in sim.loop.wave(2).assignments.user_id}
    texts = []
    for run in runs:
        texts += [str(v) for v in run.data.params.values()]
        texts += [str(v) for v in run.data.tags.values()]
        local = Path(mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, dst_path=str(folder / "artifacts" / run.info.run_id),
            tracking_uri=uri))
        files = [p for p in local.rglob("*") if p.is_file()]
        assert files
        texts += [p.read_bytes().decode("latin-1") for p in files]
    blob = "\n".join(texts)
    assert any(p.suffix == ".png" for p in (folder / "artifacts").rglob("*"))
    leaked = [u for u in ids if u in blob]
    assert not leaked, f"raw ids in MLflow: {leaked[:5]}"


# -- determinism and crash safety --------------------------------------------------------------
def test_same_seed_reproduces_every_number(tiny_world, straight, tmp_path):
    a = straight
    b = simulate_loop(tiny_world, 3, store=tmp_path / "b", random_state=3, tracking=False)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.loop.report().table, b.loop.report().table)
    for n in (1, 2, 3):
        pd.testing.assert_frame_equal(a.loop.wave(n).assignments, b.loop.wave(n).assignments)
    c = simulate_loop(tiny_world, 1, store=tmp_path / "c", random_state=4, tracking=False)
    assert not c.loop.wave(1).assignments.equals(a.loop.wave(1).assignments)


KILLED = """
import os, signal, sys
import targeting as tg
from targeting.data import demo_response
from targeting.loop import simulate_loop
world = tg.demo_world(n_users=3_000, random_state=2)
sim = simulate_loop(world, 1, store=sys.argv[1], random_state=3, tracking=False)
sim.loop.plan(world.tables, demo_response.wave_time(world, 2),
              users=demo_response.population(world))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_between_plan_and_record_loses_nothing(tiny_world, straight, tmp_path):
    store = tmp_path / "killed"
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(store)], env=env, timeout=300,
                          capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    loop = CampaignLoop(store, tracking=False)
    assert [w["status"] for w in loop.waves] == ["recorded", "planned"]
    with pytest.raises(TargetingError, match="record them"):
        loop.plan(tiny_world.tables, demo_response.wave_time(tiny_world, 3))
    pending = loop.wave(2)
    users = demo_response.population(tiny_world)
    again = loop.plan(tiny_world.tables, demo_response.wave_time(tiny_world, 2), users=users)
    pd.testing.assert_frame_equal(again.assignments, pending.assignments)
    loop.record(tiny_world.respond(pending.assignments))
    resumed = simulate_loop(tiny_world, 3, store=store, random_state=3, tracking=False)
    pd.testing.assert_frame_equal(resumed.table, straight.table)
    pd.testing.assert_frame_equal(resumed.loop.report().table, straight.loop.report().table)


# -- input checks and export ------------------------------------------------------------------
def test_an_exploration_schedule_shrinks_the_slice_wave_by_wave(tiny_world, tmp_path):
    sim = simulate_loop(tiny_world, 2, store=tmp_path / "s", random_state=3, tracking=False,
                        explore_share=[0.2, 0.1], guard=False)
    loop = sim.loop
    explored = [int((loop.wave(n).assignments.query("slice == 'explore'").contacted).sum())
                for n in (1, 2)]
    assert explored == [round(s * loop.contacts_per_wave) for s in (0.2, 0.1)]
    assert [loop.explore_share_at(n) for n in (1, 2, 5)] == [0.2, 0.1, 0.1]
    assert "20% exploration" in loop.wave(1).policy
    assert CampaignLoop(tmp_path / "s", tracking=False).explore_share == [0.2, 0.1]


def test_a_holdout_schedule_holds_out_each_wave_its_share(tiny_world, tmp_path):
    sim = simulate_loop(tiny_world, 3, store=tmp_path / "s", random_state=3, tracking=False,
                        holdout_share=[0.2, 0.05], guard=False)
    loop = sim.loop
    assert [loop.holdout_share_at(n) for n in (1, 2, 3, 7)] == [0.2, 0.05, 0.05, 0.05]
    for n, share in ((1, 0.2), (2, 0.05), (3, 0.05)):
        listed = loop.wave(n).assignments.query("slice in ['target', 'holdout']")
        held = int((listed.slice == "holdout").sum())
        assert held == max(len(listed) - int(listed.contacted.sum()),
                           round(share * len(listed)))
        assert abs(held / len(listed) - share) < 0.01
        assert f"random {share:.0%} holdout" in loop.wave(n).policy
    assert sim.table.covered.dtype == bool and sim.table.low.lt(sim.table.high).all()
    assert CampaignLoop(tmp_path / "s", tracking=False).holdout_share == [0.2, 0.05]


def test_bad_input_names_the_problem(tiny_world, tmp_path):
    with pytest.raises(SchemaError, match="budget"):
        CampaignLoop(tmp_path / "a", arms=["coupon"], budget=0, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False)
    with pytest.raises(SchemaError, match="without 'control'"):
        CampaignLoop(tmp_path / "b", arms=["control", "push"], budget=10, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False)
    with pytest.raises(SchemaError, match="exploration: one of"):
        CampaignLoop(tmp_path / "x", arms=["push"], budget=10, cost_per_contact=1.0,
                     value_per_conversion=60, exploration="edge", tracking=False)
    with pytest.raises(SchemaError, match="explore_share: a share"):
        CampaignLoop(tmp_path / "y", arms=["push"], budget=10, cost_per_contact=1.0,
                     value_per_conversion=60, explore_share=[0.2, 1.5],
                     tracking=False)
    with pytest.raises(SchemaError, match="holdout_share: a share"):
        CampaignLoop(tmp_path / "h", arms=["push"], budget=10, cost_per_contact=1.0,
                     value_per_conversion=60, holdout_share=[0.2, 1.0], tracking=False)
    with pytest.raises(SchemaError, match="above 0 in every wave"):
        CampaignLoop(tmp_path / "h0", arms=["push"], budget=10, cost_per_contact=1.0,
                     value_per_conversion=60, holdout_share=[0.1, 0.0], tracking=False)
    with pytest.raises(SchemaError, match="holdout_share: a share, or a non-empty"):
        CampaignLoop(tmp_path / "h1", arms=["push"], budget=10, cost_per_contact=1.0,
                     value_per_conversion=60, holdout_share=[], tracking=False)
    with pytest.raises(SchemaError, match="non-empty list"):
        CampaignLoop(tmp_path / "z", arms=["push"], budget=10, cost_per_contact=1.0,
                     value_per_conversion=60, holdout_share=0.1, explore_share=[],
                     tracking=False)
    loop = CampaignLoop(tmp_path / "c", arms=["coupon", "push"], budget=200, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False)
    with pytest.raises(TargetingError, match="other parameters"):
        CampaignLoop(tmp_path / "c", arms=["coupon", "push"], budget=300, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False)
    with pytest.raises(TargetingError, match="plan one first"):
        loop.record(pd.DataFrame({"user_id": [1], "converted": [True]}))
    users = demo_response.population(tiny_world)
    wave = loop.plan(tiny_world.tables, tiny_world.as_of, users=users)
    out = tiny_world.respond(wave.assignments)
    with pytest.raises(SchemaError, match="no outcome"):
        loop.record(out.iloc[10:])
    with pytest.raises(SchemaError, match="another arm"):
        loop.record(out.assign(arm="push"))
    with pytest.raises(SchemaError, match="ISO 8601"):
        CampaignLoop(tmp_path / "d", arms=["push"], budget=10, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False).plan(
            tiny_world.tables, "09/01/2026")
    loop.record(out)
    with pytest.raises(TargetingError, match="go forward in time"):
        loop.plan(tiny_world.tables, tiny_world.as_of, users=users)


def test_wave_export_is_hashed_and_respects_the_floor(tiny_world, tmp_path):
    loop = CampaignLoop(tmp_path / "e", arms=["coupon", "push"], budget=400, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False)
    wave = loop.plan(tiny_world.tables, tiny_world.as_of,
                     users=demo_response.population(tiny_world))
    written = wave.export(tmp_path / "wave.csv", salt="pepper-123")
    exported = pd.read_csv(tmp_path / "wave.csv")
    assert len(exported) == wave.contacts
    assert set(exported.arm) == {"coupon", "push"}
    text = (tmp_path / "wave.csv").read_text()
    assert not any(str(u) in text for u in wave.assignments.user_id)
    assert set(written["sizes"]) == {"coupon", "push"}
    with pytest.raises(ValueError, match="too small"):
        wave.export(tmp_path / "big.csv", salt="pepper-123", min_size=1_000)
    with pytest.raises(ValueError, match="below the organisation's floor"):
        wave.export(tmp_path / "x.csv", salt="pepper-123", min_size=5)
    with pytest.raises(ValueError, match="salt"):
        wave.export(tmp_path / "x.csv", salt="short")


def test_cli_loop(tmp_path, monkeypatch, capsys):
    from targeting.cli import main

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["loop", "--waves", "2", "--users", "3000", "--no-progress",
                     "--store", str(tmp_path / "store")]) == 0
    finally:
        mlflow.set_tracking_uri(None)
    out = capsys.readouterr().out
    assert "share of the oracle" in out and "covers the true increment" in out
    assert "one-shot: the model fitted on the past randomised campaign(s)" in out
    assert (tmp_path / "store" / "state.json").exists()
    # --no-history: wave 1 is the randomised pilot, and the one-shot model is fitted on it.
    try:
        assert main(["loop", "--waves", "2", "--users", "3000", "--no-progress",
                     "--no-history", "--store", str(tmp_path / "pilot")]) == 0
    finally:
        mlflow.set_tracking_uri(None)
    out = capsys.readouterr().out
    assert "one-shot: the model fitted on wave 1 (the randomised pilot)" in out
    state = json.loads((tmp_path / "pilot" / "state.json").read_text())
    assert "pilot" in state["waves"][0]["policy"] and state["history"] == []
    # The pilot's 57 contacts per arm cannot be halved into folds of 50: the guard does
    # not cross-fit, the refitted model replaces the pilot's and the wave says so.
    second = state["waves"][1]
    assert second["guard"] == "replaced" and second["metrics"]["guard_cross_fitted"] == 0.0


def test_a_failed_record_leaves_the_wave_pending(tiny_world, straight, tmp_path, monkeypatch):
    """A record that dies after writing the outcomes (here: the refit fails) commits nothing:
    the wave stays planned and the next record completes it, with the same numbers."""
    loop = CampaignLoop(tmp_path / "f", tracking=False, **_config(straight.loop))
    users = demo_response.population(tiny_world)
    wave = loop.plan(tiny_world.tables, demo_response.wave_time(tiny_world, 1), users=users)
    outcomes = tiny_world.respond(wave.assignments)

    def dies(self, number):
        raise KeyboardInterrupt("killed while refitting")

    with monkeypatch.context() as patch:
        patch.setattr(CampaignLoop, "_fit", dies)
        with pytest.raises(KeyboardInterrupt):
            loop.record(outcomes)
    reopened = CampaignLoop(tmp_path / "f", tracking=False)
    assert [w["status"] for w in reopened.waves] == ["planned"]
    assert not (tmp_path / "f" / "model_001.pkl").exists()
    reopened.record(outcomes)
    pd.testing.assert_frame_equal(reopened.report().table,
                                  straight.loop.report().table.loc[[1]])


def _config(loop: CampaignLoop) -> dict:
    c = dict(loop.state["config"])
    c.pop("name")
    return c


@pytest.mark.slow
def test_loop_on_the_default_world(tmp_path):
    """Five waves on the default world (50,000 users, seed 0), the README's figures.

    Measured on seeds 0, 1 and 2 (one run each, about 3 minutes each on the shared 2-core
    machine), wave 1 learning from the world's past campaign, defaults (X-learner, a 5 %
    exploration slice at the list's margin, the guard): cumulative share of the oracle
    72.0 %, 73.0 % and 70.2 %; the one-shot model (the history's model never refitted, no
    holdout) 69.8 %, 75.0 % and 72.1 %: the loop beats it on seed 0 (1,646 against 1,597,
    1.031x) but not on seeds 1 and 2 (0.974x both); the one-shot model measured with the
    loop's holdout 68.7 %, 73.0 % and 71.0 %; propensity by the true base probability 49.0 %,
    49.8 % and 46.7 %; random 22.8 %, 22.5 % and 22.5 %. Seed 0: waves 67.1 % -> 75.8 % of
    the oracle, regret 151 -> 111, covered 5 of 5 waves (4 of 5 on seeds 1 and 2). The run
    is deterministic for a seed; the margins below leave room for other platforms only.
    """
    world = tg.demo_world(n_users=50_000, random_state=0)
    sim = simulate_loop(world, 5, store=tmp_path / "store", random_state=0, tracking=False)
    t, total = sim.table, sim.cumulative().iloc[-1]
    assert total.loop > 1.3 * total.propensity and total.propensity > total.random
    assert total.loop > 0.70 * total.oracle
    assert total.loop > 1.01 * total.one_shot
    assert total.loop > 1.02 * t.one_shot_held_out.sum()
    assert t.loop.iloc[0] > 0.64 * t.oracle.iloc[0]
    assert t.loop.iloc[-1] > 0.72 * t.oracle.iloc[-1]
    assert t.regret.iloc[-1] < 0.85 * t.regret.iloc[0]
    assert np.polyfit(t.index, t.regret, 1)[0] < 0
    assert sim.covered_waves >= 4


@pytest.mark.slow
def test_loop_from_a_pilot_beats_the_pilot_model_on_the_default_world(tmp_path):
    """Five waves on the default world (50,000 users, seed 0) without the past campaign: wave 1
    is the randomised pilot and the one-shot model is the one fitted on it (the issue's "one-shot
    uplift model trained on the first wave only").

    Measured on seeds 0, 1 and 2 (one run each, 70-80 s on the shared 2-core machine):
    cumulative share of the oracle, loop 50.6 %, 56.3 % and 57.7 % against the one-shot model's
    39.8 %, 51.8 % and 54.1 % (1.27x, 1.09x and 1.07x) and propensity's 49.0 %, 49.8 % and
    46.7 % (1.03x, 1.13x and 1.24x); the last wave 68.5 %, 70.3 % and 73.3 % against 46.6 %,
    62.2 % and 63.1 % (1.47x, 1.13x and 1.16x); covered in 4, 4 and 5 of 5 waves. The bounds
    are the smallest of the three seeds', rounded down; the run is deterministic for a seed.
    """
    world = tg.demo_world(n_users=50_000, random_state=0)
    sim = simulate_loop(world, 5, store=tmp_path / "store", random_state=0, tracking=False,
                        history=False)
    t, total = sim.table, sim.cumulative().iloc[-1]
    assert total.loop > 1.05 * total.one_shot
    assert total.loop > total.propensity > total.random
    assert t.loop.iloc[-1] > 1.10 * t.one_shot.iloc[-1]
    assert t.loop.iloc[-1] > 0.68 * t.oracle.iloc[-1]
    assert t.regret.iloc[-1] < 0.45 * t.regret.iloc[0]  # 0.38x, 0.36x and 0.32x measured
    assert np.polyfit(t.index, t.regret, 1)[0] < 0
    assert sim.covered_waves >= 4


def test_plan_without_a_user_list_takes_everyone_who_exists(tiny_world, tmp_path):
    """On real data there is no planted truth: the loop plans over every user with a record
    before ``as_of`` (prospects who join later are never contacted)."""
    loop = CampaignLoop(tmp_path / "g", arms=["coupon", "push"], budget=300, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False)
    wave = loop.plan(tiny_world.tables, tiny_world.as_of)
    joined = tiny_world.truth["lifecycle"].joined
    assert (joined.loc[wave.assignments.user_id] < tiny_world.as_of).all()
    assert wave.contacts == 300 and len(wave.assignments) == 600


def test_without_history_wave_1_is_a_randomised_pilot(tiny_world, tmp_path):
    """history=False (or no past randomised campaign with the loop's arms before wave 1): the
    first wave is a random pilot, every arm equally often, with a control group as large."""
    users = demo_response.population(tiny_world)
    arms = demo_response.arms(tiny_world)
    loop = CampaignLoop(tmp_path / "p", arms=arms, budget=300, cost_per_contact=1.0,
                        value_per_conversion=60, history=False, tracking=False)
    wave = loop.plan(tiny_world.tables, demo_response.wave_time(tiny_world, 1), users=users)
    assert "pilot" in wave.policy and loop.model() is None
    assert set(wave.assignments.slice) == {"pilot"}
    assert (~wave.assignments.contacted).sum() == wave.contacts == 300
    assert wave.assignments.arm[wave.assignments.contacted].value_counts().tolist() == [100] * 3
    # A campaign still being sent at the first wave's time is no history yet.
    early = CampaignLoop(tmp_path / "e", arms=arms, budget=300, cost_per_contact=1.0,
                         value_per_conversion=60, tracking=False)
    assert "pilot" in early.plan(tiny_world.tables, tiny_world.as_of, users=users).policy
    assert early.state["history"] == []
    # Neither is one without every arm of the loop.
    other = CampaignLoop(tmp_path / "o", arms=["coupon", "sms"], budget=300, cost_per_contact=1.0,
                     value_per_conversion=60, tracking=False)
    first = other.plan(tiny_world.tables, demo_response.wave_time(tiny_world, 1), users=users)
    assert "pilot" in first.policy


def test_history_rows_are_built_before_the_past_campaign(tiny_world, tmp_path):
    """The first model learns from the past campaign's users, features at its send time."""
    from targeting.features.campaign import campaign_dataset

    loop = CampaignLoop(tmp_path / "h", arms=demo_response.arms(tiny_world), budget=300,
                        cost_per_contact=1.0, value_per_conversion=60, tracking=False)
    wave = loop.plan(tiny_world.tables, demo_response.wave_time(tiny_world, 1),
                     users=demo_response.population(tiny_world))
    assert set(wave.assignments.slice) == {"target", "holdout", "explore"}
    X, y, arm = loop.training_data(0)
    data = campaign_dataset(tiny_world.tables, tiny_world.campaign_id)
    assert len(X) == len(data) and sorted(set(arm)) == ["control", *data.arms]
    assert y.sum() == data.y.sum()
    assert loop.model(0) is not None and "model_000.pkl" in os.listdir(tmp_path / "h")


# -- money: prices per arm, values per user ------------------------------------------------------
PRICES = {"coupon": 5.0, "group_invite": 1.0, "push": 0.05}


def _order_values(world, users) -> pd.Series:
    """Each user's mean order amount before the world's as_of (the median without orders)."""
    orders = world.tables["orders"].query("ts < @world.as_of")
    ids = world.tables["identity"].dropna(subset=["shop_id"]).set_index("shop_id").user_id
    mean = orders.assign(user_id=orders.shop_id.map(ids)).groupby("user_id").amount.mean()
    return mean.reindex(users).fillna(mean.median())


def _value_increment(rows: pd.DataFrame, yv: np.ndarray) -> float:
    """The wave's increment in conversions x value, recomputed by hand: each random slice's
    treated total minus their number times its control mean, and the list's difference of
    means per recommended arm (arms with two users on both sides), weighted by the arm's share
    of the list, times its contacts."""
    total = 0.0
    for part in ("pilot", "explore"):
        s = (rows.slice == part).to_numpy()
        if s.any():
            treated, control = s & rows.contacted.to_numpy(), s & ~rows.contacted.to_numpy()
            total += yv[treated].sum() - treated.sum() * yv[control].mean()
    listed = rows.slice.isin(["target", "holdout"]).to_numpy()
    effects, weights = [], []
    for arm in rows.recommended[listed].unique():
        group = listed & (rows.recommended == arm).to_numpy()
        sent, held = group & (rows.arm == arm).to_numpy(), group & (rows.arm == "control"
                                                                     ).to_numpy()
        if sent.sum() >= 2 and held.sum() >= 2:
            effects.append(yv[sent].mean() - yv[held].mean())
            weights.append(group.sum())
    per = np.average(effects, weights=weights)
    return total + per * int((rows.slice == "target").sum())


def test_a_loop_in_money_prices_each_contact_and_values_each_user(tiny_world, tmp_path):
    """Prices per arm and each user's mean order amount as their value: each wave spends at
    most the budget with every contact at its arm's price, its value and ROI read the users'
    values, and a resumed loop must bring the same prices and values."""
    users = demo_response.population(tiny_world)
    values = _order_values(tiny_world, users)
    sim = simulate_loop(tiny_world, 2, store=tmp_path / "m", random_state=3, tracking=False,
                        cost_per_contact=PRICES, value_per_conversion=values, guard=False)
    loop, report = sim.loop, sim.loop.report().table
    mean_price = np.mean(list(PRICES.values()))
    assert loop.budget == pytest.approx(round(0.1 * len(users)) * mean_price)
    assert loop.contacts_per_wave == int(loop.budget // mean_price)
    for number in (1, 2):
        wave = loop.wave(number)
        a = wave.assignments
        spend = a.arm[a.contacted].map(PRICES).sum()
        assert wave.spend == pytest.approx(spend) and spend <= loop.budget + 1e-9
        assert report.spend[number] == pytest.approx(spend)
        explore = a[a.slice == "explore"]
        assert explore.contacted.sum() == round(loop.explore_share * loop.contacts_per_wave)
        rows = loop.outcomes(number)
        yv = rows.converted.to_numpy(float) * values.loc[rows.user_id].to_numpy()
        assert report.measured_value[number] == pytest.approx(_value_increment(rows, yv))
    # The list spends on cheap arms first: profit per unit of price ranks a push high.
    listed = loop.wave(2).assignments.query("slice in ['target', 'holdout']")
    assert listed.recommended.value_counts().idxmax() == "push"
    np.testing.assert_allclose(report.roi, (report.measured_value - report.spend) / report.spend)
    np.testing.assert_allclose(report.cumulative_roi, (report.measured_value.cumsum()
                                                       - report.spend.cumsum())
                               / report.spend.cumsum())
    assert sim.table[["oracle", "one_shot", "one_shot_held_out"]].notna().all().all()
    # Resuming: the store keeps the values; other prices or values are refused.
    again = CampaignLoop(tmp_path / "m", tracking=False)
    assert again.costs == PRICES and again.value_per_conversion.equals(values.rename("value"))
    CampaignLoop(tmp_path / "m", cost_per_contact=PRICES, value_per_conversion=values,
                 tracking=False)
    with pytest.raises(TargetingError, match="value_per_conversion"):
        CampaignLoop(tmp_path / "m", value_per_conversion=values * 2, tracking=False)
    with pytest.raises(TargetingError, match="cost_per_contact"):
        CampaignLoop(tmp_path / "m", cost_per_contact={**PRICES, "push": 0.1}, tracking=False)
    with pytest.raises(SchemaError, match=r"no price for arm\(s\) \['push'\]"):
        CampaignLoop(tmp_path / "x", arms=list(PRICES), budget=100,
                     cost_per_contact={"coupon": 5.0, "group_invite": 1.0},
                     value_per_conversion=60, tracking=False)
    with pytest.raises(SchemaError, match="value_per_conversion"):
        CampaignLoop(tmp_path / "y", arms=["push"], budget=100, cost_per_contact=0.05,
                     value_per_conversion="sixty", tracking=False)
