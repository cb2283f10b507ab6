"""Lookalike audiences on the demo world, measured against its planted segment."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

import targeting as tg
from targeting.models.lookalike import round_count
from targeting.models.lookalike.audience import hash_ids
from targeting.tracking import log_lookalike

SIZES = (0.01, 0.05, 0.10)


@pytest.fixture(scope="module")
def world():
    return tg.demo_world(n_users=20_000, random_state=3)


@pytest.fixture(scope="module")
def model(world):
    seeds = tg.segment_seed(world, size=0.4)
    return tg.LookalikeModel(progress=False).fit(world.tables, seeds, world.as_of)


@pytest.fixture(scope="module")
def evaluation(model, world):
    return tg.evaluate(model, world, category="baby")


@pytest.fixture(scope="module")
def small(small_world):
    seeds = tg.segment_seed(small_world, size=0.6)
    return tg.LookalikeModel(progress=False, n_bags=2).fit(small_world.tables, seeds,
                                                            small_world.as_of)


# -- what must be shown ------------------------------------------------------------------------
def test_blend_matches_the_best_method_and_beats_random_on_the_planted_segment(evaluation):
    # On this world only the classifier adds to the others (see the next test): the blend is
    # the classifier's ranking, no longer a mix that swings with the holdout draw.
    precision = evaluation.table["segment_precision"]
    recall = evaluation.table["segment_recall"]
    for size in SIZES:
        blend = precision.loc["blend", size]
        assert blend >= precision.loc["classifier", size], (size, precision)
        for method in ("similarity", "graph"):
            assert blend > precision.loc[method, size], (method, size, precision)
        assert blend > 5 * precision.loc["random", size]
        assert recall.loc["blend", size] > 3 * recall.loc["random", size]


def test_methods_get_weight_only_when_they_add(model):
    # Chat groups form on place, age and interests, not on the segment. The similarity space
    # adds nothing the classifier does not see: dropped, weight 0. With every seed held out
    # once (430 here), being in a chat group at all does add a little (p 6e-7 on this world,
    # kept on worlds 3-5 of 0-5): it is kept with small weights, and against the planted segment
    # the blend's precision is the classifier's +-0.02 at 1 % and 0.001-0.011 above it at 5 %
    # and 10 % (worlds 3-5). With ~86 held-out seeds the test had no power to see it.
    blend = model._blend
    assert blend["kept"][0] == "classifier" and "similarity" not in blend["kept"]
    assert blend["pvalues"]["similarity"] > 0.05 and model.weights_["similarity"] == 0
    if "graph" in blend["kept"]:
        assert blend["pvalues"]["graph"] < 0.05
        assert 0 <= model.weights_["graph"] < 0.2 * model.weights_["classifier"]
        assert 0 < model.weights_["graph_known"] < 0.5 * model.weights_["classifier"]
    else:
        assert model.weights_["graph"] == 0 and model.weights_["graph_known"] == 0
    # The ranking is the blend's: the calibrated score never increases down the order.
    assert (np.diff(model.scores_["score"].to_numpy()[model.order_]) <= 1e-12).all()


def test_selection_drops_a_useless_method_whatever_the_holdout_draw():
    from targeting.models.lookalike.stack import fit_stack

    # A useful method, a useless one and a graph-like pair (score, in-a-group offset) that
    # carry no signal: over 20 holdout draws the useful method is always kept with a positive
    # weight, and a useless one is kept about as often as a 5 % test errs (here 2 of 40).
    rng = np.random.default_rng(0)
    names = ["classifier", "similarity", "graph", "graph_known"]
    useless_kept = 0
    for _ in range(20):
        known_h, known_r = rng.random(90) < 0.6, rng.random(20_000) < 0.6
        Zh = np.column_stack([rng.normal(2.0, 1, 90), rng.normal(0, 1, 90),
                              np.where(known_h, rng.normal(0, 1, 90), 0), known_h])
        Zr = np.column_stack([rng.normal(0, 1, 20_000), rng.normal(0, 1, 20_000),
                              np.where(known_r, rng.normal(0, 1, 20_000), 0), known_r])
        stack = fit_stack(Zh, Zr, names)
        assert "classifier" in stack["kept"] and stack["weights"][0] > 0
        useless_kept += len(stack["kept"]) - 1
        if "graph" not in stack["kept"]:
            assert stack["weights"][2] == 0 and stack["weights"][3] == 0
    assert useless_kept <= 5


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_blend_matches_or_beats_each_method_on_default_worlds(seed):
    # At least the classifier everywhere (on world 1 the blend equals it at 1 %: 0.968 both),
    # above the similarity and graph methods.
    world = tg.demo_world(random_state=seed)
    seeds = tg.segment_seed(world, size=0.4)
    model = tg.LookalikeModel(progress=False).fit(world.tables, seeds, world.as_of)
    precision = tg.evaluate(model, world).table["segment_precision"]
    for size in SIZES:
        assert precision.loc["blend", size] >= precision.loc["classifier", size], size
        for method in ("similarity", "graph"):
            assert precision.loc["blend", size] > precision.loc[method, size], (method, size)


def test_heldout_seeds_are_found_far_above_chance(evaluation):
    lift = evaluation.table["lift"]
    assert (lift.loc["blend"] > 4).all()
    assert np.allclose(lift.loc["random"], 1.0)
    # The blend's own recall is cross-fitted (its weights never saw the seed they rank), so
    # it is honest but noisy on ~40 seeds per fold: close to the best method, not above it.
    for size, margin in zip(SIZES, (0.6, 0.9, 0.9), strict=True):
        best = lift.loc[["classifier", "similarity", "graph"], size].max()
        assert lift.loc["blend", size] > margin * best


def test_audience_buys_more_than_a_random_audience(evaluation):
    rate = evaluation.table["purchase_rate"]
    assert (rate.loc["blend"] > 2 * rate.loc["random"]).all()


def test_calibrated_score_estimates_the_segment(model, world):
    from targeting.evaluation.audience import reliability_curve

    segment = world.truth["segment"].reindex(model.user_ids_).to_numpy()
    score = model.scores_["score"].to_numpy()
    unlabeled = ~model.is_seed_
    assert 0 <= score.min() and score.max() <= 1
    top, rest = score[unlabeled] > 0.5, score[unlabeled] < 0.1
    assert segment[unlabeled][top].mean() > 5 * segment[unlabeled][rest].mean()
    # Estimated share of the segment outside the seed against the truth, measured on 20,000-user
    # worlds 0-5 with the seed cross-fitted (430 held-out seeds read c at 0.35-0.41 against a
    # true 0.40): 0.94, 1.18, 0.89, 0.96 (this world), 0.88, 1.01 (mean 0.98, sd 0.11): the
    # issue's +-25 % holds on all six. With one fifth held out it was 0.84 +- 0.12 (c from
    # ~86 seeds, and the refit's scale shift: -4 to -9 %), and Elkan & Noto's mean over
    # held-out seeds gave about 2x (0.0665 against 0.033 before the chat-group change).
    share = model.seed_report_.estimated_share
    true = segment[unlabeled].mean()
    assert 0.75 * true < share < 1.25 * true
    curve = reliability_curve(model, world)
    assert curve.estimated_share == pytest.approx(share)
    assert curve.table.users.sum() == unlabeled.sum()
    # Per score bin from 0.02 up (>= 100 users), segment share / mean score, worlds 0-5:
    # 0.55 to 1.65 (this world 0.81 to 1.42); 0.73 to 1.93 before cross-fitting, and 0.27 for
    # 0.05-0.10 with Elkan & Noto's constant.
    bins = curve.table[(curve.table.low >= 0.02) & (curve.table.users >= 100)]
    assert len(bins) >= 4
    ratio = bins.segment_share / bins.mean_score
    assert ratio.between(0.5, 2.0).all(), curve.table
    assert curve.table.segment_share.is_monotonic_increasing
    assert curve.plot().axes and "<table" in curve._repr_html_()


@pytest.mark.slow
def test_calibrated_share_is_within_a_quarter_of_the_truth_on_six_worlds():
    # The claim, on every world the README quotes (20,000 users, seeds 0-5). Before the
    # seed was cross-fitted world 5 read 0.68 and world 1 1.18 of the truth; now 0.88 to 1.18.
    for seed in range(6):
        world = tg.demo_world(n_users=20_000, random_state=seed)
        model = tg.LookalikeModel(progress=False).fit(
            world.tables, tg.segment_seed(world, size=0.4), world.as_of)
        segment = world.truth["segment"].reindex(model.user_ids_).to_numpy()
        true = segment[~model.is_seed_].mean()
        assert 0.75 * true < model.seed_report_.estimated_share < 1.25 * true, seed


# -- audience controls -------------------------------------------------------------------------
def test_sizes_are_nested_and_requests_deterministic(model):
    one, two = model.expand(size=0.01), model.expand(size=0.02)
    assert len(one) == 200 and len(two) == 400
    assert set(one.user_ids) <= set(two.user_ids)
    assert one.user_ids.tolist() == two.top(200).user_ids.tolist()
    assert model.expand(size=0.01).table.equals(one.table)
    assert (np.diff(two.table.score) <= 0).all() and two.table["rank"].tolist()[:3] == [1, 2, 3]


def test_seeds_excluded_by_default(model):
    seeds = set(model.user_ids_[model.is_seed_])
    assert not seeds & set(model.expand(size=0.1).user_ids)
    with_seeds = model.expand(size=0.1, include_seeds=True)
    assert len(seeds & set(with_seeds.user_ids)) > 0.5 * len(seeds)


def test_constraints_and_exclusions(model, world):
    users = world.tables["users"].set_index("user_id")
    aud = model.expand(size=500, where={"city_tier": [3, 4, 5], "age_band": ["25-34"]})
    assert len(aud) == 500
    assert users.loc[aud.user_ids, "city_tier"].isin([3, 4, 5]).all()
    assert (users.loc[aud.user_ids, "age_band"] == "25-34").all()
    first = model.expand(size=300)
    other = model.expand(size=300, exclude=first)
    assert not set(first.user_ids) & set(other.user_ids)
    no_buyers = model.expand(size=300, exclude_buyers="baby")
    assert not model.buyers_.loc[no_buyers.user_ids, "baby"].any()
    assert model.buyers_.loc[first.user_ids, "baby"].any()  # the exclusion did something
    crm, identity = world.tables["crm"], world.tables["identity"]
    refused = identity.loc[identity.member_id.isin(crm.member_id[~crm.consent]), "user_id"]
    everyone = model.expand(size=0.85)
    assert not set(refused) & set(everyone.user_ids)
    assert set(refused) & set(model.expand(size=0.85, exclude_nonconsenting=False).user_ids)


def test_threshold_locked_audience(model):
    aud = model.expand(threshold=0.5)
    scores = model.scores_["score"]
    eligible = scores[~model.is_seed_ & model.consent_]
    assert len(aud) == int((eligible >= 0.5).sum()) > 0
    assert (aud.table.score >= 0.5).all()


def test_audience_result_explains_itself(model):
    aud = model.expand(size=0.05)
    assert (aud.table.reasons.str.len() > 0).mean() > 0.95
    by_graph = model.expand(size=0.05, method="graph")
    assert by_graph.table.reasons.str.contains("seed").any()  # chat-group ties
    curve = aud.reach_curve()
    assert (np.diff(curve.min_score) <= 1e-12).all()
    assert (np.diff(curve.heldout_recall) >= -1e-12).all()
    comp = aud.composition()
    sums = comp.groupby(level="attribute").sum()
    assert np.allclose(sums.to_numpy(), 1.0)
    # The planted segment lives mostly in lower-tier cities: the audience follows the seed.
    tiers = comp.loc["city_tier"]
    lower = tiers.drop(["1", "2"]).sum()
    assert lower["audience"] > lower["universe"]
    assert "Audience" in aud._repr_html_() and "<table" in aud._repr_html_()
    assert aud.plot().axes and model.seed_report_._repr_html_().startswith("<div>")


def test_seed_report_counts_silos_and_homogeneity(model):
    report = model.seed_report_
    assert report.n_matched == model.is_seed_.sum() and report.n_unknown == 0
    assert report.silos["profile"] == report.n_matched
    for silo in ("social", "purchase", "groups"):
        assert 0 < report.silos[silo] < report.n_matched
    assert 0.05 < report.homogeneity < 0.9
    assert set(report.weights) >= {"classifier", "similarity", "graph"}


# -- bad input -----------------------------------------------------------------------------------
def test_unknown_seeds_are_reported_not_dropped_silently(small_world):
    seeds = list(tg.segment_seed(small_world, size=0.6)) + [-1, -2, 999]
    model = tg.LookalikeModel("similarity", progress=False).fit(small_world.tables, seeds,
                                                                 small_world.as_of)
    assert sorted(model.seed_report_.unknown) == [-2, -1, 999]
    assert "unknown to every silo" in model.seed_report_._repr_html_()


@pytest.mark.parametrize("seeds, message", [
    ([], "seed too small: 0 of 0"),
    ([-1, -2, -3], "seed too small: 0 of 3 .*3 unknown to every silo"),
])
def test_empty_or_unknown_seeds_raise(small_world, seeds, message):
    with pytest.raises(ValueError, match=message):
        tg.LookalikeModel(progress=False).fit(small_world.tables, seeds, small_world.as_of)


def test_tiny_seed_raises_with_the_minimum(small_world):
    seeds = tg.segment_seed(small_world, size=60)
    with pytest.raises(ValueError, match="at least 100 are needed"):
        tg.LookalikeModel(progress=False).fit(small_world.tables, seeds, small_world.as_of)


def test_bad_sizes_raise(small):
    n = len(small.user_ids_)
    with pytest.raises(ValueError, match="larger than the .* eligible users"):
        small.expand(size=n + 1)
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        small.expand(size=1.5)
    with pytest.raises(ValueError, match="at least one user"):
        small.expand(size=0)
    with pytest.raises(ValueError, match="exactly one of size"):
        small.expand(size=10, threshold=0.5)
    with pytest.raises(ValueError, match="unknown key"):
        small.expand(size=10, where={"income": [1]})


@pytest.mark.parametrize("params, message", [
    ({"max_full_scores": 10}, "max_full_scores must be None or an int of at least 1,000"),
    ({"refit": "sometimes"}, "refit must be True, False or 'auto'"),
    ({"method": "knn"}, "method must be 'blend' or one of"),
])
def test_bad_parameters_raise_before_any_work(small_world, params, message):
    seeds = tg.segment_seed(small_world, size=0.6)
    with pytest.raises(ValueError, match=message):
        tg.LookalikeModel(progress=False, **params).fit(small_world.tables, seeds,
                                                        small_world.as_of)


# -- seeds with values and dates ----------------------------------------------------------------
def test_value_weighted_seeds_pull_the_audience_towards_valuable_seeds(small_world):
    users = small_world.tables["users"].set_index("user_id")
    seeds = pd.DataFrame({"user_id": tg.segment_seed(small_world, size=0.8)})
    seeds["value"] = np.where(users.loc[seeds.user_id, "city_tier"].to_numpy() <= 2, 20.0, 1.0)
    plain = tg.LookalikeModel("similarity", progress=False).fit(
        small_world.tables, seeds.user_id, small_world.as_of)
    valued = tg.LookalikeModel("similarity", value_column="value", progress=False).fit(
        small_world.tables, seeds, small_world.as_of)
    share = [users.loc[m.expand(size=0.05).user_ids, "city_tier"].le(2).mean()
             for m in (plain, valued)]
    assert share[1] > share[0] + 0.05


def test_dated_seeds_hold_out_the_latest(small_world):
    ids = tg.segment_seed(small_world, size=0.8)
    seeds = pd.DataFrame({"user_id": ids,
                          "joined": pd.date_range("2026-01-01", periods=len(ids), freq="D")})
    model = tg.LookalikeModel("similarity", date_column="joined", progress=False).fit(
        small_world.tables, seeds.sample(frac=1, random_state=1), small_world.as_of)
    assert model.seed_report_.n_holdout == round(0.2 * len(ids))
    # Shuffled input, same model: the order seeds arrive in does not matter.
    again = tg.LookalikeModel("similarity", date_column="joined", progress=False).fit(
        small_world.tables, seeds, small_world.as_of)
    assert again.expand(size=100).user_ids.tolist() == model.expand(size=100).user_ids.tolist()


# -- export ------------------------------------------------------------------------------------
def test_export_writes_salted_hashes_only(small, tmp_path):
    aud = small.expand(size=200)
    receipt = aud.export(tmp_path / "aud.csv", salt="s3cret-salt")
    out = pd.read_csv(tmp_path / "aud.csv")
    assert list(out.columns) == ["hashed_id", "rank"] and len(out) == 200
    assert receipt["size"] == 200
    assert out.hashed_id.tolist() == hash_ids(aud.user_ids, "s3cret-salt").tolist()
    assert out.hashed_id.str.fullmatch("[0-9a-f]{64}").all()
    text = (tmp_path / "aud.csv").read_text()
    assert not any(str(u) in text for u in aud.user_ids)
    other = hash_ids(aud.user_ids, "another-salt")
    assert not set(other) & set(out.hashed_id)
    aud.export(tmp_path / "aud.parquet", salt="s3cret-salt")
    assert pd.read_parquet(tmp_path / "aud.parquet").equals(out)


def test_export_refuses_small_audiences_and_weak_salts(small, tmp_path):
    with pytest.raises(ValueError, match="too small to export"):
        small.expand(size=99).export(tmp_path / "a.csv", salt="s3cret-salt")
    with pytest.raises(ValueError, match="at least 8 characters"):
        small.expand(size=200).export(tmp_path / "a.csv", salt="abc")
    assert small.expand(size=123).reported_size == 120


# -- issue 18: privacy floors, value-weighted seeds -------------------------------------------
def test_privacy_floors_can_be_raised_not_lowered(small, small_world, tmp_path, monkeypatch):
    from targeting.privacy import PrivacyFloorError

    with pytest.raises(PrivacyFloorError, match="below the organisation's floor of 100"):
        small.expand(size=20).export(tmp_path / "a.csv", salt="s3cret-salt", min_size=20)
    with pytest.raises(PrivacyFloorError, match="min_export_size=1 is below"):
        small.expand(size=150).export(tmp_path / "a.csv", salt="s3cret-salt", min_size=1)
    with pytest.raises(ValueError, match="too small to export: fewer than 200"):
        small.expand(size=150).export(tmp_path / "a.csv", salt="s3cret-salt", min_size=200)
    seeds = tg.segment_seed(small_world, size=0.6)
    with pytest.raises(PrivacyFloorError, match="min_seed_size=20 is below"):
        tg.LookalikeModel(progress=False, min_seed_size=20).fit(small_world.tables, seeds,
                                                                small_world.as_of)
    # The organisation raises its floor: the default follows, and a parameter cannot undercut it.
    monkeypatch.setenv("TARGETING_MIN_EXPORT_SIZE", "500")
    with pytest.raises(ValueError, match="fewer than 500"):
        small.expand(size=300).export(tmp_path / "a.csv", salt="s3cret-salt")
    with pytest.raises(PrivacyFloorError, match="floor of 500"):
        small.expand(size=300).export(tmp_path / "a.csv", salt="s3cret-salt", min_size=100)


def test_counts_round_half_up_and_logged_shares_do_not_reveal_exact_sizes(small):
    assert [round_count(n) for n in (4, 5, 15, 25, 994, 995, 1249, 1250)] == \
        [0, 10, 20, 30, 990, 1000, 1200, 1300]
    aud = small.expand(size=123)
    summary = aud.summary()["value"]
    # 123 users: the logged share gives back the rounded 120, never 123.
    assert summary["audience_share"] * len(small.user_ids_) == pytest.approx(120, abs=0.5)
    assert summary["audience_lower_tier_share"] == round(summary["audience_lower_tier_share"], 2)


def test_value_weighted_seeds_need_enough_seeds_carrying_value(small_world):
    ids = tg.segment_seed(small_world, size=0.6)
    seeds = pd.DataFrame({"user_id": ids, "value": np.r_[np.full(5, 100.0),
                                                           np.zeros(len(ids) - 5)]})
    assert len(ids) >= 100
    with pytest.raises(ValueError, match="only 5 of .* matched seeds carry a value"):
        tg.LookalikeModel(value_column="value", progress=False).fit(small_world.tables, seeds,
                                                                     small_world.as_of)


def test_the_graph_weighs_seeds_by_their_value(small_world):
    # Ten seeds carry most of the value: users in their chat groups rise in the graph's ranking.
    ids = tg.segment_seed(small_world, size=0.6)
    seeds = pd.DataFrame({"user_id": ids, "value": np.r_[np.full(10, 50.0),
                                                           np.ones(len(ids) - 10)]})
    fit = {"progress": False, "refit": False}
    plain = tg.LookalikeModel("graph", **fit).fit(small_world.tables, seeds.user_id,
                                                  small_world.as_of)
    valued = tg.LookalikeModel("graph", value_column="value", **fit).fit(
        small_world.tables, seeds, small_world.as_of)
    rows = np.flatnonzero(np.isin(valued.user_ids_, ids[:10]))
    heavy = np.zeros(len(valued.user_ids_), dtype=bool)
    heavy[rows] = True
    near = valued._graph.ties(np.arange(len(heavy)), heavy) > 0
    near &= ~valued.is_seed_
    assert near.sum() > 50
    shift = valued.scores_["graph"][near].mean() - plain.scores_["graph"][near].mean()
    assert shift > 0.5


# -- MLflow and score() ------------------------------------------------------------------------
def test_logged_expansion_scores_any_user_and_logs_no_ids(mlflow_store, small, small_world,
                                                          tmp_path):
    aud = small.expand(size=0.05)
    evaluation = tg.evaluate(small, small_world)
    logged = log_lookalike(small, aud, evaluation, experiment="test")
    run = mlflow.get_run(logged.run_id)
    assert run.data.tags["model_kind"] == "lookalike"
    assert run.data.metrics["seed_matched"] % 10 == 0
    assert "heldout_recall_blend_5pct" in run.data.metrics
    folder = mlflow.artifacts.download_artifacts(run_id=logged.run_id, dst_path=str(tmp_path))
    ids = {str(u) for u in small.user_ids_}
    for path in __import__("pathlib").Path(folder).rglob("*"):
        if path.suffix in (".csv", ".json", ".txt", ".yaml", ".MLmodel", "") and path.is_file():
            words = set(path.read_text(errors="ignore").replace(",", " ").split())
            assert not words & ids, path
    features = small.pipeline_.transform(small_world.tables, small_world.as_of)
    out = tg.score(features, f"models:/lookalike/{logged.version}")
    assert out.user_id.tolist() == features.index.tolist()
    served = mlflow.pyfunc.load_model(logged.model_uri).predict(features.reset_index())
    pd.testing.assert_frame_equal(served, out)  # the pyfunc returns score()'s frame
    np.testing.assert_allclose(out.score, small.score_matrix(small.pipeline_.to_matrix(features)))
    segment = small_world.truth["segment"].reindex(out.user_id).to_numpy()
    assert out.score[segment].mean() > 3 * out.score[~segment].mean()
    assert set(out.decile) <= set(range(1, 11))
    loaded = json.loads(json.dumps(run.data.params))
    assert loaded["methods"] == "classifier+similarity+graph"


# -- issue 18: held-out recall, out-of-bag scores, evaluation of deliverable users ----------------
def test_percentiles_are_shares_of_the_whole_reference_users_without_groups_at_the_bottom():
    from targeting.models.lookalike.ranks import percentile_of, reference_quantiles

    reference = np.r_[np.full(500, np.nan), np.arange(500.0)]  # half of it in no chat group
    q = reference_quantiles(reference)
    assert percentile_of(np.array([499.0]), q)[0] == pytest.approx(1.0, abs=0.002)
    assert percentile_of(np.array([250.0]), q)[0] == pytest.approx(0.75, abs=0.002)
    assert percentile_of(np.array([np.nan]), q)[0] == pytest.approx(0.25, abs=0.002)
    # Without NaN nothing changes: linear quantiles of the scores.
    np.testing.assert_allclose(reference_quantiles(np.arange(500.0)), np.quantile(np.arange(500.0),
                                                                          np.linspace(0, 1, 2001)))


def test_every_unlabeled_user_has_a_bag_that_did_not_train_on_it():
    from targeting.models.lookalike.pu import BaggedPU

    # A small universe: the 5,000 negatives per bag are most of it (the case that broke).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6_000, 4))
    seeds = np.flatnonzero(X[:, 0] > 2.0)
    pu = BaggedPU(n_bags=4, n_estimators=5).fit(X, seeds)
    unlabeled = np.setdiff1d(np.arange(len(X)), seeds)
    in_every_bag = np.all([np.isin(unlabeled, neg) for neg in pu.in_bag_], axis=0)
    assert not in_every_bag.any()
    assert min(len(neg) for neg in pu.in_bag_) > 3_000
    with pytest.raises(ValueError, match="n_bags must be an int of at least 2"):
        BaggedPU(n_bags=1).fit(X, seeds)


def test_evaluation_counts_only_users_expand_would_deliver(model, world, evaluation):
    segment = world.truth["segment"]
    table = evaluation.table["segment_precision"]
    for size in SIZES:
        delivered = model.expand(size=size).user_ids
        assert table.loc["blend", size] == pytest.approx(
            segment.loc[delivered].mean())


def test_reasons_explain_the_score_that_ranked_the_user(model):
    from targeting.models.lookalike.audience import _classifier_reasons

    # The blend weighs only the classifier here: its reasons are the classifier's largest
    # contributions, not the similarity space's (weight 0) nor chat-group ties (weight 0).
    aud = model.expand(size=300)
    rows = model.order_[~model.is_seed_[model.order_] & model.consent_[model.order_]][:300]
    expected = ["; ".join(r) for r in _classifier_reasons(model, rows, 3)]
    assert aud.table.reasons.tolist() == expected
    similarity = ["; ".join(r) for r in model.space_.reasons(model._z(rows), 3)]
    assert np.mean([a != b for a, b in zip(expected, similarity, strict=True)]) > 0.5
    assert not aud.table.reasons.str.contains("seed").any()
    # Ranked by one method, explained by that method.
    sim = model.expand(size=300, method="similarity")
    rows = np.searchsorted(model.user_ids_, sim.user_ids)
    assert sim.table.reasons.tolist() == ["; ".join(r) for r in
                                          model.space_.reasons(model._z(rows), 3)]
