"""The tracking store before and after training: fail fast, one migration, no debris."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import pytest

from targeting.store import HOLDS, TrackingStoreError, check_store, cleanup_runs

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, env: dict, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_unreachable_server_fails_in_seconds(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    started = time.perf_counter()
    try:
        with pytest.raises(TrackingStoreError, match="not reachable") as err:
            check_store("http://127.0.0.1:9", timeout=2.0)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    seconds = time.perf_counter() - started
    print(f"fail-fast against http://127.0.0.1:9: {seconds:.2f} s")
    assert seconds < 5, seconds  # MLflow's own client retries for minutes
    assert "MLFLOW_TRACKING_URI" in str(err.value)


def test_missing_sqlite_folder_is_refused_with_the_fix(tmp_path):
    try:
        with pytest.raises(TrackingStoreError, match="does not exist: create it or set"):
            check_store(f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def test_parallel_first_use_of_a_new_sqlite_store_migrates_once(tmp_path):
    """The reported failure: parallel processes racing MLflow's migration of a new store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = """
        from targeting.tracking import check_store
        print(check_store(experiment="race"))
    """
    procs = [_python(code, {"MLFLOW_TRACKING_URI": uri}, tmp_path) for _ in range(4)]
    outputs = [p.communicate(timeout=170)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, "\n".join(outputs)
    mlflow.set_tracking_uri(uri)
    try:
        [exp] = [e for e in mlflow.MlflowClient().search_experiments() if e.name == "race"]
        assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
        assert exp.tags["mlflow.note.content"] == HOLDS  # described once, not four times
    finally:
        mlflow.set_tracking_uri(None)


def test_a_run_killed_while_logging_is_marked_failed_with_its_version(mlflow_store, tmp_path):
    code = """
        import os, signal, mlflow
        from mlflow import MlflowClient
        from targeting.tracking import check_store, experiment_id
        from targeting.store import run_owner_tags
        check_store(experiment="killed")
        run = mlflow.start_run(experiment_id=experiment_id("killed"), tags=run_owner_tags())
        mlflow.log_metric("auc", 0.7)
        client = MlflowClient()
        client.create_registered_model("victim")
        client.create_model_version("victim", "file:///nowhere", run_id=run.info.run_id)
        print(run.info.run_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # killed between register and decision
    """
    proc = _python(code, {"MLFLOW_TRACKING_URI": mlflow_store}, tmp_path)
    out = proc.communicate(timeout=170)[0]
    assert proc.returncode == -9, out
    run_id = out.split()[-1]
    client = mlflow.MlflowClient()
    assert client.get_run(run_id).info.status == "RUNNING"  # the debris the issue reports

    check = check_store(experiment="killed")  # the next start cleans it
    assert check.cleaned == [run_id]
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert "ended while logging" in run.data.tags["targeting.failure"]
    version = client.get_model_version("victim", "1")
    assert version.tags["champion_decision"].startswith("failed:")
    exp = client.get_experiment_by_name("killed").experiment_id
    assert client.search_runs([exp], "attributes.status = 'RUNNING'") == []
    assert cleanup_runs([exp], older_than_s=0) == []  # nothing left to clean


def test_an_experiment_first_written_by_the_package_is_described_and_keeps_its_text(
        mlflow_store):
    from targeting.tracking import experiment_id

    client = mlflow.MlflowClient()
    made = client.create_experiment("ana", tags={"mlflow.note.content": "Ana's pilot runs."})
    assert experiment_id("ana") == made
    assert experiment_id("ana") == made  # a second write changes nothing
    note = client.get_experiment(made).tags["mlflow.note.content"]
    assert note == f"{HOLDS}\n\n---\n\nAna's pilot runs."


def test_cleanup_marks_runs_older_than_a_limit(mlflow_store):
    from targeting.tracking import experiment_id

    exp = experiment_id("stale")
    run = mlflow.MlflowClient().create_run(exp)  # no owner tags: another machine's run
    assert cleanup_runs([exp], older_than_s=3600) == []
    assert cleanup_runs([exp], older_than_s=0) == [run.info.run_id]
    assert mlflow.MlflowClient().get_run(run.info.run_id).info.status == "FAILED"


@pytest.mark.parametrize("argv", [["demo", "--users", "3000", "--no-progress"],
                                  ["run", "experiments/does-not-matter.toml"]])
def test_commands_that_log_fail_fast_on_an_unreachable_server(argv, monkeypatch, capsys):
    from targeting.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    started = time.perf_counter()
    try:
        assert main(argv) == 2
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    seconds = time.perf_counter() - started
    assert seconds < 10, seconds  # before: the demo fitted for minutes, then failed
    assert "not reachable" in capsys.readouterr().err


def test_cleanup_command(mlflow_store, capsys):
    from targeting.cli import main
    from targeting.tracking import experiment_id

    run = mlflow.MlflowClient().create_run(experiment_id("stale"))
    assert main(["cleanup", "--older-than-hours", "0"]) == 0
    assert run.info.run_id in capsys.readouterr().out
    assert mlflow.MlflowClient().get_run(run.info.run_id).info.status == "FAILED"
