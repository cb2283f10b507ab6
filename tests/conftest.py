"""Shared fixtures: small demo worlds, a fitted model and a throw-away MLflow store."""

from __future__ import annotations

import os

# Under pytest-xdist each worker gets its share of the cores, set before LightGBM's OpenMP
# runtime starts: OpenMP threads that spin while they wait would otherwise fight the other
# worker for the same cores (LightGBM slows several-fold when over-subscribed).
if os.environ.get("PYTEST_XDIST_WORKER"):
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    _share = max(1, (_cores or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The MLflow servers the tests start (UI review, team server): no GenAI job-runner processes.
os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")

import mlflow  # noqa: E402
import pytest  # noqa: E402

import targeting as tg  # noqa: E402

# tests/data holds data files and the short scripts that made them (they import R readers the
# suite does not install): not test modules.
collect_ignore = ["data"]

# One test file per xdist worker (--dist loadfile in pyproject.toml), so a module's fixtures
# (worlds, fitted models) are built once. The longest files are handed out first, so neither
# worker is left with a long one at the end while the other idles (measured with --durations;
# the rest keep their collection order).
LONGEST_FIRST = ("test_notebooks.py", "test_loop.py", "test_cli.py", "test_propensity.py",
                 "test_experiments.py", "test_real_data.py", "test_dask.py", "test_server.py",
                 "test_spark.py", "test_drift.py", "test_demo_blocks.py", "test_lookalike.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole


@pytest.fixture(scope="session")
def small_world():
    return tg.demo_world(n_users=4_000, random_state=11)


@pytest.fixture(scope="session")
def small_model(small_world):
    return tg.PropensityModel("snacks", progress=False).fit(small_world.tables,
                                                            small_world.as_of)


@pytest.fixture()
def mlflow_store(tmp_path, monkeypatch):
    """A real SQLite tracking store in a temporary folder, used as the working directory."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # mlflow.set_*_uri also export these variables; patching them first makes sure they are
    # restored afterwards, so no later test or subprocess inherits this store.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    tg.clear_model_cache()
    yield uri
    tg.clear_model_cache()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


TINY_EXPERIMENT = """
[experiment]
name = "tiny-search"
mlflow_experiment = "targeting-tests"
[data]
source = "demo"
n_users = 3000
random_state = 0
[target]
category = "snacks"
[model]
max_snapshots = 4
[model.params]
num_threads = 1
[search]
n_trials = 2
random_state = 3
[search.space]
learning_rate = { low = 0.03, high = 0.12, log = true }
num_leaves = { low = 7, high = 31 }
[evaluation]
register_as = "propensity"
"""


@pytest.fixture(scope="session")
def logged_experiment(tmp_path_factory):
    """One experiment (a 2-trial search) run by `targeting run` into its own SQLite store."""
    import os

    from targeting.cli import main

    folder = tmp_path_factory.mktemp("experiment-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    (folder / "tiny.toml").write_text(TINY_EXPERIMENT)
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    os.environ.update(MLFLOW_TRACKING_URI=uri, MLFLOW_REGISTRY_URI=uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        assert main(["run", str(folder / "tiny.toml"), "--no-progress"]) == 0
        run = mlflow.search_runs(experiment_names=["targeting-tests"],
                                 filter_string="tags.`experiment.name` = 'tiny-search'")
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.update({key: value})
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        tg.clear_model_cache()
    return {"uri": uri, "folder": folder, "run_id": run.run_id.iloc[0]}


@pytest.fixture()
def experiment_store(logged_experiment, monkeypatch):
    """Point MLflow at the logged experiment's store for one test."""
    uri = logged_experiment["uri"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    tg.clear_model_cache()
    yield logged_experiment
    tg.clear_model_cache()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


DATA = __import__("pathlib").Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def cdnow_log():
    """The CDNOW master log (23,570 customers of one 1997 cohort, 18 months; tests/data)."""
    import pandas as pd

    return pd.read_csv(DATA / "cdnow_master.csv.gz", dtype={"customer_id": str})


@pytest.fixture(scope="session")
def cdnow_tables(cdnow_log):
    """The log as contract tables through the package's own adapter (one call, no glue)."""
    return tg.from_transactions(cdnow_log, user="customer_id", ts="date", amount="dollars",
                                quantity="cds", verbose=False)
