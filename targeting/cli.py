"""Command line: ``targeting demo | train | score | init-mapping | ui | run | promote | loop``.

Data errors (the package's own :class:`~targeting.data.schema.TargetingError`) are printed
as a list with a hint and exit with code 2, without a traceback (``--debug`` shows one).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
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
    from targeting.tracking import log_propensity

    started = time.perf_counter()
    bar = tqdm(total=len(DEMO_STEPS), desc="demo", disable=not progress)
    results: dict = {}

    def step(name):
        bar.set_postfix_str(name)

    step(DEMO_STEPS[0])
    world = tg.demo_world(n_users=n_users, random_state=random_state)
    bar.update()
    evaluations = {}
    models = {}
    for label, builders in (("fused", tg.FeaturePipeline().builders),
                            ("social-only", ("profile", "social", "graph")),
                            ("purchase-only", ("profile", "purchase", "crm"))):
        step(f"{label} model")
        model = tg.PropensityModel(category, builders=builders, progress=False)
        models[label] = model = runner.fit(model, world.tables, world.as_of)
        evaluations[label] = tg.evaluate(model, world)
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
    scored = runner.score(world.tables, "models:/propensity@champion", world.as_of)
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
    results.update(_demo_uplift(world, experiment))
    bar.update()
    step(DEMO_STEPS[8])
    results.update(_demo_lookalike(world, experiment, uplift=results.pop("_uplift", None)))
    bar.update()
    step(DEMO_STEPS[9])
    from targeting.evaluation.community import community_summary

    fused_model = models["fused"]
    pool = fused_model.features(world.tables, world.as_of)
    results["community"] = community_summary(world, propensity=pd.Series(
        fused_model.predict_proba(pool)[:, 1], index=pool.index))
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


def _demo_uplift(world, experiment: str) -> dict:
    """Campaign readout, the five uplift learners against the oracle, and a budgeted plan
    (the best learner fitted on half the campaign, planning for the other half)."""
    import numpy as np

    import targeting as tg
    from targeting.tracking import log_uplift

    report = tg.campaign_report(world.tables, world.campaign_id,
                                allocation=world.campaign_allocation)
    data = tg.campaign_dataset(world.tables, world.campaign_id)
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


def _demo_lookalike(world, experiment: str, seed_fraction: float = 0.4,
                    size: float = 0.05, uplift=None) -> dict:
    """A seed drawn from the planted segment, the blended lookalike model, a 5 % audience,
    its evaluation against the truth and an MLflow run (no identifiers logged)."""
    import targeting as tg
    from targeting.tracking import log_lookalike

    segment = int(world.truth["segment"].sum())
    # Small demo worlds have small segments: take enough of it to pass the minimum seed size.
    n_seeds = min(segment, max(int(seed_fraction * segment), 120))
    seeds = tg.segment_seed(world, size=n_seeds)
    model = tg.LookalikeModel().fit(world.tables, seeds, world.as_of)
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
            name: persuadable_share(ids, model, pipeline, world.tables, as_of,
                                    truth=world.truth["uplift"])
            for name, ids in (("audience", audience.user_ids),
                              ("universe", everyone))}
    return {"lookalike": summary}


def _print_demo(summary: dict) -> None:
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
          f"({'now champion' if s['champion'] else 'champion unchanged'}: "
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
    if "expected_low" in plan.columns:
        row = plan.loc["uplift"]
        print(f"  expected (calibrated out of fold): {row.expected_incremental:.0f} "
              f"[{row.expected_low:.0f}, {row.expected_high:.0f}] incremental conversions")


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


def _read_tables(folder: str, mapping: str | None = None) -> dict[str, pd.DataFrame]:
    """Contract tables from a folder, or one transaction log with a mapping file."""
    from targeting.data.io import read_tables

    return read_tables(folder, mapping)


def _positive_int(text: str) -> int:
    """argparse type: a whole number of days, at least 1 (argparse then says what is wrong)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 day, got {value}")
    return value


_DATA_HELP = ("a folder of <table>.parquet/.csv files named after the contracts, or one "
              "CSV/Parquet transaction log (then give --mapping)")


def _add_data_arguments(parser, *, training: bool) -> None:
    parser.add_argument("--data", required=True, help=_DATA_HELP)
    parser.add_argument("--mapping", default=None,
                        help="TOML file naming the log's columns (targeting init-mapping FILE "
                             "writes a template)")
    if training:
        parser.add_argument("--category", default="beauty",
                            help="product category to predict, or 'any' for any purchase")
        parser.add_argument("--horizon-days", type=_positive_int, default=30,
                            help="days after each snapshot in which a purchase counts")
        parser.add_argument("--lookback-days", type=_positive_int, default=None,
                            help="cut the history features read at this many days (default: "
                                 "the whole history)")
        parser.add_argument("--snapshot-every-days", type=_positive_int, default=None,
                            help="days between training snapshots (default: half the horizon, "
                                 "7 to 30)")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the package's own errors print without a traceback (exit 2)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    from targeting.data.schema import TargetingError

    try:
        return _main(argv)
    except TargetingError as err:
        if debug:
            raise
        print(f"targeting: error: {err}", file=sys.stderr)
        print("(run again with --debug for a traceback)", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="targeting", description=__doc__,
                                     epilog="--debug anywhere shows tracebacks of data errors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="end-to-end journey on the demo world")
    demo.add_argument("--users", type=int, default=50_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--category", default="beauty")
    demo.add_argument("--no-progress", action="store_true")
    demo.add_argument("--engine", choices=("local", "dask"), default="local",
                      help="run on this machine or on a Dask cluster")
    demo.add_argument("--workers", type=int, default=2, help="Dask LocalCluster workers")
    demo.add_argument("--scheduler", default=None,
                      help="address of an existing Dask scheduler (instead of a LocalCluster)")

    train = sub.add_parser(
        "train", help="train, log and register a propensity model",
        description="Fit on snapshots before AS_OF - HORIZON, evaluate on the holdout window "
                    "[AS_OF - HORIZON, AS_OF) beside the classic baselines, log and register; "
                    "the model becomes champion only if it beats every baseline and the "
                    "current champion.")
    _add_data_arguments(train, training=True)
    train.add_argument("--as-of", default=None,
                       help="end of the data to use (ISO date; default: just after the last "
                            "record)")
    train.add_argument("--register-as", default="propensity")
    train.add_argument("--champion-metric", default=None,
                       help="crown by this evaluation metric (e.g. auc) when the current "
                            "champion predicts another category or horizon")

    score = sub.add_parser("score", help="score users with a registered model")
    score.add_argument("--data", required=True, help=_DATA_HELP)
    score.add_argument("--mapping", default=None, help="TOML mapping for a single log")
    score.add_argument("--model", default="models:/propensity@champion")
    score.add_argument("--as-of", default=None)
    score.add_argument("--out", required=True, help="output .parquet or .csv")
    score.add_argument("--reasons", type=int, default=0, help="add the top N reasons per user")
    score.add_argument("--drift", action="store_true",
                       help="measure drift against the training data and log it to MLflow")

    init = sub.add_parser("init-mapping", help="print a commented column mapping (TOML) for a "
                                               "transaction log, guessed from its header")
    init.add_argument("file", help="the CSV or Parquet log")

    ui = sub.add_parser("ui", help="open the MLflow UI on the same store")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--host", default="127.0.0.1")
    _add_review_commands(sub)
    _add_loop_command(sub)
    args = parser.parse_args(argv)
    return _COMMANDS[args.command](args)


def _cmd_demo(args) -> int:
    _print_demo(run_demo(args.users, args.seed, args.category, progress=not args.no_progress,
                         engine=args.engine, workers=args.workers, scheduler=args.scheduler))
    return 0


def _cmd_train(args) -> int:
    import targeting as tg
    from targeting.data.dates import parse_as_of
    from targeting.tracking import check_store, log_propensity

    check_store()  # seconds, before minutes of fitting
    tables = _read_tables(args.data, args.mapping)
    as_of = parse_as_of(args.as_of, tables)
    holdout = as_of - pd.Timedelta(days=args.horizon_days)
    category = None if args.category in ("any", "all") else args.category
    model = tg.PropensityModel(category, horizon_days=args.horizon_days,
                               lookback_days=args.lookback_days,
                               snapshot_every_days=args.snapshot_every_days)
    model.fit(tables, holdout)
    evaluation = tg.evaluate(model, tables, holdout)
    logged = log_propensity(model, evaluation, tables, register_as=args.register_as,
                            champion_metric=args.champion_metric)
    print(f"Holdout window {holdout.date()} to {as_of.date()} ({args.horizon_days} days), "
          f"{evaluation.metrics['positive_rate']:.1%} bought:")
    print(evaluation.table[["auc", "lift_at_5pct"]].round(3).to_string())
    for note in evaluation.notes:
        print(f"note: {note}")
    print(f"run {logged.run_id}: registered {logged.name} v{logged.version}; "
          f"{'now champion' if logged.is_champion else 'NOT champion'}: {logged.reason}")
    return 0


def _cmd_init_mapping(args) -> int:
    from targeting.data.io import write_mapping_template

    print(write_mapping_template(args.file), end="")
    return 0


def _cmd_score(args) -> int:
    import targeting as tg
    from targeting.data.dates import parse_as_of

    tables = _read_tables(args.data, args.mapping)
    as_of = None if args.as_of is None else parse_as_of(args.as_of, tables)
    out = tg.score(tables, args.model, as_of, reasons=args.reasons, drift=args.drift)
    if args.drift:
        from targeting.review import log_drift

        report = out.attrs["drift"]
        run_id = log_drift(report, model_version=out.attrs.get("model_version")).run_id
        print(f"drift: score PSI {report.score_psi:.4f} ({report.score_level}); "
              f"logged as run {run_id}")
    if args.out.endswith(".csv"):
        out.to_csv(args.out, index=False)
    else:
        out.to_parquet(args.out, index=False)
    print(f"scored {len(out):,} users with {out.attrs.get('model_version')} -> {args.out}")
    return 0


def _cmd_ui(args) -> int:
    import mlflow

    uri = mlflow.get_tracking_uri()
    print(f"MLflow UI on http://127.0.0.1:{args.port} for {uri}")
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--host", args.host, "--port", str(args.port)]
    # MLflow starts its web server by name: make this environment's bin folder visible even
    # when the virtual environment is not activated.
    env = {**os.environ,
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    return subprocess.call(command, env=env)


# -- experiments and the registry (issue 6) ---------------------------------------------------
def _add_review_commands(sub) -> None:
    run = sub.add_parser("run", help="execute an experiment file (TOML), or re-run a logged one")
    run.add_argument("file", nargs="?", help="experiments/<name>.toml")
    run.add_argument("--from-run", default=None, help="re-run the TOML logged with this run id")
    run.add_argument("--no-progress", action="store_true")
    promote = sub.add_parser("promote", help="make a run's model the champion")
    promote.add_argument("model", help="registered model name, e.g. propensity")
    promote.add_argument("--run", required=True, help="the run id whose model to promote")
    promote.add_argument("--reason", default="promoted by hand")
    cleanup = sub.add_parser(
        "cleanup", help="mark runs left RUNNING by killed processes FAILED",
        description="Runs started on this machine by a process that no longer exists, and "
                    "(with --older-than-hours) any run still RUNNING after that long, are "
                    "marked FAILED; their model versions without a champion decision are "
                    "tagged champion_decision=failed.")
    cleanup.add_argument("--older-than-hours", type=float, default=None)
    server = sub.add_parser(
        "server", help="a team tracking server: mlflow server with basic auth",
        description="Start `mlflow server` on a shared backend store (PostgreSQL) with proxied "
                    "artifacts and MLflow's basic-auth app. The first start creates the admin "
                    "user with the password in MLFLOW_AUTH_ADMIN_PASSWORD. Users then set "
                    "MLFLOW_TRACKING_URI=http://HOST:PORT (and MLFLOW_TRACKING_USERNAME/"
                    "MLFLOW_TRACKING_PASSWORD).")
    server.add_argument("--backend-store-uri", required=True,
                        help="e.g. postgresql+psycopg2://mlflow@db-host:5432/mlflow")
    server.add_argument("--artifacts-destination", required=True,
                        help="artifact root: a folder or s3://... (served by the server)")
    server.add_argument("--auth-database-uri", default="sqlite:///basic_auth.db",
                        help="where users and permissions live (a separate database)")
    server.add_argument("--default-permission", default="NO_PERMISSIONS",
                        choices=("NO_PERMISSIONS", "READ", "EDIT", "MANAGE"),
                        help="what users may do with experiments they were not given")
    server.add_argument("--no-auth", action="store_true")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=5000)
    server.add_argument("--workers", type=int, default=2)


def _cmd_run(args) -> int:
    from targeting.experiments import rerun, run_experiment

    if bool(args.file) == bool(args.from_run):
        raise SystemExit("give an experiment file or --from-run RUN_ID (one of them)")
    _check_store_for(args.file)
    progress = not args.no_progress
    result = (rerun(args.from_run, progress=progress) if args.from_run
              else run_experiment(args.file, progress=progress))
    shown = ", ".join(f"{k} {result.metrics[k]:.4f}" for k in ("auc", "lift_at_5pct")
                      if k in result.metrics)
    print(f"run {result.run_id} ({result.name}): {shown}; registered {result.logged.name} "
          f"v{result.logged.version}; {result.logged.reason}")
    return 0


def _check_store_for(file: str | None) -> None:
    """Fail fast (seconds) if the experiment file's MLflow experiment cannot be written."""
    import tomllib

    from targeting.tracking import check_store

    experiment = None
    if file and os.path.exists(file):
        with open(file, "rb") as handle:
            config = tomllib.load(handle)
        experiment = config.get("experiment", {}).get("mlflow_experiment", "targeting")
    check_store(experiment=experiment)


def _cmd_cleanup(args) -> int:
    from targeting.tracking import check_store, cleanup_runs

    check_store(experiment=None)
    hours = args.older_than_hours
    marked = cleanup_runs(older_than_s=None if hours is None else hours * 3600)
    print(f"marked {len(marked)} abandoned run(s) FAILED" + "".join(f"\n  {r}" for r in marked))
    return 0


def _cmd_server(args) -> int:
    import tempfile

    from targeting.server import server_command, server_env, write_auth_config

    config = None
    if not args.no_auth:
        config = write_auth_config(
            os.path.join(tempfile.mkdtemp(prefix="targeting-auth-"), "basic_auth.ini"),
            args.auth_database_uri, default_permission=args.default_permission)
    command = server_command(args.backend_store_uri, args.artifacts_destination,
                             host=args.host, port=args.port, auth=not args.no_auth,
                             workers=args.workers)
    print(f"MLflow tracking server on http://{args.host}:{args.port} "
          f"({'basic auth' if config else 'NO auth'}); users set "
          f"MLFLOW_TRACKING_URI=http://{args.host}:{args.port}", flush=True)
    return subprocess.call(command, env=server_env(config))


def _cmd_promote(args) -> int:
    from targeting.review import promote

    print(promote(args.model, args.run, reason=args.reason))
    return 0


_COMMANDS = {"demo": _cmd_demo, "train": _cmd_train, "score": _cmd_score, "ui": _cmd_ui,
             "run": _cmd_run, "promote": _cmd_promote, "init-mapping": _cmd_init_mapping,
             "cleanup": _cmd_cleanup, "server": _cmd_server}


# -- the closed campaign loop (issue 13) --------------------------------------------------------
def _add_loop_command(sub) -> None:
    loop = sub.add_parser("loop", help="run the closed campaign loop on the demo world",
                          description="N waves of plan, send, record and learn on the "
                                      "responsive demo world, against random, propensity, "
                                      "one-shot uplift and the oracle with the same budget")
    loop.add_argument("--waves", type=int, default=5)
    loop.add_argument("--users", type=int, default=50_000)
    loop.add_argument("--seed", type=int, default=0)
    loop.add_argument("--store", default="campaign-loop",
                      help="the loop's folder (an existing one is resumed)")
    loop.add_argument("--experiment", default="targeting-loop")
    loop.add_argument("--no-history", action="store_true",
                      help="ignore the world's past campaign: wave 1 is a randomised pilot and "
                           "the one-shot model is the one fitted on it")
    loop.add_argument("--no-progress", action="store_true")


def _cmd_loop(args) -> int:
    from targeting.loop.simulate import run_demo_loop

    print(run_demo_loop(args.waves, n_users=args.users, random_state=args.seed, store=args.store,
                        experiment=args.experiment, progress=not args.no_progress,
                        history=not args.no_history))
    return 0


_COMMANDS["loop"] = _cmd_loop

if __name__ == "__main__":
    raise SystemExit(main())
