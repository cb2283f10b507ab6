"""MLflow tracking: where runs go, what a training run logs, and the champion rule.

Default store: ``sqlite:///mlflow.db`` in the working directory (artifacts in ``mlartifacts/``
beside it), unless ``MLFLOW_TRACKING_URI`` is set, so the model registry works with no server.
A run is logged only after everything it records has been computed; if logging itself fails the
run is deleted, so nothing is left half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

import targeting
from targeting.data.engines import is_dask
from targeting.scoring import Scorer, TargetingPyfunc

CHAMPION = "champion"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite file in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def configure(uri: str | None = None) -> str:
    """Point MLflow's tracking and registry at ``uri`` (default :func:`tracking_uri`).

    MLflow itself defaults to the same SQLite file, so calling this is only needed to choose
    another store from code.
    """
    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def experiment_id(name: str) -> str:
    """The experiment's id, creating it with artifacts beside a SQLite store."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts" / name).as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def data_fingerprint(tables: Mapping[str, pd.DataFrame]) -> str:
    """A SHA-256 over every table's contents: same data, same fingerprint."""
    if is_dask(tables):
        from targeting.data.dask import fingerprint

        return fingerprint(tables)
    digest = hashlib.sha256()
    for name in sorted(tables):
        frame = tables[name]
        digest.update(name.encode())
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass
class LoggedModel:
    """Where a training run landed: run, model URI, registry version and champion decision."""

    run_id: str
    model_uri: str
    name: str | None = None
    version: str | None = None
    is_champion: bool = False
    reason: str = ""

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.__dict__.items())
        return f"<table>{rows}</table>"


def log_propensity(model, evaluation, tables: Mapping[str, pd.DataFrame], *,
                   experiment: str = "targeting", run_name: str | None = None,
                   register_as: str | None = "propensity", extra_params: dict | None = None,
                   tags: dict | None = None) -> LoggedModel:
    """Log a fitted PropensityModel with its evaluation, register it, apply the champion rule.

    The run records parameters, metrics (evaluation window and validation window), the gains
    and calibration plot, the feature list with each feature's silo and importance, a
    fingerprint of the input data, the package version, and the model as an MLflow pyfunc
    (FeaturePipeline inside) with a signature and an input example free of identifiers.
    """
    features = model.features(tables, model.as_of_).head(5)
    example = _anonymous_example(features)
    outputs = Scorer(model).score_features(example)
    signature = infer_signature(example, outputs)
    params = _run_params(model, extra_params)
    metrics = {**evaluation.metrics,
               **{f"validation_{k}": v for k, v in model.validation_.items()
                  if isinstance(v, float | int)}}
    figure = evaluation.plot()
    with tempfile.TemporaryDirectory() as tmp:
        _write_artifacts(Path(tmp), model, figure)
        run = mlflow.start_run(experiment_id=experiment_id(experiment), run_name=run_name)
        try:
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.set_tags({"targeting.version": targeting.__version__,
                             "data_fingerprint": data_fingerprint(tables),
                             "model_kind": "propensity", **(tags or {})})
            mlflow.log_artifacts(tmp)
            info = mlflow.pyfunc.log_model(name="model", python_model=TargetingPyfunc(model),
                                           signature=signature, input_example=example)
        except BaseException:
            mlflow.end_run("FAILED")
            MlflowClient().delete_run(run.info.run_id)
            raise
        mlflow.end_run()
    logged = LoggedModel(run.info.run_id, info.model_uri)
    if register_as:
        _register(logged, register_as, model, evaluation, tables)
    return logged


def _run_params(model, extra: dict | None) -> dict:
    params = {k: v for k, v in model.get_params().items() if k != "progress"}
    params["builders"] = "+".join(params["builders"])
    params.update({f"lgb.{k}": v for k, v in model.lightgbm_params.items()})
    params.update(as_of=str(model.as_of_), n_features=len(model.pipeline_.feature_names_),
                  best_iteration=model.validation_["best_iteration"],
                  categories="+".join(model.pipeline_.categories_))
    params.update(extra or {})
    return params


def _write_artifacts(folder: Path, model, figure) -> None:
    figure.savefig(folder / "evaluation.png", dpi=110)
    importance = model.feature_importance()
    listing = [{"feature": f, "silo": model.pipeline_.silo_of(f),
                "gain": round(float(importance[f]), 3)} for f in model.pipeline_.feature_names_]
    (folder / "features.json").write_text(json.dumps(listing, indent=1))
    silo_gain = (pd.DataFrame(listing).groupby("silo").gain.sum()
                 / max(importance.sum(), 1e-12)).round(4)
    (folder / "importance_by_silo.json").write_text(silo_gain.to_json(indent=1))


def _anonymous_example(features: pd.DataFrame) -> pd.DataFrame:
    """Real feature values with synthetic user ids: no identifier leaves the data."""
    example = features.reset_index(drop=True)
    example.insert(0, "user_id", range(1, len(example) + 1))
    return example


# -- registry and champion rule ------------------------------------------------------------
def _register(logged: LoggedModel, name: str, model, evaluation, tables) -> None:
    client = MlflowClient()
    version = mlflow.register_model(logged.model_uri, name).version
    logged.name, logged.version = name, str(version)
    promote, reason = _better_than_champion(client, name, model, evaluation, tables)
    if promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "champion_decision", reason)
    logged.is_champion, logged.reason = promote, reason


def _better_than_champion(client, name, model, evaluation, tables) -> tuple[bool, str]:
    """Champion moves only if the candidate beats it on the same evaluation data."""
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return True, "first model: no champion yet"
    champion = mlflow.pyfunc.load_model(f"models:/{name}/{current.version}")
    champ_model = champion.unwrap_python_model().model
    if (champ_model.category, champ_model.horizon_days) != (model.category, model.horizon_days):
        return False, (f"champion v{current.version} predicts {champ_model.category!r} over "
                       f"{champ_model.horizon_days} days; not comparable, promote by hand")
    as_of = pd.Timestamp(evaluation.extra.get("as_of", model.as_of_))
    champ_auc = champ_model.evaluate(tables, as_of).metrics["auc"]
    new_auc = evaluation.metrics["auc"]
    verdict = new_auc > champ_auc
    word = "beats" if verdict else "does not beat"
    return verdict, (f"candidate AUC {new_auc:.4f} {word} champion v{current.version} "
                     f"AUC {champ_auc:.4f} on the same window")


def log_attribution(comparison, *, experiment: str = "targeting", run_name: str | None = None,
                    params: dict | None = None, journey_stats: pd.DataFrame | None = None) -> str:
    """Log an attribution comparison as one run: parameters, each method's error against the
    truth (if known), the share table and its plot. Returns the run id."""
    figure = comparison.plot().figure
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        comparison.table.to_csv(folder / "attribution_shares.csv")
        figure.savefig(folder / "attribution.png", dpi=110)
        if journey_stats is not None:
            journey_stats.to_csv(folder / "journey_stats.csv")
        run = mlflow.start_run(experiment_id=experiment_id(experiment), run_name=run_name)
        try:
            mlflow.log_params({"methods": "+".join(c for c in comparison.table.columns
                                                   if c != "truth"), **(params or {})})
            if comparison.errors is not None:
                mlflow.log_metrics({f"mae_{m}": v for m, v in comparison.errors.items()})
            mlflow.set_tags({"targeting.version": targeting.__version__,
                             "model_kind": "attribution"})
            mlflow.log_artifacts(tmp)
        except BaseException:
            mlflow.end_run("FAILED")
            MlflowClient().delete_run(run.info.run_id)
            raise
        mlflow.end_run()
    return run.info.run_id
