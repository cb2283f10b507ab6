"""Batch scoring with a compiled-tree predictor (tl2cgen) against ``score()`` and raw LightGBM.

    .venv/bin/pip install -e ".[compiled]"       # tl2cgen and treelite; needs gcc or clang
    .venv/bin/python benchmarks/compiled_trees.py [--users 200000] [--repeat 3]

A compiled predictor is adopted only if its scores equal LightGBM's to 1e-12 and
the compiled artefact travels with the MLflow model (or is rebuilt and cached on load). This
measures, on the benchmark's own model (the ``world`` group of ``benchmarks/run.py``): the
compile time, the compiled trees' margins against raw ``Booster.predict`` on the same matrix
(time and largest difference), and ``score()`` with each engine (time, and whether every score
is identical).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from _timing import timed

import targeting as tg
from targeting.compiled import CompiledBooster, misread_rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    world = tg.demo_world(n_users=args.users, random_state=0)
    model = tg.PropensityModel("beauty", progress=False).fit(world.tables, world.as_of)
    features = model.features(world.tables, world.as_of)
    matrix = model.pipeline_.to_matrix(features)
    booster = model.booster_
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TARGETING_CACHE_DIR"] = tmp  # compile afresh, timed
        start = time.perf_counter()
        trees = CompiledBooster(booster)  # compiled here, then loaded from the cache
        compiled = tg.scoring.Scorer(model, engine="compiled")
        t_compile = time.perf_counter() - start
        plain = tg.scoring.Scorer(model)
        t_raw, raw = timed(lambda: booster.predict(matrix, raw_score=True), args.repeat)
        t_trees, margin = timed(lambda: trees.margin(matrix), args.repeat)
        t_score, by_lightgbm = timed(lambda: tg.score(features, plain), args.repeat)
        t_engine, by_compiled = timed(lambda: tg.score(features, compiled), args.repeat)
    misread = len(misread_rows(matrix))
    diff = float(np.max(np.abs(margin - raw)))
    same = np.array_equal(by_compiled.score.to_numpy(), by_lightgbm.score.to_numpy())
    print(f"{len(matrix):,} users x {matrix.shape[1]} features, {booster.num_trees()} trees "
          f"(medians of {args.repeat}); compiled in {t_compile:.1f} s:")
    print(f"  raw Booster.predict (margins)   {t_raw:.2f} s")
    print(f"  compiled trees (margins)        {t_trees:.2f} s ({t_raw / t_trees:.2f}x raw); "
          f"largest difference {diff:.1e}; {misread} row(s) scored by LightGBM instead")
    print(f"  score()                         {t_score:.2f} s ({t_raw / t_score:.0%} of raw)")
    print(f"  score(engine='compiled')        {t_engine:.2f} s ({t_raw / t_engine:.2f}x raw); "
          f"scores identical to score(): {same}")


if __name__ == "__main__":
    main()
