"""The main job, as a user runs it: `targeting demo` end to end in a fresh folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import mlflow
import pytest
from _servers import wait_until_up


def test_demo_command_runs_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    done = subprocess.run(
        [sys.executable, "-m", "targeting.cli", "demo", "--users", "3000", "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "AUC fused" in out and "oracle" in out and "lift at top 5 %" in out
    assert "scored               3,000 users with propensity/1" in out
    store = tmp_path / "mlflow.db"
    assert store.exists()
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    assert str(client.get_model_version_by_alias("propensity", "champion").version) == "1"
    assert "Campaign readout" in out and "Uplift learners" in out and "oracle" in out
    assert "Campaign plan" in out and "Lookalike audience" in out and "truly persuadable" in out
    assert str(client.get_model_version_by_alias("uplift", "champion").version) == "1"


def test_train_and_score_commands_on_parquet_tables(tmp_path):
    import targeting as tg

    world = tg.demo_world(3_000, seed=2)
    data = tmp_path / "data"
    data.mkdir()
    for name, frame in world.tables.items():
        frame.to_parquet(data / f"{name}.parquet")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store}
    run = [sys.executable, "-m", "targeting.cli"]
    trained = subprocess.run(run + ["train", "--data", str(data), "--as-of", str(world.as_of),
                                    "--category", "snacks"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "registered propensity v1" in trained.stdout
    scored = subprocess.run(run + ["score", "--data", str(data), "--as-of", str(world.as_of),
                                   "--out", str(tmp_path / "scores.csv")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert scored.returncode == 0, scored.stderr[-3000:]
    import pandas as pd

    scores = pd.read_csv(tmp_path / "scores.csv")
    assert scores.user_id.tolist() == world.tables["identity"].user_id.tolist()


def test_ui_command_serves_the_same_store(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    ui = subprocess.Popen([sys.executable, "-m", "targeting.cli", "ui", "--port", str(port)],
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True,
                          start_new_session=True)
    try:
        assert wait_until_up(f"http://127.0.0.1:{port}/") == 200
    finally:
        # The server runs workers of its own: stop the whole process group.
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=30)


@pytest.mark.slow
def test_demo_on_a_dask_cluster(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    done = subprocess.run(
        [sys.executable, "-m", "targeting.cli", "demo", "--users", "3000", "--no-progress",
         "--engine", "dask", "--workers", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scored               3,000 users with propensity/1" in done.stdout
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").search_runs(
        [mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
         .get_experiment_by_name("targeting-demo").experiment_id])
    assert any(r.data.params.get("engine") == "dask" for r in run)
