"""The command line: ``targeting COMMAND [options]`` (``targeting COMMAND --help`` for each).

Data errors (the package's own :class:`~targeting.data.schema.TargetingError`) are printed as
a list with a hint and exit with code 2, without a traceback (``--debug`` shows one).
Warnings and log lines of the libraries underneath (MLflow, LightGBM, ...) go to
``targeting.log`` in the working folder, not to the screen; a command that logs a run attaches
that file to it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

DESCRIPTION = """\
Audience targeting and lookalike modelling on a brand's fused social, purchase and CRM data,
tracked in MLflow. `targeting demo` runs the whole journey on the embedded demo world;
`targeting init-mapping LOG > mapping.toml` then `targeting train --data LOG --mapping
mapping.toml` fits and grades a model on a brand's own transaction log.

Runs go to the store MLFLOW_TRACKING_URI names (default: sqlite:///mlflow.db in the working
folder). Library warnings go to targeting.log there.
"""
LOG_FILE = "targeting.log"
# Loggers of the libraries underneath, whose INFO/WARNING lines would bury the results.
_LIBRARY_LOGGERS = ("mlflow", "alembic", "urllib3", "git", "py4j", "distributed", "numba",
                    "optuna", "shap", "matplotlib", "PIL", "lightgbm", "sqlalchemy")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the package's own errors print without a traceback (exit 2)."""
    from targeting.data.schema import TargetingError

    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with _libraries_to_log(Path(LOG_FILE), mlflow=args.command != "init-mapping") as log:
            args.log_file = log
            return _COMMANDS[args.command](args)
    except TargetingError as err:
        if args.debug:
            raise
        print(f"targeting: error: {err}", file=sys.stderr)
        print("(run again with --debug for a traceback)", file=sys.stderr)
        return 2


class _Help(argparse.HelpFormatter):
    """Every option's default in its help (unless the help already says it)."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        if (not action.option_strings or "default" in text
                or action.default in (None, False, argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)"


class _TopHelp(_Help, argparse.RawDescriptionHelpFormatter):
    """The top-level description keeps its list of commands as written."""


def build_parser() -> argparse.ArgumentParser:
    """The ``targeting`` parser with every command (also used to write the CLI reference)."""
    parser = argparse.ArgumentParser(prog="targeting", description=DESCRIPTION,
                                     formatter_class=_TopHelp, parents=[_common(False)])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # After the command too; SUPPRESS keeps a flag given before it from being reset.
    after = _common(argparse.SUPPRESS)

    def command(name: str, help: str, description: str | None = None):
        return sub.add_parser(name, help=help, description=description or help,
                              formatter_class=_Help, parents=[after])

    _add_demo(command)
    _add_init_mapping(command)
    _add_train(command)
    _add_score(command)
    _add_run(command)
    _add_promote(command)
    _add_loop(command)
    _add_ui(command)
    _add_server(command)
    _add_cleanup(command)
    return parser


class _ToLog:
    """A text stream whose lines become records of ``handler`` (MLflow's eprint writes here)."""

    def __init__(self, handler: logging.Handler):
        self.handler = handler

    def write(self, text: str) -> int:
        if text.strip():
            self.handler.emit(logging.LogRecord("mlflow", logging.INFO, "", 0, text.strip(),
                                                None, None))
        return len(text)

    def flush(self) -> None:
        self.handler.flush()


def _common(default) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=default,
                        help="show a traceback on data errors")
    common.add_argument("--no-progress", action="store_true", default=default,
                        help="no progress bars (for logs and CI)")
    return common


def reference_markdown() -> str:
    """The command-line reference page (docs/reference/cli.md is built from it): every
    command's description and its ``--help``, as argparse prints them.

    Examples
    --------
    >>> reference_markdown().splitlines()[0]
    '# Command line'
    """
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parts = ["# Command line", "",
             "Generated from the `targeting` command's own parser: each section is what "
             "`targeting COMMAND --help` prints.", "", "```text", parser.format_help().rstrip(),
             "```"]
    for name, sub in commands.choices.items():
        parts += ["", f"## `targeting {name}`", "", "```text", sub.format_help().rstrip(),
                  "```"]
    return "\n".join(parts) + "\n"


@contextlib.contextmanager
def _libraries_to_log(path: Path, *, mlflow: bool = True) -> Iterator[Path]:
    """Send the libraries' warnings and log records to ``path`` instead of the screen; the
    package's own warnings (said for the user) still reach the screen. ``mlflow``: also MLflow's
    own messages (it is imported here for that; commands that never touch it skip this)."""
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = []
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate))
        logger.handlers, logger.propagate = [handler], False
    if mlflow:
        # MLflow adds its own screen handler when first imported, unless told not to, and
        # prints registry messages through MLFLOW_LOGGING_STREAM.
        os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
        import mlflow.utils.logging_utils as mlflow_logging

        mlflow_stream = mlflow_logging.MLFLOW_LOGGING_STREAM
        mlflow_logging.MLFLOW_LOGGING_STREAM = _ToLog(handler)
    own = str(Path(__file__).resolve().parent)

    def show(message, category, filename, lineno, file=None, line=None):
        if str(Path(filename).resolve()).startswith(own):
            print(f"warning: {message}", file=sys.stderr)
        else:
            handler.emit(logging.LogRecord("py.warnings", logging.WARNING, filename, lineno,
                                           warnings.formatwarning(message, category, filename,
                                                                  lineno, line).rstrip(),
                                           None, None))

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = show
            yield path
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers, logger.propagate = handlers, propagate
        if mlflow:
            mlflow_logging.MLFLOW_LOGGING_STREAM = mlflow_stream
        handler.close()


def _attach_log(run_id: str, log: Path) -> None:
    """The command's library log as an artifact of the run it made (when there is one)."""
    import mlflow

    if log.exists() and log.stat().st_size:
        mlflow.MlflowClient().log_artifact(run_id, str(log))


# -- arguments shared by the data commands -------------------------------------------------------
def _positive_int(text: str) -> int:
    """argparse type: a whole number of days, at least 1 (argparse then says what is wrong)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 day, got {value}")
    return value


_DATA_HELP = ("a folder of <table>.parquet/.csv files named after the contracts, one "
              "CSV/Parquet transaction log (then give --mapping), or a DuckDB database (.duckdb)")


def _add_data_arguments(parser) -> None:
    parser.add_argument("--data", required=True, help=_DATA_HELP)
    parser.add_argument("--mapping", default=None,
                        help="TOML file naming a single log's columns and its returns policy "
                             "(targeting init-mapping FILE > mapping.toml writes one; default: "
                             "none, for a folder of contract tables)")


def _read_tables(path: str, mapping: str | None = None) -> dict[str, pd.DataFrame]:
    from targeting.data.io import read_tables

    return read_tables(path, mapping)


def _category(text: str) -> str | None:
    return None if text in ("any", "all") else text


# -- demo -----------------------------------------------------------------------------------
def _add_demo(command) -> None:
    demo = command("demo", "the end-to-end journey on the embedded demo world (the main job)",
                   "Simulate a brand's world with planted truth, then propensity, attribution, "
                   "uplift, a campaign plan, a lookalike audience and community owners, each "
                   "against the truth and logged in MLflow. About 3,000 users give a quick "
                   "look; the default size is the benchmark.")
    demo.add_argument("--users", type=int, default=50_000, help="users in the demo world")
    demo.add_argument("--seed", type=int, default=0,
                      help="the world's random_state: the same seed gives the same world")
    demo.add_argument("--category", default="beauty",
                      help="product category the propensity model predicts")
    demo.add_argument("--engine", choices=("local", "dask"), default="local",
                      help="fit and score on this machine or on a Dask cluster")
    demo.add_argument("--workers", type=int, default=2, help="Dask LocalCluster workers")
    demo.add_argument("--scheduler", default=None,
                      help="address of an existing Dask scheduler (default: a LocalCluster of "
                           "--workers)")


def _cmd_demo(args) -> int:
    from targeting.demo_journey import print_demo, run_demo

    print_demo(run_demo(args.users, args.seed, args.category, progress=not args.no_progress,
                        engine=args.engine, workers=args.workers, scheduler=args.scheduler))
    return 0


# -- init-mapping, train, score -----------------------------------------------------------------
def _add_init_mapping(command) -> None:
    init = command("init-mapping", "print a column mapping (TOML) for a transaction log, "
                   "guessed from the file",
                   "Read the log's header and a sample of its rows, guess which column holds "
                   "the customer id, the time, the order id, unit price and quantity or the "
                   "amount, the category and the country, and write the mapping to standard "
                   "output with the returns policy and what the file shows. Redirect it to a "
                   "file: targeting init-mapping FILE > mapping.toml")
    init.add_argument("file", help="the CSV or Parquet log")


def _cmd_init_mapping(args) -> int:
    from targeting.data.io import write_mapping_template

    print(write_mapping_template(args.file), end="")
    return 0


def _add_train(command) -> None:
    train = command(
        "train", "fit, evaluate against the classic baselines, log and register a propensity "
        "(or value) model",
        "Fit on point-in-time snapshots before AS_OF, evaluate on the window [AS_OF, AS_OF + "
        "HORIZON) beside recency, frequency, RFM and BG/NBD on the same customers, log the run "
        "and register the model. It becomes champion only if it beats every baseline and the "
        "current champion on that window.")
    _add_data_arguments(train)
    train.add_argument("--category", default="any",
                       help="product category to predict; 'any' predicts any purchase")
    train.add_argument("--horizon-days", type=_positive_int, default=30,
                       help="days after a snapshot in which a purchase counts")
    train.add_argument("--as-of", default=None,
                       help="the moment predictions are made from (ISO date): the model reads "
                            "only data before it and is graded on the HORIZON days after it "
                            "(default: the latest date whose window the data cover)")
    train.add_argument("--lookback-days", type=_positive_int, default=None,
                       help="cut the history features read at this many days (default: the "
                            "whole history)")
    train.add_argument("--snapshot-every-days", type=_positive_int, default=None,
                       help="days between training snapshots (default: half the horizon, 7 "
                            "to 30)")
    train.add_argument("--target", choices=("propensity", "value"), default="propensity",
                       help="propensity: P(purchase) in the horizon; value: expected revenue "
                            "(beside last period's revenue, RFM's monetary and BG/NBD x "
                            "Gamma-Gamma, judged by Gini)")
    train.add_argument("--register-as", default=None,
                       help="registered model name in the MLflow registry (default: the "
                            "target's name)")
    train.add_argument("--champion-metric", default=None,
                       help="crown by this evaluation metric (e.g. auc) when the current "
                            "champion predicts another category or horizon (default: keep "
                            "such a champion and say why)")


def _cmd_train(args) -> int:
    import targeting as tg
    from targeting.data.dates import latest_complete_as_of, parse_as_of
    from targeting.tracking import check_store, log_propensity

    check_store()  # seconds, before minutes of fitting
    tables = _read_tables(args.data, args.mapping)
    as_of = (latest_complete_as_of(tables, args.horizon_days) if args.as_of is None
             else parse_as_of(args.as_of, tables))
    if args.target == "value":
        return _train_value(args, tables, as_of)
    model = tg.PropensityModel(_category(args.category), horizon_days=args.horizon_days,
                               lookback_days=args.lookback_days,
                               snapshot_every_days=args.snapshot_every_days,
                               progress=not args.no_progress)
    model.fit(tables, as_of)
    evaluation = tg.evaluate(model, tables, as_of)
    logged = log_propensity(model, evaluation, tables,
                            register_as=args.register_as or "propensity",
                            champion_metric=args.champion_metric)
    _attach_log(logged.run_id, args.log_file)
    end = as_of + pd.Timedelta(days=args.horizon_days)
    print(f"Fitted on data before {as_of.date()}; graded on {as_of.date()} to {end.date()} "
          f"({args.horizon_days} days, {evaluation.metrics['positive_rate']:.1%} of "
          f"{evaluation.metrics['users']:,.0f} customers bought):")
    print(evaluation.table[["auc", "lift_at_5pct"]].round(3).to_string())
    for note in evaluation.notes:
        print(f"note: {note}")
    print(f"run {logged.run_id}: registered {logged.name} v{logged.version}; "
          f"{'now champion' if logged.is_champion else 'NOT champion'}: {logged.reason}")
    return 0


def _train_value(args, tables, as_of) -> int:
    """``train --target value``: a ValueModel, printed beside the value baselines."""
    import targeting as tg
    from targeting.tracking import log_value

    model = tg.ValueModel(_category(args.category), horizon_days=args.horizon_days,
                          lookback_days=args.lookback_days,
                          snapshot_every_days=args.snapshot_every_days,
                          progress=not args.no_progress)
    model.fit(tables, as_of)
    evaluation = tg.evaluate(model, tables, as_of)
    logged = log_value(model, evaluation, tables, register_as=args.register_as or "value",
                       champion_metric=args.champion_metric)
    _attach_log(logged.run_id, args.log_file)
    m, end = evaluation.metrics, as_of + pd.Timedelta(days=args.horizon_days)
    print(f"Fitted on data before {as_of.date()}; graded on {as_of.date()} to {end.date()} "
          f"({args.horizon_days} days, {m['realised_total']:,.2f} of revenue from "
          f"{evaluation.extra['users']:,} customers, {m['predicted_total']:,.2f} predicted):")
    columns = ["gini", "spearman", "capture_at_10pct", "decile_error", "total_ratio"]
    print(evaluation.table[columns].round(3).to_string())
    print(f"Gini margin over {evaluation.extra['best_baseline']}: "
          f"{m['gini_margin_over_best_baseline']:+.4f} ({evaluation.extra['confidence']:.0%} "
          f"paired bootstrap interval {m['gini_margin_low']:+.4f} to "
          f"{m['gini_margin_high']:+.4f})")
    for note in evaluation.notes:
        print(f"note: {note}")
    print(f"run {logged.run_id}: registered {logged.name} v{logged.version}; "
          f"{'now champion' if logged.is_champion else 'NOT champion'}: {logged.reason}")
    return 0


def _add_score(command) -> None:
    score = command("score", "score users with a registered model",
                    "One row per user of the data, in order: user_id, score, decile (1 = top "
                    "10 %), any columns of the model, reasons if asked, and a note for users "
                    "scored without history.")
    _add_data_arguments(score)
    score.add_argument("--model", default="models:/propensity@champion",
                       help="a registered model (models:/NAME@ALIAS or models:/NAME/VERSION) "
                            "or a run's model (runs:/RUN_ID/model)")
    score.add_argument("--as-of", default=None,
                       help="score from this moment (ISO date; default: just after the last "
                            "record)")
    score.add_argument("--out", required=True, help="output file, .parquet or .csv")
    score.add_argument("--reasons", type=int, default=0,
                       help="add each user's top N reasons (0 for none)")
    score.add_argument("--drift", action="store_true",
                       help="measure drift against the training data and log it to MLflow")


def _cmd_score(args) -> int:
    import targeting as tg
    from targeting.data.dates import parse_as_of

    tables = _read_tables(args.data, args.mapping)
    as_of = None if args.as_of is None else parse_as_of(args.as_of, tables)
    out = tg.score(tables, args.model, as_of, reasons=args.reasons, drift=args.drift)
    if args.drift:
        from targeting.review import log_drift

        report = out.attrs["drift"]
        logged = log_drift(report, model_version=out.attrs.get("model_version"))
        _attach_log(logged.run_id, args.log_file)
        print(f"drift: score PSI {report.score_psi:.4f} ({report.score_level}); "
              f"logged as run {logged.run_id}")
    if args.out.endswith(".csv"):
        out.to_csv(args.out, index=False)
    else:
        out.to_parquet(args.out, index=False)
    print(f"scored {len(out):,} users with {out.attrs.get('model_version')} -> {args.out}")
    return 0


# -- experiments and the registry -------------------------------------------------------------
def _add_run(command) -> None:
    run = command("run", "execute an experiment file (TOML), or re-run a logged one",
                  "Fit, evaluate, log and register as the file says (experiments/*.toml). On "
                  "a brand's own data the model is graded on the horizon after [data] as_of "
                  "(default: the latest window the data cover), never on its own validation "
                  "window.")
    run.add_argument("file", nargs="?", help="an experiment file, e.g. experiments/NAME.toml")
    run.add_argument("--from-run", default=None,
                     help="re-run the experiment file logged with this run id (default: run "
                          "FILE)")


def _cmd_run(args) -> int:
    from targeting.experiments import rerun, run_experiment

    if bool(args.file) == bool(args.from_run):
        raise SystemExit("give an experiment file or --from-run RUN_ID (one of them)")
    _check_store_for(args.file)
    progress = not args.no_progress
    result = (rerun(args.from_run, progress=progress) if args.from_run
              else run_experiment(args.file, progress=progress))
    _attach_log(result.run_id, args.log_file)
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


def _add_promote(command) -> None:
    promote = command("promote", "make a run's model the champion by hand",
                      "Move the @champion alias of a registered model to the version a run "
                      "logged, and record who did it and why on the version.")
    promote.add_argument("model", help="registered model name, e.g. propensity")
    promote.add_argument("--run", required=True, help="the run id whose model to promote")
    promote.add_argument("--reason", default="promoted by hand",
                         help="why, recorded on the model version")


def _cmd_promote(args) -> int:
    from targeting.review import promote

    print(promote(args.model, args.run, reason=args.reason))
    return 0


def _add_cleanup(command) -> None:
    cleanup = command(
        "cleanup", "mark runs left RUNNING by killed processes as FAILED",
        "Runs started on this machine by a process that no longer exists, and (with "
        "--older-than-hours) any run still RUNNING after that long, are marked FAILED; their "
        "model versions without a champion decision are tagged champion_decision=failed.")
    cleanup.add_argument("--older-than-hours", type=float, default=None,
                         help="also fail any run RUNNING for longer than this (default: only "
                              "runs of dead processes)")


def _cmd_cleanup(args) -> int:
    from targeting.tracking import check_store, cleanup_runs

    check_store(experiment=None)
    hours = args.older_than_hours
    marked = cleanup_runs(older_than_s=None if hours is None else hours * 3600)
    print(f"marked {len(marked)} abandoned run(s) FAILED" + "".join(f"\n  {r}" for r in marked))
    return 0


# -- the MLflow UI and the team server -----------------------------------------------------------
def _add_ui(command) -> None:
    ui = command("ui", "open the MLflow UI on the runs of this folder's store",
                 "Serve the MLflow UI on the same store the commands write to and print the "
                 "address of the experiment's runs.")
    ui.add_argument("--port", type=int, default=5000, help="port to serve on")
    ui.add_argument("--host", default="127.0.0.1",
                    help="interface to listen on (0.0.0.0: every interface)")
    ui.add_argument("--experiment", default="targeting-demo",
                    help="the experiment whose runs the printed address opens")
    ui.add_argument("--workers", type=int, default=1,
                    help="web server processes (one is enough for a reviewer, and starts "
                         "reliably on a busy machine)")


def ui_address(host: str, port: int, experiment_id: str | None = None) -> str:
    """The address a browser opens: the runs of ``experiment_id`` (a listening address such as
    0.0.0.0 is replaced by this machine's name).

    The runs, not the experiment's own address: MLflow 3.18 opens that, in a browser left on
    its default GenAI view, on the GenAI overview whatever the experiment's kind tag says
    (tests/test_review_ui.py checks both).

    Examples
    --------
    >>> ui_address("127.0.0.1", 5000, "3")
    'http://127.0.0.1:5000/#/experiments/3/runs'
    """
    import socket

    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    return f"{base}/#/experiments/{experiment_id}/runs" if experiment_id else base


def _cmd_ui(args) -> int:
    import mlflow

    from targeting.server import server_env

    uri = mlflow.get_tracking_uri()
    found = mlflow.MlflowClient().get_experiment_by_name(args.experiment)
    print(f"MLflow UI on {ui_address(args.host, args.port)} for {uri}")
    if found is not None:
        print(f"runs of {args.experiment!r}: "
              f"{ui_address(args.host, args.port, found.experiment_id)}")
        print("MLflow's GenAI view is the default in a new browser: click 'Model training' "
              "(top left) once and the browser keeps it", flush=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--host", args.host, "--port", str(args.port), "--workers", str(args.workers)]
    # The server's environment (this environment's bin folder on PATH, no job runners), no auth.
    return subprocess.call(command, env=server_env(None))


def _add_server(command) -> None:
    server = command(
        "server", "start a team tracking server (MLflow with basic auth on PostgreSQL)",
        "Start `mlflow server` on a shared backend store (PostgreSQL) with proxied artifacts "
        "and MLflow's basic-auth app. The first start creates the admin user with the password "
        "in MLFLOW_AUTH_ADMIN_PASSWORD. Users then set MLFLOW_TRACKING_URI=http://HOST:PORT "
        "(and MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD).")
    server.add_argument("--backend-store-uri", required=True,
                        help="e.g. postgresql+psycopg2://mlflow@db-host:5432/mlflow")
    server.add_argument("--artifacts-destination", required=True,
                        help="artifact root: a folder or s3://... (served by the server)")
    server.add_argument("--auth-database-uri", default="sqlite:///basic_auth.db",
                        help="where users and permissions live (a separate database)")
    server.add_argument("--default-permission", default="NO_PERMISSIONS",
                        choices=("NO_PERMISSIONS", "READ", "EDIT", "MANAGE"),
                        help="what users may do with experiments they were not given")
    server.add_argument("--no-auth", action="store_true",
                        help="no authentication (a trusted network only)")
    server.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (0.0.0.0: every interface)")
    server.add_argument("--port", type=int, default=5000, help="port to serve on")
    server.add_argument("--workers", type=int, default=2, help="server worker processes")


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
    address = ui_address(args.host, args.port)
    print(f"MLflow tracking server on {address} ({'basic auth' if config else 'NO auth'}); "
          f"users set MLFLOW_TRACKING_URI={address}", flush=True)
    return subprocess.call(command, env=server_env(config))


# -- the closed campaign loop ----------------------------------------------------------------
def _add_loop(command) -> None:
    loop = command("loop", "run the closed campaign loop on the demo world",
                   "N waves of plan, send, record and learn on the responsive demo world, "
                   "against random, propensity, one-shot uplift and the oracle with the same "
                   "budget. On a brand's own data the loop is driven from Python "
                   "(targeting.CampaignLoop: plan, export, record).")
    loop.add_argument("--waves", type=int, default=5, help="campaign waves to run")
    loop.add_argument("--users", type=int, default=50_000, help="users in the demo world")
    loop.add_argument("--seed", type=int, default=0,
                      help="the world's and the loop's random_state")
    loop.add_argument("--store", default="campaign-loop",
                      help="the loop's folder (an existing one is resumed)")
    loop.add_argument("--experiment", default="targeting-loop",
                      help="MLflow experiment of the loop's runs")
    loop.add_argument("--no-history", action="store_true",
                      help="ignore the world's past campaign: wave 1 is a randomised pilot and "
                           "the one-shot model is the one fitted on it")


def _cmd_loop(args) -> int:
    from targeting.loop.simulate import run_demo_loop

    print(run_demo_loop(args.waves, n_users=args.users, random_state=args.seed,
                        store=args.store, experiment=args.experiment,
                        progress=not args.no_progress, history=not args.no_history))
    return 0


_COMMANDS = {"demo": _cmd_demo, "init-mapping": _cmd_init_mapping, "train": _cmd_train,
             "score": _cmd_score, "run": _cmd_run, "promote": _cmd_promote, "loop": _cmd_loop,
             "ui": _cmd_ui, "server": _cmd_server, "cleanup": _cmd_cleanup}

if __name__ == "__main__":
    sys.exit(main())
