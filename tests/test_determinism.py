"""Same seed, same data: identical model file, predictions (to the last bit) and metrics in two
processes (issue 16 item 7). About 30 s (two fits of a 2,000-user world, one after the other)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIT = """
import json, sys
import numpy as np
import targeting as tg
world = tg.demo_world(n_users=2_000, random_state=5)
model = tg.PropensityModel("snacks", progress=False).fit(world.tables, world.as_of)
p = model.predict_proba(model.features(world.tables, world.as_of))[:, 1]
np.save(sys.argv[1] + ".npy", p)
open(sys.argv[1] + ".txt", "w").write(model.booster_.model_to_string())
ev = tg.evaluate(model, world)
json.dump({k: float(v) for k, v in ev.metrics.items()}, open(sys.argv[1] + ".json", "w"))
"""


def test_two_processes_give_bit_identical_model_predictions_and_metrics(tmp_path):
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outs = [str(tmp_path / f"run{i}") for i in range(2)]
    for out in outs:  # one after the other: the 2 cores are not shared between the two fits
        subprocess.run([sys.executable, "-c", textwrap.dedent(FIT), out], env=env, check=True,
                       timeout=900)
    boosters = [Path(o + ".txt").read_bytes() for o in outs]
    assert len(boosters[0]) > 10_000 and boosters[0] == boosters[1]
    first, second = (np.load(o + ".npy") for o in outs)
    assert first.dtype == second.dtype and first.tobytes() == second.tobytes()
    metrics = [json.loads(Path(o + ".json").read_text()) for o in outs]
    assert metrics[0] == metrics[1]
