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
    assert "Community owners" in out and "group size" in out and "plan for" in out
    assert str(client.get_model_version_by_alias("uplift", "champion").version) == "1"


def test_train_and_score_commands_on_parquet_tables(tmp_path):
    import targeting as tg

    world = tg.demo_world(3_000, random_state=2)
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
    assert "baseline: recency" in trained.stdout  # the comparison is printed
    scored = subprocess.run(run + ["score", "--data", str(data), "--as-of", str(world.as_of),
                                   "--model", "models:/propensity/1",
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


def _cli(args, cwd, store):
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store}
    return subprocess.run([sys.executable, "-m", "targeting.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def test_train_on_a_real_transaction_log_with_a_mapping_file(tmp_path, cdnow_log):
    """A raw CSV log and a mapping written by init-mapping: no code, a champion or a refusal."""
    log = tmp_path / "cdnow.csv"
    cdnow_log.to_csv(log, index=False)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mapping = _cli(["init-mapping", str(log)], tmp_path, store)
    assert mapping.returncode == 0, mapping.stderr
    assert 'user = "customer_id"' in mapping.stdout and 'ts = "date"' in mapping.stdout
    assert 'amount = "dollars"' in mapping.stdout and 'quantity = "cds"' in mapping.stdout
    (tmp_path / "mapping.toml").write_text(mapping.stdout)
    trained = _cli(["train", "--data", str(log), "--mapping", str(tmp_path / "mapping.toml"),
                    "--category", "any", "--horizon-days", "90", "--as-of", "1998-04-01"],
                   tmp_path, store)
    assert trained.returncode == 0, trained.stderr[-3000:]
    out = trained.stdout
    assert "baseline: bgnbd" in out and "baseline: recency" in out
    assert "registered propensity v1" in out
    assert ("now champion" in out) != ("NOT champion" in out)


@pytest.mark.parametrize("args, message", [
    (["--as-of", "04/01/1998"], "not an ISO 8601 date"),
    (["--horizon-days", "400", "--as-of", "1998-04-01"], "longest horizon that fits"),
    (["--mapping", "MISSING"], "could not read it"),
])
def test_data_errors_print_a_message_not_a_traceback(tmp_path, cdnow_log, args, message):
    log = tmp_path / "cdnow.csv"
    cdnow_log.head(2_000).to_csv(log, index=False)
    (tmp_path / "mapping.toml").write_text(
        '[transactions]\nuser = "customer_id"\nts = "date"\namount = "dollars"\n')
    args = [a if a != "MISSING" else str(tmp_path / "nope.toml") for a in args]
    if "--mapping" not in args:
        args += ["--mapping", str(tmp_path / "mapping.toml")]
    done = _cli(["train", "--data", str(log), "--category", "any", *args], tmp_path,
                f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) < 12
