"""Shared fixtures: small demo worlds, a fitted model and a throw-away MLflow store."""

from __future__ import annotations

import mlflow
import pytest

import targeting as tg


@pytest.fixture(scope="session")
def small_world():
    return tg.demo_world(n_users=4_000, seed=11)


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
