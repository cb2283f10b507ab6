"""The minimal install serves ``score()``: a fresh virtual environment with ``pip install .``
(no extras) scores with a model registered by a full install, identically, and holds none of
the extras' packages.

Marked ``install`` (minutes: pip resolves every core dependency into an empty environment):
`.ci/run` runs it after the suite; locally ``pytest -m install``.
"""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pandas as pd
import pytest

import targeting as tg

ROOT = Path(__file__).resolve().parents[1]
EXTRAS_ONLY = ("jupyterlab", "optuna", "dask", "pyspark", "duckdb", "tl2cgen", "psycopg2",
               "mkdocs", "ipywidgets")
SCORE = """
import importlib.util
import sys
import pandas as pd
import targeting as tg
found = [m for m in sys.argv[2].split(",") if importlib.util.find_spec(m) is not None]
assert not found, f"extras installed by the minimal install: {found}"
from pathlib import Path
tables = {p.stem: pd.read_parquet(p) for p in Path(sys.argv[1]).glob("*.parquet")}
scores = tg.score(tables, "models:/propensity@champion")
scores.to_parquet(sys.argv[3])
"""


@pytest.mark.install
def test_minimal_install_scores_a_registered_model(tmp_path, mlflow_store):
    from targeting.tracking import log_propensity

    world = tg.demo_world(n_users=2_000, random_state=3)
    model = tg.PropensityModel("snacks", progress=False, n_estimators=200).fit(
        world.tables, world.as_of)
    log_propensity(model, tg.evaluate(model, world), world.tables)
    data = tmp_path / "tables"
    data.mkdir()
    for name, frame in world.tables.items():
        frame.to_parquet(data / f"{name}.parquet")
    env_dir = tmp_path / "minimal"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = subprocess.run([python, "-m", "pip", "install", "--quiet", str(ROOT)],
                               capture_output=True, text=True, timeout=1800)
    assert installed.returncode == 0, installed.stderr[-3000:]
    out = tmp_path / "scores.parquet"
    scored = subprocess.run([python, "-c", SCORE, str(data), ",".join(EXTRAS_ONLY), str(out)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-3000:]
    read_back = {p.stem: pd.read_parquet(p) for p in data.glob("*.parquet")}
    expected = tg.score(read_back, "models:/propensity@champion")
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected.reset_index(drop=True))
