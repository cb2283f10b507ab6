"""`mlflow models serve` on the registered model returns the same numbers as score()."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import numpy as np
from _servers import wait_until_up

import targeting as tg
from targeting.tracking import log_propensity


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_served_model_matches_score(mlflow_store, small_model, small_world):
    log_propensity(small_model, tg.evaluate(small_model, small_world), small_world.tables,
                   experiment="serve")
    features = small_model.features(small_world.tables, small_world.as_of).head(50)
    expected = tg.score(features, "models:/propensity@champion")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/propensity@champion",
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
        # mlflow starts uvicorn by name: put this interpreter's bin folder first on PATH.
        env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_store,
             "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping")
        frame = features.reset_index()
        payload = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
        answer = _post(f"http://127.0.0.1:{port}/invocations", payload)
    finally:
        # The server runs workers of its own: stop the whole process group.
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    rows = answer["predictions"]
    assert [r["user_id"] for r in rows] == expected.user_id.tolist()
    np.testing.assert_allclose([r["score"] for r in rows], expected.score, rtol=1e-12)
    assert [r["decile"] for r in rows] == expected.decile.tolist()
