"""The end-to-end journey on the demo world: what ``targeting demo`` runs and prints.

Propensity (fused against single-silo models, beside the oracle and the classic baselines),
logging and registration, scoring, attribution with a randomised holdout, a campaign readout
and uplift learners with a budgeted plan, a lookalike audience and community owners, each
against the world's planted truth and each recorded in MLflow.
"""

from __future__ import annotations

import dataclasses
import time

import pandas as pd
from tqdm.auto import tqdm

DEMO_STEPS = ("demo world", "fused model", "social-only model", "purchase-only model",
              "log and register", "score every user", "attribution", "campaign and uplift",
              "lookalike audience", "community owners")
DEMO_MARGIN = 60.0  # margin of one conversion in the demo's campaign plan (currency units)


def run_demo(n_users: int = 50_000, random_state: int = 0, category: str = "beauty",
             experiment: str = "targeting-demo", progress: bool = True,
             engine: str = "local", workers: int = 2, scheduler: str | None = None) -> dict:
    """The end-to-end journey on the demo world; returns the summary it prints.

    ``engine="dask"`` fits and scores on a Dask cluster (see :mod:`targeting.distributed`).
    """
    from targeting.distributed import engine as make_engine
    from targeting.tracking import check_store

    check_store(experiment=experiment)  # seconds, before minutes of fitting
    with make_engine(engine, workers, scheduler) as runner:
        return _run_demo(n_users, random_state, category, experiment, progress, runner)


def _run_demo(n_users, random_state, category, experiment, progress, runner) -> dict:
    import targeting as tg
    from targeting.features.pipeline import share_feature_builds
    from targeting.tracking import log_propensity

    started = time.perf_counter()
    bar = tqdm(total=len(DEMO_STEPS), desc="demo", disable=not progress)
    results: dict = {}

    def step(name):
        bar.set_postfix_str(name)

    step(DEMO_STEPS[0])
    world = tg.demo_world(n_users=n_users, random_state=random_state)
    # The tables validated once, each silo's features built once per date: the three models,
    # their evaluations, the scoring and the community step read the same frames.
    tables = world.tables if runner.name == "dask" else share_feature_builds(world.tables)
    shared = dataclasses.replace(world, tables=tables)
    bar.update()
    evaluations = {}
    models = {}
    for label, builders in (("fused", tg.FeaturePipeline().builders),
                            ("social-only", ("profile", "social", "graph")),
                            ("purchase-only", ("profile", "purchase", "crm"))):
        step(f"{label} model")
        # The single-silo models are an ablation of inputs, not a choice of learners: one
        # LightGBM each rather than every candidate (the fused model still chooses).
        model = tg.PropensityModel(category, builders=builders, progress=False,
                                   capacity="auto" if label == "fused" else "lightgbm")
        models[label] = model = runner.fit(model, tables, world.as_of)
        # The classic baselines are the fused model's yardstick: computed (and printed) once.
        evaluations[label] = tg.evaluate(model, shared, baselines=label == "fused")
        bar.update()
    step(DEMO_STEPS[4])
    fused = evaluations["fused"]
    logged = log_propensity(
        models["fused"], fused, world.tables, experiment=experiment,
        run_name=f"propensity-{category}-demo",
        params={"demo.n_users": n_users, "demo.random_state": random_state, "engine": runner.name},
        metrics={"auc_social_only": evaluations["social-only"].metrics["auc"],
                       "auc_purchase_only": evaluations["purchase-only"].metrics["auc"]})
    bar.update()
    step(DEMO_STEPS[5])
    scored = runner.score(tables, _scoring_reference(logged), world.as_of)
    bar.update()
    step(DEMO_STEPS[6])
    trips = tg.journeys(world.tables)
    comparison = tg.compare_attribution(
        trips, truth=world.truth["channel_credit"].set_index("channel").share)
    from targeting.data.demo import HOLDOUT_CHANNEL, HOLDOUT_ID
    from targeting.evaluation.incrementality import incrementality
    from targeting.tracking import log_attribution

    lift = incrementality(world.tables, HOLDOUT_ID, HOLDOUT_CHANNEL)
    log_attribution(comparison, experiment=experiment, run_name="attribution-demo",
                    params={"markov_order": 1, "lookback_days": 30},
                    journey_stats=trips.stats())
    bar.update()
    step(DEMO_STEPS[7])
    results.update(_demo_uplift(world, experiment, tables))
    bar.update()
    step(DEMO_STEPS[8])
    results.update(_demo_lookalike(world, experiment, tables,
                                   uplift=results.pop("_uplift", None)))
    bar.update()
    step(DEMO_STEPS[9])
    from targeting.evaluation.community import community_summary

    fused_model = models["fused"]
    pool = fused_model.features(tables, world.as_of)
    results["community"] = community_summary(world, propensity=pd.Series(
        fused_model.predict_proba(pool)[:, 1], index=pool.index), progress=False)
    bar.update()
    bar.close()
    results.update(
        users=n_users, category=category,
        auc=fused.metrics["auc"], oracle_auc=fused.metrics["oracle_auc"],
        auc_social_only=evaluations["social-only"].metrics["auc"],
        auc_purchase_only=evaluations["purchase-only"].metrics["auc"],
        lift_at_5pct=fused.metrics["lift_at_5pct"], run_id=logged.run_id,
        baselines=fused.baselines["auc"].to_dict() if fused.baselines is not None else {},
        registered=f"{logged.name} v{logged.version}", champion=logged.is_champion,
        champion_reason=logged.reason, scored_users=len(scored),
        scored_with=scored.attrs.get("model_version"),
        profile_only_users=int((scored.note != "").sum()),
        attribution_mae=comparison.errors.to_dict(), journeys=len(trips.journeys),
        holdout=(lift.measured, lift.measured_low, lift.measured_high,
                 lift.attributed.to_dict()),
        seconds=time.perf_counter() - started)
    return results


def _demo_uplift(world, experiment: str, tables=None) -> dict:
    """Campaign readout, the five uplift learners against the oracle, and a budgeted plan
    (the best learner fitted on half the campaign, planning for the other half).

    ``tables``: the world's tables, shared as :func:`run_demo` shares them (default: as is)."""
    import numpy as np

    import targeting as tg
    from targeting.tracking import log_uplift

    report = tg.campaign_report(world.tables, world.campaign_id,
                                allocation=world.campaign_allocation)
    data = tg.campaign_dataset(world.tables if tables is None else tables, world.campaign_id)
    truth = world.truth["uplift"]
    comparison = tg.compare_uplift(data, truth=truth, n_bootstrap=50, progress=False)
    half = np.random.default_rng(0).random(len(data)) < 0.5
    model = tg.UpliftModel(comparison.best, categorical_feature=data.categorical_features,
                           progress=False)
    model.fit(data.X[half], data.y[half], data.treatment[half])
    # Calibrated: expectations from out-of-fold rankings on the half the model saw, measured
    # on its randomised outcomes, with intervals (not the model's own sums).
    plan = tg.plan_campaign(model, data.X[~half], budget=0.1 * (~half).sum(),
                            cost_per_contact=1.0, value_per_conversion=DEMO_MARGIN, truth=truth,
                            calibration=(data.X[half], data.y[half], data.treatment[half]))
    logged = log_uplift(comparison, data, experiment=experiment, run_name="uplift-demo",
                        plan=plan)
    effects = report.table
    return {"campaign": {"srm_p": report.srm["p_value"],
                         "effects": effects[["effect", "low", "high"]].to_dict("index"),
                         "true_effects": {a: float(truth[f"uplift_{a}"].mean())
                                          for a in data.arms}},
            "uplift_table": comparison.table, "uplift_best": comparison.best,
            "uplift_registered": f"{logged.name} v{logged.version}",
            "plan": plan.table, "_uplift": (model, data.pipeline, data.as_of)}


def _demo_lookalike(world, experiment: str, tables=None, seed_fraction: float = 0.4,
                    size: float = 0.05, uplift=None) -> dict:
    """A seed drawn from the planted segment, the blended lookalike model, a 5 % audience,
    its evaluation against the truth and an MLflow run (no identifiers logged).

    ``tables``: the world's tables, shared as :func:`run_demo` shares them (default: as is)."""
    import targeting as tg
    from targeting.tracking import log_lookalike

    segment = int(world.truth["segment"].sum())
    # Small demo worlds have small segments: take enough of it to pass the minimum seed size.
    n_seeds = min(segment, max(int(seed_fraction * segment), 120))
    seeds = tg.segment_seed(world, size=n_seeds)
    tables = world.tables if tables is None else tables
    model = tg.LookalikeModel(progress=False).fit(tables, seeds, world.as_of)
    audience = model.expand(size=size)
    evaluation = tg.evaluate(model, world)
    logged = log_lookalike(model, audience, evaluation, experiment=experiment,
                           run_name="lookalike-demo")
    precision = evaluation.table["segment_precision"]
    summary = {"seeds": len(seeds), "audience": len(audience),
               "precision": precision.to_dict("index"),
               "registered": f"{logged.name} v{logged.version}"}
    if uplift is not None:  # similar is not the same as persuadable: the uplift model says
        from targeting.evaluation.audience import persuadable_share

        model, pipeline, as_of = uplift
        everyone = world.tables["identity"].user_id.to_numpy()
        summary["persuadable"] = {
            name: persuadable_share(ids, model, pipeline, tables, as_of,
                                    truth=world.truth["uplift"])
            for name, ids in (("audience", audience.user_ids),
                              ("universe", everyone))}
    return {"lookalike": summary}


def print_demo(summary: dict) -> None:
    """Print what :func:`run_demo` returned, as `targeting demo` shows it."""
    import mlflow

    s = summary
    print(f"\nPropensity to buy {s['category']!r} in the next 30 days "
          f"({s['users']:,} users, demo world)")
    print(f"  AUC fused            {s['auc']:.3f}   (oracle, the true probabilities: "
          f"{s['oracle_auc']:.3f}; gap {s['oracle_auc'] - s['auc']:.3f})")
    print(f"  AUC social only      {s['auc_social_only']:.3f}   "
          f"(fused gains {s['auc'] - s['auc_social_only']:+.3f})")
    print(f"  AUC purchase only    {s['auc_purchase_only']:.3f}   "
          f"(fused gains {s['auc'] - s['auc_purchase_only']:+.3f})")
    print(f"  lift at top 5 %      {s['lift_at_5pct']:.2f}x")
    if s.get("baselines"):
        print("  baselines (AUC)      " + ", ".join(f"{k} {v:.3f}"
                                                  for k, v in s["baselines"].items())
              + f"; the model beats the best by {s['auc'] - max(s['baselines'].values()):+.3f}")
    print(f"  registered           {s['registered']} "
          f"({'now champion' if s['champion'] else 'not champion'}: "
          f"{s['champion_reason']})")
    print(f"  scored               {s['scored_users']:,} users with {s['scored_with']} "
          f"({s['profile_only_users']:,} from profile only)")
    mae = s["attribution_mae"]
    print(f"\nAttribution over {s['journeys']:,} journeys: mean absolute error in channel share "
          "against the true credit")
    print("  " + ", ".join(f"{m} {v:.3f}" for m, v in sorted(mae.items(), key=lambda kv: kv[1])))
    measured, low, high, attributed = s["holdout"]
    print(f"  chat-group holdout: {measured:.0f} incremental conversions measured "
          f"({low:.0f}-{high:.0f}); attributed: "
          + ", ".join(f"{m} {v:.0f}" for m, v in attributed.items()))
    _print_uplift(s)
    _print_lookalike(s["lookalike"])
    from targeting.evaluation.community import community_lines

    print("\n".join(community_lines(s["community"])))
    print(f"\n  runs are in          {mlflow.get_tracking_uri()} (run {s['run_id']})")
    print("  open the UI with     targeting ui")
    print(f"  took                 {s['seconds']:.0f} s")


def _print_uplift(s: dict) -> None:
    c = s["campaign"]
    print(f"\nCampaign readout (sample ratio p = {c['srm_p']:.2f}): effect on conversion, "
          "95 % interval, and the true average uplift")
    for arm, e in c["effects"].items():
        true = c["true_effects"].get(arm)
        truth = f"   true {true * 100:+.2f} pts" if true is not None else ""
        print(f"  {arm:<14} {e['effect'] * 100:+.2f} pts ({e['low'] * 100:+.2f} to "
              f"{e['high'] * 100:+.2f}){truth}")
    table = s["uplift_table"]
    print("Uplift learners, out of fold: Qini of the recommended-arm policy (share of the oracle)")
    for name, row in table.iterrows():
        print(f"  {name:<22} {row.policy_qini:.3f}  ({row.share_of_oracle:.0%})")
    plan = s["plan"]
    print(f"Campaign plan, {plan.loc['uplift', 'contacts']:.0f} contacts: true incremental "
          "conversions " + ", ".join(f"{p} {plan.loc[p, 'true_incremental']:.0f}"
                                      for p in ("uplift", "propensity", "random"))
          + f"; registered {s['uplift_registered']}")
    row = plan.loc["uplift"]
    if pd.notna(row.expected_low):  # calibrated
        print(f"  expected (calibrated out of fold): {row.expected_incremental:.0f} "
              f"[{row.expected_low:.0f}, {row.expected_high:.0f}] incremental conversions, "
              f"profit {row.expected_profit:,.0f} [{row.profit_low:,.0f}, "
              f"{row.profit_high:,.0f}] (true {row.true_profit:,.0f})")


def _print_lookalike(s: dict) -> None:
    print(f"\nLookalike audience from {s['seeds']:,} seeds of the planted segment: "
          f"{s['audience']:,} users; precision on the segment at each audience size")
    for method, row in s["precision"].items():
        print(f"  {method:<12} " + ", ".join(f"{size:.0%} {value:.3f}"
                                             for size, value in row.items()))
    for name, share in s.get("persuadable", {}).items():
        print(f"  {name:<12} predicted uplift {share.mean_predicted_uplift * 100:+.2f} pts, "
              f"truly persuadable {share.true_persuadable:.0%}")
    print(f"  registered           {s['registered']}")


def _scoring_reference(logged) -> str:
    """The champion; without one (this model was not crowned and none was before: a small
    world's margin over the baselines can be within noise), the version just registered."""
    import mlflow

    from targeting.tracking import _champion_version

    if _champion_version(mlflow.MlflowClient(), logged.name) is None:
        return f"models:/{logged.name}/{logged.version}"
    return f"models:/{logged.name}@champion"
