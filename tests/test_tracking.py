"""MLflow: runs in a real SQLite store, registry with the champion rule, no identifiers leak."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import pytest

import targeting as tg
from targeting.tracking import data_fingerprint, log_propensity


@pytest.fixture()
def first_run(mlflow_store, small_model, small_world):
    ev = tg.evaluate(small_model, small_world)
    return log_propensity(small_model, ev, small_world.tables, experiment="test"), ev


def test_run_has_params_metrics_plots_model_and_champion(first_run, small_world):
    logged, ev = first_run
    client = mlflow.MlflowClient()
    run = client.get_run(logged.run_id)
    assert run.data.params["category"] == "snacks"
    assert run.data.params["builders"] == "profile+social+purchase+crm+graph"
    assert run.data.metrics["auc"] == pytest.approx(ev.metrics["auc"])
    assert "oracle_auc" in run.data.metrics and "validation_best_iteration" in run.data.metrics
    assert run.data.tags["data_fingerprint"] == data_fingerprint(small_world.tables)
    assert run.data.tags["targeting.version"] == tg.__version__
    names = {a.path for a in client.list_artifacts(logged.run_id)}
    assert {"evaluation.png", "features.json", "importance_by_silo.json"} <= names
    version = client.get_model_version_by_alias("propensity", "champion")
    assert str(version.version) == "1" and logged.is_champion
    model = mlflow.models.get_model_info("models:/propensity@champion")
    assert model.signature is not None
    assert "user_id" in model.signature.inputs.input_names()



def test_run_reads_well_in_the_ui(first_run, small_world):
    """What a reviewer sees: runs-first experiment, a description, datasets without rows."""
    logged, ev = first_run
    client = mlflow.MlflowClient()
    run = client.get_run(logged.run_id)
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    # The experiment's description: the champion first (the line the UI shows above the
    # runs), why, the data and how to re-run, then what the experiment holds.
    first, *rest = exp.tags["mlflow.note.content"].split("\n")
    assert first == f"**Champion**: `propensity` v1 from run `{run.info.run_name}`"
    detail = next(line for line in rest if line.startswith("- `propensity` **v1** is champion"))
    assert "first model: no champion yet" in detail and "Propensity model (`snacks`" in detail
    assert f"data fingerprint `{data_fingerprint(small_world.tables)[:12]}`" in detail
    assert "fit again with the run's parameters" in detail  # logged from Python, not a file
    assert rest[-1].startswith("Runs logged by the `targeting` package")
    note = run.data.tags["mlflow.note.content"]
    assert f"AUC **{ev.metrics['auc']:.4f}**" in note and "oracle" in note
    assert "`propensity` v1, **champion**: first model" in note
    inputs = {d.dataset.name.split(" (")[0]: d.dataset for d in run.inputs.dataset_inputs}
    assert set(inputs) == set(small_world.tables)
    for name, dataset in inputs.items():
        frame = small_world.tables[name]
        assert f"{len(frame):,} rows" in dataset.name
        assert dataset.digest == data_fingerprint({name: frame})[:16]
        assert [c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]] == list(
            map(str, frame.columns))


def test_champion_moves_only_for_a_better_model(first_run, small_world):
    weak = tg.PropensityModel("snacks", builders=("profile",), progress=False)
    weak.fit(small_world.tables, small_world.as_of)
    ev = tg.evaluate(weak, small_world)
    logged = log_propensity(weak, ev, small_world.tables, experiment="test")
    assert logged.version == "2" and not logged.is_champion
    # Refused by the champion, or earlier by the baselines when not beyond their noise.
    assert ("does not beat" if ev.beats_baselines() else "baseline") in logged.reason
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("propensity", "champion").version) == "1"
    note = client.get_experiment_by_name("test").tags["mlflow.note.content"]
    assert note.startswith("**Champion**: `propensity` v1 from run")  # still v1, and why not v2
    name = client.get_run(logged.run_id).info.run_name
    assert (f"Newest candidate v2 from run `{name}` (`{logged.run_id[:8]}`): not crowned: "
            f"{logged.reason}") in note


def test_the_description_follows_a_promotion_by_hand_and_keeps_a_persons_text(first_run):
    from targeting.review import promote

    logged, _ = first_run
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name("test")
    edited = exp.tags["mlflow.note.content"] + "\n\nReviewed by Ana: fine for the May wave."
    client.set_experiment_tag(exp.experiment_id, "mlflow.note.content", edited)  # as in the UI
    copy = mlflow.register_model(logged.model_uri, "propensity")  # v2, same run
    promote("propensity", logged.run_id, reason="reviewed")
    note = client.get_experiment(exp.experiment_id).tags["mlflow.note.content"]
    assert note.startswith(f"**Champion**: `propensity` v{copy.version} from run")
    assert f"- `propensity` **v{copy.version}** is champion" in note and "reviewed by" in note
    assert "v1 is champion" not in note and "**v1**" not in note  # the package's old part: gone
    assert note.endswith("---\n\nReviewed by Ana: fine for the May wave.")  # the person's: kept


def test_no_raw_identifier_in_any_artifact(first_run, small_world, mlflow_store):
    logged, _ = first_run
    root = Path(mlflow_store.removeprefix("sqlite:///")).parent / "mlartifacts"
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files, "artifacts were written beside the SQLite store"
    ident = small_world.tables["identity"]
    ids = set()
    for col in ident.columns:
        ids |= {str(v) for v in ident[col].dropna().astype("int64")}
    text_files = [p for p in files if p.suffix in {".json", ".txt", ".csv", ".yaml", ".MLmodel",
                                                      ".html", ""} or p.name == "MLmodel"]
    assert any(p.name == "input_example.json" for p in text_files)
    for path in text_files:
        content = path.read_text(errors="ignore")
        # Whole numbers only: a SHAP value such as 0.030003114 is not member 30003114.
        numbers = set(re.findall(r"(?<![\d.])\d+(?![\d.])", content))
        found = sorted(numbers & ids)
        assert not found, f"{path.name} contains raw ids {found[:3]}"


def test_failed_logging_leaves_no_run(mlflow_store, small_model, small_world):
    class Broken:
        metrics = {"auc": float("nan")}

        def plot(self):
            raise RuntimeError("plotting failed")

    with pytest.raises(RuntimeError, match="plotting failed"):
        log_propensity(small_model, Broken(), small_world.tables, experiment="test")
    client = mlflow.MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(experiments) == []


def _evaluation_beaten_by_a_baseline(seed: int = 0):
    """A hand-built evaluation: the model scores noise, the baseline knows the outcome."""
    import numpy as np
    import pandas as pd

    from targeting.evaluation.metrics import PropensityEvaluation

    rng = np.random.default_rng(seed)
    y = rng.random(2_000) < 0.2
    ev = PropensityEvaluation.from_scores(y, rng.random(2_000))
    ev.add_baselines(pd.DataFrame({"recency": y + rng.random(2_000)}), y)
    return ev


def test_a_model_a_baseline_beats_is_never_crowned(mlflow_store, small_model, small_world):
    ev = _evaluation_beaten_by_a_baseline()
    assert ev.beaten_by() == "recency"
    logged = log_propensity(small_model, ev, small_world.tables, experiment="test")
    assert logged.version == "1" and not logged.is_champion  # even with no champion at all
    assert "baseline 'recency'" in logged.reason
    client = mlflow.MlflowClient()
    assert client.get_model_version("propensity", "1").tags["champion_decision"] == logged.reason
    run = client.get_run(logged.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["champion_decision"] == logged.reason
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias("propensity", "champion")
    note = client.get_experiment(run.info.experiment_id).tags["mlflow.note.content"]
    assert note.startswith("**Champion**: `propensity` none yet")
    assert "has no champion" in note and f"not crowned: {logged.reason}" in note


def test_a_failed_decision_keeps_the_run_failed_and_tags_the_version(mlflow_store, small_model,
                                                                      small_world):
    ev = _evaluation_beaten_by_a_baseline()
    ev.beaten_by = lambda: (_ for _ in ()).throw(RuntimeError("registry hiccup"))
    with pytest.raises(RuntimeError, match="registry hiccup"):
        log_propensity(small_model, ev, small_world.tables, experiment="test")
    client = mlflow.MlflowClient()
    version = client.get_model_version("propensity", "1")
    assert version.tags["champion_decision"] == "failed: RuntimeError: registry hiccup"
    assert client.get_run(version.run_id).info.status == "FAILED"
    assert not mlflow.active_run()


def test_not_comparable_champion_is_replaced_only_by_an_explicit_rule(first_run, small_model,
                                                                      small_world):
    import copy

    other = copy.copy(small_model)
    other.horizon_days = small_model.horizon_days + 30  # another question: not comparable
    ev = tg.evaluate(small_model, small_world)
    with pytest.warns(UserWarning, match="not comparable"):
        kept = log_propensity(other, ev, small_world.tables, experiment="test")
    assert not kept.is_champion and "--champion-metric auc" in kept.reason
    ev.metrics["auc"] += 0.01  # same model, a better logged AUC: the explicit rule crowns it
    crowned = log_propensity(other, ev, small_world.tables, experiment="test",
                             champion_metric="auc")
    assert crowned.is_champion and "explicit rule --champion-metric auc" in crowned.reason
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias("propensity", "champion")
    assert str(champion.version) == crowned.version
