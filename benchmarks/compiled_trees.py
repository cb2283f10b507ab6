"""Batch scoring with a compiled-tree predictor (tl2cgen) against ``score()`` and raw LightGBM.

    .venv/bin/pip install tl2cgen treelite       # benchmark-only; needs a C compiler (gcc)
    .venv/bin/python benchmarks/compiled_trees.py [--users 200000] [--repeat 3]

Issue 17 asks to adopt a compiled predictor only if its scores equal LightGBM's to 1e-12 and
the compiled artefact travels with the MLflow model (or is rebuilt and cached on load). This
measures both conditions' inputs on the benchmark's own model (the ``world`` group of
``benchmarks/run.py``): the compile time, the batch time against raw ``Booster.predict`` and
``score()`` on the same feature matrix, and the largest score difference.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import timed

import targeting as tg


def compile_booster(booster, directory: Path):
    """The booster as a tl2cgen shared library (gcc), and the seconds it took."""
    import tl2cgen
    import treelite

    start = time.perf_counter()
    model = treelite.frontend.from_lightgbm(booster)
    library = directory / "model.so"
    tl2cgen.export_lib(model, toolchain="gcc", libpath=str(library),
                       params={"parallel_comp": 8}, verbose=False)
    return tl2cgen.Predictor(str(library)), time.perf_counter() - start


def compiled_scores(predictor, matrix: np.ndarray) -> np.ndarray:
    import tl2cgen

    out = predictor.predict(tl2cgen.DMatrix(matrix, dtype="float64"))
    return np.asarray(out, dtype=np.float64).reshape(len(matrix))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    world = tg.demo_world(n_users=args.users, seed=0)
    model = tg.PropensityModel("beauty", progress=False).fit(world.tables, world.as_of)
    features = model.features(world.tables, world.as_of)
    matrix = model.pipeline_.to_matrix(features)
    scorer = tg.scoring.Scorer(model)
    booster = model.booster_
    with tempfile.TemporaryDirectory() as tmp:
        predictor, t_compile = compile_booster(booster, Path(tmp))
        t_raw, raw = timed(lambda: booster.predict(matrix), args.repeat)
        t_score, _ = timed(lambda: tg.score(features, scorer), args.repeat)
        t_compiled, compiled = timed(lambda: compiled_scores(predictor, matrix), args.repeat)
    diff = float(np.max(np.abs(compiled - raw)))
    print(f"{len(matrix):,} users x {matrix.shape[1]} features, {booster.num_trees()} trees "
          f"(medians of {args.repeat}):")
    print(f"  raw Booster.predict   {t_raw:.2f} s")
    print(f"  score()               {t_score:.2f} s ({t_raw / t_score:.0%} of raw)")
    print(f"  tl2cgen (gcc)         {t_compiled:.2f} s ({t_raw / t_compiled:.2f}x raw), "
          f"compiled in {t_compile:.1f} s; largest score difference {diff:.1e} "
          f"({'identical to 1e-12' if diff <= 1e-12 else 'NOT identical to 1e-12'})")


if __name__ == "__main__":
    main()
