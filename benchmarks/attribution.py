"""Attribution at scale against ChannelAttribution (test-only peer), in the same run.

    .venv/bin/python benchmarks/attribution.py [--journeys 1000000]

Both sides get the same path table. ChannelAttribution's Markov model is simulated (its
``nsim_start`` draws), ours is solved in closed form; the Shapley value has no peer there.
"""

from __future__ import annotations

import argparse

import ChannelAttribution as ca
from _timing import timed

from targeting.data.demo import demo_journeys
from targeting.evaluation.attribution import attribute, journeys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journeys", type=int, default=1_000_000)
    args = parser.parse_args()
    touches, conversions, _ = demo_journeys(2 * args.journeys, seed=0)
    t_j, trips = timed(lambda: journeys({"touchpoints": touches, "conversions": conversions}), 1)
    paths = trips.paths
    print(f"{len(trips.journeys):,} journeys, {len(paths):,} distinct paths; "
          f"journeys() took {t_j:.1f} s")
    rows = []
    for order in (1, 3):
        ours, _ = timed(lambda o=order: attribute(paths, "markov", order=o, n_bootstrap=0))
        peer, _ = timed(lambda o=order: ca.markov_model(
            paths, "path", "conversions", var_value="value", var_null="nulls", order=o,
            flg_pro=False, verbose=False))
        rows.append((f"Markov order {order}", ours, peer))
    ours, _ = timed(lambda: attribute(paths, "linear", n_bootstrap=0))
    peer, _ = timed(lambda: ca.heuristic_models(paths, "path", "conversions", var_value="value",
                                                flg_pro=False))
    rows.append(("heuristics (linear / all three)", ours, peer))
    ours, _ = timed(lambda: attribute(paths, "shapley", n_bootstrap=0))
    rows.append(("Shapley (exact)", ours, float("nan")))
    print(f"\n{'method':<34}{'targeting (s)':>14}{'ChannelAttribution (s)':>24}{'ratio':>8}")
    for name, ours, peer in rows:
        print(f"{name:<34}{ours:>14.3f}{peer:>24.3f}{ours / peer:>8.2f}")


if __name__ == "__main__":
    main()
