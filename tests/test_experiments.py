"""Experiment files: every example parses; a logged run re-runs to the same metrics; the search
logs nested trials; promote moves the champion by hand."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from targeting.cli import main
from targeting.experiments import load_config

EXAMPLES = sorted((Path(__file__).parents[1] / "experiments").glob("*.toml"))


def test_at_least_three_example_files_and_all_are_valid():
    assert len(EXAMPLES) >= 3
    for path in EXAMPLES:
        config, text = load_config(path)
        assert config["experiment"]["name"] and text == path.read_text()
    assert any("search" in load_config(p)[0] for p in EXAMPLES)


def test_invalid_file_names_every_problem():
    bad = ('engine = "spark"\n[experiment]\ndescription = "x"\n[data]\nsource = "csv"\n'
           'rows = 3\n[extra]\na = 1\n')
    with pytest.raises(ValueError) as err:
        load_config(bad)
    message = str(err.value)
    for part in ("[extra]", "'rows'", "'csv'", "name is required", "engine must be"):
        assert part in message


def test_run_logs_the_file_params_and_nested_trials(experiment_store):
    client = mlflow.MlflowClient()
    run = client.get_run(experiment_store["run_id"])
    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/experiment.toml")
    assert load_config(text)[0]["experiment"]["name"] == "tiny-search"
    assert run.data.params["data.n_users"] == "3000"
    assert 0.6 < run.data.metrics["auc"] <= run.data.metrics["oracle_auc"] + 0.05
    trials = mlflow.search_runs(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    assert len(trials) == 2
    best = trials["metrics.validation_logloss"].min()
    assert run.data.metrics["search_best_validation_logloss"] == best
    # The refitted best parameters are the ones logged with the parent run.
    winner = trials.loc[trials["metrics.validation_logloss"].idxmin()]
    assert run.data.params["lgb.num_leaves"] == winner["params.num_leaves"]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"evaluation.png", "shap_summary.png", "shap_silos.png"} <= names


def test_rerunning_a_logged_run_reproduces_its_metrics_exactly(experiment_store, capsys):
    first = mlflow.MlflowClient().get_run(experiment_store["run_id"])
    assert main(["run", "--from-run", first.info.run_id, "--no-progress"]) == 0
    again = mlflow.search_runs(experiment_ids=[first.info.experiment_id],
                               filter_string="tags.`experiment.name` = 'tiny-search'",
                               order_by=["attributes.start_time DESC"]).iloc[0]
    assert again.run_id != first.info.run_id
    metrics = mlflow.MlflowClient().get_run(again.run_id).data.metrics
    assert metrics == first.data.metrics  # every metric, to the last bit
    assert "registered propensity v2" in capsys.readouterr().out


def test_promote_moves_the_champion_by_hand(experiment_store, capsys):
    client = mlflow.MlflowClient()
    run_id = experiment_store["run_id"]
    versions = client.search_model_versions("name='propensity'")
    assert main(["promote", "propensity", "--run", run_id, "--reason", "review test"]) == 0
    champion = client.get_model_version_by_alias("propensity", "champion")
    assert champion.run_id == run_id
    assert "review test" in champion.tags["champion_decision"]
    assert len(client.search_model_versions("name='propensity'")) == len(versions)
    assert f"from run {run_id}" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no run"):
        main(["promote", "propensity", "--run", "0" * 32])


@pytest.mark.slow
def test_engine_dask_in_the_file_trains_on_a_cluster(mlflow_store, tmp_path):
    from targeting.experiments import run_experiment

    text = ('engine = "dask"\nworkers = 2\n[experiment]\nname = "dask-run"\n'
            '[data]\nsource = "demo"\nn_users = 3000\nrandom_state = 0\n'
            '[target]\ncategory = "snacks"\n'
            '[model]\nmax_snapshots = 4\n')
    result = run_experiment(text, progress=False)
    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.data.params["engine"] == "dask" and 0.6 < result.metrics["auc"] < 1.0


def test_own_data_is_graded_after_as_of_never_on_the_validation_window(mlflow_store, tmp_path):
    """A brand's log: the model reads data before as_of, early-stops and calibrates on the
    window that ends at as_of, and is graded on the horizon after it, as `targeting train`."""
    import pandas as pd

    import targeting as tg

    log = tmp_path / "orders.csv"
    sample = pd.read_csv(Path(__file__).parent / "data" / "cdnow_sample.csv.gz", dtype=str)
    sample.to_csv(log, index=False)
    (tmp_path / "mapping.toml").write_text('[transactions]\nuser = "customer_id"\n'
                                           'ts = "date"\namount = "dollars"\n')
    text = (f'[experiment]\nname = "own-log"\n[data]\nsource = "files"\npath = "{log}"\n'
            f'mapping = "{tmp_path / "mapping.toml"}"\n[target]\ncategory = "any"\n'
            'horizon_days = 60\n[model.params]\nnum_threads = 1\n')
    from targeting.data.dates import latest_complete_as_of
    from targeting.experiments import run_experiment

    result = run_experiment(text, progress=False)
    tables = tg.read_tables(log, tmp_path / "mapping.toml", verbose=False)
    as_of = latest_complete_as_of(tables, 60)  # the default: data end - 60 days
    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.data.params["as_of"] == str(as_of)
    fitted = tg.PropensityModel(None, horizon_days=60, progress=False,
                                num_threads=1).fit(tables, as_of)
    # The validation snapshot's label window ends at as_of: grading starts there.
    assert fitted.snapshots_[0] + pd.Timedelta(days=60) == as_of
    graded = tg.evaluate(fitted, tables, as_of).metrics["auc"]
    in_sample = tg.evaluate(fitted, tables, fitted.snapshots_[0]).metrics["auc"]
    assert result.metrics["auc"] == pytest.approx(graded) and graded != in_sample
    with pytest.raises(tg.SchemaError, match="before \\[data\\] as_of"):
        run_experiment(text + f'[evaluation]\nas_of = "{fitted.snapshots_[0].date()}"\n',
                       progress=False)
