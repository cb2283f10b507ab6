"""Experiments: a TOML file declares a complete run; ``targeting run FILE`` executes it.

The file names the data (the demo world's size and seed, or ``source = "files"``: a folder of
contract tables, a transaction log with its ``mapping``, or a DuckDB database), ``as_of`` (the
moment predictions are made from: the model reads only data before it and is graded on the
horizon after it; default the latest window the data cover), the target, the model and its
parameters, the evaluation, and optionally a hyperparameter search. The file's text is logged
with the run (``experiment.toml``), so any run in the UI is re-run exactly with
``targeting run --from-run <run_id>``: same data, same parameters, deterministic LightGBM
(``deterministic=True``, ``force_row_wise=True``, a fixed seed and ``num_threads``) and a seeded
Optuna sampler give the same metrics to the last bit.

Example file (see ``experiments/`` for more)::

    [experiment]
    name = "beauty-fused"
    [data]
    source = "demo"
    n_users = 20000
    random_state = 0
    [target]
    category = "beauty"
    [model.params]
    learning_rate = 0.05

Top-level ``engine = "dask"`` (with ``workers = N`` or ``scheduler = "tcp://..."``) trains the
model on a Dask cluster (:mod:`targeting.distributed`) instead of in this process; the search,
evaluation and logging stay the same.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from tqdm.auto import tqdm

import targeting as tg
from targeting.data.schema import SchemaError
from targeting.distributed import engine
from targeting.tracking import LoggedModel, log_propensity

ENGINE_KEYS = {"engine", "workers", "scheduler"}  # top-level keys, not sections
SECTIONS = {
    "experiment": {"name", "mlflow_experiment", "description"},
    "data": {"source", "n_users", "random_state", "path", "as_of", "mapping"},
    "target": {"category", "horizon_days"},
    "model": {"kind", "builders", "snapshot_every_days", "max_snapshots", "max_train_rows",
              "lookback_days", "n_estimators", "early_stopping_rounds", "calibrate",
              "random_state", "params"},
    "evaluation": {"as_of", "register_as"},
    "search": {"n_trials", "random_state", "space"},
}


@dataclass
class ExperimentResult:
    """What ``targeting run`` did: the run, its metrics, and the search trials if any."""

    name: str
    run_id: str
    metrics: dict[str, float]
    logged: LoggedModel
    trials: pd.DataFrame | None = None
    config: dict = field(default_factory=dict)

    def _repr_html_(self) -> str:
        metrics = pd.Series(self.metrics).to_frame("value").to_html(float_format="{:.4f}".format)
        trials = "" if self.trials is None else (
            f"<br><b>search</b>: {len(self.trials)} trials<br>" + self.trials.to_html())
        return (f"<b>{self.name}</b>: run {self.run_id}, {self.logged.name} "
                f"v{self.logged.version} ({self.logged.reason})<br>{metrics}{trials}")


# -- reading a file ------------------------------------------------------------------------
def load_config(source: str | Path) -> tuple[dict, str]:
    """Parse and check an experiment (a TOML file or TOML text); returns (config, text)."""
    path = Path(source) if isinstance(source, Path) or "\n" not in source else None
    if path is not None and not path.exists():
        raise FileNotFoundError(f"no experiment file {path}; see experiments/ for examples")
    text = path.read_text() if path is not None else str(source)
    config = tomllib.loads(text)
    _check(config)
    return config, text


def _check(config: dict) -> None:
    problems = [f"unknown section [{s}]; expected one of {sorted(SECTIONS)}"
                for s in config if s not in SECTIONS and s not in ENGINE_KEYS]
    if config.get("engine", "local") not in ("local", "dask"):
        problems.append(f"engine must be 'local' or 'dask', got {config['engine']!r}")
    for section, keys in SECTIONS.items():
        for key in config.get(section, {}):
            if key not in keys:
                problems.append(f"[{section}] unknown key {key!r}; expected one of {sorted(keys)}")
    data = config.get("data", {})
    source = data.get("source", "demo")
    if source not in ("demo", "files"):
        problems.append(f"[data] source must be 'demo' or 'files', got {source!r}")
    if source == "files" and "path" not in data:
        problems.append("[data] source = 'files' needs path (a folder of contract tables, a "
                        "transaction log with mapping = \"mapping.toml\", or a .duckdb file)")
    if config.get("model", {}).get("kind", "propensity") != "propensity":
        problems.append("[model] kind: only 'propensity' runs from a file so far")
    if "experiment" not in config or "name" not in config["experiment"]:
        problems.append("[experiment] name is required")
    if problems:
        raise SchemaError(problems, hint="See experiments/*.toml for complete files.")


# -- running -------------------------------------------------------------------------------
def run_experiment(source: str | Path, *, progress: bool = True) -> ExperimentResult:
    """Execute an experiment file (or TOML text): fit, evaluate, log, register.

    With a ``[search]`` section, Optuna first tries ``n_trials`` parameter sets (TPE sampler
    seeded by ``search.random_state``), each scored by its validation-window log loss, never by the
    evaluation window; the best is refitted and logged as the parent run, the trials as nested
    runs under it.

    Examples
    --------
    >>> result = run_experiment("experiments/beauty_fused.toml")  # doctest: +SKIP
    >>> result.metrics["auc"]  # doctest: +SKIP
    0.81...
    """
    config, text = load_config(source)
    tables, as_of, world = _load_data(config["data"], _horizon(config))
    trials = None
    params = dict(config.get("model", {}).get("params", {}))
    if "search" in config:
        trials, best = _search(config, tables, as_of, progress)
        params.update(best)
    with engine(config.get("engine", "local"), config.get("workers", 2),
                config.get("scheduler")) as run:
        model = run.fit(_model(config, params, progress), tables, as_of)
    evaluation = _evaluate(model, config, tables, as_of, world)
    exp = config["experiment"]
    digest = hashlib.sha256(text.encode()).hexdigest()
    register_as = config.get("evaluation", {}).get("register_as", "propensity") or None
    logged = log_propensity(
        model, evaluation, tables, experiment=exp.get("mlflow_experiment", "targeting"),
        run_name=exp["name"], register_as=register_as,
        params={**{f"data.{k}": v for k, v in config["data"].items()},
                      "engine": config.get("engine", "local")},
        tags={"experiment.name": exp["name"], "experiment.sha256": digest,
              "experiment.description": exp.get("description", "")})
    client = mlflow.MlflowClient()
    client.log_text(logged.run_id, text, "experiment.toml")
    if trials is not None:
        _log_trials(logged.run_id, trials, config)
    run = client.get_run(logged.run_id)
    return ExperimentResult(exp["name"], logged.run_id, dict(run.data.metrics), logged, trials,
                            config)


def rerun(run_id: str, *, progress: bool = True) -> ExperimentResult:
    """Run again the experiment file logged with ``run_id``."""
    client = mlflow.MlflowClient()
    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/experiment.toml")
    except Exception as err:
        names = [a.path for a in client.list_artifacts(run_id)]
        raise ValueError(f"run {run_id} has no experiment.toml (artifacts: {names}); only "
                         "runs started by `targeting run FILE` can be re-run") from err
    return run_experiment(text, progress=progress)


def _horizon(config: dict) -> int:
    return int(config.get("target", {}).get("horizon_days", 30))


def _load_data(data: dict, horizon_days: int):
    from targeting.data.dates import latest_complete_as_of, strict_timestamp

    if data.get("source", "demo") == "demo":
        world = tg.demo_world(n_users=int(data.get("n_users", 50_000)),
                              random_state=int(data.get("random_state", 0)))
        as_of = strict_timestamp(data["as_of"]) if "as_of" in data else world.as_of
        return world.tables, as_of, world
    from targeting.data.io import read_tables

    tables = read_tables(data["path"], data.get("mapping"))
    as_of = (strict_timestamp(data["as_of"]) if "as_of" in data  # ISO 8601 only, as on the CLI
             else latest_complete_as_of(tables, horizon_days))
    return tables, as_of, None


def _model(config: dict, params: dict, progress: bool) -> tg.PropensityModel:
    spec = {k: v for k, v in config.get("model", {}).items() if k not in ("kind", "params")}
    if "builders" in spec:
        spec["builders"] = tuple(spec["builders"])
    target = config.get("target", {})
    category = target.get("category", "any")  # TOML has no None: "any" is any purchase
    return tg.PropensityModel(None if category in ("any", "all") else category,
                              horizon_days=_horizon(config),
                              progress=progress, **spec, **params)


def _evaluate(model, config, tables, as_of, world):
    """Grade on the horizon after ``as_of`` (or a later ``[evaluation] as_of``): never on the
    validation snapshot the model early-stopped and was calibrated on, which ends at as_of."""
    when = config.get("evaluation", {}).get("as_of")
    if world is not None and when is None:
        return tg.evaluate(model, world)
    when = as_of if when is None else pd.Timestamp(when)
    if when < as_of:
        raise SchemaError([f"[evaluation] as_of {when.date()} is before [data] as_of "
                           f"{as_of.date()}: the model was fitted and calibrated on that "
                           "window; grade it on or after [data] as_of"], hint="")
    return tg.evaluate(model, tables, when)


# -- hyperparameter search -----------------------------------------------------------------
def _search(config: dict, tables, as_of, progress: bool) -> tuple[pd.DataFrame, dict]:
    try:
        import optuna
    except ImportError as err:
        raise SchemaError(["[search] needs Optuna: pip install 'targeting[search]'"],
                          hint="") from err

    search = config["search"]
    space = search.get("space", {})
    if not space:
        raise ValueError("[search] needs a [search.space] table, e.g. "
                         "learning_rate = {low = 0.01, high = 0.1, log = true}")
    base = dict(config.get("model", {}).get("params", {}))
    rows: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        params = {**base, **{name: _suggest(trial, name, spec) for name, spec in space.items()}}
        model = _model(config, params, progress=False).fit(tables, as_of)
        loss = float(model.booster_.best_score["validation"]["binary_logloss"])
        rows.append({"trial": trial.number, **{k: params[k] for k in space},
                     "validation_logloss": loss,
                     "best_iteration": model.validation_["best_iteration"]})
        return loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=int(search.get("random_state", 0)))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    n_trials = int(search.get("n_trials", 10))
    bar = tqdm(total=n_trials, desc="search", disable=not progress, leave=False)
    study.optimize(objective, n_trials=n_trials, callbacks=[lambda *_: bar.update()])
    bar.close()
    return pd.DataFrame(rows).set_index("trial"), dict(study.best_params)


def _suggest(trial, name: str, spec: dict):
    if "choices" in spec:
        return trial.suggest_categorical(name, list(spec["choices"]))
    low, high = spec["low"], spec["high"]
    if isinstance(low, int) and isinstance(high, int):
        return trial.suggest_int(name, low, high, log=bool(spec.get("log", False)))
    return trial.suggest_float(name, float(low), float(high), log=bool(spec.get("log", False)))


def _log_trials(parent_id: str, trials: pd.DataFrame, config: dict) -> None:
    """Each trial as a nested run under the logged model's run."""
    best = trials.validation_logloss.idxmin()
    experiment = mlflow.MlflowClient().get_run(parent_id).info.experiment_id
    with mlflow.start_run(run_id=parent_id):
        mlflow.log_metric("search_best_validation_logloss", float(trials.validation_logloss.min()))
        mlflow.log_param("search.n_trials", len(trials))
        # to_dict keeps each column's type (iterrows would turn integer parameters to floats).
        for number, row in trials.to_dict("index").items():
            with mlflow.start_run(experiment_id=experiment, nested=True,
                                  run_name=f"trial-{number}"):
                mlflow.log_params({k: row[k] for k in config["search"]["space"]})
                mlflow.log_metrics({"validation_logloss": float(row["validation_logloss"]),
                                    "best_iteration": int(row["best_iteration"])})
                mlflow.set_tag("search.best", str(number == best))
