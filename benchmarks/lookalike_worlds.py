"""The README's lookalike figures: demo worlds of several seeds, mean and standard deviation.

    python benchmarks/lookalike_worlds.py --users 20000 --worlds 0 1 2 3 4 5

Per world: 40 % of the planted segment as the seed, the default blended model, and against the
planted segment the precision of each method at 1/5/10 %, recall at 10 %, the blend's held-out
seed lift, the audience's true probability of buying baby products, the methods the blend kept,
and the estimated segment share outside the seed over the true one. About a minute per
20,000-user world on a busy 2-core machine.
"""

from __future__ import annotations

import argparse

import numpy as np

import targeting as tg

SIZES = (0.01, 0.05, 0.10)
METHODS = ("blend", "classifier", "similarity", "graph", "random")


def one_world(n_users: int, seed: int) -> dict:
    world = tg.demo_world(n_users=n_users, random_state=seed)
    seeds = tg.segment_seed(world, size=0.4)
    model = tg.LookalikeModel(progress=False).fit(world.tables, seeds, world.as_of)
    evaluation = tg.evaluate(model, world, category="baby")
    segment = world.truth["segment"].reindex(model.user_ids_).to_numpy(dtype=bool)
    outside = ~model.is_seed_
    return {
        "seeds": int(model.is_seed_.sum()),
        "precision": evaluation.table["segment_precision"],
        "recall": evaluation.table["segment_recall"],
        "lift": evaluation.table["lift"],
        "buy": evaluation.table["purchase_rate"],
        "weights": model.weights_,
        "share_ratio": model.seed_report_.estimated_share / segment[outside].mean(),
    }


def _mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.3f} ± {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--worlds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    args = parser.parse_args()
    runs = []
    for seed in args.worlds:
        run = one_world(args.users, seed)
        print(f"world {seed}: {run['seeds']} seeds, weights {run['weights']}, estimated/true "
              f"share {run['share_ratio']:.3f}", flush=True)
        runs.append(run)
    print(f"\n{args.users:,} users, worlds {args.worlds}: mean ± sd")
    for method in METHODS:
        cells = [_mean_sd([r["precision"].loc[method, s] for r in runs]) for s in SIZES]
        recall = _mean_sd([r["recall"].loc[method, 0.10] for r in runs])
        print(f"  precision {method:<10} {' / '.join(cells)}   recall at 10 % {recall}")
    print("  held-out lift, blend  " + " / ".join(
        _mean_sd([r["lift"].loc["blend", s] for r in runs]) for s in SIZES))
    for method in ("blend", "similarity", "random"):
        print(f"  buys baby, {method:<10} " + " / ".join(
            _mean_sd([r["buy"].loc[method, s] for r in runs]) for s in SIZES))
    print(f"  estimated / true segment share {_mean_sd([r['share_ratio'] for r in runs])}")


if __name__ == "__main__":
    main()
