"""Review desk: promote a run's model by hand, and log drift reports, in the MLflow registry.

The automatic rule (:func:`targeting.tracking.log_propensity`) moves ``@champion`` only when a
candidate beats it on the same window; a person overrides it with :func:`promote` (``targeting
promote propensity --run <id>``), and the version records who decided and why.
"""

from __future__ import annotations

import getpass
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient

import targeting
from targeting.store import describe_champion, run_owner_tags
from targeting.tracking import CHAMPION, LoggedModel, experiment_id


@dataclass
class Promotion:
    """What :func:`promote` did."""

    name: str
    version: str
    run_id: str
    previous: str | None
    registered_now: bool

    def __str__(self) -> str:
        before = f"v{self.previous}" if self.previous else "none"
        new = " (registered now)" if self.registered_now else ""
        return (f"{self.name}@{CHAMPION} -> v{self.version}{new} from run {self.run_id} "
                f"(was {before})")


def promote(name: str, run_id: str, *, alias: str = CHAMPION,
            reason: str = "promoted by hand") -> Promotion:
    """Point ``models:/<name>@<alias>`` at the model logged by run ``run_id``.

    The run's model version is reused if it is registered under ``name``, otherwise registered
    now. The version is tagged with the decision, who made it and the previous champion.

    Raises
    ------
    ValueError
        The run does not exist or logged no model.

    Examples
    --------
    >>> promote("propensity", run_id)  # doctest: +SKIP
    Promotion(name='propensity', version='2', ...)
    """
    client = MlflowClient()
    try:
        client.get_run(run_id)
    except mlflow.exceptions.MlflowException as err:
        raise ValueError(f"no run {run_id!r} in {mlflow.get_tracking_uri()}") from err
    version, registered_now = _version_of_run(client, name, run_id)
    try:
        previous = client.get_model_version_by_alias(name, alias).version
    except mlflow.exceptions.MlflowException:
        previous = None
    client.set_registered_model_alias(name, alias, version)
    by = getpass.getuser()
    client.set_model_version_tag(name, version, "champion_decision",
                                 f"{reason} by {by}; previous {alias}: "
                                 f"{'v' + str(previous) if previous else 'none'}")
    describe_champion(name, run_id)
    return Promotion(name, str(version), run_id, previous and str(previous), registered_now)


def _version_of_run(client: MlflowClient, name: str, run_id: str) -> tuple[str, bool]:
    found = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if found:
        return str(max(int(v.version) for v in found)), False
    artifacts = [a.path for a in client.list_artifacts(run_id)]
    if "model" not in artifacts:
        raise ValueError(f"run {run_id} logged no model (artifacts: {artifacts}); only training "
                         "runs can be promoted")
    return str(mlflow.register_model(f"runs:/{run_id}/model", name).version), True


def log_drift(report, *, model_version: str | None = None, experiment: str = "targeting",
              run_name: str | None = "drift", params: dict | None = None,
              tags: dict | None = None) -> LoggedModel:
    """Log a :class:`~targeting.DriftReport` as a run: PSI metrics, table and plot (no model:
    ``model_uri`` is empty)."""
    import matplotlib.pyplot as plt

    figure = report.plot()
    with tempfile.TemporaryDirectory() as tmp:
        report.table.to_csv(Path(tmp) / "drift.csv")
        figure.savefig(Path(tmp) / "drift.png", dpi=100)
        plt.close(figure)
        with mlflow.start_run(experiment_id=experiment_id(experiment), run_name=run_name,
                              tags=run_owner_tags()) as run:
            mlflow.log_metrics(report.metrics)
            mlflow.log_params({"scored_rows": report.n_rows,
                               "reference_rows": report.reference_rows, **(params or {})})
            mlflow.set_tags({"targeting.version": targeting.__version__, "model_kind": "drift",
                             "model_version": model_version or "unknown", **(tags or {})})
            mlflow.log_artifacts(tmp)
    return LoggedModel(run.info.run_id, "", reason="drift: no model to register")
