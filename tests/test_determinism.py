"""Same seed, same data: identical predictions (to the last bit) and metrics in two processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIT = """
import json, sys
import numpy as np
import targeting as tg
world = tg.demo_world(n_users=2_000, seed=5)
model = tg.PropensityModel("snacks", progress=False).fit(world.tables, world.as_of)
p = model.predict_proba(model.features(world.tables, world.as_of))[:, 1]
np.save(sys.argv[1] + ".npy", p)
ev = tg.evaluate(model, world)
json.dump({k: float(v) for k, v in ev.metrics.items()}, open(sys.argv[1] + ".json", "w"))
"""


@pytest.mark.slow
def test_two_processes_give_bit_identical_predictions_and_metrics(tmp_path):
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outs = [str(tmp_path / f"run{i}") for i in range(2)]
    for out in outs:  # one after the other: the 2 cores are not shared between the two fits
        subprocess.run([sys.executable, "-c", textwrap.dedent(FIT), out], env=env, check=True,
                       timeout=900)
    first, second = (np.load(o + ".npy") for o in outs)
    assert first.dtype == second.dtype and first.tobytes() == second.tobytes()
    metrics = [json.loads(Path(o + ".json").read_text()) for o in outs]
    assert metrics[0] == metrics[1]
