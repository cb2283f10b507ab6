"""Attribution at scale against ChannelAttribution (test-only peer), in the same run.

    .venv/bin/python benchmarks/attribution.py [--journeys 1000000]

Both sides get the same path tables: the demo world's journeys (7 channels, orders 1 and 3)
and ChannelAttribution's own sample table (10,000 paths over 12 channels, orders 1 to 4).
ChannelAttribution's Markov model is simulated (its ``nsim_start`` draws), ours is solved
exactly over the observed states; the Shapley value has no peer there. Each figure is the
median of 3 calls.
"""

from __future__ import annotations

import argparse
from importlib.metadata import files

import ChannelAttribution as ca
import pandas as pd
from _timing import timed

from targeting.data.demo import demo_journeys
from targeting.evaluation.attribution import attribute
from targeting.evaluation.journeys import journeys


def sample_paths() -> pd.DataFrame:
    """ChannelAttribution's sample path table, in our column names."""
    data = next(f for f in files("ChannelAttribution") if f.name == "Data.csv")
    return pd.read_csv(data.locate(), sep=";").rename(columns={
        "total_conversions": "conversions", "total_conversion_value": "value",
        "total_null": "nulls"})


def markov_rows(paths: pd.DataFrame, orders, label: str) -> list[tuple[str, float, float]]:
    rows = []
    for order in orders:
        ours, _ = timed(lambda o=order: attribute(paths, "markov", order=o, n_bootstrap=0))
        peer, _ = timed(lambda o=order: ca.markov_model(
            paths, "path", "conversions", var_value="value", var_null="nulls", order=o,
            flg_pro=False, verbose=False))
        rows.append((f"Markov order {order}, {label}", ours, peer))
    return rows


def demo_paths(n_journeys: int):
    """The demo world's path table for about ``n_journeys`` journeys (7 channels), the
    number of journeys, and the time ``journeys()`` took to build it."""
    touches, conversions, _ = demo_journeys(2 * n_journeys, random_state=0)
    t_j, trips = timed(lambda: journeys({"touchpoints": touches, "conversions": conversions}), 1)
    return trips.paths, len(trips.journeys), t_j


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journeys", type=int, default=100_000)
    args = parser.parse_args()
    paths, n_journeys, t_j = demo_paths(args.journeys)
    sample = sample_paths()
    print(f"{n_journeys:,} journeys, {len(paths):,} distinct paths; "
          f"journeys() took {t_j:.1f} s; sample table {len(sample):,} paths")
    rows = markov_rows(paths, (1, 3), "7 channels")
    rows += markov_rows(sample, (1, 2, 3, 4), "12 channels")
    ours, _ = timed(lambda: attribute(paths, "linear", n_bootstrap=0))
    peer, _ = timed(lambda: ca.heuristic_models(paths, "path", "conversions", var_value="value",
                                                flg_pro=False))
    rows.append(("heuristics (linear / all three)", ours, peer))
    for label, table in (("7 channels", paths), ("12 channels", sample)):
        ours, _ = timed(lambda t=table: attribute(t, "shapley", n_bootstrap=0))
        rows.append((f"Shapley (exact), {label}", ours, float("nan")))
    print(f"\n{'method':<34}{'targeting (s)':>14}{'ChannelAttribution (s)':>24}{'ratio':>8}")
    for name, ours, peer in rows:
        print(f"{name:<34}{ours:>14.3f}{peer:>24.3f}{ours / peer:>8.2f}")


if __name__ == "__main__":
    main()
